"""Memory accounting against the chip's capacity, per device, and the out-of-memory error."""

from __future__ import annotations

import torch

D = "hyperaccel"


def test_allocation_counts_exact_bytes() -> None:
    """memory_allocated rises by exactly a tensor's bytes and falls back when it is freed."""
    before = torch.hyperaccel.memory_allocated()
    x = torch.empty(1000, 3, dtype=torch.float32, device=D)
    assert torch.hyperaccel.memory_allocated() == before + 12000
    assert torch.accelerator.memory_allocated(0) == before + 12000
    assert torch.hyperaccel.memory_reserved() == torch.hyperaccel.memory_allocated()
    del x
    assert torch.hyperaccel.memory_allocated() == before


def test_peak_and_mem_get_info() -> None:
    """max_memory_allocated tracks the peak; mem_get_info is (total - allocated, total)."""
    torch.hyperaccel.reset_peak_memory_stats()
    before = torch.hyperaccel.memory_allocated()
    x = torch.empty(1 << 20, dtype=torch.uint8, device=D)
    del x
    y = torch.empty(1 << 10, dtype=torch.uint8, device=D)
    assert torch.hyperaccel.max_memory_allocated() == before + (1 << 20)
    free, total = torch.hyperaccel.mem_get_info()
    assert total == torch.hyperaccel.get_device_properties().total_memory
    assert free == total - torch.hyperaccel.memory_allocated()
    assert torch.hyperaccel.memory_stats()["allocated_bytes.all.current"] == before + (1 << 10)
    del y


def test_fallback_results_are_counted() -> None:
    """Results of ops run by CPU kernels are adopted and counted, and released when freed."""
    x = torch.ones(256, device=D)
    before = torch.hyperaccel.memory_allocated()
    y = x * 2
    values, indices = torch.ones(4, 8, device=D).max(1)
    assert torch.hyperaccel.memory_allocated() == before + 1024 + 16 + 32
    del y, values, indices
    assert torch.hyperaccel.memory_allocated() == before


def test_devices_are_counted_separately() -> None:
    """Tensors on hyperaccel:0 and :1 count on their own chip; set_device picks the default."""
    before0 = torch.hyperaccel.memory_allocated(0)
    before1 = torch.hyperaccel.memory_allocated(1)
    x = torch.empty(100, dtype=torch.uint8, device=f"{D}:1")
    assert torch.hyperaccel.memory_allocated(1) == before1 + 100
    assert torch.hyperaccel.memory_allocated(0) == before0
    previous = torch.hyperaccel.current_device()
    torch.hyperaccel.set_device(1)
    try:
        assert torch.hyperaccel.current_device() == 1
        y = torch.empty(50, dtype=torch.uint8, device=D)
        assert y.device == torch.device(D, 1)
        assert torch.hyperaccel.memory_allocated(1) == before1 + 150
        z = x + 1  # a fallback result lands on its inputs' chip
        assert z.device == torch.device(D, 1) and torch.hyperaccel.memory_allocated(1) == before1 + 250
    finally:
        torch.hyperaccel.set_device(previous)
    with torch.hyperaccel.device(1):
        assert torch.hyperaccel.current_device() == 1
    assert torch.hyperaccel.current_device() == previous


OOM_SCRIPT = """
import torch
from sglang_hyperaccel.device import register
register()
free, total = torch.hyperaccel.mem_get_info()
print(total)
try:
    torch.empty(100_000_000, dtype=torch.uint8, device="hyperaccel")
except torch.OutOfMemoryError as error:
    print(str(error).splitlines()[0])
small = [torch.ones(1000, device="hyperaccel") for _ in range(4)]
a = torch.empty(40 * 2**20, dtype=torch.uint8, device="hyperaccel")
try:
    b = a + 1  # the CPU kernel's result cannot be adopted: 2 x 40 MiB > 64 MiB
except torch.OutOfMemoryError as error:
    print(str(error).splitlines()[0])
print(torch.hyperaccel.memory_allocated())
"""


def test_out_of_memory_error(python) -> None:
    """Past the capacity, allocation and adoption raise OutOfMemoryError naming the figures."""
    result = python(OOM_SCRIPT, env={"SGLANG_HYPERACCEL_MEMORY": "64Mi"})
    assert result.returncode == 0, result.stderr
    total, oom, adopt_oom, allocated = result.stdout.strip().splitlines()
    assert int(total) == 64 * 2**20
    assert oom == ("hyperaccel:0 out of memory: tried to allocate 95.37 MiB; "
                   "64.00 MiB free of 64.00 MiB total (0 B allocated)")
    assert adopt_oom.startswith("hyperaccel:0 out of memory: tried to allocate 40.00 MiB; ")
    assert "of 64.00 MiB total (40.02 MiB allocated)" in adopt_oom
    assert int(allocated) == 40 * 2**20 + 4 * 4000
