"""Virtual time's bookkeeping: requests held until the chip clock reaches their declared arrival.

A request may carry `sampling_params.custom_params["hyperaccel"]` (`names.ARRIVAL_KEY`): its arrival
on the chip clock within a trace. `ArrivalQueue` holds such requests and answers the three questions
the scheduler hook (`virtual_time.py`) asks at each loop pass:

* which held requests have arrived by `now` (`release`, in `(arrival, trace, seq)` order, so the
  waiting queue's order follows the trace, not the order the host happened to deliver them);
* whether the clock may run a batch at `now` (`must_wait`): only once every request that arrives
  at or before `now` has been received. Requests of a trace are numbered 0, 1, ... in arrival
  order, so when 0..k have been received, every missing one arrives at or after `arrival[k]`
  (the trace's horizon); after `last` with nothing missing the horizon is infinite;
* where an idle chip may jump (`jump_target`): to the next held arrival, if no request can still
  come before it.

Pure bookkeeping over opaque items (no SGLang), so it is tested with fake requests. Times are
chip-clock seconds; a trace's `arrival_ms` are relative to its epoch, the clock's reading when
the scheduler received the trace's first request.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sglang_hyperaccel.names import ARRIVAL_KEY

_FIELDS = ("arrival_ms", "seq", "last", "trace")


class ArrivalError(ValueError):
    """A request's virtual-time field is malformed or contradicts its trace; the request is refused."""


@dataclass(frozen=True)
class Arrival:
    """A request's declared place in a trace: `custom_params["hyperaccel"]`, validated."""

    trace: str
    seq: int  # 0-based position in arrival order, contiguous within the trace
    arrival_ms: float  # chip milliseconds after the trace's epoch
    last: bool = False  # the trace's final request

    @classmethod
    def parse(cls, value: Any) -> Arrival:
        """Read the field's JSON object; ArrivalError says what is wrong with it."""
        if not isinstance(value, Mapping):
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}] must be an object with {', '.join(_FIELDS)}")
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}]: unknown keys {unknown}; expected {_FIELDS}")
        arrival, seq = value.get("arrival_ms"), value.get("seq")
        last, trace = value.get("last", False), value.get("trace", "")
        if isinstance(arrival, bool) or not isinstance(arrival, (int, float)) or not math.isfinite(arrival) \
                or arrival < 0:
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}].arrival_ms must be a finite number >= 0, "
                               f"got {arrival!r}")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}].seq must be an integer >= 0, got {seq!r}")
        if not isinstance(last, bool):
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}].last must be true or false, got {last!r}")
        if not isinstance(trace, str):
            raise ArrivalError(f"custom_params[{ARRIVAL_KEY!r}].trace must be a string, got {trace!r}")
        return cls(trace=trace, seq=seq, arrival_ms=float(arrival), last=last)


def arrival_of(custom_params: Any) -> Arrival | None:
    """The virtual-time field of a request's `custom_params`, None when absent; ArrivalError if bad."""
    if not isinstance(custom_params, Mapping) or custom_params.get(ARRIVAL_KEY) is None:
        return None
    return Arrival.parse(custom_params[ARRIVAL_KEY])


@dataclass(frozen=True)
class Released:
    """A request the queue lets into the scheduler, with the chip time it arrived at."""

    item: Any
    arrival_s: float
    arrival: Arrival
    late: bool = False  # received after the clock had committed past its arrival (protocol violated)


@dataclass(slots=True)
class _Trace:
    epoch_s: float
    arrivals: dict[int, float] = field(default_factory=dict)  # seq -> absolute arrival (s)
    contiguous: int = 0  # seqs 0..contiguous-1 have all been received
    last_seq: int | None = None
    held: int = 0
    committed_s: float = -math.inf  # the clock ran a batch at this time with the trace complete to it

    def horizon_s(self) -> float:
        """Every request of this trace not yet received arrives at or after this time."""
        if self.last_seq is not None and self.contiguous > self.last_seq:
            return math.inf
        if self.contiguous == 0:
            return -math.inf
        return self.arrivals[self.contiguous - 1]

    def drained(self) -> bool:
        return self.held == 0 and self.last_seq is not None and self.contiguous > self.last_seq


# (arrival_s, trace, seq, arrival, item): unique up to seq, so items are never compared.
_Entry = tuple[float, str, int, Arrival, Any]


class ArrivalQueue:
    """Requests of virtual-time traces, held until the chip clock reaches their arrival."""

    def __init__(self) -> None:
        self._traces: dict[str, _Trace] = {}
        self._heap: list[_Entry] = []
        self.violations = 0  # requests received after the clock had passed their arrival
        self.traces_done = 0

    def receive(self, arrival: Arrival, item: Any, now_s: float) -> Released | None:
        """Take a request; returns it at once (late) when the clock already passed its arrival.

        ArrivalError (the request is refused, the queue unchanged) for a seq seen before in the
        trace, one after its `last`, a second `last`, or an arrival out of order with its neighbours.
        """
        trace = self._traces.get(arrival.trace)
        if trace is None:
            trace = _Trace(epoch_s=now_s)
        at = trace.epoch_s + arrival.arrival_ms / 1e3
        self._check(trace, arrival, at)  # before the trace is stored: a refused first request leaves none
        self._traces[arrival.trace] = trace
        trace.arrivals[arrival.seq] = at
        if arrival.last:
            trace.last_seq = arrival.seq
        while trace.contiguous in trace.arrivals:
            trace.contiguous += 1
        if at <= trace.committed_s:  # a batch already ran at or after its arrival without it
            self.violations += 1
            self._forget_if_drained(arrival.trace)
            return Released(item, at, arrival, late=True)
        trace.held += 1
        heapq.heappush(self._heap, (at, arrival.trace, arrival.seq, arrival, item))
        return None

    def _check(self, trace: _Trace, arrival: Arrival, at: float) -> None:
        name, seq = arrival.trace, arrival.seq
        if seq in trace.arrivals:
            raise ArrivalError(f"trace {name!r}: seq {seq} received twice")
        if trace.last_seq is not None and (seq > trace.last_seq or arrival.last):
            raise ArrivalError(f"trace {name!r}: seq {seq} after its last request (seq {trace.last_seq})")
        if arrival.last and any(s > seq for s in trace.arrivals):
            raise ArrivalError(f"trace {name!r}: seq {seq} marked last, but a later seq was received")
        before, after = trace.arrivals.get(seq - 1), trace.arrivals.get(seq + 1)
        if (before is not None and at < before) or (after is not None and at > after):
            raise ArrivalError(f"trace {name!r}: seq {seq}'s arrival_ms is out of order with its neighbours "
                               "(seq must number requests in arrival order)")

    def horizon_s(self) -> float:
        """The earliest time at which a request not yet received may arrive (inf: none can)."""
        return min((t.horizon_s() for t in self._traces.values()), default=math.inf)

    def next_arrival_s(self) -> float | None:
        """The earliest held arrival, or None when nothing is held."""
        return self._heap[0][0] if self._heap else None

    def must_wait(self, now_s: float) -> bool:
        """True while a request arriving at or before `now_s` may still be received."""
        return now_s >= self.horizon_s()

    def jump_target(self, now_s: float) -> float | None:
        """Where an idle chip's clock may jump: the next held arrival, if none can come before it."""
        nxt = self.next_arrival_s()
        if nxt is None or nxt <= now_s or nxt > self.horizon_s():
            return None
        return nxt

    def releasable(self, now_s: float) -> bool:
        """True when some held request has arrived by `now_s`."""
        nxt = self.next_arrival_s()
        return nxt is not None and nxt <= now_s

    def release(self, now_s: float) -> list[Released]:
        """Pop the held requests that arrived by `now_s`, in (arrival, trace, seq) order.

        The caller has checked `must_wait(now_s)` is False: the clock is about to run at `now_s`,
        and every trace is complete up to it (recorded, so a later receipt before it is a violation).
        """
        for trace in self._traces.values():
            trace.committed_s = max(trace.committed_s, now_s)
        out: list[Released] = []
        while self._heap and self._heap[0][0] <= now_s:
            out.append(self._pop(heapq.heappop(self._heap)))
        return out

    def remove(self, match: Callable[[Any], bool]) -> list[Released]:
        """Take the held requests `match` selects (aborted ones), in (arrival, trace, seq) order."""
        taken = sorted((e for e in self._heap if match(e[4])), key=lambda e: e[:3])
        if taken:
            ids = {id(e[4]) for e in taken}
            self._heap = [e for e in self._heap if id(e[4]) not in ids]
            heapq.heapify(self._heap)
        return [self._pop(e) for e in taken]

    def _pop(self, entry: _Entry) -> Released:
        at, name, _, arrival, item = entry
        self._traces[name].held -= 1
        self._forget_if_drained(name)
        return Released(item, at, arrival)

    def _forget_if_drained(self, name: str) -> None:
        # A drained trace leaves no state: the same trace id later starts afresh with a new epoch.
        if self._traces[name].drained():
            del self._traces[name]
            self.traces_done += 1

    @property
    def held(self) -> int:
        """Requests held now."""
        return len(self._heap)

    @property
    def active_traces(self) -> int:
        """Traces not yet drained (received requests, but not all of them up to `last`, or some held)."""
        return len(self._traces)

    def reset(self) -> list[Released]:
        """Forget every trace (a stalled client); returns what was held, to let it into the scheduler."""
        out = [Released(e[4], e[0], e[3]) for e in sorted(self._heap, key=lambda e: e[:3])]
        self._heap.clear()
        self._traces.clear()
        return out
