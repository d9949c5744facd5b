"""Start, wait for and stop SGLang's router (the `smg` package, successor of `sglang-router`).

We do not route anything ourselves: this module only builds the `python -m smg.launch_router`
command line from a `RouterSettings` record and manages the process like `ServerProcess` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sglang_hyperaccel.deploy.config import RouterSettings
from sglang_hyperaccel.launcher import ServerStartError, free_port, log_tail, stop_process_group

# The response header in which smg names the worker that served a request.
ROUTED_WORKER_HEADER = "x-smg-routed-worker-id"


class StartupCancelled(RuntimeError):
    """A stop was requested (SIGINT/SIGTERM) while waiting for something to start."""


@dataclass(frozen=True)
class Readiness:
    """The router's `/readiness` answer: how many of its workers pass health checks now."""

    healthy_workers: int
    total_workers: int


def router_command(host: str, port: int, worker_urls: Sequence[str], settings: RouterSettings,
                   prometheus_port: int) -> list[str]:
    """The `smg.launch_router` command line for these workers and settings."""
    return [
        sys.executable, "-m", "smg.launch_router",
        "--host", host, "--port", str(port),
        "--worker-urls", *worker_urls,
        "--policy", settings.policy,
        "--health-check-interval-secs", str(settings.health_check_interval_s),
        "--health-failure-threshold", str(settings.health_failure_threshold),
        "--health-success-threshold", str(settings.health_success_threshold),
        "--cb-failure-threshold", str(settings.circuit_breaker_failures),
        "--retry-max-retries", str(settings.retries),
        "--shutdown-grace-period-secs", str(settings.shutdown_grace_s),
        "--worker-warmup-divert-every", str(settings.warmup_divert_every),
        "--log-level", settings.log_level,
        # smg always serves Prometheus metrics, by default on 0.0.0.0:29000: a second deployment on
        # the same host would panic on that port, so each router gets its own, on its own host.
        "--prometheus-host", host, "--prometheus-port", str(prometheus_port),
        *settings.extra_args,
    ]


@dataclass
class RouterProcess:
    """One smg router in its own process group; `url` is what clients talk to."""

    host: str
    port: int
    worker_urls: tuple[str, ...]
    settings: RouterSettings
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> RouterProcess:
        command = router_command(self.host, self.port, self.worker_urls, self.settings,
                                 free_port(self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"))
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(("$ " + " ".join(command) + "\n").encode())
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "NO_COLOR": "1"}, start_new_session=True)
        return self

    def readiness(self) -> Readiness | None:
        """`/readiness` of the router, or None while it does not answer."""
        try:
            with urllib.request.urlopen(self.url + "/readiness", timeout=5) as resp:
                body = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:  # 503 while no worker is healthy: still an answer
            try:
                body = json.loads(err.read() or b"{}")
            except ValueError:
                return None
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return Readiness(int(body.get("healthy_workers", 0)), int(body.get("total_workers", 0)))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def wait_ready(self, healthy: int, timeout: float, cancel: threading.Event | None = None) -> Readiness:
        """Wait until the router answers and at least `healthy` workers pass its health checks."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise StartupCancelled("stopped while the router was starting")
            if not self.alive():
                raise ServerStartError(f"router on port {self.port} exited:\n{self.log_tail()}")
            last = self.readiness()
            if last is not None and last.healthy_workers >= healthy:
                return last
            time.sleep(0.5)
        raise ServerStartError(f"router on port {self.port}: {last} after {timeout:.0f}s (wanted {healthy} "
                               f"healthy workers):\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the router's process group, SIGKILL it after `timeout` seconds."""
        if self.process is not None:
            stop_process_group(self.process, timeout)
