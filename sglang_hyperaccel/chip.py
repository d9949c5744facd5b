"""The chip this process emulates: the one resolver of its spec and memory.

The device (its capacity), the platform (start-up checks, the chip clock), the console script and
the benchmarks all ask here, so `SGLANG_HYPERACCEL_CHIP` and `SGLANG_HYPERACCEL_MEMORY` are read
the same way everywhere. The simulator itself reads no environment: it is given this spec.
"""

from __future__ import annotations

from sglang_hyperaccel import env
from sglang_hyperaccel.simulator import ChipSpec, get_chip


def emulated_chip() -> ChipSpec:
    """The chip named by SGLANG_HYPERACCEL_CHIP, with SGLANG_HYPERACCEL_MEMORY's capacity if set.

    Raises `simulator.UnknownNameError` (a KeyError and a ValueError) for an unknown chip and
    ValueError for a malformed memory size; both messages name the variable or the known chips.
    """
    chip = get_chip(env.chip_name())
    override = env.memory_override()
    return chip if override is None else chip.with_memory(override)
