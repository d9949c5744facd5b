"""`sglang-hyperaccel replay`: a trace or a synthetic workload on the chip, in virtual time.

argparse lives here and nowhere else in the package; the work is `workload`, `driver`, `summary`.
Exit codes: 0 done, 2 bad input (one `sglang-hyperaccel: error:` line), 1 the engine failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sglang_hyperaccel import env

_EPILOG = """examples:
  sglang-hyperaccel replay ../shared/data/traces/azure_conv_2023.csv --num-requests 1000
  sglang-hyperaccel replay --qps 4 --num-requests 500 --prefix-groups 8 --prefix-len 1000 --chip h100
  sglang-hyperaccel replay trace.csv --url http://127.0.0.1:30000   (a running server)"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sglang-hyperaccel replay", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay a request trace (or a synthetic workload) against the chip in virtual time: "
                    "requests arrive on the chip's clock, and SGLang's real scheduler serves them.")
    p.add_argument("workload", nargs="?", help="trace CSV: Splitwise/Vidur (arrived_at,num_prefill_tokens,"
                   "num_decode_tokens) or Azure (TIMESTAMP,ContextTokens,GeneratedTokens); "
                   "omit for a synthetic workload at --qps")
    g = p.add_argument_group("system")
    g.add_argument("--model", default="llama-3-8b",
                   help="a bundled config name (sglang-hyperaccel model-config --list) or a model directory")
    g.add_argument("--chip", default=None, help=f"chip to time (default ${env.CHIP} or lpu)")
    g.add_argument("--devices", type=int, default=1, help="chips in the tensor-parallel group (--tp-size)")
    g.add_argument("--execution", choices=env.EXECUTION_MODES, default="timing",
                   help="timing: no weights, no tensor math (default); numeric: run the model")
    g.add_argument("--host-overhead", choices=("none", "serial", "overlap"), default="none",
                   help="add the serving host's CPU time per step: all of it (serial), or what the chip "
                        "step does not hide (overlap, SGLang's overlap schedule); default chip time only")
    g.add_argument("--url", help="replay against this running server instead of an in-process engine")
    g.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra SGLang server argument, e.g. max_running_requests=64 (repeatable)")
    w = p.add_argument_group("workload")
    w.add_argument("--num-requests", type=int, help="replay only the first N requests")
    w.add_argument("--rate-scale", type=float, default=1.0, help="multiply the trace's request rate")
    w.add_argument("--qps", type=float, help="synthetic: mean request rate")
    w.add_argument("--arrival", choices=("poisson", "gamma"), default="poisson")
    w.add_argument("--cv", type=float, default=1.0, help="gamma arrivals: coefficient of variation")
    w.add_argument("--input-len", type=int, default=1024)
    w.add_argument("--output-len", type=int, default=128)
    w.add_argument("--range-ratio", type=float, default=1.0, help="lengths uniform in [ratio x len, len]")
    w.add_argument("--prefix-groups", type=int, default=0, help="synthetic: N shared system prompts")
    w.add_argument("--prefix-len", type=int, default=0, help="synthetic: tokens of each system prompt")
    w.add_argument("--turns", type=int, default=1, help="synthetic: turns per multi-turn session")
    w.add_argument("--seed", type=int, default=0)
    o = p.add_argument_group("output")
    o.add_argument("--slo-ttft-ms", type=float)
    o.add_argument("--slo-tpot-ms", type=float)
    o.add_argument("--slo-e2e-ms", type=float)
    o.add_argument("--out", type=Path, help="per-request results, JSON lines")
    o.add_argument("--trace", type=Path, help="the chip timeline (Chrome trace JSON)")
    o.add_argument("--plot", type=Path, help="latency CDFs (PNG)")
    o.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    o.add_argument("--no-progress", action="store_true")
    return p


def _error(message: str) -> int:
    print(f"sglang-hyperaccel: error: {message}", file=sys.stderr, flush=True)
    return 2


def _workload(args: argparse.Namespace):
    from sglang_hyperaccel.replay.workload import SyntheticSpec, read_trace, synthetic

    if args.workload:
        return read_trace(args.workload).head(args.num_requests).scaled(args.rate_scale)
    if args.qps is None:
        raise ValueError("give a trace CSV, or --qps for a synthetic workload")
    spec = SyntheticSpec(num_requests=args.num_requests or 100, qps=args.qps * args.rate_scale,
                         input_len=args.input_len, output_len=args.output_len, range_ratio=args.range_ratio,
                         arrival=args.arrival, cv=args.cv, prefix_groups=args.prefix_groups,
                         prefix_len=args.prefix_len, turns=args.turns, seed=args.seed)
    return synthetic(spec)


def _engine_args(args: argparse.Namespace, model_path: str) -> dict:
    extra = {}
    for item in args.engine_arg:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--engine-arg {item!r}: expected KEY=VALUE")
        extra[key.replace("-", "_")] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return {"model_path": model_path, "device": "hyperaccel", "tp_size": args.devices,
            "random_seed": args.seed, "log_level": "error", **extra}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sglang_hyperaccel.model_configs import config_dir
    from sglang_hyperaccel.replay.driver import EngineTarget, HttpTarget, replay
    from sglang_hyperaccel.replay.summary import format_table, plot_cdfs, summarize, write_jsonl
    from sglang_hyperaccel.replay.workload import TraceError
    from sglang_hyperaccel.simulator import UnknownNameError, get_chip

    chip = args.chip or env.chip_name()
    try:
        get_chip(chip)
        if args.devices < 1:
            raise ValueError(f"--devices must be at least 1, got {args.devices}")
        model_path = str(config_dir(args.model)) if args.url is None else args.model
        workload = _workload(args)
        engine_args = _engine_args(args, model_path)
    except (UnknownNameError, TraceError, ValueError) as exc:
        return _error(str(exc).strip("'\""))
    if args.url and args.trace:
        return _error("--trace writes the in-process engine's timeline; for a server, start it with "
                      f"{env.TRACE}=FILE")
    if args.url and args.host_overhead != "none":
        return _error(f"--host-overhead sets the in-process engine's clock; for a server, start it with "
                      f"{env.HOST_OVERHEAD}={args.host_overhead}")
    slos = {k: v for k, v in (("ttft", args.slo_ttft_ms), ("tpot", args.slo_tpot_ms),
                              ("e2el", args.slo_e2e_ms)) if v is not None}
    os.environ[env.CHIP] = chip  # read by the engine's processes, which inherit this environment
    os.environ[env.EXECUTION] = args.execution
    os.environ[env.HOST_OVERHEAD] = args.host_overhead
    if args.trace:
        os.environ[env.TRACE] = str(args.trace)
    start = time.perf_counter()
    try:
        target = HttpTarget(args.url) if args.url else EngineTarget(**engine_args)
    except Exception as exc:
        print(f"sglang-hyperaccel: error: the engine did not start: {exc}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    try:
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(workload.requests), unit="req", desc="replay", file=sys.stderr)
        trace_id = f"{workload.name}-{args.seed}"
        before = target.scheduler_stats()
        results = replay(workload, target, trace_id, seed=args.seed, progress=bar.update if bar else None)
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - started
        after = target.scheduler_stats()
    finally:
        target.close()
    reports = [r.report for r in results if r.ok]
    chip = reports[0].chip if reports else chip  # a server URL reports the chip it times
    summary = summarize(results, before, after, model=Path(target.model_path).name, chip=chip,
                        devices=reports[0].devices if reports else args.devices, execution=args.execution,
                        workload=workload.name, wall_s=wall, slos_ms=slos)
    if args.out:
        write_jsonl(results, args.out)
    if args.plot:
        plot_cdfs(results, args.plot, f"{summary.model} on {chip} x{summary.devices}: {workload.name}")
    if args.json:
        print(json.dumps({**summary.to_dict(), "startup_s": started - start}))
    else:
        print(format_table(summary))
        print(f"(engine start-up {started - start:.1f} s, not in the wall time above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
