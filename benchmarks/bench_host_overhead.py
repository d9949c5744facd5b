"""The serving host's CPU time per scheduler step, measured on this host: the data behind
`simulator/hosts.py` (`SGLANG_HYPERACCEL_HOST_OVERHEAD`).

Timing-only execution runs SGLang's real tokenizer manager and scheduler but no tensor math, so the
wall time of a decode step is host time: batch formation, metadata, the (skipped) launch, sampling
bookkeeping, stop checks, output streaming, plus the chip clock's own charge. One in-process engine
(llama-3-8b config, 1 LPU) decodes B requests together, for B in 1..64; each run is timed apart from
its prefill, and the fit `step_s + per_request_s x B` is printed next to the constants in
`simulator/hosts.py`.

    python benchmarks/bench_host_overhead.py [--output-len 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sglang_hyperaccel import env  # noqa: E402
from sglang_hyperaccel.model_configs import config_dir  # noqa: E402
from sglang_hyperaccel.replay.driver import EngineTarget, replay  # noqa: E402
from sglang_hyperaccel.replay.workload import ReplayRequest, Workload  # noqa: E402
from sglang_hyperaccel.simulator.hosts import SGLANG_2CORE  # noqa: E402

BATCHES = (1, 4, 16, 32, 64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-len", type=int, default=400)
    args = parser.parse_args()
    os.environ[env.EXECUTION] = "timing"
    target = EngineTarget(model_path=str(config_dir("llama-3-8b")), device="hyperaccel", log_level="error")
    rows = []
    try:
        for batch in BATCHES:
            # All arrive at 0 with 16-token prompts: one prefill batch, then output_len - 1 decode steps.
            workload = Workload(f"host-b{batch}", tuple(ReplayRequest(i, 0.0, 16, args.output_len)
                                                        for i in range(batch)))
            before = target.scheduler_stats()["steps"]
            start = time.perf_counter()
            results = replay(workload, target, f"host-b{batch}")
            wall = time.perf_counter() - start
            steps = target.scheduler_stats()["steps"] - before
            assert all(r.ok for r in results), [r.error for r in results if not r.ok]
            rows.append((batch, steps, wall / steps))
            print(f"batch {batch:>3}: {steps} steps, {1e3 * wall / steps:.3f} ms wall per step", flush=True)
    finally:
        target.close()
    n = len(rows)
    mean_b = sum(b for b, _, _ in rows) / n
    mean_t = sum(t for _, _, t in rows) / n
    slope = (sum((b - mean_b) * (t - mean_t) for b, _, t in rows)
             / sum((b - mean_b) ** 2 for b, _, _ in rows))
    intercept = mean_t - slope * mean_b
    print(f"\n{'':<22}{'measured now':>14}{'hosts.py':>12}")
    print(f"{'step_s (ms)':<22}{1e3 * intercept:>14.3f}{1e3 * SGLANG_2CORE.step_s:>12.3f}")
    print(f"{'per_request_s (ms)':<22}{1e3 * slope:>14.4f}{1e3 * SGLANG_2CORE.per_request_s:>12.4f}")
    for batch, _, t in rows:
        error = 100 * ((intercept + slope * batch) / t - 1)
        print(f"{'fit error at batch ' + str(batch):<22}{error:>13.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
