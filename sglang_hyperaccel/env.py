"""Every environment variable sglang-hyperaccel reads, typed and prefixed, in one place.

Read through the accessor functions (not at import time) so a process that sets a variable
before spawning children sees the new value in them.
"""

from __future__ import annotations

import os
from pathlib import Path

# Chip to emulate and time: a name from `sglang_hyperaccel.simulator` (`lpu`, `lpu-fpga`, ...).
CHIP = "SGLANG_HYPERACCEL_CHIP"
DEFAULT_CHIP = "lpu"

# Override of the emulated chip's memory capacity in bytes (suffixes K/M/G/Ki/Mi/Gi accepted);
# unset means the capacity of the chip spec.
MEMORY = "SGLANG_HYPERACCEL_MEMORY"

# Directory where demo models are built; default `<repo>/.demo_models` next to the package.
MODEL_DIR = "SGLANG_HYPERACCEL_MODEL_DIR"

_SUFFIXES = {
    "": 1,
    "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}


def parse_bytes(text: str) -> int:
    """Parse '64Gi', '512M', '1000000' into bytes; raise ValueError with the text on bad input."""
    raw = text.strip()
    digits = raw.rstrip("KMGTIBkmgtib")
    suffix = raw[len(digits):].upper()
    try:
        value = float(digits)
    except ValueError:
        raise ValueError(f"{MEMORY}={text!r}: expected a byte count such as 8Gi or 512M") from None
    if suffix not in _SUFFIXES or value <= 0:
        raise ValueError(f"{MEMORY}={text!r}: expected a positive byte count such as 8Gi or 512M")
    return int(value * _SUFFIXES[suffix])


def chip_name() -> str:
    """The chip this process emulates (default `lpu`)."""
    return os.environ.get(CHIP, "").strip() or DEFAULT_CHIP


def memory_override() -> int | None:
    """Chip memory capacity override in bytes, or None to use the chip spec."""
    text = os.environ.get(MEMORY, "").strip()
    return parse_bytes(text) if text else None


def model_dir() -> Path:
    """Where demo models are built."""
    text = os.environ.get(MODEL_DIR, "").strip()
    if text:
        return Path(text)
    return Path(__file__).resolve().parent.parent / ".demo_models"


# Number of emulated chips visible as hyperaccel:0..N-1 (an Orion server holds up to 8 cards).
DEVICE_COUNT = "SGLANG_HYPERACCEL_DEVICE_COUNT"
DEFAULT_DEVICE_COUNT = 8


def device_count() -> int:
    """How many emulated chips this process sees."""
    text = os.environ.get(DEVICE_COUNT, "").strip()
    if not text:
        return DEFAULT_DEVICE_COUNT
    count = int(text)
    if count < 1:
        raise ValueError(f"{DEVICE_COUNT}={text!r}: need at least one device")
    return count


# Write the chip timeline of a serving run to this Chrome-trace JSON file (one process track per
# tensor-parallel rank: the rank is inserted before the suffix when there are several).
TRACE = "SGLANG_HYPERACCEL_TRACE"


def trace_path() -> Path | None:
    """Where to write the serving run's chip timeline, or None for no trace."""
    text = os.environ.get(TRACE, "").strip()
    return Path(text) if text else None


# Set by the platform at start-up, not by users: the served model's shapes (a JSON `ModelSpec`),
# worked out once in the launching process and inherited by the scheduler processes it spawns.
MODEL_SPEC = "SGLANG_HYPERACCEL_MODEL_SPEC"


def model_spec_json() -> str | None:
    """The JSON model spec the launching process exported, or None."""
    return os.environ.get(MODEL_SPEC) or None


# Set by the platform in the child process that builds a model on the meta device to read its
# shapes (`platform/meta_model.py`): start-up checks that need those shapes are skipped there.
SHAPE_PROBE = "SGLANG_HYPERACCEL_SHAPE_PROBE"


def is_shape_probe() -> bool:
    """True in the child process that reads a model's shapes."""
    return os.environ.get(SHAPE_PROBE, "") == "1"
