"""Soak a hyperaccel server (or two replicas behind the router) with locust: 64 concurrent users,
mixed streaming and non-streaming, constrained (JSON schema, regex) and free generation.

    python scripts/soak.py --target server --minutes 10
    python scripts/soak.py --target router --minutes 10 --kill-at 0.5   # SIGKILL a replica mid-run

Reports: requests and failures (non-streaming failures are lost requests; a stream cut by a killed
replica must end with an error event, not silently); the RSS slope of every server process once
its replica's KV pool is full (warm-up ends when the prefix cache first evicts: until then the
radix tree and the pool's pages grow by design; MiB per minute, least squares over samples every
5 s; the pool is `--kv-tokens` slots, small enough to fill early in the run); and, per replica
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
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import requests  # noqa: E402
from soak_report import Consistency, Served, SoakResult, result_ok, slope_mib_per_min  # noqa: E402

from sglang_hyperaccel.deploy.router import ROUTED_WORKER_HEADER  # noqa: E402
from sglang_hyperaccel.sse import sse_chunks  # noqa: E402

USERS = 64
# KV slots per server: the demo model's default pool (524,288 on this host) takes a replica behind
# the router ~18 min to fill at this load, so its RSS would still be warming up at the end.
KV_TOKENS = 65536
SAMPLE_EVERY_S = 5.0
JSON_SCHEMA = json.dumps({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                                           "age": {"type": "integer"}},
                          "required": ["name", "age"]})
WORDS = "the chip runs every batch of the model on its own clock and tells us what it would take".split()


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


@dataclass(frozen=True)
class Watched:
    """A server under soak: its URL and the root pid of its process tree (new after a restart)."""

    url: str
    pid: int


@dataclass(frozen=True)
class Kill:
    """SIGKILL, at `at_s` into the run, the process group of the replica (URL -> root pid) that
    holds the most open streams then."""

    at_s: float
    replicas: dict[str, int]


def soak(urls: list[str], entry: str, watched: Callable[[], dict[str, Watched]], seconds: float,
         users: int = USERS, kill: Kill | None = None, progress=print) -> SoakResult:
    """Run the load against `entry` for `seconds`; sample the RSS of the servers' process trees
    (`watched()`: label -> server, asked each time, as a restarted replica has a new pid) and
    judge each process's slope from when its server's KV pool was full."""
    import gevent
    from locust.env import Environment

    tally = Tally()
    before = {url: _served(url) for url in urls}
    env = Environment(user_classes=[user_class(tally, entry)], host=entry)
    runner = env.create_local_runner()
    samples: dict[str, list[tuple[float, int]]] = {}
    names: dict[str, str] = {}
    roots: dict[str, str] = {}  # process key -> its server's key ("label pid root")
    full_at: dict[str, float | None] = {}
    start = time.monotonic()
    runner.start(users, spawn_rate=users)
    killed = victim = None
    killed_at = streams_open = restarted_after = None
    while (elapsed := time.monotonic() - start) < seconds:
        gevent.sleep(SAMPLE_EVERY_S)
        servers = watched()
        _sample_rss(servers, time.monotonic() - start, samples, names, roots)
        for label, server in servers.items():
            key = f"{label} pid {server.pid}"
            if full_at.get(key) is None:
                full_at[key] = elapsed if _evicted(server.url) else None
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
        full = full_at.get(roots[key])
        judged = [] if full is None else [sample for sample in series if sample[0] >= full]
        slopes[label] = slope_mib_per_min(judged)
        last_mib[label] = series[-1][1] / 2**20
    return SoakResult(
        seconds=time.monotonic() - start, users=users, requests=tally.ok, failures=tally.failed,
        streams_cut_with_error=tally.streams_cut_with_error,
        streams_cut_silently=tally.streams_cut_silently, rss_slopes=slopes,
        rss_mib=last_mib, pool_full_at_s=full_at, consistency=consistency,
        killed=killed, streams_open_on_victim=streams_open or 0, restarted_after_s=restarted_after,
        served_after_restart=_served(victim).requests if restarted_after is not None else 0)


def _sample_rss(servers: dict[str, Watched], at_s: float, samples: dict[str, list[tuple[float, int]]],
                names: dict[str, str], roots: dict[str, str]) -> None:
    for label, server in servers.items():
        try:
            procs = _tree(server.pid)
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:  # keyed by pid: a process renames itself (python -> sglang::scheduler) as it starts
                rss, name = proc.memory_info().rss, proc.name()
            except psutil.NoSuchProcess:
                continue
            key = f"{label} pid {proc.pid}"
            samples.setdefault(key, []).append((at_s, rss))
            names[key], roots[key] = name, f"{label} pid {server.pid}"


def _evicted(url: str) -> bool:
    """Whether the prefix cache at `url` has evicted (its KV pool has been full); False if down."""
    try:
        return _metric(url, "sglang_hyperaccel:radix_evicted_tokens_total") > 0
    except requests.RequestException:
        return False


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
    parser.add_argument("--kv-tokens", type=int, default=KV_TOKENS,
                        help="each server's KV pool (--max-total-tokens): small, so it fills early")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = run(args.target, args.minutes * 60, args.users, args.kill_at, args.kv_tokens)
    for line in result.lines():
        print(line)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return 0 if result_ok(result) else 1


def run(target: str, seconds: float, users: int = USERS, kill_at: float | None = None,
        kv_tokens: int = KV_TOKENS) -> SoakResult:
    """Start what `target` names on the demo model, soak it, stop it."""
    from sglang_hyperaccel.demo import ensure_demo_model

    model = ensure_demo_model()
    server_args = ("--dtype", "float32", "--enable-metrics", "--max-total-tokens", str(kv_tokens))
    if target == "server":
        from sglang_hyperaccel.launcher import ServerProcess

        with ServerProcess(model, args=server_args) as server:
            return soak([server.url], server.url, lambda: {"server": Watched(server.url, server.process.pid)},
                        seconds, users)
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
                        lambda: {f"replica {r.index}": Watched(r.url, r.server.process.pid)
                                 for r in deployment.replicas if r.server.process is not None},
                        seconds, users, kill=kill)
        finally:
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
