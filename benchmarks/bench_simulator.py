"""Decode-step evaluations per second of the LPU performance model, against the 100,000/s goal.

The server charges every forward batch to the model, so one evaluation must stay far below the
time a real scheduler step takes. Run: `python benchmarks/bench_simulator.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sglang_hyperaccel.simulator import RequestWork, Simulator  # noqa: E402

GOAL = 100_000  # decode-step evaluations per second (issue: LPU simulator)


def rate(fn, seconds: float) -> float:
    """Calls of `fn` per second, best of three runs of about `seconds` / 3 each."""
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(1000):
                fn()
            calls += 1000
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, calls / (now - start))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    sim = Simulator("lpu", "opt-66b", devices=2)
    cases = {
        "decode, batch 1": lambda kv=[1000]: sim.decode(kv),
        "decode, batch 32": lambda kv=[37 * i + 11 for i in range(32)]: sim.decode(kv),
        "mixed step, 8 decode + 1 extend": (
            lambda rows=[RequestWork(1, 900 + i) for i in range(8)] + [RequestWork(256, 1024)]:
            sim.step(rows)),
    }
    print(f"{'case':34s} {'evals/s':>12s} {'vs goal':>8s}")
    worst = None
    for name, fn in cases.items():
        r = rate(fn, args.seconds)
        print(f"{name:34s} {r:12,.0f} {r / GOAL:7.2f}x")
        if name.startswith("decode"):
            worst = r if worst is None else min(worst, r)
    print(f"decode-step evaluations per second: {worst:,.0f} = {worst / GOAL:.2f}x the {GOAL:,} goal")
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
