"""The serving host's CPU time per scheduler step: the part of TPOT that is not the chip's.

A real server spends CPU time on every step outside the accelerator: forming the batch, building
its metadata, launching it, processing the sampled tokens (stop checks, streaming). SGLang hides it
behind the device with its overlap schedule (the CPU work of step k+1 runs while the device runs
step k), so only what exceeds the device step shows; without overlap all of it adds to the step.
Chip time counts none of it unless asked (`SGLANG_HYPERACCEL_HOST_OVERHEAD`), so a user can see
how much of TPOT is chip and how much is host.

Host costs are data, like chips: a fixed time per step plus a time per request in the batch, with
where each number comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import UnknownNameError

OVERHEAD_MODES = ("none", "serial", "overlap")


@dataclass(frozen=True)
class HostSpec:
    """CPU seconds the serving host spends per scheduler step: `step_s + per_request_s x requests`."""

    name: str
    description: str
    step_s: float
    per_request_s: float
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def step_time_s(self, requests: int) -> float:
        """Host time of one step over a batch of `requests` requests."""
        return self.step_s + self.per_request_s * requests


@dataclass(frozen=True)
class HostOverhead:
    """A host and how its time meets the chip's: `mode` is `none`, `serial` or `overlap`."""

    host: HostSpec
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in OVERHEAD_MODES:
            raise ValueError(f"host overhead mode {self.mode!r}: expected one of {', '.join(OVERHEAD_MODES)}")

    def exposed_s(self, requests: int, chip_s: float) -> float:
        """Host time a step over `requests` requests adds to its `chip_s` chip seconds."""
        return exposed_s(self.host.step_time_s(requests), chip_s, self.mode)


def exposed_s(host_s: float, chip_s: float, mode: str) -> float:
    """The host time one step adds to the chip's: none; all of it (`serial`, SGLang without its
    overlap schedule); or what exceeds the chip step (`overlap`: host work beside the chip's)."""
    if mode == "serial":
        return host_s
    if mode == "overlap":
        return max(0.0, host_s - chip_s)
    return 0.0


# Measured, not published: SGLang 0.5.23's own scheduler loop in timing-only execution (no tensor
# math, so each step's wall time is host time), decode of 1..64 requests together, least squares
# (fit within 4% at every batch). A lower bound for a GPU server: timing-only execution skips the
# kernel launches and the sampler's CPU work. `benchmarks/bench_host_overhead.py` re-measures it.
SGLANG_2CORE = HostSpec(
    name="sglang-0.5.23-2core",
    description="SGLang 0.5.23 scheduler loop on the project's 2-core x86 development host",
    step_s=0.609e-3,
    per_request_s=0.0095e-3,
    sources={
        "step_s": "benchmarks/bench_host_overhead.py, 2026-11-30: intercept of wall s/step vs batch "
                  "(0.607 ms at batch 1, 1.197 ms at 64)",
        "per_request_s": "benchmarks/bench_host_overhead.py, 2026-11-30: slope of wall s/step vs batch",
    },
)

_HOSTS: dict[str, HostSpec] = {SGLANG_2CORE.name: SGLANG_2CORE}
DEFAULT_HOST = SGLANG_2CORE.name


def get_host(name: str) -> HostSpec:
    """A host spec by name; UnknownNameError lists the known ones."""
    try:
        return _HOSTS[name]
    except KeyError:
        raise UnknownNameError(f"unknown host {name!r}; known: {', '.join(sorted(_HOSTS))}") from None


def register_host(host: HostSpec) -> None:
    """Add a measured host (e.g. the serving machine the chip will sit in)."""
    _HOSTS[host.name] = host
