"""`F.scaled_dot_product_attention` on the device (the chip's dense kernel, dense_attention.cpp)
against PyTorch's CPU kernel on the same tensors, causal, inference mode; and the cost autoload
adds to `import torch`.

    python benchmarks/bench_attention.py [--repeats 10]

Both attention columns run on this host's CPU: the ratio measures the kernel, not the chip (the
chip's simulated time does not depend on it). CPU SDPA picks flash attention for these shapes,
which uses AMX for bf16 where the host has it; the chip's kernel accumulates in fp32.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench_device import measure  # the benchmarks' shared timer (median of repeats after warm-up)


@dataclass(frozen=True)
class Shape:
    """One attention call: batch 1, `heads` query and key heads, `length` tokens, `head_dim`."""

    heads: int
    length: int
    head_dim: int
    dtype: torch.dtype

    def __str__(self) -> str:
        return f"{str(self.dtype).removeprefix('torch.')} {self.heads} x {self.length:,} x {self.head_dim}"


SHAPES = (Shape(4, 1024, 32, torch.float32), Shape(12, 512, 64, torch.float32),
          Shape(32, 2048, 128, torch.bfloat16), Shape(8, 96, 64, torch.float32))


def import_seconds(autoload: bool, runs: int) -> float:
    """Median wall time of `python -c "import torch"` with the device's autoload on or off."""
    env = {**os.environ, "SGLANG_HYPERACCEL_AUTOLOAD": "1" if autoload else "0"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    from sglang_hyperaccel.device import register

    register()
    print(f"causal SDPA, inference mode, median of {args.repeats}, {torch.get_num_threads()} threads")
    print(f"{'shape (heads x tokens x head dim)':<36}{'hyperaccel ms':>15}{'cpu ms':>10}{'cpu / chip':>12}")
    for shape in SHAPES:
        gen = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(1, shape.heads, shape.length, shape.head_dim, generator=gen).to(shape.dtype)
                   for _ in range(3))
        dq, dk, dv = q.to("hyperaccel"), k.to("hyperaccel"), v.to("hyperaccel")
        with torch.inference_mode():
            chip = measure(lambda: F.scaled_dot_product_attention(dq, dk, dv, is_causal=True),
                           args.repeats).median_s
            cpu = measure(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                          args.repeats).median_s
        print(f"{str(shape):<36}{chip * 1e3:>15.2f}{cpu * 1e3:>10.2f}{cpu / chip:>11.2f}x")
    on, off = import_seconds(True, 10), import_seconds(False, 10)
    print(f"import torch, median of 10: {on * 1e3:.0f} ms with autoload, {off * 1e3:.0f} ms without "
          f"(+{(on - off) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
