"""Calibration points as data, the check of the model against them, and the fit that set it.

The fitted fields of `chips.py` (bandwidth efficiency, per-operator overhead, link latency) are
what `fit_chip` returns for the points below, rounded; `tests/simulator` re-runs the fit and
checks that the shipped values still match it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from .chips import H100, LPU, ChipSpec, get_chip
from .generation import generate
from .step_model import Simulator


@dataclass(frozen=True)
class LatencyPoint:
    """A published decode latency: `target_ms` per output token for this workload."""

    model: str
    chip: str
    devices: int
    target_ms: float
    source: str
    batch: int = 1
    input_len: int = 32
    output_len: int = 2016
    tolerance: float = 0.05

    @property
    def label(self) -> str:
        return f"{self.model} on {self.devices} x {self.chip}"


@dataclass(frozen=True)
class ScalingPoint:
    """Speed-up per doubling of devices (and in total) for one model, batch 1."""

    model: str
    chip: str
    devices: tuple[int, ...]
    per_doubling: float
    total: float
    source: str
    tolerance: float = 0.10


# The paper's workload: FP16, batch 1, 32 input and 2016 output tokens (summary, unverified).
LPU_POINTS = (
    LatencyPoint("opt-1.3b", "lpu", 1, 1.25, "arXiv 2408.07326 abstract: 1.25 ms/token"),
    LatencyPoint("opt-66b", "lpu", 2, 20.9,
                 "arXiv 2408.07326 abstract: 20.9 ms/token; 2 devices per a summary"),
)
# The GPU baseline the abstract's speed-ups imply (2.09x and 1.37x slower than the LPU).
GPU_POINTS = (
    LatencyPoint("opt-1.3b", "h100", 1, 1.25 * 2.09, "abstract: LPU 2.09x faster than the GPU"),
    LatencyPoint("opt-66b", "h100", 2, 20.9 * 1.37,
                 "abstract: LPU 1.37x faster; 2 GPUs assumed (131 GB of FP16 weights > 80 GB)"),
)
# The anchor does not name the model; OPT-13B is an OPT that fits one LPU (see docs).
LPU_SCALING = ScalingPoint("opt-13b", "lpu", (1, 2, 4, 8), 1.75, 5.43,
                           "paper (summary, unverified): ~1.75x per doubling, 5.43x at 8 devices")


@dataclass(frozen=True)
class CalibrationRow:
    """One checked figure: what the source says, what the model gives, the relative error."""

    label: str
    target: float
    measured: float
    tolerance: float
    unit: str

    @property
    def error(self) -> float:
        return self.measured / self.target - 1.0

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.tolerance


def measure(point: LatencyPoint, chip: ChipSpec | None = None) -> float:
    """ms/token the model gives for `point` (on `chip` instead of the registered one if given)."""
    sim = Simulator(chip or get_chip(point.chip), point.model, point.devices)
    return generate(sim, point.batch, point.input_len, point.output_len).ms_per_token


def scaling_curve(point: ScalingPoint, chip: ChipSpec | None = None) -> list[float]:
    """ms/token at each device count of `point`."""
    chip = chip or get_chip(point.chip)
    return [generate(Simulator(chip, point.model, n), 1, 32, 2016).ms_per_token
            for n in point.devices]


def calibration_table(points: Sequence[LatencyPoint] = LPU_POINTS + GPU_POINTS,
                      scaling: Sequence[ScalingPoint] = (LPU_SCALING,)) -> list[CalibrationRow]:
    """Every calibration figure, target against measured."""
    rows = [CalibrationRow(p.label, p.target_ms, measure(p), p.tolerance, "ms/token") for p in points]
    for s in scaling:
        curve = scaling_curve(s)
        for (a, ta), (b, tb) in zip(zip(s.devices, curve), zip(s.devices[1:], curve[1:])):
            rows.append(CalibrationRow(f"{s.model} {s.chip} speed-up {a}->{b}", s.per_doubling,
                                       ta / tb, s.tolerance, "x"))
        rows.append(CalibrationRow(f"{s.model} {s.chip} speed-up {s.devices[0]}->{s.devices[-1]}",
                                   s.total, curve[0] / curve[-1], s.tolerance, "x"))
    return rows


def format_table(rows: Sequence[CalibrationRow]) -> str:
    """A markdown table of calibration rows."""
    lines = ["| figure | target | measured | error | within |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {r.target:.3f} {r.unit} | {r.measured:.3f} {r.unit} | "
                     f"{100 * r.error:+.1f}% | {'yes' if r.ok else 'NO'} (±{100 * r.tolerance:.0f}%) |")
    return "\n".join(lines)


def parameter_table(chips: Sequence[ChipSpec]) -> str:
    """A markdown table of every chip and link parameter with its source."""
    lines = ["| chip | parameter | value | source |", "|---|---|---|---|"]
    for chip in chips:
        for spec, prefix in ((chip, ""), (chip.link, "link.")):
            for f in dataclasses.fields(spec):
                if f.name in ("name", "description", "sources", "link"):
                    continue
                value = getattr(spec, f.name)
                shown = f"{value:.4g}" if isinstance(value, float) else f"{value}"
                lines.append(f"| {chip.name} | {prefix}{f.name} | {shown} | "
                             f"{spec.sources.get(f.name, '')} |")
    return "\n".join(lines)


# --- the fit ------------------------------------------------------------------------------------
def _with(chip: ChipSpec, inv_eff: float, overhead: float, latency: float) -> ChipSpec:
    link = dataclasses.replace(chip.link, hop_latency_s=latency)
    return dataclasses.replace(chip, bandwidth_efficiency=1.0 / inv_eff, op_overhead_s=overhead,
                               link=link)


def fit_chip(chip: ChipSpec, points: Sequence[LatencyPoint],
             scaling: ScalingPoint | None = None, rounds: int = 3) -> ChipSpec:
    """Fit bandwidth efficiency and per-operator overhead to two latency points, then the link
    latency to the total speed-up of `scaling` (if given); returns the fitted chip.

    Step time is linear in 1/efficiency and in the overhead, so two probes per point give an
    exact 2x2 solve. If that asks for an efficiency above 1 (faster than the roofline), the
    efficiency is clamped at 1 and the overhead set so both points err equally, in opposite
    directions. The latency is bisected; the fit alternates the two steps `rounds` times.
    """
    first, second = points
    inv_eff, overhead, latency = 1.0, chip.op_overhead_s, chip.link.hop_latency_s
    for _ in range(rounds):
        def t(p: LatencyPoint, x: float, c: float) -> float:
            return measure(p, _with(chip, x, c, latency))

        # Coefficients of T = base + a * x + b * c for each point, from three probes.
        rows = []
        for p in (first, second):
            t00, t10, t01 = t(p, 1.0, 0.0), t(p, 2.0, 0.0), t(p, 1.0, 1e-6)
            a, b = t10 - t00, (t01 - t00) / 1e-6
            rows.append((t00 - a, a, b, p.target_ms))
        (k1, a1, b1, y1), (k2, a2, b2, y2) = rows
        det = a1 * b2 - a2 * b1
        inv_eff = ((y1 - k1) * b2 - (y2 - k2) * b1) / det
        overhead = (a1 * (y2 - k2) - a2 * (y1 - k1)) / det
        if inv_eff < 1.0:
            inv_eff = 1.0
            # e1 = -e2 with e_i = (k_i + a_i + b_i c) / y_i - 1.
            overhead = (2.0 - (k1 + a1) / y1 - (k2 + a2) / y2) / (b1 / y1 + b2 / y2)
        overhead = max(overhead, 0.0)
        if scaling is not None:
            latency = _fit_latency(_with(chip, inv_eff, overhead, 0.0), scaling)
    return _with(chip, inv_eff, overhead, latency)


def _fit_latency(chip: ChipSpec, scaling: ScalingPoint) -> float:
    def speedup(latency: float) -> float:
        curve = scaling_curve(scaling, _with(chip, 1.0 / chip.bandwidth_efficiency,
                                             chip.op_overhead_s, latency))
        return curve[0] / curve[-1]

    lo, hi = 0.0, 20e-6
    if speedup(lo) <= scaling.total:
        return 0.0  # the fixed costs alone already account for the shortfall from linear
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if speedup(mid) > scaling.total else (lo, mid)
    return 0.5 * (lo + hi)


def fit_lpu() -> ChipSpec:
    """The LPU as fitted to LPU_POINTS and LPU_SCALING."""
    return fit_chip(LPU, LPU_POINTS, LPU_SCALING)


def fit_gpu() -> ChipSpec:
    """The H100 as fitted to GPU_POINTS (link latency kept: an assumption)."""
    return fit_chip(H100, GPU_POINTS)
