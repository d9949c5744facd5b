"""The SGLang out-of-tree platform plugin for the hyperaccel chip.

Two entry points (see pyproject.toml), both thin:

* `activate()` (group `sglang.srt.platforms`) runs the moment any process imports sglang. It says
  whether this run is ours and, if so, returns the dotted path of the platform class, loaded lazily.
* `register()` (group `sglang.srt.plugins`) runs in `load_plugins()` in the server's processes and
  installs the attention backend and the hooks listed in `patches.py`, only when ours is active.
"""

from __future__ import annotations

from sglang_hyperaccel.platform.report import ChipTimeReport
from sglang_hyperaccel.platform.selection import PLATFORM_CLASS, PLATFORM_NAME, activate, is_selected


def register() -> None:
    """`sglang.srt.plugins` hook: install backend and patches when the hyperaccel platform is active."""
    from sglang.srt.platforms import current_platform

    if current_platform.device_type != PLATFORM_NAME:
        return  # another device's run: leave SGLang untouched
    from sglang_hyperaccel.platform.patches import install

    install()


__all__ = ["PLATFORM_CLASS", "PLATFORM_NAME", "ChipTimeReport", "activate", "is_selected", "register"]
