"""Things that watch the chip clock: the Chrome-trace timeline and the Prometheus metrics."""

from __future__ import annotations

from typing import Any


def attach_observers(clock: Any, runner: Any) -> None:
    """Attach the observers this server asked for (trace file, metrics) to `clock`."""
