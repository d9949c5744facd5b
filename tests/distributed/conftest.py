"""Fixtures for the tensor-parallel tests: one TP=1 and one TP=2 fp32 server, started together.

The two start concurrently (a TP=2 server is the most this 2-core host runs beside a TP=1 one);
ports are free loopback ports; both always stop at module teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sglang_hyperaccel.launcher import ServerProcess, free_port

# fp32 for exact parity; a small KV pool, since every rank's pool is zeroed host RAM on a shared host.
BASE_ARGS = ("--dtype", "float32", "--max-total-tokens", "8192")


@dataclass
class TpServers:
    """A TP=1 and a TP=2 server on the same model."""

    tp1: ServerProcess
    tp2: ServerProcess


def _tp_server(model: Path, tp: int, exclude: set[int]) -> ServerProcess:
    ports: list[int] = []
    while len(ports) < 2:  # a free port is only free until someone binds it: never hand one out twice
        port = free_port()
        if port not in exclude:
            ports.append(port)
            exclude.add(port)
    args = (*BASE_ARGS, "--tp-size", str(tp), "--nccl-port", str(ports[1]))
    return ServerProcess(model, port=ports[0], args=args)


@pytest.fixture(scope="module")
def tp_servers(demo_model: Path) -> Iterator[TpServers]:
    """Healthy TP=1 and TP=2 servers of the demo model (the TP=2 one may be killed by a test)."""
    used: set[int] = set()
    servers = TpServers(_tp_server(demo_model, 1, used), _tp_server(demo_model, 2, used))
    try:
        servers.tp1.start()
        servers.tp2.start()
        servers.tp1.wait_healthy(600)
        servers.tp2.wait_healthy(600)
        yield servers
    finally:
        servers.tp2.stop()
        servers.tp1.stop()
