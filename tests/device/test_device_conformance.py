"""What PyTorch's reference out-of-tree backend (OpenReg) expects of the device's runtime, on
hyperaccel: error wording, capability, fork, serialization metadata, pinned memory, autocast.
The profiler, fused attention, the fallback's holes, autoload and torch.compile have files of their
own (test_device_profiler.py, test_device_sdpa.py, test_device_fallback.py, test_device_autoload.py,
test_device_compile.py); docs/device.md has the table.
"""

from __future__ import annotations

import io
import re

import pytest
import torch
import torch.nn.functional as F

from sglang_hyperaccel.device.native import _C

D = "hyperaccel"


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


def test_autocast_runs_matmuls_in_half_and_sensitive_ops_in_float() -> None:
    """Under torch.autocast("hyperaccel"), mm runs in the autocast dtype, exp in float32."""
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
