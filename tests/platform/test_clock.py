"""The chip clock's bookkeeping, without a server: stamps, per-request reports, listeners.

The simulator's step times are the input here; the expected reports are sums of those step times
worked out in each test, so what is checked is the clock's arithmetic, not the step model.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_hyperaccel.platform.clock import BatchShape, ChipClock
from sglang_hyperaccel.platform.report import WIRE_FIELDS, ChipTimeReport
from sglang_hyperaccel.simulator import RequestWork, Simulator

TINY = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
        "max_position_embeddings": 2048}


@pytest.fixture
def sim() -> Simulator:
    return Simulator("lpu", TINY)


def _extend(rids, new, cached):
    return BatchShape("extend", tuple(rids), tuple(new), tuple(cached))


def _decode(rids, kv):
    return BatchShape("decode", tuple(rids), (1,) * len(rids), tuple(kv))


def test_one_request_ttft_tpot_e2e_are_sums_of_its_steps(sim):
    """TTFT is the prefill step, TPOT the mean decode step, E2E their sum, the floor its mean."""
    clock = ChipClock(sim)
    clock.arrive("a")
    prefill = sim.step([RequestWork(32, 0)])
    decodes = [sim.step([RequestWork(1, 32 + k)]) for k in range(3)]
    clock.charge(_extend(["a"], [32], [0]))
    for k in range(3):
        clock.charge(_decode(["a"], [32 + k]))
    r = clock.finish("a")
    assert r.sim_queue_ms == 0.0
    assert r.sim_ttft_ms == pytest.approx(1e3 * prefill.total_s)
    assert r.sim_tpot_ms == pytest.approx(1e3 * sum(d.total_s for d in decodes) / 3)
    assert r.sim_tpot_floor_ms == pytest.approx(1e3 * sum(d.floor_s for d in decodes) / 3)
    assert r.sim_e2e_ms == pytest.approx(1e3 * (prefill.total_s + sum(d.total_s for d in decodes)))
    assert (r.sim_prefill_tokens, r.sim_cached_tokens, r.sim_decode_steps) == (32, 0, 3)
    assert (r.chip, r.devices) == ("lpu", 1)
    assert clock.steps == 4 and clock.tokens == 35


def test_a_request_waiting_behind_another_pays_queue_time(sim):
    """B arrives while A prefills and is first scheduled after A's first decode: queue = that gap."""
    clock = ChipClock(sim)
    clock.arrive("a")
    a_prefill = clock.charge(_extend(["a"], [64], [0]))
    clock.arrive("b")  # arrives when A's prefill ends
    a_decode = clock.charge(_decode(["a"], [64]))
    b_prefill = clock.charge(_extend(["b"], [16], [0]))
    r = clock.report("b")
    assert r.sim_arrival_ms == pytest.approx(1e3 * a_prefill.total_s)
    assert r.sim_queue_ms == pytest.approx(1e3 * a_decode.total_s)
    assert r.sim_ttft_ms == pytest.approx(1e3 * (a_decode.total_s + b_prefill.total_s))
    assert r.sim_decode_steps == 0 and r.sim_tpot_ms == 0.0


def test_chunked_prefill_ends_at_the_last_chunk_and_counts_the_first_lookup(sim):
    """Two prefill chunks: TTFT ends with the second; cached tokens are those found before the first."""
    clock = ChipClock(sim)
    clock.arrive("a")
    first = clock.charge(_extend(["a"], [16], [8]))
    second = clock.charge(_extend(["a"], [16], [24]))
    r = clock.report("a")
    assert r.sim_ttft_ms == pytest.approx(1e3 * (first.total_s + second.total_s))
    assert (r.sim_prefill_tokens, r.sim_cached_tokens) == (32, 8)


def test_batched_decode_charges_every_request_the_shared_step(sim):
    """Two requests decoded together each see the whole batched step in their TPOT."""
    clock = ChipClock(sim)
    clock.arrive("a")
    clock.arrive("b")
    clock.charge(_extend(["a", "b"], [10, 20], [0, 0]))
    step = clock.charge(_decode(["a", "b"], [10, 20]))
    assert step == sim.step([RequestWork(1, 10), RequestWork(1, 20)])
    for rid in ("a", "b"):
        assert clock.report(rid).sim_tpot_ms == pytest.approx(1e3 * step.total_s)


def test_finish_reports_once_to_listeners_and_forgets(sim):
    """finish() hands the final report to each listener once; the request is then unknown."""
    seen_steps, seen_reports = [], []
    listener = SimpleNamespace(on_step=lambda shape, step, start: seen_steps.append((shape.kind, start)),
                               on_finish=seen_reports.append)
    clock = ChipClock(sim)
    clock.listeners.append(listener)
    clock.arrive("a")
    first = clock.charge(_extend(["a"], [4], [0]))
    clock.charge(_decode(["a"], [4]))
    report = clock.finish("a")
    assert seen_steps == [("extend", 0.0), ("decode", first.total_s)]
    assert seen_reports == [report]
    assert clock.finish("a") is None and clock.report("a") is None


def test_a_request_charged_before_its_arrival_starts_at_that_batch(sim):
    """A request the clock never saw arrive (warm-up) is taken to arrive when its first batch starts."""
    clock = ChipClock(sim)
    clock.arrive("x")
    clock.charge(_extend(["x"], [8], [0]))
    clock.charge(_extend(["w"], [8], [0]))
    assert clock.report("w").sim_queue_ms == 0.0


def test_batch_shape_reads_a_forward_batch():
    """Decode rows cache seq_len - 1 tokens; extend rows take SGLang's extend and prefix lengths."""
    import torch

    def mode(decode, idle=False):
        return SimpleNamespace(is_decode=lambda: decode, is_idle=lambda: idle)

    decode = SimpleNamespace(forward_mode=mode(True), rids=["a", "b"], batch_size=2,
                             seq_lens_cpu=torch.tensor([5, 9]), extend_seq_lens_cpu=None)
    assert BatchShape.from_forward_batch(decode) == BatchShape("decode", ("a", "b"), (1, 1), (4, 8))
    extend = SimpleNamespace(forward_mode=mode(False), rids=["a"], batch_size=1,
                             seq_lens_cpu=torch.tensor([30]), extend_seq_lens_cpu=[10],
                             extend_prefix_lens_cpu=[20])
    assert BatchShape.from_forward_batch(extend) == BatchShape("extend", ("a",), (10,), (20,))
    idle = SimpleNamespace(forward_mode=mode(False, idle=True), rids=[], batch_size=0)
    assert BatchShape.from_forward_batch(idle) is None


def test_report_wire_round_trip_and_missing_field():
    """to_wire/from_wire round-trip every field; a missing field is a KeyError naming it."""
    report = ChipTimeReport("lpu", 2, 0.1, 1.0, 0.5, 0.4, 3.0, 10.0, 13.0, 100, 28, 4)
    wire = report.to_wire()
    assert tuple(wire) == WIRE_FIELDS and ChipTimeReport.from_wire(wire) == report
    del wire["sim_ttft_ms"]
    with pytest.raises(KeyError, match="sim_ttft_ms"):
        ChipTimeReport.from_wire(wire)


@pytest.mark.parametrize("mode", ["serial", "overlap"])
def test_host_overhead_adds_the_unhidden_host_time_and_reports_it(sim, mode):
    """Serial: each step takes chip + host; overlap: max(chip, host). The host's share of TPOT is
    reported apart, and busy time stays the chip's alone."""
    from sglang_hyperaccel.simulator import HostOverhead, HostSpec

    host = HostSpec("test-host", "a host slower than the tiny model's steps", step_s=2e-3, per_request_s=1e-4)
    clock = ChipClock(sim, host=HostOverhead(host, mode))
    for rid in "ab":
        clock.arrive(rid)
    prefill = sim.step([RequestWork(16, 0), RequestWork(16, 0)])
    decode = sim.step([RequestWork(1, 16), RequestWork(1, 16)])
    clock.charge(_extend("ab", [16, 16], [0, 0]))
    clock.charge(_decode("ab", [16, 16]))
    host_s = 2e-3 + 2 * 1e-4
    hidden = {"serial": 0.0, "overlap": min(host_s, decode.total_s)}[mode]
    exposed_prefill = host_s - {"serial": 0.0, "overlap": min(host_s, prefill.total_s)}[mode]
    report = clock.finish("a")
    assert report.sim_tpot_host_ms == pytest.approx(1e3 * (host_s - hidden))
    assert report.sim_tpot_ms == pytest.approx(1e3 * (decode.total_s + host_s - hidden))
    assert report.sim_e2e_ms == pytest.approx(1e3 * (prefill.total_s + decode.total_s + exposed_prefill
                                                     + host_s - hidden))
    assert clock.busy_s == pytest.approx(prefill.total_s + decode.total_s)
    assert ChipClock(sim).report("a") is None and clock.host_s > 0


def test_no_host_overhead_by_default(sim):
    """Without a host overhead the report's host share is 0 and TPOT is the chip's."""
    clock = ChipClock(sim)
    clock.arrive("a")
    clock.charge(_extend("a", [8], [0]))
    clock.charge(_decode("a", [8]))
    report = clock.finish("a")
    assert report.sim_tpot_host_ms == 0.0
    assert report.sim_tpot_ms == pytest.approx(1e3 * sim.step([RequestWork(1, 8)]).total_s)
