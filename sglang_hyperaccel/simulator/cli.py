"""`python -m sglang_hyperaccel.simulator` (also `sglang-hyperaccel simulate`): what-if runs.

Comma-separated values sweep (every combination). Prints a table, or one JSON object per
configuration with --json; --trace writes a Chrome-trace timeline, --plot a PNG against batch.
Input errors print one line to stderr and exit with status 2. The default chip and a memory
override are the caller's to give (`sglang-hyperaccel simulate` passes the emulated chip's).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from typing import Callable, Sequence, TypeVar

from .calibration import calibration_table, format_table, parameter_table
from .chips import ChipSpec, get_chip, list_chips
from .errors import SimulatorError
from .generation import GenerationResult, generate
from .models import list_models, load_model
from .step_model import Simulator
from .trace import ChromeTrace

T = TypeVar("T")
PLOT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EXIT_USAGE = 2


def _split(parse: Callable[[str], T], what: str) -> Callable[[str], list[T]]:
    def parse_list(text: str) -> list[T]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {what} list")
        try:
            return [parse(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad {what} list {text!r}") from None
    return parse_list


def _parser(default_chip: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sglang_hyperaccel.simulator",
        description="Simulate LLM decoding on HyperAccel's LPU (or a peer chip). "
                    "Comma-separated values sweep.")
    p.add_argument("--model", type=_split(str, "model"), default=["opt-1.3b"],
                   help=f"bundled name ({', '.join(list_models())}) or a model dir / config.json")
    p.add_argument("--chip", type=_split(str, "chip"), default=[default_chip],
                   help=f"chip ({', '.join(list_chips())}); default {default_chip}")
    p.add_argument("--devices", type=_split(int, "devices"), default=[1], help="devices (tensor parallel)")
    p.add_argument("--batch", type=_split(int, "batch"), default=[1], help="concurrent requests")
    p.add_argument("--input-len", type=_split(int, "input-len"), default=[32], help="prompt tokens")
    p.add_argument("--output-len", type=_split(int, "output-len"), default=[2016], help="generated tokens")
    p.add_argument("--dtype-bytes", type=int, default=None, help="bytes per parameter (config's by default)")
    p.add_argument("--json", action="store_true", help="one JSON object per configuration")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome-trace JSON (Perfetto) timeline")
    p.add_argument("--trace-steps", type=int, default=4,
                   help="decode steps traced after the prefill, per configuration (default 4)")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of latency and throughput vs batch")
    p.add_argument("--calibration", action="store_true", help="print the calibration table and exit")
    p.add_argument("--parameters", action="store_true", help="print every chip parameter and its source")
    p.add_argument("--list", action="store_true", help="list chips and bundled models")
    return p


def _chip(name: str, memory_bytes: int | None) -> ChipSpec:
    chip = get_chip(name)
    return chip if memory_bytes is None else chip.with_memory(memory_bytes)


def _label(r: GenerationResult) -> str:
    return f"{r.model} on {r.devices} x {r.chip}, in {r.input_len}, out {r.output_len}"


def format_results(results: Sequence[GenerationResult]) -> str:
    """The human-readable table."""
    head = ("model", "chip", "dev", "batch", "in", "out", "ms/token", "tokens/s", "TTFT ms",
            "BW util", "floor ms", "bound")
    rows = [head]
    for r in results:
        rows.append((r.model, r.chip, str(r.devices), str(r.batch), str(r.input_len),
                     str(r.output_len), f"{r.ms_per_token:.3f}", f"{r.tokens_per_s:.1f}",
                     f"{r.ttft_ms:.2f}", f"{100 * r.bandwidth_utilization:.1f}%",
                     f"{r.floor_ms_per_token:.3f}", r.bound))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) if i >= 2 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, default_chip: str = "lpu",
         memory_bytes: int | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input or a configuration that fails).

    `default_chip` is the chip when `--chip` is not given; `memory_bytes`, if set, replaces the
    capacity of every chip simulated (the emulated device's memory setting).
    """
    args = _parser(default_chip).parse_args(argv)
    try:
        if args.list:
            print("chips:  " + ", ".join(list_chips()))
            print("models: " + ", ".join(list_models()))
            return 0
        if args.parameters:
            print(parameter_table([get_chip(name) for name in list_chips()]))
            return 0
        if args.calibration:
            print(format_table(calibration_table()))
            return 0
        return _run(args, memory_bytes)
    except SimulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's flush quiet
        return 0


def _run(args: argparse.Namespace, memory_bytes: int | None) -> int:
    if args.trace_steps < 0:
        raise SimulatorError("--trace-steps must be >= 0")
    chips = [_chip(name, memory_bytes) for name in args.chip]
    models = [load_model(name, dtype_bytes=args.dtype_bytes) for name in args.model]
    status = 0
    results: list[GenerationResult] = []
    trace = ChromeTrace(detail="layer") if args.trace else None
    series: dict[str, list[GenerationResult]] = {}
    for model, chip, devices in itertools.product(models, chips, args.devices):
        try:
            sim = Simulator(chip, model, devices)
        except SimulatorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for batch, input_len, output_len in itertools.product(args.batch, args.input_len,
                                                              args.output_len):
            try:
                result = generate(sim, batch, input_len, output_len)
            except SimulatorError as exc:
                print(f"error: {exc}", file=sys.stderr)
                status = EXIT_USAGE
                continue
            results.append(result)
            if args.json:
                print(json.dumps(result.to_dict()), flush=True)
            if trace is not None:
                _trace(trace, sim, result, args.trace_steps)
        if args.plot:
            for input_len, output_len in itertools.product(args.input_len, args.output_len):
                batches = args.batch if len(args.batch) > 1 else PLOT_BATCHES
                points = []
                for batch in batches:
                    try:
                        points.append(generate(sim, batch, input_len, output_len))
                    except SimulatorError:
                        break  # larger batches do not fit either
                if points:
                    series[_label(points[0])] = points
    if results and not args.json:
        print(format_results(results))
    if trace is not None:
        trace.write(args.trace)
        print(f"trace: {args.trace} (open in https://ui.perfetto.dev)", file=sys.stderr)
    if args.plot and series:
        from .plot import plot_batch_sweep

        plot_batch_sweep(series, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return status


def _trace(trace: ChromeTrace, sim: Simulator, result: GenerationResult, steps: int) -> None:
    """The prefill and the first `steps` decode steps of one configuration, on its own process."""
    pid = trace.add_process(f"{_label(result)}, batch {result.batch}")
    t = trace.add_step(sim.uniform(result.batch, result.input_len, 0), 0.0, name="prefill", pid=pid)
    for k in range(min(steps, result.output_len - 1)):
        kv = result.input_len + k
        t = trace.add_step(sim.uniform(result.batch, 1, kv), t, name=f"decode {k + 1}", pid=pid,
                           args={"kv_len": kv})
