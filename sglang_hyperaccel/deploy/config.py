"""What one deployment is: replicas, the router in front, and how they are supervised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The router policies `deploy --policy` accepts (all are policies of smg's router).
POLICIES = ("cache_aware", "round_robin", "power_of_two")

# SGLang server arguments that deploy sets itself on every replica: passing them through would
# make replicas disagree with the router about where they listen.
MANAGED_SERVER_ARGS = frozenset({"--host", "--port", "--device"})


@dataclass(frozen=True)
class RouterSettings:
    """How the router watches workers. The defaults favour fast failover on one host.

    smg's own defaults (60 s health interval, 3 failures, 10-failure circuit breaker, 180 s
    shutdown grace) suit fleets; here a killed replica should leave rotation in seconds and a
    restarted one rejoin in seconds, and Ctrl-C should not wait minutes for the router.
    """

    policy: str = "cache_aware"
    health_check_interval_s: int = 2
    health_failure_threshold: int = 2
    health_success_threshold: int = 1
    circuit_breaker_failures: int = 3
    retries: int = 5
    shutdown_grace_s: int = 5
    # smg diverts one cache hit in 8 to a "thin" (empty or just restarted) worker to warm it; that
    # moves requests away from the replica that holds their prefix (a DSL branch, a tenant), so
    # deploy turns it off; cache misses still warm thin workers (`--worker-warmup-share`).
    warmup_divert_every: int = 0
    log_level: str = "warn"
    extra_args: tuple[str, ...] = ()  # any other `smg.launch_router` argument, verbatim

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy {self.policy!r}: expected one of {', '.join(POLICIES)}")
        if self.health_check_interval_s < 1:
            raise ValueError("health_check_interval_s must be at least 1")


@dataclass(frozen=True)
class DeployConfig:
    """N local `sglang.launch_server --device hyperaccel` replicas plus remote workers behind one router.

    `replicas` may be 0 when `worker_urls` names workers started elsewhere (router only).
    `replica_base_port` 0 picks free ports; otherwise replica i listens on base + i.
    `max_restarts` bounds how often each local replica is restarted after it exits (0: never).
    """

    model_path: str
    replicas: int
    port: int
    host: str = "127.0.0.1"
    replica_host: str = "127.0.0.1"
    replica_base_port: int = 0
    server_args: tuple[str, ...] = ()
    worker_urls: tuple[str, ...] = ()
    router: RouterSettings = field(default_factory=RouterSettings)
    startup_timeout_s: float = 600.0
    max_restarts: int = 3
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.replicas < 0 or self.replicas + len(self.worker_urls) < 1:
            raise ValueError("need at least one replica or one --worker-url")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port}: expected 1-65535")
        if self.replica_base_port and not 0 < self.replica_base_port <= 65535 - self.replicas:
            raise ValueError(f"replica base port {self.replica_base_port}: out of range")
        for arg in self.server_args:
            if arg.split("=", 1)[0] in MANAGED_SERVER_ARGS:
                raise ValueError(f"{arg.split('=', 1)[0]} is set by deploy: use --host/--replica-host "
                                 "and --port/--replica-base-port of deploy instead")
        for url in self.worker_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"worker URL {url!r}: expected http://host:port")
        if self.max_restarts < 0 or self.startup_timeout_s <= 0:
            raise ValueError("max_restarts must be >= 0 and startup_timeout_s > 0")

    @property
    def url(self) -> str:
        """The router's URL, what clients use."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"
