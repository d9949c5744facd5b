"""Soak a hyperaccel server (or two replicas behind the router) with locust: 64 concurrent users,
mixed streaming and non-streaming, constrained (JSON schema, regex) and free generation.

    python scripts/soak.py --target server --minutes 10
    python scripts/soak.py --target router --minutes 10 --kill-at 0.5   # SIGKILL a replica mid-run

Reports: requests and failures (non-streaming failures are lost requests; a stream cut by a killed
replica must end with an error event, not silently); the RSS slope of every server process after
its warm-up (a third of the run, at most 3 min, from the process's first sample: until the prefix
cache fills the KV pool; MiB per minute, least squares over samples every 5 s); and, per replica
that was not killed, the chip-time metrics against what its clients received: its request count
and summed chip-time latency (`sglang_hyperaccel:sim_e2e_seconds`) must equal the sums of the
`meta_info.hyperaccel` reports in the responses it served (the router names the replica in a
header). With `--kill-at`, the victim is the replica holding the most open streams at that moment,
so cut streams are exercised; `deploy`'s supervisor restarts it, and the report says when it was
healthy again and how many requests the new process served.
Exit status 0 only when every check holds. The test suite runs it for a shorter time.
"""

from __future__ import annotations

# locust runs on gevent, which must patch the interpreter before ssl, sockets and requests load
# (patching later recurses in ssl); this script always runs as its own process.
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import requests  # noqa: E402

from sglang_hyperaccel.deploy.router import ROUTED_WORKER_HEADER  # noqa: E402
from sglang_hyperaccel.sse import sse_chunks  # noqa: E402

USERS = 64
SAMPLE_EVERY_S = 5.0
JSON_SCHEMA = json.dumps({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                                           "age": {"type": "integer"}},
                          "required": ["name", "age"]})
WORDS = "the chip runs every batch of the model on its own clock and tells us what it would take".split()


@dataclass
class Served:
    """The chip-time reports one replica's clients received."""

    requests: int = 0
    sim_e2e_s: float = 0.0


@dataclass
class Tally:
    """What the users saw, shared across greenlets (gevent: no preemption between statements)."""

    ok: int = 0
    failed: list[str] = field(default_factory=list)
    streams_cut_with_error: int = 0
    streams_cut_silently: list[str] = field(default_factory=list)
    served: dict[str, Served] = field(default_factory=dict)  # replica URL -> its clients' reports
    open_streams: Counter = field(default_factory=Counter)  # replica URL -> streams being read
    in_flight: int = 0
    stopping: bool = False  # set at the end: users finish their request and send no more

    def report(self, worker: str, meta: dict) -> None:
        chip = meta.get("hyperaccel")
        if chip:
            served = self.served.setdefault(worker, Served())
            served.requests += 1
            served.sim_e2e_s += chip["sim_e2e_ms"] / 1e3


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))


def _body(rng: random.Random, stream: bool) -> dict:
    sampling: dict = {"max_new_tokens": rng.randint(8, 48), "temperature": rng.choice([0.0, 0.7])}
    kind = rng.random()
    if kind < 0.2:
        sampling["json_schema"] = JSON_SCHEMA
    elif kind < 0.3:
        sampling["regex"] = r"(yes|no), [a-z]{1,12}\."
    return {"text": _prompt(rng), "stream": stream, "sampling_params": sampling}


def user_class(tally: Tally, entry: str):
    """The locust user: one request after another, 40% of them streamed."""
    from locust import HttpUser, constant, task

    class SoakUser(HttpUser):
        wait_time = constant(0)

        def on_start(self) -> None:
            self.rng = random.Random(id(self))

        @task
        def generate(self) -> None:
            if tally.stopping:
                import gevent

                gevent.sleep(0.2)
                return
            tally.in_flight += 1
            try:
                self._generate()
            finally:
                tally.in_flight -= 1

        def _generate(self) -> None:
            stream = self.rng.random() < 0.4
            body = _body(self.rng, stream)
            name = "/generate stream" if stream else "/generate"
            with self.client.post("/generate", json=body, stream=stream, catch_response=True, name=name,
                                  timeout=300) as resp:
                if resp.status_code != 200:
                    tally.failed.append(f"{name}: {resp.status_code} {resp.text[:200]}")
                    resp.failure(f"status {resp.status_code}")
                    return
                worker = resp.headers.get(ROUTED_WORKER_HEADER, entry)
                if not stream:
                    tally.ok += 1
                    tally.report(worker, resp.json()["meta_info"])
                    resp.success()
                    return
                tally.open_streams[worker] += 1
                try:
                    self._read_stream(resp, worker)
                finally:
                    tally.open_streams[worker] -= 1

        def _read_stream(self, resp, worker: str) -> None:
            last = None
            try:
                for chunk in sse_chunks(resp.iter_lines()):
                    if "error" in chunk:
                        tally.streams_cut_with_error += 1
                        resp.success()  # a cut stream that says so: what the issue asks for
                        return
                    last = chunk
            except Exception as exc:  # noqa: BLE001 - a connection cut without an error event
                tally.streams_cut_silently.append(repr(exc)[:200])
                resp.failure(repr(exc))
                return
            tally.ok += 1
            if last is not None:
                tally.report(worker, last["meta_info"])
            resp.success()

    return SoakUser


def _metric(url: str, name: str) -> float:
    """One prometheus sample `name` (summed over label sets) from `url/metrics`."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)


def _served(url: str) -> Served:
    """What `url`'s chip-time metrics say it served (health probes are not counted)."""
    return Served(int(_metric(url, "sglang_hyperaccel:sim_e2e_seconds_count")),
                  _metric(url, "sglang_hyperaccel:sim_e2e_seconds_sum"))


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) samples in MiB per minute (NaN under 3 samples)."""
    if len(samples) < 3:
        return float("nan")
    times, sizes = zip(*samples)
    return statistics.linear_regression(times, sizes).slope * 60 / 2**20


@dataclass(frozen=True)
class Kill:
    """SIGKILL, at `at_s` into the run, the process group of the replica (URL -> root pid) that
    holds the most open streams then."""

    at_s: float
    replicas: dict[str, int]


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
    """The soak's numbers (see the module docstring for what each check means)."""

    seconds: float
    users: int
    requests: int
    failures: list[str]
    streams_cut_with_error: int
    streams_cut_silently: list[str]
    rss_slopes: dict[str, float]  # process label -> MiB/min after its warm-up
    rss_mib: dict[str, float]  # process label -> MiB at the end
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
        for label in sorted(self.rss_slopes):
            out.append(f"  RSS {label}: {self.rss_mib[label]:.0f} MiB, slope after warm-up "
                       f"{self.rss_slopes[label]:+.2f} MiB/min")
        for c in self.consistency:
            out.append(f"chip-time metrics of {c.replica}: server finished {c.served_by_server} requests, "
                       f"clients got {c.reported_to_clients} reports; chip e2e summed "
                       f"{c.sim_e2e_server_s:.3f} s (server) vs {c.sim_e2e_clients_s:.3f} s (clients)"
                       + ("" if c.holds() else "  MISMATCH"))
        out.extend(f"  failure: {f}" for f in (self.failures + self.streams_cut_silently)[:20])
        return out


def soak(urls: list[str], entry: str, pids: Callable[[], dict[str, int]], seconds: float,
         users: int = USERS, warmup_s: float | None = None, kill: Kill | None = None,
         progress=print) -> SoakResult:
    """Run the load against `entry` for `seconds`; sample the RSS of the servers' process trees
    (`pids()`: label -> root pid, asked each time, as a restarted replica has a new one), each
    process after `warmup_s` from its first sample (default a third of the run, at most 3 min)."""
    import gevent
    from locust.env import Environment

    if warmup_s is None:  # until the prefix cache has filled the KV pool and eviction keeps it full
        warmup_s = min(180.0, seconds / 3)
    tally = Tally()
    before = {url: _served(url) for url in urls}
    env = Environment(user_classes=[user_class(tally, entry)], host=entry)
    runner = env.create_local_runner()
    samples: dict[str, list[tuple[float, int]]] = {}
    names: dict[str, str] = {}
    start = time.monotonic()
    runner.start(users, spawn_rate=users)
    killed = victim = None
    killed_at = streams_open = restarted_after = None
    while (elapsed := time.monotonic() - start) < seconds:
        gevent.sleep(SAMPLE_EVERY_S)
        _sample_rss(pids(), time.monotonic() - start, samples, names)
        if kill and killed is None and elapsed >= kill.at_s:
            victim = max(kill.replicas, key=lambda url: tally.open_streams[url])
            streams_open = tally.open_streams[victim]
            os.killpg(kill.replicas[victim], signal.SIGKILL)
            killed_at = time.monotonic()
            killed = f"{victim} (process group {kill.replicas[victim]}) at {elapsed:.0f} s"
            progress(f"  SIGKILL {killed}, {streams_open} streams open on it")
        elif killed and restarted_after is None and _up(victim):
            restarted_after = time.monotonic() - killed_at
            progress(f"  {victim} is back after {restarted_after:.0f} s")
        progress(f"  {elapsed:5.0f} s: {tally.ok} ok, {len(tally.failed)} failed, "
                 f"{tally.streams_cut_with_error} cut with error, "
                 f"{len(tally.streams_cut_silently)} cut silently")
    tally.stopping = True  # let every request in flight finish, so servers and clients count the same
    drain_until = time.monotonic() + 120
    while tally.in_flight and time.monotonic() < drain_until:
        gevent.sleep(0.2)
    runner.quit()
    consistency = []
    for url in urls:
        if url == victim:
            continue
        now = _served(url)
        clients = tally.served.get(url, Served())
        consistency.append(Consistency(url, now.requests - before[url].requests, clients.requests,
                                       now.sim_e2e_s - before[url].sim_e2e_s, clients.sim_e2e_s))
    slopes, last_mib = {}, {}
    for key, series in samples.items():
        label = f"{key} ({names[key]})"
        slopes[label] = _slope_mib_per_min([s for s in series if s[0] >= series[0][0] + warmup_s])
        last_mib[label] = series[-1][1] / 2**20
    return SoakResult(
        seconds=time.monotonic() - start, users=users, requests=tally.ok, failures=tally.failed,
        streams_cut_with_error=tally.streams_cut_with_error,
        streams_cut_silently=tally.streams_cut_silently, rss_slopes=slopes,
        rss_mib=last_mib, consistency=consistency,
        killed=killed, streams_open_on_victim=streams_open or 0, restarted_after_s=restarted_after,
        served_after_restart=_served(victim).requests if restarted_after is not None else 0)


def _sample_rss(pids: dict[str, int], at_s: float, samples: dict[str, list[tuple[float, int]]],
                names: dict[str, str]) -> None:
    for label, pid in pids.items():
        try:
            procs = _tree(pid)
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:  # keyed by pid: a process renames itself (python -> sglang::scheduler) as it starts
                rss, name = proc.memory_info().rss, proc.name()
            except psutil.NoSuchProcess:
                continue
            samples.setdefault(f"{label} pid {proc.pid}", []).append((at_s, rss))
            names[f"{label} pid {proc.pid}"] = name


def _up(url: str) -> bool:
    """Whether `url` answers (`/model_info`: `/health` would run a probe request, counted in the metrics)."""
    try:
        return requests.get(f"{url}/model_info", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("server", "router"), default="server")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--kill-at", type=float, default=None,
                        help="router only: at this fraction of the run, SIGKILL the replica holding "
                             "the most open streams")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = run(args.target, args.minutes * 60, args.users, args.kill_at)
    for line in result.lines():
        print(line)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return 0 if result_ok(result) else 1


def result_ok(result: SoakResult, max_slope_mib_per_min: float = 5.0) -> bool:
    """Zero failures, no silent cuts, flat RSS, the surviving replicas' chip-time metrics equal to
    what their clients got, and a killed replica back and serving."""
    flat = all(abs(s) <= max_slope_mib_per_min for s in result.rss_slopes.values() if s == s)
    restarted = result.killed is None or result.served_after_restart > 0
    return (not result.failures and not result.streams_cut_silently and flat and restarted
            and all(c.holds() for c in result.consistency))


def run(target: str, seconds: float, users: int = USERS, kill_at: float | None = None) -> SoakResult:
    """Start what `target` names on the demo model, soak it, stop it."""
    from sglang_hyperaccel.demo import ensure_demo_model

    model = ensure_demo_model()
    server_args = ("--dtype", "float32", "--enable-metrics")
    if target == "server":
        from sglang_hyperaccel.launcher import ServerProcess

        with ServerProcess(model, args=server_args) as server:
            return soak([server.url], server.url, lambda: {"server": server.process.pid}, seconds, users)
    from sglang_hyperaccel.deploy import DeployConfig, Deployment
    from sglang_hyperaccel.launcher import free_port

    config = DeployConfig(model_path=str(model), replicas=2, port=free_port("127.0.0.1"),
                          server_args=server_args)
    stop = threading.Event()
    with Deployment(config, on_event=print) as deployment:
        supervisor = threading.Thread(target=deployment.supervise, args=(stop,), daemon=True)
        supervisor.start()
        kill = None if kill_at is None else Kill(
            kill_at * seconds, {r.url: r.server.process.pid for r in deployment.replicas})
        try:
            return soak([r.url for r in deployment.replicas], deployment.url,
                        lambda: {f"replica {r.index}": r.server.process.pid for r in deployment.replicas
                                 if r.server.process is not None},
                        seconds, users, kill=kill)
        finally:
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
