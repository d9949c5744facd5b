"""The per-request chip-time report: the one definition of the fields clients read.

The scheduler builds a `ChipTimeReport` per request from the chip clock, sends it as a plain dict
(`to_wire`) through SGLang's customized info, and clients find the same dict in
`meta_info["hyperaccel"]` (`names.META_KEY`); `from_wire` reads it back (the router's statistics,
benchmarks). Times are chip-clock milliseconds. Imports nothing but the standard library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChipTimeReport:
    """What the chip would have taken for one request, on the schedule the server ran.

    `sim_queue_ms`: arrival to its first batch; `sim_ttft_ms`: arrival to the end of its last
    prefill chunk (which samples the first token); `sim_tpot_ms`: mean decode step after that,
    `sim_tpot_floor_ms` the same steps' bandwidth roofline; `sim_e2e_ms`: arrival to its last step.
    `sim_arrival_ms`/`sim_finish_ms` are the clock's readings (one replica's busy span);
    `sim_prefill_tokens` the prompt tokens computed, `sim_cached_tokens` those found in the
    prefix cache; `chip` and `devices` the system that was timed. `sim_tpot_host_ms`: the part of
    `sim_tpot_ms` that is the serving host's CPU time, not the chip's (0 unless a host overhead
    is modelled, `SGLANG_HYPERACCEL_HOST_OVERHEAD`).
    """

    chip: str
    devices: int
    sim_queue_ms: float
    sim_ttft_ms: float
    sim_tpot_ms: float
    sim_tpot_floor_ms: float
    sim_e2e_ms: float
    sim_arrival_ms: float
    sim_finish_ms: float
    sim_prefill_tokens: int
    sim_cached_tokens: int
    sim_decode_steps: int
    sim_tpot_host_ms: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        """The JSON object clients receive."""
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ChipTimeReport:
        """Read a `meta_info["hyperaccel"]` object; KeyError names a missing field (fields with a
        default may be absent)."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)
                      if f.name in data or f.default is dataclasses.MISSING})


WIRE_FIELDS = tuple(f.name for f in dataclasses.fields(ChipTimeReport))
