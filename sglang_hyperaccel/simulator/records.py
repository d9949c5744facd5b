"""The simulator's records and constants: what a step's time is made of.

Imports nothing of the simulator, so the step model, generation, the trace and callers outside
the simulator (the chip clock) share one definition of every field.
"""

from __future__ import annotations

from typing import NamedTuple

# Operator names of the breakdown, in the order a layer runs them (embedding first, sampling last).
EMBEDDING = "embedding"
NORMS = "norms"
QKV_PROJ = "qkv_proj"
ATTENTION = "attention"
OUT_PROJ = "out_proj"
FFN = "ffn"
SAMPLING = "sampling"
SYNC = "sync"
OPERATORS = (EMBEDDING, NORMS, QKV_PROJ, ATTENTION, OUT_PROJ, FFN, SAMPLING, SYNC)

MEMORY = "memory"
COMPUTE = "compute"
FIXED = "fixed"  # latency-bound: link synchronisation


def gib(n: float) -> str:
    """Bytes as GiB, the unit HBM capacities are sold in."""
    return f"{n / 2**30:.2f} GiB"


class OpTime(NamedTuple):
    """One operator class of a step, summed over layers (per device: all devices do the same)."""

    name: str
    time_s: float
    bytes: float
    flops: float
    bound: str  # "memory", "compute", or "fixed" (the link synchronisation)


class StepTime(NamedTuple):
    """The simulated time of one forward batch on one device of the system.

    `total_s` is the step's time; `floor_s` the bandwidth roofline of `bytes_moved` (per device:
    weights, KV read and KV written) at peak bandwidth, never above `total_s`; `bound` says whether
    the step's memory or compute time dominates; `sync_s` is the exposed link time (0 on one
    device); `ops` the per-operator breakdown in execution order (see OPERATORS); `tokens` and
    `requests` the new and sampled tokens; `layers` and `devices` say how a trace lays it out.
    """

    total_s: float
    floor_s: float
    bytes_moved: float
    flops: float
    bound: str
    sync_s: float
    ops: tuple[OpTime, ...]
    tokens: int
    requests: int
    layers: int
    devices: int

    @property
    def breakdown(self) -> dict[str, float]:
        """Seconds per operator name."""
        return {op.name: op.time_s for op in self.ops}

    def op(self, name: str) -> OpTime:
        """The operator record called `name` (KeyError if absent)."""
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)


class RequestWork(NamedTuple):
    """One request's share of a forward batch: tokens fed now and tokens already cached.

    A decode row is `RequestWork(1, kv_len)`; a prefill chunk after a radix-cache hit is
    `RequestWork(n_new, n_cached)`.
    """

    new_tokens: int
    cached_tokens: int
