"""Virtual time: requests enter the scheduler when the chip clock reaches their declared arrival.

Unit tests of the hold/horizon/release bookkeeping (`arrivals.py`) with fake requests, then one
server on the demo model: a trace of overlapping and idle-gap arrivals, submitted all at once in
shuffled order, gives identical per-request chip times on a fast host and on one slowed by a
30 ms sleep per forward batch, and agrees with the scheduler's own statistics (Little's law).
"""

from __future__ import annotations

import math
import random
import threading

import pytest
import requests

from sglang_hyperaccel.platform.arrivals import Arrival, ArrivalError, ArrivalQueue, arrival_of
from sglang_hyperaccel.platform.clock import ChipClock
from sglang_hyperaccel.platform.run_stats import RunRecorder, SchedulerChipStats
from sglang_hyperaccel.simulator import Simulator

E = 2.0  # the clock's reading when a test trace's first request is received (its epoch), seconds


def _a(seq: int, ms: float, last: bool = False, trace: str = "t") -> Arrival:
    return Arrival(trace, seq, ms, last)


def _rids(released) -> list[str]:
    return [r.item for r in released]


# ---- the field ----------------------------------------------------------------------------------


def test_field_parses_and_absent_field_means_untimed():
    """A well-formed field parses; no field (or no custom_params) means an ordinary request."""
    field = {"arrival_ms": 12.5, "seq": 3, "last": True, "trace": "run1"}
    assert arrival_of({"hyperaccel": field}) == Arrival("run1", 3, 12.5, True)
    assert arrival_of({"hyperaccel": {"arrival_ms": 0, "seq": 0}}) == Arrival("", 0, 0.0, False)
    assert arrival_of(None) is None and arrival_of({"other": 1}) is None


@pytest.mark.parametrize("bad", [
    "soon", {"arrival_ms": -1, "seq": 0}, {"arrival_ms": "1", "seq": 0},
    {"arrival_ms": float("nan"), "seq": 0},
    {"arrival_ms": 1, "seq": -1}, {"arrival_ms": 1, "seq": 1.5}, {"arrival_ms": 1, "seq": True},
    {"arrival_ms": 1, "seq": 0, "last": "yes"}, {"arrival_ms": 1, "seq": 0, "trace": 7},
    {"arrival_ms": 1, "seq": 0, "arrival": 3}, {"seq": 0},
])
def test_malformed_field_is_refused_with_the_reason(bad):
    """Bad types, negative values, unknown keys: ArrivalError naming the field."""
    with pytest.raises(ArrivalError, match="hyperaccel"):
        arrival_of({"hyperaccel": bad})


# ---- hold, horizon, release ---------------------------------------------------------------------


def test_out_of_order_receipt_is_released_in_arrival_order():
    """Seqs received 2, 0, 1 (with `last`): horizon opens to inf, release follows arrival order."""
    q = ArrivalQueue()
    q.receive(_a(2, 5.0, last=True), "c", E)
    assert q.horizon_s() == -math.inf and q.must_wait(E)  # seq 0 missing: nothing is known
    q.receive(_a(0, 0.0), "a", E)
    assert q.horizon_s() == E and q.must_wait(E)  # seq 1 may still arrive at E
    q.receive(_a(1, 0.0), "b", E)
    assert q.horizon_s() == math.inf and not q.must_wait(E + 100)
    assert _rids(q.release(E)) == ["a", "b"]
    assert q.jump_target(E) == E + 5e-3
    released = q.release(E + 5e-3)
    assert _rids(released) == ["c"] and released[0].arrival_s == E + 5e-3
    assert q.held == 0 and q.active_traces == 0 and q.traces_done == 1


def test_ties_release_by_seq_and_the_epoch_is_the_first_receipt():
    """Equal arrivals leave by seq; arrival_ms counts from the clock's reading at the first receipt."""
    q = ArrivalQueue()
    for seq in (3, 1, 2, 0):
        q.receive(_a(seq, 10.0 if seq else 0.0, last=seq == 3), f"r{seq}", E)
    assert [r.arrival_s for r in q.release(E + 0.01)] == [E, E + 0.01, E + 0.01, E + 0.01]


def test_gap_keeps_the_horizon_at_the_last_contiguous_arrival():
    """0, 1, 3 received: horizon is seq 1's arrival; the idle clock may jump to it, not to seq 3."""
    q = ArrivalQueue()
    q.receive(_a(0, 0.0), "a", E)
    q.receive(_a(1, 4.0), "b", E)
    q.receive(_a(3, 9.0, last=True), "d", E)
    assert q.horizon_s() == E + 4e-3
    assert not q.must_wait(E) and _rids(q.release(E)) == ["a"]
    assert q.jump_target(E) == E + 4e-3  # seq 2 arrives at or after 4 ms: b may be reached
    assert q.must_wait(E + 4e-3)  # ...but seq 2 might arrive at 4 ms too: wait for it
    q.receive(_a(2, 6.0), "c", E)
    assert q.horizon_s() == math.inf and not q.must_wait(E + 4e-3)
    assert _rids(q.release(E + 4e-3)) == ["b"]
    assert q.jump_target(E + 4e-3) == E + 6e-3


def test_no_jump_past_the_horizon():
    """A held arrival beyond the horizon is not a jump target: an earlier request may still come."""
    q = ArrivalQueue()
    q.receive(_a(0, 1.0), "a", E)
    q.receive(_a(2, 8.0), "c", E)
    assert q.horizon_s() == E + 1e-3
    assert q.jump_target(E) == E + 1e-3
    assert q.jump_target(E + 1e-3) is None  # c (8 ms) is past the horizon: seq 1 may come first


def test_protocol_violation_counts_and_releases_immediately():
    """Seq 1 declares arrival E but comes after the clock ran a batch at E without it: late, counted."""
    q = ArrivalQueue()
    q.receive(_a(0, 0.0), "a", E)
    q.release(E)  # committed at E
    late = q.receive(_a(1, 0.0), "b", E)  # arrival E: the clock already ran a batch at E without it
    assert late is not None and late.late and late.arrival_s == E
    assert q.violations == 1 and q.held == 0


@pytest.mark.parametrize("second, message", [
    (_a(0, 1.0), "twice"), (_a(3, 9.0), "after its last"), (_a(1, 0.5), "out of order"),
])
def test_contradictions_with_the_trace_are_refused(second, message):
    """A repeated seq, a seq after `last`, an arrival out of order with a neighbour: refused, no change."""
    q = ArrivalQueue()
    q.receive(_a(0, 1.0), "a", E)
    q.receive(_a(2, 5.0, last=True), "c", E)
    with pytest.raises(ArrivalError, match=message):
        q.receive(second, "x", E)
    assert q.held == 2 and q.horizon_s() == E + 1e-3


def test_abort_removes_a_held_request_and_the_trace_still_drains():
    """remove() takes a held request out with its declared arrival; the trace then drains and resets."""
    q = ArrivalQueue()
    q.receive(_a(0, 0.0), "a", E)
    q.receive(_a(1, 7.0, last=True), "b", E)
    out = q.remove(lambda rid: rid == "b")
    assert _rids(out) == ["b"] and out[0].arrival_s == E + 7e-3 and q.held == 1
    assert _rids(q.release(E)) == ["a"]
    assert q.active_traces == 0 and q.traces_done == 1
    q.receive(_a(0, 0.0), "again", E + 1)  # the same trace id later starts afresh, new epoch
    assert q.next_arrival_s() == E + 1


def test_two_traces_gate_on_the_earlier_horizon():
    """With two traces pending, the horizon is the earlier of theirs; a drained trace stops gating."""
    q = ArrivalQueue()
    q.receive(_a(0, 0.0, trace="x"), "x0", E)
    q.receive(_a(0, 3.0, last=True, trace="y"), "y0", E)
    assert q.horizon_s() == E
    q.receive(_a(1, 1.0, last=True, trace="x"), "x1", E)
    assert q.horizon_s() == math.inf
    assert _rids(q.release(E + 3e-3)) == ["x0", "x1", "y0"] and q.active_traces == 0


# ---- the clock and the recorder -----------------------------------------------------------------


def test_advance_to_is_idle_and_monotonic():
    """advance_to moves the clock forward as idle time, never back; arrive(at_s) stamps that time."""
    clock = ChipClock(Simulator("lpu", {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
                                        "num_attention_heads": 4, "num_key_value_heads": 2,
                                        "num_hidden_layers": 2, "vocab_size": 1000}))
    assert clock.advance_to(0.5) == 0.5 and clock.now_s == 0.5
    assert clock.advance_to(0.25) == 0.0 and clock.now_s == 0.5
    assert (clock.busy_s, clock.idle_jump_s, clock.jumps) == (0.0, 0.5, 1)
    clock.arrive("a", at_s=0.3)
    clock.arrive("a", at_s=0.4)  # a repeated arrival keeps the first
    assert clock.report("a").sim_arrival_ms == 300.0


def test_recorder_integrates_requests_in_system_over_chip_time():
    """Two requests for 2 s, one for 1 s, one held 0.5 s past its arrival: 5.5 request-seconds."""
    rec = RunRecorder()
    rec.sample(0.0, 2, 10, 100)
    rec.sample(2.0, 1, 40, 100)
    rec.add_held(0.5)
    rec.sample(3.0, 0, 5, 100)
    assert rec.integral_ms == pytest.approx(5500.0)
    assert (rec.kv_peak, rec.kv_used, rec.passes) == (40, 5, 3)
    rec.sample(4.0, 2, 5, 100)
    rec.recount(5.0, 0)  # both finished by 5 s: an idle jump to 9 s adds nothing
    rec.advance(9.0)
    assert rec.integral_ms == pytest.approx(7500.0)
    stats = SchedulerChipStats(**{f: 0 for f in SchedulerChipStats.__dataclass_fields__})
    assert SchedulerChipStats.from_dict(stats.to_dict()) == stats


# ---- on a server ---------------------------------------------------------------------------------

# (arrival_ms, shares seq 0's prefix): bursts that overlap, separated by gaps in which the chip idles
# (a lone 300-token request takes about 0.7 chip ms on the demo model; a burst a few ms at most).
TRACE = ((0.0, False), (0.05, True), (0.05, False), (0.3, False), (0.5, True),
         (6.0, False), (6.1, False), (6.1, True),
         (12.0, False), (12.2, True),
         (18.0, False), (18.0, True))
IDLE_ARRIVALS = (0, 5, 8, 10)  # the seqs that find the chip idle
PREFIX = 200
NEW_TOKENS = 8
SERVER_ARGS = ("--dtype", "float32", "--chunked-prefill-size", "256")


def _trace_prompts() -> list[list[int]]:
    rng = random.Random(12)
    own = [[rng.randrange(10, 2000) for _ in range(300)] for _ in TRACE]
    return [own[0][:PREFIX] + own[k][PREFIX:] if shared else own[k] for k, (_, shared) in enumerate(TRACE)]


def _submit_trace(url: str, name: str, stagger_s: float) -> list[dict]:
    """Every request of the trace at once from its own thread, in shuffled order (or `stagger_s`
    apart in that order); returns meta_info["hyperaccel"] by seq."""
    prompts, order = _trace_prompts(), list(range(len(TRACE)))
    random.Random(name).shuffle(order)
    reports: dict[int, dict] = {}
    errors: list[BaseException] = []

    def send(seq: int, delay: float) -> None:
        try:
            threading.Event().wait(delay)
            field = {"arrival_ms": TRACE[seq][0], "seq": seq, "last": seq == len(TRACE) - 1, "trace": name}
            resp = requests.post(f"{url}/generate", timeout=300, json={
                "rid": f"{name}-{seq}", "input_ids": prompts[seq],
                "sampling_params": {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True,
                                    "custom_params": {"hyperaccel": field}}})
            resp.raise_for_status()
            reports[seq] = resp.json()["meta_info"]["hyperaccel"]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(seq, k * stagger_s)) for k, seq in enumerate(order)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    return [reports[seq] for seq in range(len(TRACE))]


def _stats(url: str) -> SchedulerChipStats:
    info = requests.get(f"{url}/server_info", timeout=30).json()
    return SchedulerChipStats.from_dict(info["internal_states"][0]["hyperaccel"])


def _run(start_server, env: dict[str, str], stagger_s: float) -> tuple[list[dict], SchedulerChipStats,
                                                                       SchedulerChipStats, float, str]:
    import time

    server = start_server(args=SERVER_ARGS, env=env)
    before = _stats(server.url)
    t0 = time.monotonic()
    reports = _submit_trace(server.url, "vt", stagger_s)
    wall = time.monotonic() - t0
    after = _stats(server.url)
    return reports, before, after, wall, server.url


@pytest.fixture(scope="module")
def fast_run(start_server):
    return _run(start_server, {}, stagger_s=0.0)


@pytest.fixture(scope="module")
def slow_run(start_server, fast_run):
    """Each forward batch followed by a 30 ms sleep, and the requests sent 40 ms apart."""
    return _run(start_server, {"SGLANG_HYPERACCEL_STEP_DELAY_MS": "30"}, stagger_s=0.04)


def test_trace_follows_its_declared_arrivals(fast_run):
    """Arrivals are the declared ones after the trace's epoch; idle-chip arrivals wait 0; requests start in
    arrival order; overlapping ones queue; later sharers hit the prefix cache."""
    reports = fast_run[0]
    epoch = reports[0]["sim_arrival_ms"]
    for seq, rep in enumerate(reports):
        assert rep["sim_arrival_ms"] == pytest.approx(epoch + TRACE[seq][0], abs=1e-9)
        assert rep["sim_decode_steps"] == NEW_TOKENS - 1 and rep["sim_prefill_tokens"] + \
            rep["sim_cached_tokens"] == 300
    for seq in IDLE_ARRIVALS:
        assert all(r["sim_finish_ms"] <= reports[seq]["sim_arrival_ms"] for r in reports[:seq])
        assert reports[seq]["sim_queue_ms"] == 0.0
    starts = [r["sim_arrival_ms"] + r["sim_queue_ms"] for r in reports]
    assert starts == sorted(starts)
    assert reports[1]["sim_queue_ms"] > 0 and reports[2]["sim_queue_ms"] > 0  # came while seq 0 prefilled
    for seq in (7, 9, 11):
        assert reports[seq]["sim_cached_tokens"] >= PREFIX


def test_same_trace_same_chip_times_on_a_slowed_host(fast_run, slow_run):
    """A 30 ms sleep per forward batch and staggered submission change no chip-time field."""
    fast, slow = fast_run[0], slow_run[0]
    assert slow_run[2].protocol_violations == 0
    assert slow == fast
    steps = slow_run[2].steps - slow_run[1].steps
    assert slow_run[3] >= 0.8 * 0.030 * steps  # the delay really slowed the host


def test_scheduler_statistics_agree_with_the_reports(fast_run):
    """Little's law on the scheduler's own samples: the in-system integral equals the sum of E2E; the
    virtual-time counters show the jumps and a drained trace."""
    reports, before, after = fast_run[:3]
    integral = after.in_system_ms_integral - before.in_system_ms_integral
    span = max(r["sim_finish_ms"] for r in reports) - reports[0]["sim_arrival_ms"]
    lam, mean_e2e = len(reports) / span, sum(r["sim_e2e_ms"] for r in reports) / len(reports)
    assert integral / span == pytest.approx(lam * mean_e2e, rel=0.02)
    # Seq 0 arrives at the epoch itself; the clock jumps to each later idle arrival, and then only.
    assert after.clock_jumps - before.clock_jumps == len(IDLE_ARRIVALS) - 1
    idle = after.idle_jump_ms - before.idle_jump_ms
    assert idle + after.busy_ms - before.busy_ms == pytest.approx(after.now_ms - before.now_ms)
    gaps = [reports[s]["sim_arrival_ms"] - max(r["sim_finish_ms"] for r in reports[:s])
            for s in IDLE_ARRIVALS[1:]]
    assert idle == pytest.approx(sum(gaps), abs=1e-9)
    assert (after.held_now, after.active_traces, after.protocol_violations) == (0, 0, 0)
    assert after.traces_done - before.traces_done == 1
    assert after.radix_hit_tokens - before.radix_hit_tokens >= 3 * PREFIX
    assert 0 < after.kv_tokens_peak <= after.kv_tokens_capacity
    assert after.now_ms == pytest.approx(max(r["sim_finish_ms"] for r in reports))


def test_requests_without_the_field_still_arrive_now(fast_run):
    """After the trace, an ordinary request on the same server arrives at the clock's reading, unqueued."""
    before, url = fast_run[2], fast_run[4]
    out = requests.post(f"{url}/generate", timeout=300, json={
        "input_ids": _trace_prompts()[3], "sampling_params": {"max_new_tokens": 4, "ignore_eos": True}})
    rep = out.json()["meta_info"]["hyperaccel"]
    assert rep["sim_arrival_ms"] == pytest.approx(before.now_ms) and rep["sim_queue_ms"] == 0.0
    assert rep["sim_decode_steps"] == 3


def test_malformed_field_is_a_400(fast_run):
    """A negative arrival is refused before it reaches the scheduler, with the reason."""
    resp = requests.post(f"{fast_run[4]}/generate", timeout=60, json={
        "input_ids": [11, 12, 13], "sampling_params": {
            "max_new_tokens": 2, "custom_params": {"hyperaccel": {"arrival_ms": -3, "seq": 0}}}})
    assert resp.status_code == 400 and "arrival_ms" in resp.text
