"""Several hyperaccel replicas behind SGLang's router (the `smg` package), and a DSL backend for them.

    sglang-hyperaccel deploy --replicas 2 --port 30000 [--policy cache_aware] [server args...]

    from sglang_hyperaccel.deploy import DeployConfig, Deployment     # the same from Python
    from sglang_hyperaccel.deploy import RouterEndpoint               # sgl.set_default_backend(...)

`RouterEndpoint` is loaded on first use (it imports SGLang's frontend language). See docs/deployment.md.
"""

from __future__ import annotations

from typing import Any

from sglang_hyperaccel.deploy.cli import main
from sglang_hyperaccel.deploy.config import POLICIES, DeployConfig, RouterSettings
from sglang_hyperaccel.deploy.deployment import Deployment, Replica
from sglang_hyperaccel.deploy.router import ROUTED_WORKER_HEADER, Readiness, RouterProcess
from sglang_hyperaccel.deploy.stats import RequestRecord, RunSummary, summarize

__all__ = [
    "POLICIES", "ROUTED_WORKER_HEADER", "DeployConfig", "Deployment", "Readiness", "Replica",
    "RequestRecord", "Route", "RouterEndpoint", "RouterProcess", "RouterSettings", "RunSummary",
    "main", "summarize",
]


def __getattr__(name: str) -> Any:
    if name in ("RouterEndpoint", "Route"):
        from sglang_hyperaccel.deploy import dsl

        return getattr(dsl, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
