"""The soak's records and verdict (scripts/soak.py runs the load): what each replica's clients
received, the chip-time consistency check, the result with its report lines, and `result_ok`."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class Served:
    """The chip-time reports one replica's clients received."""

    requests: int = 0
    sim_e2e_s: float = 0.0


def slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) samples in MiB per minute (NaN under 3 samples)."""
    if len(samples) < 3:
        return float("nan")
    times, sizes = zip(*samples)
    return statistics.linear_regression(times, sizes).slope * 60 / 2**20


@dataclass(frozen=True)
class Consistency:
    """One surviving replica's chip-time metrics against what its clients received."""

    replica: str
    served_by_server: int
    reported_to_clients: int
    sim_e2e_server_s: float
    sim_e2e_clients_s: float

    def holds(self) -> bool:
        return (self.served_by_server == self.reported_to_clients
                and abs(self.sim_e2e_server_s - self.sim_e2e_clients_s)
                <= 1e-6 * max(1.0, self.sim_e2e_clients_s) + 1e-3)


@dataclass
class SoakResult:
    """The soak's numbers (scripts/soak.py's docstring says what each check means)."""

    seconds: float
    users: int
    requests: int
    failures: list[str]
    streams_cut_with_error: int
    streams_cut_silently: list[str]
    rss_slopes: dict[str, float]  # process label -> MiB/min once its KV pool was full (NaN: never)
    rss_mib: dict[str, float]  # process label -> MiB at the end
    pool_full_at_s: dict[str, float | None]  # server (label and root pid) -> when eviction began
    consistency: list[Consistency]
    killed: str | None = None
    streams_open_on_victim: int = 0
    restarted_after_s: float | None = None  # from the SIGKILL to the new process answering
    served_after_restart: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.seconds:.0f} s, {self.users} users: {self.requests} requests completed, "
               f"{len(self.failures)} failed, {self.streams_cut_with_error} streams cut with an error "
               f"event, {len(self.streams_cut_silently)} cut silently"]
        if self.killed:
            restart = ("never healthy again" if self.restarted_after_s is None else
                       f"restarted, healthy {self.restarted_after_s:.0f} s later, then served "
                       f"{self.served_after_restart} requests")
            out.append(f"killed: {self.killed} with {self.streams_open_on_victim} streams open; {restart}")
        for server, at in sorted(self.pool_full_at_s.items()):
            out.append(f"  {server}: KV pool " + ("never filled (RSS not judged)" if at is None else
                                                   f"full (eviction began) at {at:.0f} s"))
        for label in sorted(self.rss_slopes):
            out.append(f"  RSS {label}: {self.rss_mib[label]:.0f} MiB, slope once the pool was full "
                       f"{self.rss_slopes[label]:+.2f} MiB/min")
        for c in self.consistency:
            out.append(f"chip-time metrics of {c.replica}: server finished {c.served_by_server} requests, "
                       f"clients got {c.reported_to_clients} reports; chip e2e summed "
                       f"{c.sim_e2e_server_s:.3f} s (server) vs {c.sim_e2e_clients_s:.3f} s (clients)"
                       + ("" if c.holds() else "  MISMATCH"))
        out.extend(f"  failure: {f}" for f in (self.failures + self.streams_cut_silently)[:20])
        return out


def result_ok(result: SoakResult, max_slope_mib_per_min: float = 5.0) -> bool:
    """Zero failures, no silent cuts, flat RSS once the KV pools were full (at least one pool must
    have filled), the surviving replicas' chip-time metrics equal to what their clients got, and a
    killed replica back and serving."""
    judged = [s for s in result.rss_slopes.values() if s == s]
    flat = bool(judged) and all(abs(s) <= max_slope_mib_per_min for s in judged)
    restarted = result.killed is None or result.served_after_restart > 0
    return (not result.failures and not result.streams_cut_silently and flat and restarted
            and all(c.holds() for c in result.consistency))
