"""The profilers on the device: the legacy autograd profiler's times, and torch.profiler (Kineto)
with the chip's kernels and copies on their own track, linked to the aten ops that launched them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

D = "hyperaccel"


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
