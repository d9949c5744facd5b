"""Chip-time Prometheus metrics, beside SGLang's own on the server's `/metrics`.

They live in the scheduler process and use prometheus_client's multiprocess mode, which SGLang
sets up with `--enable-metrics` (the directory variable is inherited from the launcher).
"""

from __future__ import annotations

from typing import Any

from sglang_hyperaccel.platform.clock import BatchShape, ChipClock
from sglang_hyperaccel.platform.report import ChipTimeReport
from sglang_hyperaccel.radix_cache import current_stats
from sglang_hyperaccel.simulator import StepTime

# Seconds: chip-time TTFT of a tiny model is tens of microseconds, of a large one hundreds of ms.
_TIME_BUCKETS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)


class MetricsRecorder:
    """A `ClockListener` keeping the chip-time Prometheus metrics of one scheduler process.

    TTFT/TPOT/E2E histograms, busy time and steps, prompt tokens computed and cached, utilisation,
    KV usage (from the runner's allocator) and the radix cache's counters.
    """

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
        self.steps = Counter("sglang_hyperaccel:chip_steps", "Forward batches run on the chip",
                             names).labels(**labels)
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
                                   "Prefix-cache lookups that matched at least one page",
                                   names).labels(**labels)
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
        stats = current_stats()
        if stats is not None:
            last = self._radix
            self.evicted.inc(stats.evicted_tokens - (last.evicted_tokens if last else 0))
            self.lookups.inc(stats.lookups - (last.lookups if last else 0))
            self.lookup_hits.inc(stats.hits - (last.hits if last else 0))
            self._radix = stats

    def on_finish(self, report: ChipTimeReport) -> None:
        self.ttft.observe(report.sim_ttft_ms / 1e3)
        self.e2e.observe(report.sim_e2e_ms / 1e3)
        if report.sim_decode_steps:
            self.tpot.observe(report.sim_tpot_ms / 1e3)
        self._prefill += report.sim_prefill_tokens
        self._cached += report.sim_cached_tokens
        self.prefill.inc(report.sim_prefill_tokens)
        self.cached.inc(report.sim_cached_tokens)
        seen = self._prefill + self._cached
        self.hit_rate.set(self._cached / seen if seen else 0.0)
