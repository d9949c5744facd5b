"""Shared fixtures: the demo model and hyperaccel servers that always stop.

`server` is one session-wide default server (fp32, so outputs compare with transformers on CPU);
`start_server(...)` starts extra ones with their own arguments, and stops each of them when the test
module ends, whatever happened (so a 24 GB host never holds more than a module's servers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.launcher import ServerProcess

DEFAULT_ARGS = ("--dtype", "float32", "--enable-metrics")


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The default demo model (built on first use)."""
    return ensure_demo_model()


@pytest.fixture(scope="session")
def server(demo_model: Path) -> Iterator[ServerProcess]:
    """One fp32 server on the demo model, shared by every test that only sends requests."""
    proc = ServerProcess(demo_model, args=DEFAULT_ARGS)
    with proc:
        yield proc


@pytest.fixture(scope="module")
def start_server(demo_model: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: start_server(args=(...), env={...}, model=path) -> a healthy server,
    stopped at session end."""
    started: list[ServerProcess] = []

    def start(args: tuple[str, ...] = DEFAULT_ARGS, env: dict[str, str] | None = None,
              model: Path | None = None, timeout: float = 300.0) -> ServerProcess:
        proc = ServerProcess(model or demo_model, args=args, env=env or {})
        started.append(proc)
        proc.start()
        return proc.wait_healthy(timeout)

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
