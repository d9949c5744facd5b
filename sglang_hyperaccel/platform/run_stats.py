"""Scheduler-side statistics of a chip-clocked run, read from the scheduler's own data structures.

The per-request reports (`report.py`) say what each request saw; these say what the scheduler held,
sampled at every loop pass, so a replay tool can check the reports against an independent source
(Little's law: the time-average of the requests in the system equals the arrival rate times the mean
end-to-end time). The scheduler adds a `SchedulerChipStats` to `/server_info`'s
`internal_states[i]["hyperaccel"]` (`virtual_time.internal_state_after`). Counters only grow: a
client differences two readings to get a trace's share. Imports nothing but the standard library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SchedulerChipStats:
    """One scheduler's chip clock and queues, as `internal_states[i]["hyperaccel"]` carries them.

    Clock: `now_ms` its reading; `busy_ms` the charged batches, `floor_ms` their bandwidth roofline,
    `idle_jump_ms` the idle time it skipped in `clock_jumps` jumps to a virtual-time arrival;
    `steps` batches, `tokens` tokens they computed; `clock_requests_now` the requests it holds
    chip-time stamps for (arrived, not yet finished: 0 when idle, or per-request state leaks).
    Queues, sampled each loop pass: `in_system_now` requests arrived and not finished (arrived but
    held, waiting, chunked, running); `in_system_ms_integral` the integral of that count over chip
    time (request x ms), counting a held request from its declared arrival; `passes` loop passes.
    KV: `kv_tokens_capacity` the pool's token slots, `kv_tokens_used` those held by requests now
    (not free, and not the prefix cache's unlocked tokens, which eviction frees), `kv_tokens_peak`
    the most seen since the latest trace began (or the server started). `retracted` requests
    preempted to free KV (they re-queue).
    Prefix cache (None without the counted radix cache): `radix_lookups`, `radix_hits` (lookups
    that matched), `radix_hit_tokens`.
    Virtual time: `held_now` requests waiting for the clock to reach their arrival, `active_traces`
    traces not yet drained, `traces_done`, `protocol_violations` requests received after the clock
    had passed their arrival, `refused` requests whose virtual-time field was rejected.
    """

    now_ms: float
    busy_ms: float
    floor_ms: float
    idle_jump_ms: float
    clock_jumps: int
    steps: int
    tokens: int
    clock_requests_now: int
    passes: int
    in_system_now: int
    in_system_ms_integral: float
    kv_tokens_capacity: int
    kv_tokens_used: int
    kv_tokens_peak: int
    retracted: int
    radix_lookups: int | None
    radix_hits: int | None
    radix_hit_tokens: int | None
    held_now: int
    active_traces: int
    traces_done: int
    protocol_violations: int
    refused: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON object `internal_states[i]["hyperaccel"]` carries."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchedulerChipStats:
        """Read it back; KeyError names a missing field."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


class RunRecorder:
    """Accumulates the sampled statistics of one scheduler (its time integral, peaks, counters)."""

    def __init__(self) -> None:
        self.in_system = 0
        self.integral_ms = 0.0
        self.passes = 0
        self.kv_used = 0
        self.kv_capacity = 0
        self.kv_peak = 0
        self.retracted = 0
        self.refused = 0
        self._last_s: float | None = None

    def advance(self, now_s: float) -> None:
        """Integrate the last sampled count up to `now_s` (the clock only moves forward)."""
        if self._last_s is not None and now_s > self._last_s:
            self.integral_ms += 1e3 * self.in_system * (now_s - self._last_s)
        self._last_s = now_s if self._last_s is None else max(self._last_s, now_s)

    def recount(self, now_s: float, in_system: int) -> None:
        """Integrate up to `now_s`, then count `in_system` from there (no pass sampled)."""
        self.advance(now_s)
        self.in_system = in_system

    def add_held(self, waited_s: float) -> None:
        """A request enters the scheduler `waited_s` after its declared arrival: it was in the system."""
        self.integral_ms += 1e3 * max(0.0, waited_s)

    def sample(self, now_s: float, in_system: int, kv_used: int, kv_capacity: int,
               loop_pass: bool = True) -> None:
        """A reading of the scheduler's queues and KV pool: one loop pass's, or (not `loop_pass`)
        one taken when the stats are queried."""
        self.advance(now_s)
        self.passes += loop_pass
        self.in_system = in_system
        self.kv_used, self.kv_capacity = kv_used, kv_capacity
        self.kv_peak = max(self.kv_peak, kv_used)

    def trace_started(self) -> None:
        """A trace's first request arrived: its KV peak starts from what is in use now."""
        self.kv_peak = self.kv_used
