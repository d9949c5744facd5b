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


# How a forward batch is executed: `numeric` (the model's real arithmetic on the emulated chip) or
# `timing` (shapes from config.json only, no weights, no tensor math: each batch is charged to the
# chip clock and yields deterministic pseudo-random token ids).
EXECUTION = "SGLANG_HYPERACCEL_EXECUTION"
EXECUTION_MODES = ("numeric", "timing")


def execution() -> str:
    """`numeric` (default) or `timing`; ValueError names the variable on any other value."""
    text = os.environ.get(EXECUTION, "").strip().lower() or "numeric"
    if text not in EXECUTION_MODES:
        raise ValueError(f"{EXECUTION}={text!r}: expected one of {', '.join(EXECUTION_MODES)}")
    return text


def is_timing() -> bool:
    """True when forward batches are timed, not computed."""
    return execution() == "timing"


# Set by the platform at start-up in timing mode, not by users: the `--tp-size` the user asked
# for. The server then runs one rank and charges every batch as this many chips.
VIRTUAL_TP = "SGLANG_HYPERACCEL_VIRTUAL_TP"


def virtual_tp() -> int | None:
    """The tensor-parallel degree charged to the clock without spawning ranks, or None."""
    text = os.environ.get(VIRTUAL_TP, "").strip()
    return int(text) if text else None


# Test aid: sleep this many wall milliseconds after every forward batch, to show that chip time
# (and, in virtual time, the schedule) does not depend on how fast the host is.
STEP_DELAY_MS = "SGLANG_HYPERACCEL_STEP_DELAY_MS"


def step_delay_s() -> float:
    """Wall seconds to sleep after each forward batch (0 unless the test aid is set)."""
    text = os.environ.get(STEP_DELAY_MS, "").strip()
    return float(text) / 1e3 if text else 0.0


# Virtual time: wall seconds the scheduler waits for the next request of a trace while it holds
# work it may not run yet (`platform/virtual_time.py`); after that it gives the trace up (warning) and
# serves what it holds, so a client that stops mid-trace cannot wedge the server.
ARRIVAL_TIMEOUT_S = "SGLANG_HYPERACCEL_ARRIVAL_TIMEOUT_S"
DEFAULT_ARRIVAL_TIMEOUT_S = 300.0


def arrival_timeout_s() -> float:
    """How long virtual time waits for a trace's missing requests before giving the trace up."""
    text = os.environ.get(ARRIVAL_TIMEOUT_S, "").strip()
    return float(text) if text else DEFAULT_ARRIVAL_TIMEOUT_S


# The serving host's CPU time per scheduler step, added to chip time: `none` (default: chip time
# only), `serial` (all of it, SGLang without its overlap schedule) or `overlap` (what exceeds the
# chip step). `SGLANG_HYPERACCEL_HOST` names the host's measured costs (`simulator/hosts.py`).
HOST_OVERHEAD = "SGLANG_HYPERACCEL_HOST_OVERHEAD"
HOST = "SGLANG_HYPERACCEL_HOST"


def host_overhead_mode() -> str:
    """`none`, `serial` or `overlap`; ValueError names the variable on any other value."""
    text = os.environ.get(HOST_OVERHEAD, "").strip().lower() or "none"
    if text not in ("none", "serial", "overlap"):
        raise ValueError(f"{HOST_OVERHEAD}={text!r}: expected none, serial or overlap")
    return text


def host_name() -> str | None:
    """The host spec to charge (None: the simulator's default host)."""
    return os.environ.get(HOST, "").strip() or None


# `0` keeps `import torch` from registering the device in this environment (the `torch.backends`
# entry point, `device.autoload`); PyTorch's TORCH_DEVICE_BACKEND_AUTOLOAD=0 turns off every
# backend's. The platform plugin still registers the device in the server's processes.
AUTOLOAD = "SGLANG_HYPERACCEL_AUTOLOAD"


def autoload_enabled() -> bool:
    """Whether the `torch.backends` entry point registers the device at `import torch`."""
    return os.environ.get(AUTOLOAD, "1").strip() != "0"


# What one request may ask of a server (`platform/request_limits.py`): comma-separated `key=value`
# pairs overriding the defaults, e.g. `n=16,top_logprobs=5,new_tokens=2048,queued=256`.
LIMITS = "SGLANG_HYPERACCEL_LIMITS"


def limits_text() -> str:
    """The raw SGLANG_HYPERACCEL_LIMITS overrides ('' when unset)."""
    return os.environ.get(LIMITS, "").strip()


# Test aid for fault isolation (`platform/fault_isolation.py`): the forward raises for any batch
# holding a request whose rid contains this text.
INJECT_FAULT = "SGLANG_HYPERACCEL_INJECT_FAULT"


def inject_fault_marker() -> str | None:
    """The rid text that makes a forward raise, or None (the normal case)."""
    return os.environ.get(INJECT_FAULT, "") or None
