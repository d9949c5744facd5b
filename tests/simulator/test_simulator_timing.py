"""The time model of one forward batch: floor, breakdown, monotonic behaviour, mixed batches."""

from __future__ import annotations

import itertools

import pytest

from sglang_hyperaccel.simulator import (
    OPERATORS,
    DoesNotFitError,
    RequestWork,
    Simulator,
    SimulatorError,
    generate,
    get_chip,
    list_chips,
)

SWEEP_MODELS = ("opt-1.3b", "opt-13b", "llama-3-8b")


def _tightest_chip():
    """The LPU with nothing but bandwidth: no launch cost, full efficiency, free vector work.

    Every step of it sits as close to its roofline as the model allows; the floor must still hold
    without any clamp (the model has none).
    """
    import dataclasses

    lpu = get_chip("lpu")
    return dataclasses.replace(lpu, name="lpu-tight", op_overhead_s=0.0, bandwidth_efficiency=1.0,
                               vector_flops=1e30)


def _sims():
    chips = [get_chip(name) for name in list_chips()] + [_tightest_chip()]
    for chip, model, devices in itertools.product(chips, SWEEP_MODELS, (1, 2, 4, 8)):
        try:
            yield Simulator(chip, model, devices)
        except DoesNotFitError:
            continue  # e.g. OPT-13B on one 16 GB FPGA card


def test_roofline_floor_never_violated_over_a_sweep():
    """No decode, extend or mixed step is faster than its bytes over peak bandwidth."""
    checked = 0
    for sim in _sims():
        peak = sim.chip.memory_bandwidth
        steps = [sim.decode([kv] * b) for b in (1, 3, 16, 128) for kv in (0, 31, 1000, 4000)]
        steps += [sim.extend([n], [p]) for n in (1, 7, 128, 2048) for p in (0, 500, 4096)]
        steps.append(sim.step([RequestWork(1, 100), RequestWork(300, 0), RequestWork(64, 2000)]))
        for step in steps:
            assert step.floor_s == pytest.approx(step.bytes_moved / peak)
            # Sums in another order may differ in the last bits; nothing more.
            assert step.total_s >= step.floor_s * (1 - 1e-12) and step.floor_s > 0
            checked += 1
    assert checked > 1000


def test_breakdown_covers_every_operator_and_sums_to_total():
    """The breakdown names projections, attention, FFN, norms, sampling, sync and adds up."""
    step = Simulator("lpu", "opt-66b", 2).decode([100, 2000])
    assert tuple(op.name for op in step.ops) == OPERATORS
    assert sum(step.breakdown.values()) == pytest.approx(step.total_s)
    assert step.op("sync").time_s == step.sync_s > 0
    assert all(op.time_s > 0 for op in step.ops)


def test_one_device_has_no_sync():
    """A single device pays no link synchronisation."""
    assert Simulator("lpu", "opt-1.3b", 1).decode([10]).sync_s == 0.0


def test_decode_is_extend_with_one_new_token():
    """decode(kv) equals extend(1 token after kv cached), and a mixed step of the same rows."""
    sim = Simulator("lpu", "llama-3-8b")
    kv = [5, 900, 3000]
    a = sim.decode(kv)
    b = sim.extend([1, 1, 1], kv)
    c = sim.step([RequestWork(1, k) for k in kv])
    assert a == b == c


def test_uniform_matches_explicit_rows():
    """uniform(batch, n, p) equals the same rows listed one by one."""
    sim = Simulator("h100", "opt-6.7b")
    assert sim.uniform(4, 16, 100) == sim.extend([16] * 4, [100] * 4)


def test_cached_prefix_costs_kv_reads_not_projections():
    """A cached prefix adds attention (KV read) time but no projection or FFN work."""
    sim = Simulator("lpu", "opt-6.7b")
    cold, warm = sim.extend([512], [0]), sim.extend([512], [1536])
    for name in ("qkv_proj", "out_proj", "ffn"):
        assert warm.op(name) == cold.op(name)
    assert warm.op("attention").bytes > cold.op("attention").bytes
    # ... and prefilling the whole 2048 tokens costs far more than the 512 after a cache hit.
    assert sim.extend([2048], [0]).total_s > 2 * warm.total_s


def test_longer_context_is_slower():
    """Decode time grows with the KV length."""
    sim = Simulator("lpu", "opt-1.3b")
    times = [sim.decode([kv]).total_s for kv in (0, 100, 1000, 10000)]
    assert times == sorted(times) and times[0] < times[-1]


@pytest.mark.parametrize("chip", list_chips())
def test_batching_raises_throughput_until_compute_bound(chip):
    """tokens/s never falls as batch grows, and climbs fast while decode stays memory-bound."""
    sim = Simulator(chip, "opt-1.3b")
    prev = None
    memory_bound_doublings = 0
    for batch in (1, 2, 4, 8, 16, 32, 64, 128):
        step = sim.uniform(batch, 1, 512)
        rate = batch / step.total_s
        if prev is not None:
            assert rate >= prev
            if step.bound == "memory":  # both batches memory-bound: the weights are shared
                assert rate > 1.2 * prev
                memory_bound_doublings += 1
        prev = rate
    assert memory_bound_doublings >= (5 if chip == "h100" else 0)


def test_lpu_is_memory_bound_at_batch_1_and_compute_bound_beyond():
    """The LPU's MACs match its bandwidth: batch 1 decode is memory-bound, prefill is not."""
    sim = Simulator("lpu", "opt-1.3b")
    assert sim.decode([100]).bound == "memory"
    assert sim.decode([100] * 4).bound == "compute"
    assert sim.extend([32], [0]).bound == "compute"


def test_h100_stays_memory_bound_for_small_batches():
    """The GPU's compute/bandwidth ratio (~300 FLOP/byte) keeps batch-16 decode memory-bound."""
    assert Simulator("h100", "opt-1.3b").decode([512] * 16).bound == "memory"


@pytest.mark.parametrize("model", ("opt-6.7b", "opt-13b", "opt-30b", "llama-3-8b"))
def test_more_devices_give_less_latency(model):
    """Decode and prefill get faster with every doubling of LPUs."""
    decode = [Simulator("lpu", model, n).decode([1000]).total_s for n in (1, 2, 4, 8)]
    prefill = [Simulator("lpu", model, n).extend([256], [0]).total_s for n in (1, 2, 4, 8)]
    assert decode == sorted(decode, reverse=True) and len(set(decode)) == 4
    assert prefill == sorted(prefill, reverse=True) and len(set(prefill)) == 4


def test_generate_reports_what_the_cli_prints():
    """generate() gives ms/token, tokens/s, TTFT and utilisation consistent with its steps."""
    sim = Simulator("lpu", "opt-1.3b")
    r = generate(sim, batch=2, input_len=32, output_len=10)
    steps = [sim.uniform(2, 1, 32 + k).total_s for k in range(9)]
    assert r.ms_per_token == pytest.approx(1e3 * sum(steps) / 9)
    assert r.tokens_per_s == pytest.approx(2 / (r.ms_per_token / 1e3))
    assert r.ttft_ms == pytest.approx(1e3 * sim.uniform(2, 32, 0).total_s)
    assert 0 < r.bandwidth_utilization <= 1
    assert r.floor_ms_per_token <= r.ms_per_token
    assert set(r.to_dict()) >= {"ms_per_token", "tokens_per_s", "ttft_ms", "bandwidth_utilization"}


def test_generate_single_token_is_the_prefill():
    """With one output token the generation is its prefill step."""
    r = generate(Simulator("lpu", "opt-1.3b"), 1, 16, 1)
    assert r.ms_per_token == pytest.approx(r.ttft_ms)


@pytest.mark.parametrize("call", [
    lambda s: s.decode([]),
    lambda s: s.decode([3, -1]),
    lambda s: s.extend([1, 2], [0]),
    lambda s: s.extend([0], [5]),
    lambda s: s.step([]),
    lambda s: s.uniform(0, 1, 0),
    lambda s: generate(s, 0, 32, 32),
    lambda s: generate(s, 1, 32, 0),
])
def test_bad_step_arguments_raise(call):
    """Empty batches, negative lengths and mismatched lists raise SimulatorError."""
    with pytest.raises(SimulatorError):
        call(Simulator("lpu", "opt-1.3b"))


def test_step_records_are_immutable():
    """StepTime and its operator records are frozen."""
    step = Simulator("lpu", "opt-1.3b").decode([1])
    with pytest.raises(AttributeError):
        step.total_s = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        step.ops[0].time_s = 0.0  # type: ignore[misc]


def test_efficiency_above_one_is_refused():
    """A chip spec that would beat its own roofline does not validate."""
    import dataclasses

    with pytest.raises(SimulatorError):
        dataclasses.replace(get_chip("lpu"), bandwidth_efficiency=1.1)
