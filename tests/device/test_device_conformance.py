"""What PyTorch's reference out-of-tree backend (OpenReg) expects of a device, on hyperaccel.

One test per behaviour of issue 13: error wording, capability, profiler, serialization metadata,
pinned memory, autocast, the fallback's holes, fused attention (docs/device.md).
"""

from __future__ import annotations

import io
import re

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

from sglang_hyperaccel.device.native import _C

D = "hyperaccel"


# ---------------------------------------------------------------------------------------------
# Item 9: PyTorch's wording for an invalid device index
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: torch.accelerator.set_device_index(99),
    lambda: torch.hyperaccel.set_device(99),
    lambda: torch.ones(2, device=f"{D}:99"),
    lambda: torch.zeros(2).to(f"{D}:99"),
])
def test_invalid_device_index_uses_pytorch_wording(call) -> None:
    """Every path to a bad index raises OpenReg's "The device index is out of range" message."""
    count = torch.hyperaccel.device_count()
    expected = f"The device index is out of range. It must be in [0, {count}), but got 99."
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        call()


# ---------------------------------------------------------------------------------------------
# Item 8: capability and profiler
# ---------------------------------------------------------------------------------------------


def test_device_capability_lists_allocatable_dtypes() -> None:
    """get_device_capability reports the dtypes a tensor can be made and copied in, no quantized ones."""
    supported = torch.accelerator.get_device_capability()["supported_dtypes"]
    assert {torch.float16, torch.bfloat16, torch.float32, torch.int64, torch.bool} <= set(supported)
    assert not {torch.qint8, torch.quint8, torch.int4, torch.uint1} & set(supported)
    for dtype in supported:
        host = torch.arange(16, dtype=torch.uint8).remainder(2).view(dtype)
        chip = host.to(D)
        assert chip.dtype == dtype and chip.device.type == D
        assert torch.equal(chip.cpu().view(torch.uint8), host.view(torch.uint8)), dtype


def test_profiler_times_are_sane(python) -> None:
    """profile(use_device="hyperaccel") gives non-negative CPU times, device time on matmuls, no errors."""
    result = python(
        "import time, torch\n"
        "from sglang_hyperaccel.device import register\n"
        "register()\n"
        "x = torch.randn(128, 128, device='hyperaccel')\n"
        "start = time.perf_counter()\n"
        "with torch.autograd.profiler.profile(use_device='hyperaccel') as prof:\n"
        "    for _ in range(3):\n"
        "        y = (x @ x).relu()\n"
        "wall_us = (time.perf_counter() - start) * 1e6\n"
        "events = prof.function_events\n"
        "mm = [e for e in events if e.name == 'aten::mm']\n"
        "print(len(events), len(mm))\n"
        "print(min(e.time_range.start for e in events) >= 0)\n"
        "print(all(0 <= e.cpu_time_total <= wall_us for e in events))\n"
        "print(all(e.device_time_total > 0 for e in mm))\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert int(lines[0].split()[1]) == 3, result.stdout
    assert lines[1:4] == ["True", "True", "True"], result.stdout
    assert "Exception in RecordFunction callback" not in result.stderr


def test_torch_profiler_shows_chip_kernels_on_their_own_track(tmp_path) -> None:
    """torch.profiler (Kineto) records the device's kernels and copies on a hyperaccel track, each inside
    the aten op that launched it and counted as that op's device time."""
    import json

    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(96, 96).to(D)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.PrivateUse1]) as prof:
        for _ in range(3):
            y = F.scaled_dot_product_attention(*(x.view(1, 1, 96, 96),) * 3) @ x
        y.cpu()
    prof.export_chrome_trace(str(tmp_path / "trace.json"))
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"}
    assert "hyperaccel" in names
    ops = [e for e in events if e.get("cat") == "cpu_op"]
    kernels = [e for e in events if e.get("cat") == "kernel"]
    copies = [e for e in events if e.get("cat") == "gpu_memcpy"]
    assert sum(k["name"] == "aten::mm" for k in kernels) == 3
    assert sum(k["name"] == "hyperaccel::dense_attention" for k in kernels) == 3
    assert [c["name"] for c in copies] == ["Memcpy DtoH"]
    for kernel in kernels + copies:  # same clock as the CPU ops: inside one op that launched it
        assert any(op["ts"] <= kernel["ts"] and kernel["ts"] + kernel["dur"] <= op["ts"] + op["dur"]
                   for op in ops), kernel
    mm = [e for e in prof.events() if e.name == "aten::mm" and e.cpu_time_total > 0]
    assert len(mm) == 3 and all(0 < e.device_time_total <= e.cpu_time_total for e in mm)


def test_torch_profiler_defaults_include_the_chip_with_sane_cpu_times() -> None:
    """torch.profiler.profile() with its default activities (which list the chip) gives CPU times within
    the wall time, never negative, and device time on the device's matmul."""
    import time

    x = torch.randn(64, 64, device=D)
    start = time.perf_counter()
    assert torch.profiler.ProfilerActivity.PrivateUse1 in torch.profiler.supported_activities()
    with torch.profiler.profile() as prof:
        (x @ x).relu().sum().item()
    wall_us = (time.perf_counter() - start) * 1e6
    events = [e for e in prof.events() if e.cpu_time_total > 0]
    assert events and all(e.time_range.start >= 0 and e.cpu_time_total <= wall_us for e in events)
    assert any(e.name == "aten::mm" and e.device_time_total > 0 for e in prof.events())


def test_device_survives_fork_with_a_private_copy(python) -> None:
    """Unlike CUDA (and OpenReg, which copies its rules), a forked child uses the device: it sees the
    parent's tensors as a private copy-on-write copy with its own memory accounting."""
    code = (
        "import os, torch\n"
        "x = torch.arange(4.0, device='hyperaccel')\n"
        "before = torch.hyperaccel.memory_allocated()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    y = x * 2\n"
        "    ok = y.cpu().tolist() == [0.0, 2.0, 4.0, 6.0]\n"
        "    ok = ok and torch.hyperaccel.memory_allocated() == before + 16\n"
        "    x.add_(100)\n"
        "    os._exit(0 if ok else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.WEXITSTATUS(status), x.cpu().tolist(), torch.hyperaccel.memory_allocated() == before)\n"
    )
    out = python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 [0.0, 1.0, 2.0, 3.0] True"


# ---------------------------------------------------------------------------------------------
# Item 7: serialization metadata
# ---------------------------------------------------------------------------------------------


def test_backend_metadata_survives_save_and_load() -> None:
    """A tensor's storage-format tag travels through get/set_tensor_metadata and torch.save/load."""
    tagged = torch.arange(6.0, device=D)
    plain = torch.arange(3.0, device=D)
    _C._set_tensor_format(tagged, 5)
    assert torch._utils.get_tensor_metadata(tagged) == {"hyperaccel_format_bit0": True,
                                                         "hyperaccel_format_bit2": True}
    assert torch._utils.get_tensor_metadata(plain) == {}
    buffer = io.BytesIO()
    torch.save({"tagged": tagged, "plain": plain}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    assert loaded["tagged"].device.type == D and torch.equal(loaded["tagged"].cpu(), torch.arange(6.0))
    assert _C._tensor_format(loaded["tagged"]) == 5
    assert _C._tensor_format(loaded["plain"]) == 0
    other = torch.zeros(2, device=D)
    torch._utils.set_tensor_metadata(other, {"hyperaccel_format_bit1": True})
    assert _C._tensor_format(other) == 2


# ---------------------------------------------------------------------------------------------
# Item 4: pinned host memory
# ---------------------------------------------------------------------------------------------


def test_pin_memory_returns_pinned_tensors() -> None:
    """pin_memory() and pin_memory=True give pinned host tensors with the same values."""
    host = torch.arange(8.0)
    pinned = host.pin_memory()
    assert pinned.is_pinned() and not host.is_pinned()
    assert pinned.device.type == "cpu" and torch.equal(pinned, host)
    assert torch.empty(4, pin_memory=True).is_pinned()
    assert not pinned.clone().is_pinned()
    chip = pinned.to(D, non_blocking=True)
    assert torch.equal(chip.cpu(), host)


# ---------------------------------------------------------------------------------------------
# Item 2: autocast
# ---------------------------------------------------------------------------------------------


def test_autocast_runs_matmuls_in_half_and_sensitive_ops_in_float() -> None:
    """Under torch.autocast("hyperaccel"), mm runs in the autocast dtype, exp in float32."""
    assert torch.hyperaccel.get_amp_supported_dtype() == [torch.float16, torch.bfloat16]
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    da, db = a.to(D), b.to(D)
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast(D, dtype=dtype):
            product = da @ db
            linear = F.linear(da, db.t())
            exp = torch.exp(product)
        assert product.dtype == dtype and linear.dtype == dtype
        assert exp.dtype == torch.float32
        expected = (a.to(dtype) @ b.to(dtype)).float()
        torch.testing.assert_close(product.float().cpu(), expected)
    assert (da @ db).dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Item 6: the CPU fallback's holes
# ---------------------------------------------------------------------------------------------


def _fallback_holes() -> list[str]:
    """aten ops that reach the CPU fallback but have no CPU kernel for it to run."""
    c = torch._C
    holes = []
    for name in c._dispatch_get_all_op_names():
        if not name.startswith("aten::"):
            continue
        served = (c._dispatch_has_kernel_for_dispatch_key(name, key) for key in (
            "PrivateUse1", "CompositeImplicitAutograd", "CompositeExplicitAutograd",
            "CompositeExplicitAutogradNonFunctional"))
        if not any(served) and not c._dispatch_has_computed_kernel_for_dispatch_key(name, "CPU"):
            holes.append(name)
    return holes


def test_fallback_holes_are_named_not_blamed_on_cpu() -> None:
    """An op with no CPU kernel raises NotImplementedError naming it and hyperaccel, not 'CPU backend'."""
    holes = _fallback_holes()
    assert "aten::_fused_dropout" in holes and len(holes) > 50
    assert "aten::_thnn_fused_lstm_cell" not in holes and "aten::_thnn_fused_gru_cell" not in holes
    x = torch.ones(4, device=D)
    with pytest.raises(NotImplementedError, match=r"'aten::_fused_dropout' is not currently implemented "
                                                  r"for the hyperaccel device") as raised:
        torch.ops.aten._fused_dropout(x, 0.5)
    assert "'CPU' backend" not in str(raised.value)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_recurrent_layers_match_cpu(cell: str) -> None:
    """nn.LSTM/GRU (fused cells, decomposed on the device) match CPU, forward and backward."""
    torch.manual_seed(0)
    module = getattr(torch.nn, cell)(6, 5)
    chip_module = getattr(torch.nn, cell)(6, 5).to(D)
    chip_module.load_state_dict(module.state_dict())
    x = torch.randn(3, 6) if cell.endswith("Cell") else torch.randn(4, 2, 6)
    chip_x = x.to(D).requires_grad_()
    x.requires_grad_()
    out = module(x)
    chip_out = chip_module(chip_x)
    first, chip_first = (out[0], chip_out[0]) if isinstance(out, tuple) else (out, chip_out)
    torch.testing.assert_close(chip_first.cpu(), first)
    (first.sin().sum()).backward()
    (chip_first.sin().sum()).backward()
    torch.testing.assert_close(chip_x.grad.cpu(), x.grad)
    for (name, p), chip_p in zip(module.named_parameters(), chip_module.parameters(), strict=True):
        torch.testing.assert_close(chip_p.grad.cpu(), p.grad, msg=name)


def test_opinfo_walk_hits_no_fallback_hole() -> None:
    """Every OpInfo op's first float32 sample runs on the device or fails without blaming CPU."""
    from torch.testing._internal.common_methods_invocations import op_db

    ran, blamed = 0, []
    for op in op_db:
        if torch.float32 not in op.supported_dtypes("cpu"):
            continue
        try:
            sample = next(iter(op.sample_inputs("cpu", torch.float32, requires_grad=False)))
        except Exception:  # noqa: BLE001 - a sample generator that cannot run on CPU is not ours
            continue
        moved = sample.transform(lambda t: t.to(D) if isinstance(t, torch.Tensor) else t)
        try:
            op(moved.input, *moved.args, **moved.kwargs)
            ran += 1
        except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
            if "'CPU' backend" in str(exc):
                blamed.append(f"{op.name}: {str(exc).splitlines()[0]}")
    assert not blamed, blamed
    assert ran > 400


# ---------------------------------------------------------------------------------------------
# Item 5: fused attention
# ---------------------------------------------------------------------------------------------


def _sdpa_cases():
    torch.manual_seed(1)
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 6)
    bool_mask = torch.rand(5, 7) > 0.3
    bool_mask[:, 0] = True
    long_q, long_k, long_v = torch.randn(1, 4, 150, 16), torch.randn(1, 4, 170, 16), torch.randn(1, 4, 170, 8)
    long_mask = torch.rand(150, 170) > 0.5
    long_mask[3] = False
    return {
        "plain": ((q, k, v), {}),
        "causal": ((q, k, v), {"is_causal": True}),
        "scale": ((q, k, v), {"scale": 0.3}),
        "bool_mask": ((q, k, v), {"attn_mask": bool_mask}),
        "float_mask": ((q, k, v), {"attn_mask": torch.randn(2, 1, 5, 7)}),
        "gqa": ((q, k[:, :2], v[:, :2]), {"enable_gqa": True}),
        "transposed": ((q.transpose(1, 2).contiguous().transpose(1, 2), k, v), {}),
        # Past 4,096 scores per head the kernel switches to 64-row tiles (dense_attention.cpp):
        # 150 query rows make two full tiles and a partial one; row 3 of the mask sees no key.
        "tiled": ((long_q, long_k, long_v), {}),
        "tiled_causal": ((long_q, long_k, long_v), {"is_causal": True}),
        "tiled_bool_mask": ((long_q, long_k, long_v), {"attn_mask": long_mask}),
        "tiled_float_mask": ((long_q, long_k, long_v), {"attn_mask": torch.randn(1, 4, 150, 170)}),
        "tiled_gqa_causal": ((long_q, long_k[:, :1], long_v[:, :1]), {"enable_gqa": True, "is_causal": True}),
    }


@pytest.mark.parametrize("case", list(_sdpa_cases()))
def test_sdpa_routes_to_overrideable_and_matches_cpu(case: str) -> None:
    """F.scaled_dot_product_attention picks OVERRIDEABLE on the device and matches CPU's math."""
    (q, k, v), kwargs = _sdpa_cases()[case]
    mask = kwargs.get("attn_mask")
    chip_kwargs = {**kwargs, "attn_mask": mask.to(D)} if mask is not None else kwargs
    chip = [t.to(D) for t in (q, k, v)]
    choice_kwargs = {key: val for key, val in chip_kwargs.items() if key != "scale"}
    assert torch._fused_sdp_choice(*chip, **choice_kwargs) == int(SDPBackend.OVERRIDEABLE)
    with torch.autograd.profiler.profile() as prof:
        out = F.scaled_dot_product_attention(*chip, **chip_kwargs)
    names = {e.name for e in prof.function_events}
    assert "aten::_scaled_dot_product_fused_attention_overrideable" in names
    with torch.nn.attention.sdpa_kernel(SDPBackend.MATH):
        expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["bhld", "blhd"])
@pytest.mark.parametrize("length", [70, 3], ids=["tiled", "rows"])
@pytest.mark.parametrize("v_dim", [8, 6])
def test_sdpa_output_layout_is_the_one_compiled_graphs_expect(layout: str, length: int, v_dim: int) -> None:
    """The kernel's output strides equal those of PyTorch's meta function for the op (the query's layout)."""
    torch.manual_seed(4)

    def make(dim: int) -> torch.Tensor:
        if layout == "blhd":  # SGLang and transformers hand SDPA [B, L, H, D] tensors transposed
            return torch.randn(2, length, 3, dim).transpose(1, 2)
        return torch.randn(2, 3, length, dim)

    q, k, v = make(8), make(8), make(v_dim)
    op = torch.ops.aten._scaled_dot_product_fused_attention_overrideable
    out = op(q.to(D), k.to(D), v.to(D))[0]
    meta = op(q.to("meta"), k.to("meta"), v.to("meta"))[0]
    assert out.stride() == meta.stride()
    with torch.nn.attention.sdpa_kernel(SDPBackend.MATH):
        torch.testing.assert_close(out.cpu(), F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sdpa_half_precision_matches_cpu(dtype: torch.dtype) -> None:
    """The chip's attention in FP16/BF16 (FP32 inside) matches CPU's within half precision."""
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 9, 16, dtype=dtype) for _ in range(3))
    out = F.scaled_dot_product_attention(q.to(D), k.to(D), v.to(D), is_causal=True)
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float().cpu(), expected, atol=2e-2, rtol=2e-2)


def test_sdpa_with_grad_takes_a_differentiable_backend() -> None:
    """Inputs that need grad skip the forward-only kernel; gradients match CPU; direct backward is named."""
    torch.manual_seed(3)
    q, k, v = (torch.randn(1, 2, 4, 8, requires_grad=True) for _ in range(3))
    chip = [t.detach().to(D).requires_grad_() for t in (q, k, v)]
    assert torch._fused_sdp_choice(*chip) != int(SDPBackend.OVERRIDEABLE)
    F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    F.scaled_dot_product_attention(*chip, is_causal=True).sum().backward()
    for host, device in zip((q, k, v), chip, strict=True):
        torch.testing.assert_close(device.grad.cpu(), host.grad, atol=1e-5, rtol=1e-5)
    x = chip[0].detach()
    outputs = torch.ops.aten._scaled_dot_product_fused_attention_overrideable(x, x, x)
    with pytest.raises(NotImplementedError, match="forward only"):
        torch.ops.aten._scaled_dot_product_fused_attention_overrideable_backward(
            x, x, x, x, x, [True, True, True, False], outputs[0], outputs[1], x, x, 4, 4, 0.0, False,
            outputs[6], outputs[7])


# ---------------------------------------------------------------------------------------------
# Item 1: autoload through the `torch.backends` entry point
# ---------------------------------------------------------------------------------------------

_AFTER_IMPORT_TORCH = (
    "import sys, torch\n"
    "print(torch._C._get_privateuse1_backend_name())\n"
    "print(torch.ones(2, device='hyperaccel').device if hasattr(torch, 'hyperaccel') else None)\n"
    "print(any(m.split('.')[0] == 'sglang' for m in sys.modules), 'torch._dynamo' in sys.modules)\n"
)


def test_import_torch_registers_the_device_cheaply(python) -> None:
    """`import torch` alone makes the device usable, without importing SGLang or Dynamo."""
    out = python(_AFTER_IMPORT_TORCH)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["hyperaccel", "hyperaccel:0", "False False"]


@pytest.mark.parametrize("switch", ["TORCH_DEVICE_BACKEND_AUTOLOAD", "SGLANG_HYPERACCEL_AUTOLOAD"])
def test_autoload_can_be_switched_off(python, switch: str) -> None:
    """PyTorch's switch for every backend and the package's own both leave the device unregistered."""
    out = python(_AFTER_IMPORT_TORCH, env={switch: "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["privateuseone", "None"]


def test_bad_chip_environment_leaves_import_torch_alive(python) -> None:
    """A misconfigured chip does not break `import torch`; the explicit register() names the problem."""
    out = python(_AFTER_IMPORT_TORCH + "from sglang_hyperaccel.device import register\nregister()\n",
                 env={"SGLANG_HYPERACCEL_CHIP": "nope"})
    assert out.stdout.split("\n")[:2] == ["privateuseone", "None"]
    assert out.returncode != 0 and "nope" in out.stderr


# ---------------------------------------------------------------------------------------------
# Item 3: torch.compile
# ---------------------------------------------------------------------------------------------


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

    interface = get_interface_for_device(D)
    assert interface.device_count() == torch.hyperaccel.device_count()
    assert interface.current_device() == torch.hyperaccel.current_device()
    assert interface.Worker.get_device_properties(0).total_memory == torch.hyperaccel.get_device_properties(
        0).total_memory


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
