"""A running deployment: local replicas, the router in front, and a supervisor that restarts replicas.

    with Deployment(config) as dep:        # replicas healthy, router ready
        print(dep.url)
        dep.supervise(stop_event)          # until the event is set (deploy's CLI: SIGINT/SIGTERM)
    # everything stopped here, whatever happened
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sglang_hyperaccel.deploy.config import DeployConfig
from sglang_hyperaccel.deploy.router import Readiness, RouterProcess, StartupCancelled
from sglang_hyperaccel.launcher import ServerProcess, ServerStartError, free_port

logger = logging.getLogger("sglang_hyperaccel.deploy")


@dataclass
class Replica:
    """One local replica slot: a fixed port, the process now serving it, how often it was restarted."""

    index: int
    port: int
    server: ServerProcess
    restarts: int = 0
    given_up: bool = False

    @property
    def url(self) -> str:
        return self.server.url


def stop_all(stoppables: Iterable[Callable[[], None]]) -> None:
    """Call every stop function at once (each SIGTERMs, waits, then SIGKILLs) and wait for all."""
    threads = [threading.Thread(target=stop, daemon=True) for stop in stoppables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)


@dataclass
class Deployment:
    """Start, supervise and stop what a `DeployConfig` describes."""

    config: DeployConfig
    on_event: Callable[[str], None] = lambda message: logger.info("%s", message)
    replicas: list[Replica] = field(default_factory=list)
    router: RouterProcess | None = None
    log_dir: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)  # set: startup waits give up

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def worker_urls(self) -> list[str]:
        """Every worker the router knows: local replicas first, then the remote ones."""
        return [replica.url for replica in self.replicas] + list(self.config.worker_urls)

    def _server(self, index: int, port: int, attempt: int) -> ServerProcess:
        assert self.log_dir is not None
        name = f"replica-{index}.log" if attempt == 0 else f"replica-{index}.restart-{attempt}.log"
        return ServerProcess(self.config.model_path, port=port, host=self.config.replica_host,
                             args=self.config.server_args, log_path=self.log_dir / name)

    def start(self) -> Deployment:
        """Start the replicas together, wait until all are healthy, then start the router and wait for it."""
        cfg = self.config
        self.log_dir = Path(cfg.log_dir) if cfg.log_dir else Path(
            tempfile.mkdtemp(prefix=f"sglang-hyperaccel-deploy-{cfg.port}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        taken: set[int] = {cfg.port}
        for i in range(cfg.replicas):
            port = cfg.replica_base_port + i if cfg.replica_base_port else free_port(cfg.replica_host)
            while port in taken:  # a free port is only free until someone binds it
                port = free_port(cfg.replica_host)
            taken.add(port)
            replica = Replica(i, port, self._server(i, port, 0))
            self.replicas.append(replica)
            replica.server.start()
            self.on_event(f"replica {i}: starting on {replica.url} (log {replica.server.log_path})")
        self._wait_replicas(cfg.startup_timeout_s)
        self.router = RouterProcess(cfg.host, cfg.port, tuple(self.worker_urls), cfg.router,
                                    self.log_dir / "router.log")
        self.router.start()
        ready = self.router.wait_ready(healthy=max(len(self.replicas), 1), timeout=120.0, cancel=self.cancel)
        if ready.healthy_workers < ready.total_workers:
            self.on_event(f"router: {ready.healthy_workers}/{ready.total_workers} workers healthy; "
                          "the others join when their /health answers")
        return self

    def _wait_replicas(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = {replica.index: replica for replica in self.replicas}
        while waiting:
            if self.cancel.is_set():
                raise StartupCancelled("stopped while replicas were starting")
            for index, replica in list(waiting.items()):
                proc = replica.server.process
                if proc is not None and proc.poll() is not None:
                    raise ServerStartError(f"replica {index} on port {replica.port} exited with "
                                           f"{proc.returncode}:\n{replica.server.log_tail()}")
                if replica.server.healthy():
                    self.on_event(f"replica {index}: healthy")
                    del waiting[index]
            if waiting and time.monotonic() > deadline:
                raise ServerStartError(f"replicas {sorted(waiting)} not healthy after {timeout:.0f}s")
            if waiting:
                time.sleep(1.0)

    def readiness(self) -> Readiness | None:
        return self.router.readiness() if self.router else None

    def check(self) -> None:
        """One supervision pass: restart replicas that exited (up to `max_restarts` each).

        Raises RuntimeError when the router itself exited: nothing can be served then.
        """
        if self.router is not None and not self.router.alive():
            raise RuntimeError(f"router exited:\n{self.router.log_tail()}")
        for replica in self.replicas:
            proc = replica.server.process
            if proc is None or proc.poll() is None or replica.given_up:
                continue
            if replica.restarts >= self.config.max_restarts:
                self.on_event(f"replica {replica.index}: exited with {proc.returncode}; "
                              f"restart budget ({self.config.max_restarts}) spent, left down")
                replica.given_up = True
                continue
            replica.server.stop()  # reap what is left of its process group
            replica.restarts += 1
            self.on_event(f"replica {replica.index}: exited with {proc.returncode}; restarting on "
                          f"{replica.url} ({replica.restarts}/{self.config.max_restarts})")
            replica.server = self._server(replica.index, replica.port, replica.restarts)
            replica.server.start()  # the router's health checks bring it back into rotation

    def supervise(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Run `check()` every `interval` seconds until `stop` is set."""
        while not stop.wait(interval):
            self.check()

    def stop(self) -> None:
        """Stop the router first (no new requests reach dying replicas), then every replica at once."""
        if self.router is not None:
            self.router.stop()
        stop_all(replica.server.stop for replica in self.replicas)

    def __enter__(self) -> Deployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
