"""Deciding whether a run is the hyperaccel platform's, before SGLang parses its arguments.

SGLang resolves its platform when `sglang` is first imported, long before `--device` is parsed, so
the decision reads the command line directly. Children are spawned and re-import sglang; the parent
exports `SGLANG_PLATFORM=hyperaccel` so they decide the same way without re-reading arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from sglang_hyperaccel.names import DEVICE_TYPE

PLATFORM_NAME = DEVICE_TYPE  # `--device hyperaccel`, `SGLANG_PLATFORM=hyperaccel`
PLATFORM_CLASS = "sglang_hyperaccel.platform.srt_platform.HyperAccelPlatform"


def requested_device(argv: Sequence[str]) -> str | None:
    """The value of `--device` in `argv` (`--device X` or `--device=X`), or None."""
    for i, arg in enumerate(argv):
        if arg == "--device" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--device="):
            return arg.split("=", 1)[1]
    return None


def is_selected(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> bool:
    """True when this run asked for hyperaccel: `--device hyperaccel[:N]` or `SGLANG_PLATFORM=hyperaccel`.

    A run whose command line names another device is never taken over, whatever the environment.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    device = requested_device(argv)
    if device is not None:
        return device.split(":")[0] == PLATFORM_NAME
    return environ.get("SGLANG_PLATFORM", "") == PLATFORM_NAME


def activate() -> str | None:
    """`sglang.srt.platforms` entry point: the platform class path for our runs, None otherwise.

    Also brings the `hyperaccel` PyTorch device up, since SGLang builds `torch.device("hyperaccel")`
    soon after. An unknown chip name ends the process here with one clear line and exit code 2.
    """
    if not is_selected():
        return None
    from sglang_hyperaccel.chip import emulated_chip

    try:
        emulated_chip()
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        print(f"sglang-hyperaccel: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    os.environ["SGLANG_PLATFORM"] = PLATFORM_NAME  # spawned children inherit the decision
    from sglang_hyperaccel.device import register as register_device

    register_device()
    return PLATFORM_CLASS
