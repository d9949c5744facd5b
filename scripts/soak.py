"""Soak a hyperaccel server (or two replicas behind the router) with locust: 64 concurrent users,
mixed streaming and non-streaming, constrained (JSON schema, regex) and free generation.

    python scripts/soak.py --target server --minutes 10
    python scripts/soak.py --target router --minutes 10 --kill-at 0.5   # SIGKILL replica 0 mid-run

Reports: requests and failures (non-streaming failures are lost requests; a stream cut by a killed
replica must end with an error event, not silently), the RSS slope of every server process after
warm-up (a third of the run, at most 3 min: until the prefix cache fills the KV pool; MiB per
minute, least squares over samples every 5 s), and the chip-time metrics against
what clients received: the servers' request count and summed chip-time latency
(`sglang_hyperaccel:sim_e2e_seconds`) must equal the sums of the responses' `meta_info.hyperaccel`.
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
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import requests  # noqa: E402

USERS = 64
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
    requests_reported: int = 0  # responses carrying a chip-time report
    sim_e2e_s: float = 0.0  # their summed chip-time end-to-end latency
    completion_tokens: int = 0
    in_flight: int = 0
    stopping: bool = False  # set at the end: users finish their request and send no more

    def report(self, meta: dict) -> None:
        chip = meta.get("hyperaccel")
        if chip:
            self.requests_reported += 1
            self.sim_e2e_s += chip["sim_e2e_ms"] / 1e3
        self.completion_tokens += int(meta.get("completion_tokens", 0))


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


def user_class(tally: Tally):
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
                if not stream:
                    tally.ok += 1
                    tally.report(resp.json()["meta_info"])
                    resp.success()
                    return
                self._read_stream(resp)

        def _read_stream(self, resp) -> None:
            last = None
            try:
                for line in resp.iter_lines():
                    if not line.startswith(b"data:"):
                        continue
                    if line.strip() == b"data: [DONE]":
                        tally.ok += 1
                        if last is not None:
                            tally.report(last["meta_info"])
                        resp.success()
                        return
                    chunk = json.loads(line[5:])
                    if "error" in chunk:
                        tally.streams_cut_with_error += 1
                        resp.success()  # a cut stream that says so: what the issue asks for
                        return
                    last = chunk
            except Exception as exc:  # noqa: BLE001 - a connection cut without an error event
                tally.streams_cut_silently.append(repr(exc)[:200])
                resp.failure(repr(exc))
                return
            tally.streams_cut_silently.append("eof without [DONE]")
            resp.failure("eof without [DONE]")

    return SoakUser


def _metric(url: str, name: str) -> float:
    """One prometheus sample of `name` (summed over label sets) from `url/metrics`."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) samples in MiB per minute."""
    n = len(samples)
    if n < 3:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / n
    mean_b = sum(b for _, b in samples) / n
    cov = sum((t - mean_t) * (b - mean_b) for t, b in samples)
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return cov / var * 60 / 2**20


@dataclass
class SoakResult:
    """The soak's numbers (see the module docstring for what each check means)."""

    seconds: float
    users: int
    requests: int
    failures: list[str]
    streams_cut_with_error: int
    streams_cut_silently: list[str]
    rss_slopes: dict[str, float]  # process label -> MiB/min after warm-up
    rss_mib: dict[str, float]  # process label -> MiB at the end
    served_by_servers: int
    reported_to_clients: int
    sim_e2e_servers_s: float
    sim_e2e_clients_s: float
    killed: str | None = None

    def lines(self) -> list[str]:
        out = [f"{self.seconds:.0f} s, {self.users} users: {self.requests} requests completed, "
               f"{len(self.failures)} failed, {self.streams_cut_with_error} streams cut with an error "
               f"event, {len(self.streams_cut_silently)} cut silently"]
        if self.killed:
            out.append(f"killed: {self.killed}")
        for label in sorted(self.rss_slopes):
            out.append(f"  RSS {label}: {self.rss_mib[label]:.0f} MiB, slope after warm-up "
                       f"{self.rss_slopes[label]:+.2f} MiB/min")
        out.append(f"chip-time metrics: servers finished {self.served_by_servers} requests, clients got "
                   f"{self.reported_to_clients} reports; chip e2e summed {self.sim_e2e_servers_s:.3f} s "
                   f"(servers) vs {self.sim_e2e_clients_s:.3f} s (clients)")
        out.extend(f"  failure: {f}" for f in (self.failures + self.streams_cut_silently)[:20])
        return out


def soak(urls: list[str], entry: str, pids: dict[str, int], seconds: float, users: int = USERS,
         warmup_s: float | None = None, kill: tuple[float, str, int] | None = None,
         progress=print) -> SoakResult:
    """Run the load against `entry` for `seconds`; sample RSS of `pids` (label -> root pid, whose
    process trees are the servers) after `warmup_s` (default a third of the run, at most 3 min);
    `kill` = (at seconds, label, pid) SIGKILLs a process group."""
    import gevent
    from locust.env import Environment

    if warmup_s is None:  # until the prefix cache has filled the KV pool and eviction keeps it full
        warmup_s = min(180.0, seconds / 3)
    tally = Tally()
    before = {url: (_metric(url, "sglang_hyperaccel:sim_e2e_seconds_count"),
                    _metric(url, "sglang_hyperaccel:sim_e2e_seconds_sum")) for url in urls}
    env = Environment(user_classes=[user_class(tally)], host=entry)
    runner = env.create_local_runner()
    samples: dict[str, list[tuple[float, int]]] = {}
    start = time.monotonic()
    runner.start(users, spawn_rate=users)
    killed = None
    while (elapsed := time.monotonic() - start) < seconds:
        gevent.sleep(SAMPLE_EVERY_S)
        for label, pid in pids.items():
            try:
                procs = _tree(pid)
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    key = f"{label} pid {proc.pid} ({proc.name()})"
                except psutil.NoSuchProcess:
                    continue
                samples.setdefault(key, []).append((time.monotonic() - start, rss))
        if kill and killed is None and elapsed >= kill[0]:
            os.killpg(kill[2], signal.SIGKILL)
            killed = f"{kill[1]} (process group {kill[2]}) at {elapsed:.0f} s"
            progress(f"  SIGKILL {killed}")
        progress(f"  {elapsed:5.0f} s: {tally.ok} ok, {len(tally.failed)} failed, "
                 f"{tally.streams_cut_with_error} cut with error, "
                 f"{len(tally.streams_cut_silently)} cut silently")
    tally.stopping = True  # let every request in flight finish, so servers and clients count the same
    drain_until = time.monotonic() + 120
    while tally.in_flight and time.monotonic() < drain_until:
        gevent.sleep(0.2)
    runner.quit()
    served = sum(_metric(u, "sglang_hyperaccel:sim_e2e_seconds_count") - before[u][0] for u in urls
                 if _up(u))
    sim_sum = sum(_metric(u, "sglang_hyperaccel:sim_e2e_seconds_sum") - before[u][1] for u in urls if _up(u))
    slopes = {k: _slope_mib_per_min([s for s in v if s[0] >= warmup_s]) for k, v in samples.items()}
    return SoakResult(time.monotonic() - start, users, tally.ok, tally.failed, tally.streams_cut_with_error,
                      tally.streams_cut_silently, slopes, {k: v[-1][1] / 2**20 for k, v in samples.items()},
                      int(served), tally.requests_reported, sim_sum, tally.sim_e2e_s, killed)


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
                        help="router only: SIGKILL replica 0 at this fraction of the run")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    result = run(args.target, args.minutes * 60, args.users, args.kill_at)
    for line in result.lines():
        print(line)
    if args.json:
        args.json.write_text(json.dumps(result.__dict__, indent=2))
    return 0 if result_ok(result) else 1


def result_ok(result: SoakResult, max_slope_mib_per_min: float = 5.0) -> bool:
    """Zero failures, no silent cuts, flat RSS, and chip-time metrics equal to what clients got
    (exactly when nothing was killed: a killed replica's metrics die with it)."""
    flat = all(abs(s) <= max_slope_mib_per_min for s in result.rss_slopes.values() if s == s)
    consistent = result.killed is not None or (
        result.served_by_servers == result.reported_to_clients
        and abs(result.sim_e2e_servers_s - result.sim_e2e_clients_s)
        <= 1e-6 * max(1.0, result.sim_e2e_clients_s) + 1e-3)
    return not result.failures and not result.streams_cut_silently and flat and consistent


def run(target: str, seconds: float, users: int = USERS, kill_at: float | None = None) -> SoakResult:
    """Start what `target` names on the demo model, soak it, stop it."""
    from sglang_hyperaccel.demo import ensure_demo_model

    model = ensure_demo_model()
    server_args = ("--dtype", "float32", "--enable-metrics")
    if target == "server":
        from sglang_hyperaccel.launcher import ServerProcess

        with ServerProcess(model, args=server_args) as server:
            return soak([server.url], server.url, {"server": server.process.pid}, seconds, users)
    from sglang_hyperaccel.deploy import DeployConfig, Deployment
    from sglang_hyperaccel.launcher import free_port

    config = DeployConfig(model_path=str(model), replicas=2, port=free_port("127.0.0.1"),
                          server_args=server_args)
    stop = threading.Event()
    with Deployment(config, on_event=print) as deployment:
        supervisor = threading.Thread(target=deployment.supervise, args=(stop,), daemon=True)
        supervisor.start()
        pids = {f"replica {r.index}": r.server.process.pid for r in deployment.replicas}
        victim = deployment.replicas[0]
        kill = (kill_at * seconds, "replica 0", victim.server.process.pid) if kill_at is not None else None
        try:
            return soak([r.url for r in deployment.replicas], deployment.url, pids, seconds, users,
                        kill=kill)
        finally:
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
