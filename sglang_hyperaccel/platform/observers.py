"""Things that watch the chip clock: the Chrome-trace timeline and the Prometheus metrics.

Both live in the scheduler process. Metrics use prometheus_client's multiprocess mode, which SGLang
sets up with `--enable-metrics` (the directory variable is inherited from the launcher), so they
appear on the server's `/metrics` beside SGLang's own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sglang_hyperaccel.platform.clock import BatchShape, ChipClock
from sglang_hyperaccel.simulator import StepTime

logger = logging.getLogger(__name__)

# Seconds: chip-time TTFT of a tiny model is tens of microseconds, of a large one hundreds of ms.
_TIME_BUCKETS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)


class TraceRecorder:
    """Appends every charged step to a Chrome trace and rewrites the file at most once a second."""

    MAX_STEPS = 50_000  # keeps the file openable; later steps are counted, not drawn

    def __init__(self, path: Path, rank: int, clock: ChipClock) -> None:
        from sglang_hyperaccel.simulator import ChromeTrace

        self.path = path
        self.trace = ChromeTrace(detail="op")
        self.pid = self.trace.add_process(f"{clock.chip} rank {rank} ({clock.devices} device(s))")
        self.steps = 0
        self._last_write = 0.0

    def on_step(self, shape: BatchShape, step: StepTime, start_s: float) -> None:
        self.steps += 1
        if self.steps <= self.MAX_STEPS:
            name = f"{shape.kind} b={len(shape.rids)} new={sum(shape.new_tokens)} cached={sum(shape.cached_tokens)}"
            self.trace.add_step(step, start_s, name=name, pid=self.pid, args={"rids": list(shape.rids)})
        now = time.monotonic()
        if now - self._last_write >= 1.0:
            self._last_write = now
            self.trace.write(self.path)

    def on_finish(self, report: dict[str, Any]) -> None:
        pass


class MetricsRecorder:
    """Chip-time Prometheus metrics: TTFT/TPOT/E2E histograms, utilisation, KV usage, hit rate."""

    def __init__(self, clock: ChipClock, runner: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        labels = {"chip": clock.chip}
        names = list(labels)
        self.clock, self.runner = clock, runner
        self.ttft = Histogram("sglang_hyperaccel:sim_ttft_seconds", "Chip-time time to first token",
                              names, buckets=_TIME_BUCKETS).labels(**labels)
        self.tpot = Histogram("sglang_hyperaccel:sim_tpot_seconds", "Chip-time time per output token",
                              names, buckets=_TIME_BUCKETS).labels(**labels)
        self.e2e = Histogram("sglang_hyperaccel:sim_e2e_seconds", "Chip-time end-to-end request latency",
                             names, buckets=_TIME_BUCKETS).labels(**labels)
        self.busy = Counter("sglang_hyperaccel:chip_busy_seconds", "Chip time spent in forward batches",
                            names).labels(**labels)
        self.steps = Counter("sglang_hyperaccel:chip_steps", "Forward batches run on the chip", names).labels(**labels)
        self.prefill = Counter("sglang_hyperaccel:prefill_tokens", "Prompt tokens computed (cache misses)",
                               names).labels(**labels)
        self.cached = Counter("sglang_hyperaccel:cached_tokens", "Prompt tokens served from the prefix cache",
                              names).labels(**labels)
        self.utilization = Gauge("sglang_hyperaccel:chip_utilization",
                                 "Bandwidth-roofline time over busy time, cumulative", names,
                                 multiprocess_mode="mostrecent").labels(**labels)
        self.kv_usage = Gauge("sglang_hyperaccel:kv_cache_usage", "Share of the chip's KV token slots in use",
                              names, multiprocess_mode="mostrecent").labels(**labels)
        self.hit_rate = Gauge("sglang_hyperaccel:prefix_cache_hit_rate",
                              "Prompt tokens from the prefix cache over all prompt tokens, cumulative",
                              names, multiprocess_mode="mostrecent").labels(**labels)
        self.evicted = Counter("sglang_hyperaccel:radix_evicted_tokens",
                               "Tokens the prefix cache evicted to make room in the chip's KV memory",
                               names).labels(**labels)
        self.lookups = Counter("sglang_hyperaccel:radix_lookups", "Prefix-cache lookups by the scheduler",
                               names).labels(**labels)
        self.lookup_hits = Counter("sglang_hyperaccel:radix_lookup_hits",
                                   "Prefix-cache lookups that matched at least one page", names).labels(**labels)
        self._prefill = self._cached = 0
        self._radix = None

    def on_step(self, shape: BatchShape, step: StepTime, start_s: float) -> None:
        self.busy.inc(step.total_s)
        self.steps.inc()
        self.utilization.set(self.clock.utilization())
        allocator = getattr(self.runner, "token_to_kv_pool_allocator", None)
        total = getattr(self.runner, "max_total_num_tokens", 0)
        if allocator is not None and total:
            self.kv_usage.set(1.0 - allocator.available_size() / total)
        from sglang_hyperaccel.radix_cache import current_stats

        stats = current_stats()
        if stats is not None:
            last = self._radix
            self.evicted.inc(stats.evicted_tokens - (last.evicted_tokens if last else 0))
            self.lookups.inc(stats.lookups - (last.lookups if last else 0))
            self.lookup_hits.inc(stats.hits - (last.hits if last else 0))
            self._radix = stats

    def on_finish(self, report: dict[str, Any]) -> None:
        self.ttft.observe(report["sim_ttft_ms"] / 1e3)
        self.e2e.observe(report["sim_e2e_ms"] / 1e3)
        if report["sim_decode_steps"]:
            self.tpot.observe(report["sim_tpot_ms"] / 1e3)
        self._prefill += report["sim_prefill_tokens"]
        self._cached += report["sim_cached_tokens"]
        self.prefill.inc(report["sim_prefill_tokens"])
        self.cached.inc(report["sim_cached_tokens"])
        seen = self._prefill + self._cached
        self.hit_rate.set(self._cached / seen if seen else 0.0)


def _rank(runner: Any) -> int:
    from sglang.srt.runtime_context import get_parallel

    return int(get_parallel().tp_rank)


def attach_observers(clock: ChipClock, runner: Any) -> None:
    """Attach the observers this server asked for (trace file, metrics) to `clock`."""
    from sglang_hyperaccel import env

    path = env.trace_path()
    rank = _rank(runner)
    if path is not None:
        if clock.devices > 1:
            path = path.with_name(f"{path.stem}.rank{rank}{path.suffix}")
        clock.listeners.append(TraceRecorder(path, rank, clock))
        logger.info("hyperaccel: writing the chip timeline to %s", path)
    if getattr(runner.server_args, "enable_metrics", False) and rank == 0:
        try:
            clock.listeners.append(MetricsRecorder(clock, runner))
        except Exception:  # metrics are an aid: never let them stop serving
            logger.exception("hyperaccel: chip-time metrics unavailable")
