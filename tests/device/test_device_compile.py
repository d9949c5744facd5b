"""torch.compile on the device: the Dynamo backend and device interface, Inductor's C++ kernels on
device memory, the demo model compiled against eager, and the generator's refused offsets."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

D = "hyperaccel"


def test_dynamo_backend_is_named_after_the_device() -> None:
    """`torch.compile(backend="hyperaccel")` (a Dynamo backend entry point) compiles with Inductor."""
    assert "hyperaccel" in torch._dynamo.list_backends()
    x = torch.randn(4, 8, device=D)
    torch._dynamo.reset()
    out = torch.compile(lambda t: (t * 2).sin().sum(-1), backend="hyperaccel")(x)
    torch.testing.assert_close(out.cpu(), (x.cpu() * 2).sin().sum(-1))
    torch._dynamo.reset()


def test_generator_offsets_are_refused_by_name() -> None:
    """The chip's generator has no Philox offset; asking for one says so (as OpenReg's does)."""
    with pytest.raises(RuntimeError, match="does not support set_offset"):
        torch.hyperaccel.set_offset(123)
    with pytest.raises(RuntimeError, match="does not support get_offset"):
        torch.hyperaccel.get_offset()


def test_dynamo_device_interface_is_registered_when_dynamo_loads() -> None:
    """Dynamo's get_interface_for_device("hyperaccel") answers from torch.hyperaccel."""
    from torch._dynamo.device_interface import get_interface_for_device

    from sglang_hyperaccel.chip import emulated_chip

    interface = get_interface_for_device(D)
    assert interface.__name__ == "HyperaccelInterface"
    props = interface.Worker.get_device_properties(0)
    assert props.total_memory == emulated_chip().memory_bytes  # the chip's spec, not the module's answer
    assert props.multi_processor_count == os.cpu_count()  # Inductor's C++ kernels run on the host's cores


def test_torch_compile_of_the_demo_model_matches_eager(demo_model) -> None:
    """The demo model's whole forward (embedding gathers, SDPA, RMSNorm, MLP) compiles with Inductor on
    the device, prefill and decode shapes, and its logits match eager on CPU."""
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32).eval()
    chip_model = transformers.AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
    chip_model = chip_model.eval().to(D)
    compiled = torch.compile(lambda ids: chip_model(ids, use_cache=False).logits, dynamic=False)
    torch._dynamo.reset()
    for batch, length in ((2, 70), (3, 1)):
        ids = torch.randint(0, model.config.vocab_size, (batch, length),
                            generator=torch.Generator().manual_seed(5))
        with torch.inference_mode():
            expected = model(ids, use_cache=False).logits
            out = compiled(ids.to(D))
        assert out.device.type == D
        torch.testing.assert_close(out.cpu(), expected, atol=1e-4, rtol=1e-4)
    torch._dynamo.reset()


def test_torch_compile_runs_inductor_cpp_kernels_on_the_device() -> None:
    """torch.compile on device tensors generates Inductor C++ kernels and matches eager."""
    from torch._inductor.utils import run_and_get_code

    def f(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.silu(x @ w) * x.sum(-1, keepdim=True) + 1

    x, w = torch.randn(8, 32, device=D), torch.randn(32, 32, device=D)
    torch._dynamo.reset()
    out, code = run_and_get_code(torch.compile(f), x, w)
    assert out.device.type == D
    assert "cpp_fused" in code[0] and "device='hyperaccel'" in code[0]
    torch.testing.assert_close(out.cpu(), f(x, w).cpu())
