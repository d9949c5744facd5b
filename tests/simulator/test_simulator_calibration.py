"""The model against the published LPU figures (docs/simulator.md has the table)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sglang_hyperaccel.simulator import Simulator, get_chip, list_chips
from sglang_hyperaccel.simulator import calibration as cal


@pytest.mark.parametrize("point", cal.LPU_POINTS, ids=lambda p: p.label)
def test_lpu_latency_within_5_percent(point):
    """OPT-1.3B on 1 LPU at 1.25 ms/token and OPT-66B on 2 LPUs at 20.9 ms/token, each ±5%."""
    measured = cal.measure(point)
    assert measured == pytest.approx(point.target_ms, rel=0.05)


def test_paper_workload_is_the_calibrated_one():
    """The points use the paper's workload: FP16, batch 1, 32 input and 2016 output tokens."""
    for point in cal.LPU_POINTS:
        assert (point.batch, point.input_len, point.output_len) == (1, 32, 2016)
        assert Simulator(point.chip, point.model, point.devices).model.dtype_bytes == 2


def test_scaling_1_to_8_devices_within_10_percent_per_doubling():
    """Every doubling from 1 to 8 LPUs speeds OPT-13B up 1.75x ±10%; 5.43x ±10% in total."""
    curve = cal.scaling_curve(cal.LPU_SCALING)
    assert curve == sorted(curve, reverse=True)
    for slow, fast in zip(curve, curve[1:]):
        assert slow / fast == pytest.approx(1.75, rel=0.10)
    assert curve[0] / curve[-1] == pytest.approx(5.43, rel=0.10)


@pytest.mark.parametrize("point", cal.GPU_POINTS, ids=lambda p: p.label)
def test_gpu_baseline_implied_by_the_abstract(point):
    """The H100 spec reproduces the GPU latencies the abstract's speed-ups imply, ±5%."""
    assert cal.measure(point) == pytest.approx(point.target_ms, rel=0.05)


def test_calibration_table_all_within_tolerance():
    """Every row of the documented calibration table is within its tolerance."""
    rows = cal.calibration_table()
    assert len(rows) == 8
    assert all(row.ok for row in rows), cal.format_table(rows)


def test_shipped_lpu_parameters_are_the_fit():
    """chips.py holds what calibration.fit_lpu() derives, to rounding."""
    fitted, shipped = cal.fit_lpu(), get_chip("lpu")
    assert shipped.bandwidth_efficiency == pytest.approx(fitted.bandwidth_efficiency, rel=0.01)
    assert shipped.op_overhead_s == pytest.approx(fitted.op_overhead_s, rel=0.02)
    assert shipped.link.hop_latency_s == pytest.approx(fitted.link.hop_latency_s, abs=2e-8)


def test_shipped_gpu_parameters_are_the_fit():
    """chips.py holds what calibration.fit_gpu() derives, to rounding."""
    fitted, shipped = cal.fit_gpu(), get_chip("h100")
    assert shipped.bandwidth_efficiency == pytest.approx(fitted.bandwidth_efficiency, rel=0.01)
    assert shipped.op_overhead_s == pytest.approx(fitted.op_overhead_s, rel=0.02)


@pytest.mark.parametrize("name", list_chips())
def test_every_parameter_has_a_source(name):
    """Each numeric field of every chip and its link names its source."""
    chip = get_chip(name)
    for spec in (chip, chip.link):
        for field in dataclasses.fields(spec):
            if field.name in ("name", "description", "sources", "link"):
                continue
            assert spec.sources.get(field.name), f"{name}: {field.name} has no source"


def test_lpu_memory_holds_half_of_opt_66b():
    """One LPU holds half of OPT-66B's FP16 weights (2 LPUs serve it), not all of them."""
    lpu = get_chip("lpu")
    weights = Simulator("lpu", "opt-66b", 2).model.weight_bytes
    assert weights / 2 < lpu.memory_bytes < weights
    assert math.isclose(lpu.memory_bandwidth, 3.2768e12)
