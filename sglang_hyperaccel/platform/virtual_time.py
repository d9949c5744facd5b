"""Virtual time in the scheduler: requests enter when the chip clock reaches their declared arrival.

A request carrying `custom_params["hyperaccel"]` (`arrivals.Arrival`) is held by an AROUND hook on
`Scheduler.process_input_requests`, which SGLang's loop calls once per pass on every rank with the
same received list (rank 0 receives, then broadcasts), before it forms the pass's batch. The hook:

1. takes in what was received: held requests into the `ArrivalQueue`, aborts of held requests
   let in just before their abort (SGLang then answers them as aborted waiting requests);
2. when the scheduler has nothing to run, jumps the clock (idle time) to the next held arrival if
   no request can still come before it;
3. gates: while a request arriving at or before `now` may still be received and the scheduler has
   something to run, it waits here for input (polling the tokenizer socket as SGLang's idle sleeper
   does), passing control requests through at once so health, abort and flush keep working;
4. lets in the held requests that arrived by `now`, in arrival order, stamped with their declared
   arrival, then runs SGLang's own processing.

Decisions depend only on the clock and the set of requests received, never on wall time, so every
tensor-parallel rank decides alike and the schedule does not depend on how fast the host is.
Requests without the field pass straight through and arrive at `now`, as without virtual time.
The same module samples the scheduler-side statistics (`run_stats.py`) once per pass.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sglang_hyperaccel import env
from sglang_hyperaccel.platform.arrivals import ArrivalError, ArrivalQueue, Released, arrival_of
from sglang_hyperaccel.platform.clock import ChipClock, current_clock
from sglang_hyperaccel.platform.run_stats import RunRecorder, SchedulerChipStats

logger = logging.getLogger(__name__)

_POLL_MS = 100  # wall wait per poll while gated; input wakes it at once
_WARN_EVERY_S = 30.0


class _VirtualTime:
    """This scheduler process's held requests and sampled statistics (one scheduler per process)."""

    def __init__(self) -> None:
        self.queue = ArrivalQueue()
        self.recorder = RunRecorder()
        self.poller: Any = None

    def take(self, scheduler: Any, clock: ChipClock, recv_reqs: list) -> tuple[list[Released], list]:
        """Sort received input into requests let in now (late or aborted held ones) and the rest;
        held requests stay in the queue. The rest keeps its order."""
        from sglang.srt.managers.io_struct import (
            AbortReq,
            BatchTokenizedGenerateReqInput,
            TokenizedGenerateReqInput,
        )
        from sglang.srt.managers.utils import is_health_check_generate_req

        released: list[Released] = []
        rest: list = []
        for recv in recv_reqs:
            items = recv.batch if isinstance(recv, BatchTokenizedGenerateReqInput) else [recv]
            for req in items:
                if isinstance(req, AbortReq):
                    released += self.queue.remove(lambda r, a=req: a.abort_all or r.rid.startswith(a.rid))
                    rest.append(req)
                elif is_health_check_generate_req(req) and self.queue.active_traces:
                    # A health probe's one-token batch would advance the clock in the middle of a
                    # trace: answered as when the server is busy, without running it.
                    scheduler.return_health_check_ipcs.append(getattr(req, "http_worker_ipc", None))
                elif isinstance(req, TokenizedGenerateReqInput):
                    rest += self._take_generate(req, clock, released)
                else:
                    rest.append(req)
        return released, rest

    def _take_generate(self, req: Any, clock: ChipClock, released: list[Released]) -> list:
        try:
            arrival = arrival_of(getattr(req.sampling_params, "custom_params", None))
            if arrival is None:
                return [req]
            traces = self.queue.active_traces
            late = self.queue.receive(arrival, req, clock.now_s)
        except ArrivalError as exc:
            # Normally refused by the tokenizer already (`arrival_field_before`); never fatal here.
            self.recorder.refused += 1
            logger.warning("hyperaccel: request %s refused: %s", req.rid, exc)
            return [req, _abort(req.rid, str(exc))]
        if self.queue.active_traces > traces:
            self.recorder.trace_started()
        if late is not None:
            released.append(late)
            logger.warning("hyperaccel: request %s (trace %r seq %d) received after the chip clock passed "
                           "its arrival (%.3f ms > %.3f ms): the trace was not submitted ahead of the "
                           "clock", req.rid, arrival.trace, arrival.seq, 1e3 * clock.now_s,
                           1e3 * late.arrival_s)
        return []

    def let_in(self, clock: ChipClock, released: list[Released]) -> list:
        """Stamp the declared arrivals of requests entering the scheduler now; their requests."""
        now = clock.now_s
        for r in released:
            clock.arrive(r.item.rid, at_s=r.arrival_s)
            self.recorder.add_held(now - r.arrival_s)  # in the system since its arrival
        return [r.item for r in released]

    def wait_for_input(self, scheduler: Any) -> list:
        """Block up to `_POLL_MS` for input, then receive (on every rank: the receive broadcasts)."""
        import zmq

        if self.poller is None:
            self.poller = zmq.Poller()
            channels = getattr(scheduler, "ipc_channels", None)
            for name in ("recv_from_tokenizer", "recv_from_rpc"):  # rank 0's sockets; None elsewhere
                sock = getattr(channels, name, None)
                if isinstance(sock, zmq.Socket):
                    self.poller.register(sock, zmq.POLLIN)
        if self.poller.sockets:
            self.poller.poll(_POLL_MS)
        else:  # a rank that only takes the broadcast blocks inside the receive
            time.sleep(0.001)
        return scheduler.request_receiver.recv_requests()


_state = _VirtualTime()


def _abort(rid: str, message: str) -> Any:
    from http import HTTPStatus

    from sglang.srt.managers.io_struct import AbortReq
    from sglang.srt.managers.schedule_batch import FINISH_ABORT

    reason = FINISH_ABORT(message, HTTPStatus.BAD_REQUEST, "BadRequestError").to_json()
    return AbortReq(rid=rid, finished_reason=reason, abort_message=message)


def _in_system(scheduler: Any) -> int:
    """Requests the scheduler holds and has not finished: waiting, grammar-pending, chunked, running.

    A prefill batch's requests join the running batch only at the next pass, so the last batch is
    read too; finished requests leave at the next pass's filter, so they are skipped.
    """
    seen: set[int] = set()
    for req in scheduler.waiting_queue:
        seen.add(id(req))
    grammar = getattr(scheduler, "grammar_manager", None)
    for req in getattr(grammar, "grammar_queue", ()):
        seen.add(id(req))
    if scheduler.chunked_req is not None:
        seen.add(id(scheduler.chunked_req))
    batches = [scheduler.running_batch]
    last = scheduler.last_batch
    if last is not None and last.forward_mode.is_extend():
        batches.append(last)
    for batch in batches:
        for req in getattr(batch, "reqs", None) or ():
            if not req.finished():
                seen.add(id(req))
    return len(seen)


def _sample(scheduler: Any, clock: ChipClock, loop_pass: bool = True) -> None:
    allocator = getattr(scheduler, "token_to_kv_pool_allocator", None)
    capacity = int(getattr(allocator, "size", 0) or 0)
    used = capacity - int(allocator.available_size()) if capacity else 0
    cache = getattr(scheduler, "tree_cache", None)
    if used and cache is not None:  # the prefix cache's unlocked tokens are free to evict: not in use
        used -= int(cache.evictable_size())
    _state.recorder.sample(clock.now_s, _in_system(scheduler), used, capacity, loop_pass)


def process_input_around(original, scheduler, recv_reqs, *args, **kwargs):
    """AROUND `Scheduler.process_input_requests`: hold virtual-time requests until their arrival.

    Receives what SGLang's loop received this pass (every rank the same list); lets through, in one
    call to SGLang, the requests that have arrived by the chip clock's `now` (in arrival order) and
    everything else, after jumping an idle clock and waiting for missing requests as the module
    docstring says. Samples the run statistics after SGLang has queued them.
    """
    clock = current_clock()
    if clock is None:
        return original(scheduler, recv_reqs, *args, **kwargs)
    vt, queue = _state, _state.queue
    # Requests the last batch finished leave the count now, before an idle jump is integrated.
    vt.recorder.recount(clock.now_s, _in_system(scheduler))
    released, rest = vt.take(scheduler, clock, recv_reqs)
    waited_since = last_warn = time.monotonic()
    while True:
        # Untraced work counts too: run now it would move the clock past a request not yet received.
        busy = _in_system(scheduler) > 0 or bool(released) or any(_is_work(r) for r in rest)
        if not busy and (target := queue.jump_target(clock.now_s)) is not None:
            clock.advance_to(target)
        if not (queue.must_wait(clock.now_s) and (busy or queue.releasable(clock.now_s))):
            break
        control = [r for r in rest if not _is_work(r)]
        if control:  # answered before waiting: the server stays responsive while the clock waits
            rest = [r for r in rest if _is_work(r)]
            aborted, plain = _pop_aborted(released, rest, control)
            original(scheduler, vt.let_in(clock, aborted) + plain + control, *args, **kwargs)
            continue
        while scheduler.return_health_check_ipcs:
            scheduler.maybe_send_health_check_signal()
        waited = time.monotonic() - waited_since
        if waited > env.arrival_timeout_s():
            logger.warning("hyperaccel: no request of the pending trace(s) for %.0f s; giving up their "
                           "virtual time and serving the %d held requests", waited, queue.held)
            released += queue.reset()
            break
        if time.monotonic() - last_warn > _WARN_EVERY_S:
            last_warn = time.monotonic()
            logger.warning("hyperaccel: chip clock at %.3f ms waits for the next request of a trace "
                           "(%d held)", 1e3 * clock.now_s, queue.held)
        more = vt.wait_for_input(scheduler)
        if any(_is_trace_input(r) for r in more):
            waited_since = time.monotonic()
        more_released, more_rest = vt.take(scheduler, clock, more)
        released += more_released
        rest += more_rest
    if not queue.must_wait(clock.now_s):  # else nothing held has arrived and nothing will run
        released += queue.release(clock.now_s)
    result = original(scheduler, vt.let_in(clock, released) + rest, *args, **kwargs)
    while queue.active_traces and scheduler.return_health_check_ipcs:
        scheduler.maybe_send_health_check_signal()
    _sample(scheduler, clock)
    return result


def _is_work(req: Any) -> bool:
    from sglang.srt.managers.io_struct import TokenizedEmbeddingReqInput, TokenizedGenerateReqInput

    return isinstance(req, (TokenizedGenerateReqInput, TokenizedEmbeddingReqInput))


def _is_trace_input(req: Any) -> bool:
    params = getattr(getattr(req, "sampling_params", None), "custom_params", None)
    try:
        return arrival_of(params) is not None
    except ArrivalError:
        return False


def _pop_aborted(released: list[Released], rest: list, control: list) -> tuple[list[Released], list]:
    """The requests not yet let in that one of `control`'s aborts names, removed from `released` and
    `rest` in place: they go to SGLang just before the abort, which then finds them to abort."""
    from sglang.srt.managers.io_struct import AbortReq

    aborts = [c for c in control if isinstance(c, AbortReq)]

    def named(req: Any) -> bool:
        rid = getattr(req, "rid", None)
        return isinstance(rid, str) and any(a.abort_all or rid.startswith(a.rid) for a in aborts)

    if not aborts:
        return [], []
    held = [r for r in released if named(r.item)]
    released[:] = [r for r in released if not named(r.item)]
    plain = [r for r in rest if named(r)]
    rest[:] = [r for r in rest if not named(r)]
    return held, plain


def stats(clock: ChipClock) -> SchedulerChipStats:
    """This scheduler's run statistics now."""
    from sglang_hyperaccel.radix_cache.counted_cache import current_stats

    rec, queue, radix = _state.recorder, _state.queue, current_stats()
    return SchedulerChipStats(
        now_ms=1e3 * clock.now_s, busy_ms=1e3 * clock.busy_s, floor_ms=1e3 * clock.floor_s,
        idle_jump_ms=1e3 * clock.idle_jump_s, clock_jumps=clock.jumps, steps=clock.steps,
        tokens=clock.tokens, clock_requests_now=clock.tracked(), passes=rec.passes,
        in_system_now=rec.in_system,
        in_system_ms_integral=rec.integral_ms, kv_tokens_capacity=rec.kv_capacity,
        kv_tokens_used=rec.kv_used, kv_tokens_peak=rec.kv_peak, retracted=rec.retracted,
        radix_lookups=None if radix is None else radix.lookups,
        radix_hits=None if radix is None else radix.hits,
        radix_hit_tokens=None if radix is None else radix.hit_tokens,
        held_now=queue.held, active_traces=queue.active_traces, traces_done=queue.traces_done,
        protocol_violations=queue.violations, refused=rec.refused)


def internal_state_after(result, scheduler, *args, **kwargs):
    """AFTER `Scheduler.get_internal_state`: add `internal_state["hyperaccel"]` (`SchedulerChipStats`)."""
    clock = current_clock()
    state = getattr(result, "internal_state", None)
    if clock is not None and isinstance(state, dict):
        _sample(scheduler, clock, loop_pass=False)  # as of now: an idle scheduler passes its loop no more
        state["hyperaccel"] = stats(clock).to_dict()
    return result


def retract_after(result, batch, *args, **kwargs):
    """AFTER `ScheduleBatch.retract_decode`: count the requests preempted to free KV."""
    _state.recorder.retracted += len(result[0])
    return result


def arrival_field_before(manager, obj, *args, **kwargs):
    """BEFORE `TokenizerManager._validate_one_request`: refuse a malformed virtual-time field (a 400)."""
    params = getattr(obj, "sampling_params", None)
    if isinstance(params, dict):
        arrival_of(params.get("custom_params"))  # ArrivalError is a ValueError: SGLang answers 400
    return None
