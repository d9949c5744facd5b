"""Cache and chip-time figures of a run over several replicas, from the responses' meta info.

Hit rate is SGLang's own count: cached prompt tokens / prompt tokens. Chip time is the simulated
LPU's: each replica has its own clock, which advances only by the forward batches that replica
runs, so one replica's busy span is its last `sim_finish_ms` minus its first `sim_arrival_ms`.
A replica's chip-time throughput is the tokens it served over that span; the replicas run in
parallel, so the deployment's throughput is the sum of theirs. Tokens over the longest replica
span (the makespan) is reported beside it: it also charges an uneven split of the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sglang_hyperaccel.names import META_KEY
from sglang_hyperaccel.platform.report import ChipTimeReport


class RequestRecord(NamedTuple):
    """One served /generate request as the benchmark and tests see it."""

    worker: str  # the replica that served it (router's routed-worker header)
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    sim_arrival_ms: float  # the replica's chip clock when the request arrived
    sim_finish_ms: float  # ... and after the request's last step

    @classmethod
    def from_response(cls, worker: str, body: Mapping[str, Any]) -> RequestRecord:
        """From a /generate JSON body (its `meta_info` with the `hyperaccel` chip-time object)."""
        meta = body["meta_info"]
        chip = ChipTimeReport.from_wire(meta[META_KEY])
        return cls(worker, int(meta["prompt_tokens"]), int(meta.get("cached_tokens") or 0),
                   int(meta.get("completion_tokens") or 0), chip.sim_arrival_ms, chip.sim_finish_ms)


@dataclass(frozen=True)
class RunSummary:
    """What one policy did with one workload."""

    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    chip_span_ms: float  # the longest replica busy span (the makespan)
    replica_spans_ms: dict[str, float]
    replica_requests: dict[str, int]
    replica_tokens: dict[str, int]  # prompt + completion tokens each replica served
    wall_s: float

    @property
    def hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def missed_tokens(self) -> int:
        """Prompt tokens prefilled again because no cache held them."""
        return self.prompt_tokens - self.cached_tokens

    @property
    def chip_tokens_per_s(self) -> float:
        """Prompt + completion tokens per chip second, summed over the replicas (they run in parallel)."""
        return sum(self.replica_tokens[w] / (span / 1e3)
                   for w, span in self.replica_spans_ms.items() if span > 0)

    @property
    def makespan_tokens_per_s(self) -> float:
        """All tokens over the longest replica span: lower than the sum when the work is split unevenly."""
        total = self.prompt_tokens + self.completion_tokens
        return total / (self.chip_span_ms / 1e3) if self.chip_span_ms > 0 else 0.0


def summarize(records: Iterable[RequestRecord], wall_s: float = 0.0) -> RunSummary:
    """Aggregate per-request records into hit rate, misses and chip-time throughput."""
    records = list(records)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    counts: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for rec in records:
        tokens[rec.worker] = tokens.get(rec.worker, 0) + rec.prompt_tokens + rec.completion_tokens
        first[rec.worker] = min(first.get(rec.worker, rec.sim_arrival_ms), rec.sim_arrival_ms)
        last[rec.worker] = max(last.get(rec.worker, rec.sim_finish_ms), rec.sim_finish_ms)
        counts[rec.worker] = counts.get(rec.worker, 0) + 1
    spans = {worker: last[worker] - first[worker] for worker in first}
    return RunSummary(
        requests=len(records),
        prompt_tokens=sum(r.prompt_tokens for r in records),
        cached_tokens=sum(r.cached_tokens for r in records),
        completion_tokens=sum(r.completion_tokens for r in records),
        chip_span_ms=max(spans.values(), default=0.0),
        replica_spans_ms=spans,
        replica_requests=counts,
        replica_tokens=tokens,
        wall_s=wall_s,
    )
