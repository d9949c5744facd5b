"""The chip clock: every forward batch SGLang's model runner executes, charged to the LPU model.

One clock per scheduler process (per tensor-parallel rank). Chip time advances only by the
simulated time of the batches the real scheduler forms, so it measures what the chip would take
for exactly this schedule; wall-clock gaps (the emulation is far slower than the chip) never enter
it. A request arrives at the chip time when the scheduler receives it, or, in virtual time
(`virtual_time.py`), at the arrival it declares, the clock jumping over idle gaps to it; its queue,
TTFT, TPOT and end-to-end times are read off the clock when its steps end.

Pure bookkeeping over the simulator (no SGLang, no torch): the hooks that feed it live in
`clock_hooks.py`, the observers it feeds (`ClockListener`) in `metrics.py` and `timeline.py`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sglang_hyperaccel.platform.report import ChipTimeReport
from sglang_hyperaccel.simulator import HostOverhead, Simulator, StepTime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchShape:
    """A forward batch as the chip sees it, snapshotted before the runner mutates the batch."""

    kind: Literal["decode", "extend"]
    rids: tuple[str, ...]
    new_tokens: tuple[int, ...]
    cached_tokens: tuple[int, ...]  # KV already on the chip per request (prefix hits, earlier chunks)

    @classmethod
    def from_forward_batch(cls, batch: Any) -> BatchShape | None:
        """Read an SGLang ForwardBatch; None for batches the chip does not run (idle, empty)."""
        mode = batch.forward_mode
        rids = tuple(batch.rids or ())
        if batch.batch_size == 0 or not rids or mode.is_idle():
            return None
        seq_lens = [int(x) for x in batch.seq_lens_cpu.tolist()]
        if mode.is_decode():
            return cls("decode", rids, (1,) * len(rids), tuple(n - 1 for n in seq_lens))
        if batch.extend_seq_lens_cpu is None:
            return None
        new = tuple(int(x) for x in batch.extend_seq_lens_cpu)
        cached = tuple(int(x) for x in batch.extend_prefix_lens_cpu)
        return cls("extend", rids, new, cached)


@dataclass(slots=True)
class RequestClock:
    """Chip-time stamps of one request (seconds on the chip clock)."""

    arrival_s: float
    first_start_s: float | None = None
    last_extend_end_s: float | None = None
    last_end_s: float | None = None
    prefill_tokens: int = 0
    cached_tokens: int | None = None  # prefix already in the chip's KV when first scheduled
    decode_steps: int = 0
    decode_floor_s: float = 0.0  # sum of its decode steps' bandwidth floors
    decode_host_s: float = 0.0  # host time its decode steps added (HostOverhead; 0 without)

    def report(self, chip: str, devices: int) -> ChipTimeReport:
        """This request's chip-time report so far (final once its last step is charged)."""
        ttft = (self.last_extend_end_s or self.arrival_s) - self.arrival_s
        decode_span = (self.last_end_s or 0.0) - (self.last_extend_end_s or 0.0)
        steps = self.decode_steps
        return ChipTimeReport(
            chip=chip,
            devices=devices,
            sim_queue_ms=1e3 * ((self.first_start_s or self.arrival_s) - self.arrival_s),
            sim_ttft_ms=1e3 * ttft,
            sim_tpot_ms=1e3 * decode_span / steps if steps else 0.0,
            sim_tpot_floor_ms=1e3 * self.decode_floor_s / steps if steps else 0.0,
            sim_tpot_host_ms=1e3 * self.decode_host_s / steps if steps else 0.0,
            sim_e2e_ms=1e3 * ((self.last_end_s or self.arrival_s) - self.arrival_s),
            sim_arrival_ms=1e3 * self.arrival_s,
            sim_finish_ms=1e3 * (self.last_end_s or self.arrival_s),
            sim_prefill_tokens=self.prefill_tokens,
            sim_cached_tokens=self.cached_tokens or 0,
            sim_decode_steps=steps,
        )


class ClockListener(Protocol):
    """An observer of the chip clock (the metrics, the timeline); called in the scheduler process."""

    def on_step(self, shape: BatchShape, step: StepTime, start_s: float) -> None:
        """A batch was charged: it ran from `start_s` for `step.total_s` chip seconds."""

    def on_finish(self, report: ChipTimeReport) -> None:
        """A request finished; `report` is its final chip-time report (seen once)."""


class ChipClock:
    """Charges forward batches to a `Simulator` and keeps per-request chip-time stamps."""

    def __init__(self, simulator: Simulator, host: HostOverhead | None = None) -> None:
        self.simulator = simulator
        self.host = host if host is not None and host.mode != "none" else None
        self.host_s = 0.0  # host time the steps added to the clock (in no step's busy time)
        self.chip = simulator.chip.name
        self.devices = simulator.devices
        self.now_s = 0.0
        self.busy_s = 0.0
        self.floor_s = 0.0
        self.steps = 0
        self.tokens = 0
        self.idle_jump_s = 0.0  # idle time skipped by `advance_to` (virtual time)
        self.jumps = 0
        self.listeners: list[ClockListener] = []
        self._requests: dict[str, RequestClock] = {}
        self._lock = threading.Lock()

    def arrive(self, rid: str, at_s: float | None = None) -> None:
        """Stamp `rid`'s arrival at `at_s`, default the clock's current time (a repeated arrival keeps
        the first). Virtual time stamps a request's declared arrival, which may lie before `now_s`
        when the chip was busy then."""
        with self._lock:
            self._requests.setdefault(rid, RequestClock(arrival_s=self.now_s if at_s is None else at_s))

    def advance_to(self, t_s: float) -> float:
        """Move the clock forward to `t_s` as idle time (not busy); returns the seconds skipped.

        Virtual time's jump over a gap in which the chip has nothing to run; a time at or before
        `now_s` leaves the clock unchanged (it never runs backwards).
        """
        with self._lock:
            skipped = t_s - self.now_s
            if skipped <= 0:
                return 0.0
            self.now_s = t_s
            self.idle_jump_s += skipped
            self.jumps += 1
        return skipped

    def charge(self, shape: BatchShape) -> StepTime:
        """Advance the clock by one batch and stamp its requests.

        The batch takes its chip time plus, with a `HostOverhead`, the host time that is not hidden
        behind the chip; busy time counts the chip's part only.
        """
        decode = shape.kind == "decode"
        if decode:  # the simulator's list-free entry points: this runs once per forward batch
            step = self.simulator.decode(shape.cached_tokens)
        else:
            step = self.simulator.extend(shape.new_tokens, shape.cached_tokens)
        requests = self._requests
        host = self.host.exposed_s(len(shape.rids), step.total_s) if self.host is not None else 0.0
        with self._lock:
            start = self.now_s
            end = start + step.total_s + host
            self.now_s, self.busy_s = end, self.busy_s + step.total_s
            self.host_s += host
            self.floor_s += step.floor_s
            self.steps += 1
            self.tokens += step.tokens
            floor = step.floor_s  # a decode step's floor is the floor of each of its tokens
            for rid, new, cached in zip(shape.rids, shape.new_tokens, shape.cached_tokens):
                req = requests.get(rid)
                if req is None:  # arrived before the clock existed (e.g. warm-up)
                    req = requests[rid] = RequestClock(arrival_s=start)
                if req.first_start_s is None:
                    req.first_start_s = start
                if decode:
                    req.decode_steps += 1
                    req.decode_floor_s += floor
                    req.decode_host_s += host
                else:
                    if req.cached_tokens is None:
                        req.cached_tokens = cached
                    req.prefill_tokens += new
                    req.last_extend_end_s = end
                req.last_end_s = end
        for listener in self.listeners:
            listener.on_step(shape, step, start)
        return step

    def tracked(self) -> int:
        """Requests with chip-time stamps: arrived and not yet finished."""
        with self._lock:
            return len(self._requests)

    def report(self, rid: str) -> ChipTimeReport | None:
        """`rid`'s report so far, or None for a request the clock has not seen."""
        with self._lock:
            req = self._requests.get(rid)
            return None if req is None else req.report(self.chip, self.devices)

    def finish(self, rid: str, counted: bool = True) -> ChipTimeReport | None:
        """Final report of `rid`, forgetting it; listeners see it once, unless not `counted`
        (SGLang's health probes: their chip time is charged, but they are not served requests)."""
        with self._lock:
            req = self._requests.pop(rid, None)
        if req is None:
            return None
        report = req.report(self.chip, self.devices)
        if counted:
            for listener in self.listeners:
                listener.on_finish(report)
        return report

    def utilization(self) -> float:
        """Share of the chip's busy time spent at its bandwidth roofline (floor / busy)."""
        return self.floor_s / self.busy_s if self.busy_s else 0.0


# One clock per scheduler process, built when its model is loaded (`clock_hooks.py`); the output
# streamer reads it here.
_current: ChipClock | None = None


def current_clock() -> ChipClock | None:
    """This process's chip clock, or None before the model is loaded (or in other processes)."""
    return _current


def set_current_clock(clock: ChipClock | None) -> None:
    """Make `clock` this process's chip clock."""
    global _current
    _current = clock
