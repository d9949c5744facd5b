"""A replay's results in chip time: latency percentiles, throughput, goodput, the chip's state.

Percentiles, throughputs and goodput are computed by SGLang's own serving benchmark
(`sglang.benchmark.serving.calculate_metrics`, `sglang.benchmark.goodput.calculate_goodput`), fed
with chip-time figures instead of wall-clock ones: a request "starts" at its chip arrival, its TTFT
and latency are the chip's, and the run lasts from the first arrival to the last finish on the chip
clock. The chip's own state (busy time, KV peak, preemptions, requests in the system) comes from
the scheduler (`internal_states[0]["hyperaccel"]`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sglang_hyperaccel.replay.driver import RequestResult


@dataclass(frozen=True)
class Percentiles:
    """P50, P90 and P99 of one latency, chip-time milliseconds."""

    p50: float
    p90: float
    p99: float


@dataclass(frozen=True)
class Goodput:
    """Requests per chip second that met every SLO, and the share of requests that did."""

    slos_ms: Mapping[str, float]
    request_goodput: float
    attainment: float


@dataclass(frozen=True)
class ReplaySummary:
    """What the chip did with a workload (all rates per chip-clock second)."""

    model: str
    chip: str
    devices: int
    execution: str
    workload: str
    requests: int
    completed: int
    rejected: int
    failed: int
    span_s: float
    wall_s: float
    request_throughput: float
    output_throughput: float
    input_throughput: float
    ttft_ms: Percentiles
    tpot_ms: Percentiles
    e2e_ms: Percentiles
    queue_ms: Percentiles
    tpot_host_ms: float  # mean host share of TPOT (0 unless --host-overhead)
    goodput: Goodput | None
    chip_busy: float  # busy chip time / span
    bandwidth_utilization: float  # roofline time / busy time
    peak_kv_usage: float  # peak KV tokens in use / capacity
    kv_capacity_tokens: int
    prefix_hit_rate: float  # prompt tokens found in the radix cache / prompt tokens
    preemptions: int
    steps: int
    mean_in_system: float  # the scheduler's own time-averaged count of requests in the system
    little_lambda_w: float  # completions per second x mean E2E, from the per-request reports

    @property
    def speedup(self) -> float:
        """Chip time replayed per wall second (above 1: faster than real time)."""
        return self.span_s / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["speedup"] = self.speedup
        return out


class _NoTokenizer:
    """calculate_metrics re-tokenizes output text; replays send ids and keep no text."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return []


def _stats_delta(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's share of the scheduler's counters (readings after minus before; peaks as read after)."""
    if not after:
        return {}
    before = before or {}
    delta = dict(after)
    for key in ("busy_ms", "floor_ms", "steps", "in_system_ms_integral", "retracted"):
        delta[key] = after.get(key, 0) - before.get(key, 0)
    return delta


def summarize(results: Sequence[RequestResult], stats_before: Mapping[str, Any] | None,
              stats_after: Mapping[str, Any] | None, *, model: str,
              chip: str, devices: int, execution: str, workload: str, wall_s: float,
              slos_ms: Mapping[str, float] | None = None) -> ReplaySummary:
    """Summarize per-request results and the scheduler's statistics (`SchedulerChipStats` dicts read
    before and after the run)."""
    import numpy as np
    from sglang.benchmark.datasets import DatasetRow
    from sglang.benchmark.goodput import calculate_goodput
    from sglang.benchmark.serving import RequestFuncOutput, calculate_metrics

    ok = [r for r in results if r.ok]
    rows, outputs = [], []
    for r in results:
        rows.append(DatasetRow(prompt="", prompt_len=r.request.input_len, output_len=r.request.output_len))
        out = RequestFuncOutput(prompt_len=r.request.input_len, success=r.ok, error=r.error or "")
        if r.ok:
            rep = r.report
            out.start_time = rep.sim_arrival_ms / 1e3
            out.ttft = rep.sim_ttft_ms / 1e3
            out.latency = rep.sim_e2e_ms / 1e3
            out.output_len = r.completion_tokens
            out.itl = [rep.sim_tpot_ms / 1e3] * max(0, r.completion_tokens - 1)
        outputs.append(out)
    if ok:
        start = min(r.report.sim_arrival_ms for r in ok)
        span_s = (max(r.report.sim_finish_ms for r in ok) - start) / 1e3
    else:
        span_s = 0.0
    dur = span_s or 1e-9
    metrics, _ = calculate_metrics(rows, outputs, dur, _NoTokenizer(), "sglang")
    goodput = None
    if slos_ms:
        g = calculate_goodput(outputs, dict(slos_ms), dur)
        goodput = Goodput(dict(slos_ms), g.request_goodput, g.slo_attainment)
    queues = [r.report.sim_queue_ms for r in ok] or [0.0]
    prompt = sum(r.report.sim_prefill_tokens + r.report.sim_cached_tokens for r in ok)
    cached = sum(r.report.sim_cached_tokens for r in ok)
    stats = _stats_delta(stats_before, stats_after)
    capacity = int(stats.get("kv_tokens_capacity") or 0)
    mean_e2e_s = float(np.mean([r.report.sim_e2e_ms for r in ok])) / 1e3 if ok else 0.0
    return ReplaySummary(
        model=model, chip=chip, devices=devices, execution=execution, workload=workload,
        requests=len(results), completed=metrics.completed,
        rejected=sum(1 for r in results if (r.error or "").startswith("rejected")),
        failed=sum(1 for r in results if r.error and not r.error.startswith("rejected")),
        span_s=span_s, wall_s=wall_s,
        request_throughput=metrics.request_throughput, output_throughput=metrics.output_throughput,
        input_throughput=metrics.input_throughput,
        ttft_ms=Percentiles(metrics.median_ttft_ms, metrics.p90_ttft_ms, metrics.p99_ttft_ms),
        tpot_ms=Percentiles(metrics.median_tpot_ms, metrics.p90_tpot_ms, metrics.p99_tpot_ms),
        e2e_ms=Percentiles(metrics.median_e2e_latency_ms, metrics.p90_e2e_latency_ms,
                           metrics.p99_e2e_latency_ms),
        queue_ms=Percentiles(*(float(np.percentile(queues, q)) for q in (50, 90, 99))),
        tpot_host_ms=float(np.mean([r.report.sim_tpot_host_ms for r in ok])) if ok else 0.0,
        goodput=goodput,
        chip_busy=float(stats.get("busy_ms", 0.0)) / 1e3 / dur if ok else 0.0,
        bandwidth_utilization=(float(stats.get("floor_ms", 0.0)) / float(stats["busy_ms"])
                               if stats.get("busy_ms") else 0.0),
        peak_kv_usage=int(stats.get("kv_tokens_peak") or 0) / capacity if capacity else 0.0,
        kv_capacity_tokens=capacity,
        prefix_hit_rate=cached / prompt if prompt else 0.0,
        preemptions=int(stats.get("retracted") or 0),
        steps=int(stats.get("steps") or 0),
        mean_in_system=float(stats.get("in_system_ms_integral", 0.0)) / 1e3 / dur if ok else 0.0,
        little_lambda_w=metrics.request_throughput * mean_e2e_s,
    )


def format_table(s: ReplaySummary) -> str:
    """The summary as the aligned text table `replay` prints."""
    lines = [
        f"{'Replay on the chip (virtual time)':=^64}",
        ("model", f"{s.model} ({s.execution})"), ("chip", f"{s.chip} x{s.devices}"),
        ("workload", s.workload),
        ("requests / completed", f"{s.requests} / {s.completed}"),
        ("rejected / failed", f"{s.rejected} / {s.failed}"),
        ("chip-time span (s)", f"{s.span_s:.2f}"), ("wall time (s)", f"{s.wall_s:.2f}"),
        ("speed-up over real time", f"{s.speedup:.2f}x"),
        ("request throughput (req/s)", f"{s.request_throughput:.3f}"),
        ("output throughput (tok/s)", f"{s.output_throughput:.1f}"),
        ("input throughput (tok/s)", f"{s.input_throughput:.1f}"),
    ]
    for label, p in (("TTFT", s.ttft_ms), ("TPOT", s.tpot_ms), ("E2E", s.e2e_ms), ("queue", s.queue_ms)):
        lines.append((f"{label} P50 / P90 / P99 (ms)", f"{p.p50:.2f} / {p.p90:.2f} / {p.p99:.2f}"))
    if s.tpot_host_ms:
        lines.append(("host share of mean TPOT (ms)", f"{s.tpot_host_ms:.2f}"))
    if s.goodput is not None:
        slos = " ".join(f"{k}<={v:g}" for k, v in s.goodput.slos_ms.items())
        lines.append((f"goodput at {slos} (req/s)", f"{s.goodput.request_goodput:.3f} "
                                                     f"({100 * s.goodput.attainment:.1f}% of requests)"))
    lines += [
        ("chip busy (share of span)", f"{100 * s.chip_busy:.1f}%"),
        ("bandwidth utilisation (busy)", f"{100 * s.bandwidth_utilization:.1f}%"),
        ("peak KV usage", f"{100 * s.peak_kv_usage:.1f}% of {s.kv_capacity_tokens} tokens"),
        ("prefix-cache hit rate", f"{100 * s.prefix_hit_rate:.1f}%"),
        ("preemptions", str(s.preemptions)),
        ("scheduler steps", str(s.steps)),
        ("requests in system: mean / λW", f"{s.mean_in_system:.2f} / {s.little_lambda_w:.2f}"),
    ]
    out = []
    for line in lines:
        out.append(line if isinstance(line, str) else f"{line[0]:<34} {line[1]}")
    out.append("=" * 64)
    return "\n".join(out)


def write_jsonl(results: Sequence[RequestResult], path: str | Path) -> None:
    """One JSON object per request (its chip-time report, or its error)."""
    with Path(path).open("w") as f:
        for r in results:
            f.write(json.dumps(r.to_dict()) + "\n")


def plot_cdfs(results: Sequence[RequestResult], path: str | Path, title: str) -> Path:
    """TTFT, TPOT and E2E latency CDFs (chip time) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r.report for r in results if r.ok]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (label, values) in zip(axes, (
            ("TTFT (ms)", [r.sim_ttft_ms for r in ok]),
            ("TPOT (ms)", [r.sim_tpot_ms for r in ok if r.sim_decode_steps]),
            ("E2E (ms)", [r.sim_e2e_ms for r in ok]))):
        xs = np.sort(values)
        ax.plot(xs, np.arange(1, len(xs) + 1) / max(1, len(xs)))
        ax.set_xlabel(label + ", chip time")
        ax.set_ylabel("share of requests")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
