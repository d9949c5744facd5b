"""Replay speed: how much chip time `sglang-hyperaccel replay` covers per wall second, in one run.

The path users run: `sglang-hyperaccel replay azure-conv-2023 --num-requests 1000` (SGLang's real
tokenizer manager and scheduler in an in-process engine, timing-only execution, virtual time), for

1. `llama-3-8b` on 1 LPU,
2. `llama-3-70b` on 8 LPUs,
3. `llama-3-8b` on 1 H100 (the same trace, for the LPU-vs-GPU summary),

printing per run: wall seconds (engine start-up apart), scheduler steps, steps per wall second and
the chip-time span over wall time (the speed-up over real time; goal >= 1 on a 2-core host, Revati
reports 5-17x on its GPU host), then the chip-time summary of each run side by side.

    python benchmarks/bench_replay.py [--num-requests 1000] [--only llama-3-8b:lpu:1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ("llama-3-8b:lpu:1", "llama-3-70b:lpu:8", "llama-3-8b:h100:1")
GOAL_SPEEDUP = 1.0


def run(model: str, chip: str, devices: int, num_requests: int) -> dict:
    cmd = [sys.executable, "-m", "sglang_hyperaccel.cli", "replay", "azure-conv-2023", "--model", model,
           "--chip", chip, "--devices", str(devices), "--num-requests", str(num_requests), "--json",
           "--slo-ttft-ms", "1000", "--slo-tpot-ms", "50"]
    print(f"$ {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"replay failed ({done.returncode}) for {model} on {chip} x{devices}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-requests", type=int, default=1000)
    parser.add_argument("--only", action="append", help="MODEL:CHIP:DEVICES (repeatable)")
    args = parser.parse_args()
    rows = []
    for spec in args.only or RUNS:
        model, chip, devices = spec.split(":")
        rows.append(run(model, chip, int(devices), args.num_requests))
    label = [f"{r['model']} {r['chip']}x{r['devices']}" for r in rows]
    table = [
        ("engine start-up (s)", "startup_s", "{:.1f}"), ("replay wall (s)", "wall_s", "{:.1f}"),
        ("chip-time span (s)", "span_s", "{:.1f}"), ("scheduler steps", "steps", "{:d}"),
        ("steps per wall second", None, "{:.0f}"), ("speed-up over real time", "speedup", "{:.2f}x"),
        ("completed / requests", None, None), ("req/s (chip time)", "request_throughput", "{:.3f}"),
        ("output tok/s (chip time)", "output_throughput", "{:.0f}"),
    ]
    width = max(22, *(len(x) + 2 for x in label))
    print(f"\n{'':<28}" + "".join(f"{x:>{width}}" for x in label))
    for name, key, fmt in table:
        cells = []
        for r in rows:
            if name == "steps per wall second":
                cells.append(f"{r['steps'] / r['wall_s']:.0f}")
            elif name == "completed / requests":
                cells.append(f"{r['completed']} / {r['requests']}")
            else:
                cells.append(fmt.format(r[key]))
        print(f"{name:<28}" + "".join(f"{c:>{width}}" for c in cells))
    for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"), ("E2E", "e2e_ms")):
        for q in ("p50", "p90", "p99"):
            cells = "".join(f"{r[key][q]:>{width}.2f}" for r in rows)
            print(f"{name + ' ' + q.upper() + ' (ms)':<28}" + cells)
    print(f"{'goodput (TTFT<=1s, TPOT<=50ms)':<28}"
          + "".join(f"{100 * r['goodput']['attainment']:>{width - 1}.1f}%" for r in rows))
    print(f"{'chip busy':<28}" + "".join(f"{100 * r['chip_busy']:>{width - 1}.1f}%" for r in rows))
    print(f"{'peak KV usage':<28}" + "".join(f"{100 * r['peak_kv_usage']:>{width - 1}.1f}%" for r in rows))
    print(f"{'preemptions':<28}" + "".join(f"{r['preemptions']:>{width}d}" for r in rows))
    slow = [x for x, r in zip(label, rows) if r["speedup"] < GOAL_SPEEDUP]
    verdict = "met" if not slow else "missed by " + ", ".join(slow)
    print(f"\ngoal: speed-up >= {GOAL_SPEEDUP:g}x on every run: {verdict}")
    return 0 if not slow else 1


if __name__ == "__main__":
    sys.exit(main())
