"""End to end through `sglang-hyperaccel deploy --replicas 2`: DSL programs, a killed replica, SIGTERM.

The tests share one deployment and run in file order: the fault test restarts a replica, and the
last test stops the deployment with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from collections import Counter

import psutil
import requests
import sglang as sgl

from sglang_hyperaccel.deploy import ROUTED_WORKER_HEADER, RouterEndpoint
from sglang_hyperaccel.sse import StreamIncomplete, sse_chunks

TOPICS = ("river deltas and their sediment", "library catalogues and index cards",
          "garden soil and its minerals", "ocean currents near the poles")


@sgl.function
def advisor(s, topic: str):
    s += (f"Background on {topic}. " + f"Everything here concerns {topic} and nothing else. " * 5 + "\n")
    s += "Is the topic technical? Answer: " + sgl.select("technical", choices=["yes", "no", "maybe"])
    s += "\nA number from 0 to 999: " + sgl.gen("number", regex=r"[0-9]{1,3}", max_tokens=6, temperature=0)
    branches = s.fork(3)
    for i, branch in enumerate(branches):
        branch += f"\nTip {i + 1}:" + sgl.gen("tip", max_tokens=8, temperature=0)
    branches.join()
    s += "\nSummary:" + sgl.gen("summary", max_tokens=8, temperature=0)


def _post(url: str, text: str, max_new_tokens: int = 4, **extra) -> requests.Response:
    return requests.post(f"{url}/generate", timeout=120, json={
        "text": text, "sampling_params": {"max_new_tokens": max_new_tokens, "temperature": 0, **extra}})


def test_router_serves_from_both_replicas(deploy_run):
    """The router is ready with 2 healthy workers and names the replica that served each request."""
    ready = requests.get(deploy_run.url + "/readiness", timeout=10).json()
    assert ready["healthy_workers"] == ready["total_workers"] == 2
    workers = set()
    for i in range(8):
        resp = _post(deploy_run.url, f"Opening line {i}: " + f"distinct words for request {i} " * 20)
        assert resp.status_code == 200, resp.text
        workers.add(resp.headers[ROUTED_WORKER_HEADER])
    assert workers <= set(deploy_run.replica_urls)


def test_dsl_program_with_regex_select_fork_through_router(deploy_run):
    """gen(regex), select and fork/join run through the router; branches hit their prefix's replica."""
    backend = RouterEndpoint(deploy_run.url)
    try:
        state = advisor.run(topic=TOPICS[0], backend=backend)
        assert state.error() is None, state.error()
        assert state["technical"] in ("yes", "no", "maybe")
        assert re.fullmatch(r"[0-9]{1,3}", state["number"]), state["number"]
        assert len(state["tip"]) == 3
        routes = list(backend.routes)
    finally:
        backend.shutdown()
    kinds = Counter(route.kind for route in routes)
    assert kinds["select"] == 3 and kinds["gen"] == 5, kinds  # one call per choice; number, 3 tips, summary
    fork_prefix = [i for i, r in enumerate(routes) if r.kind == "prefix"][-1]  # the fork's shared prefix
    tips = routes[fork_prefix + 1:fork_prefix + 4]
    for tip in tips:
        assert tip.worker == routes[fork_prefix].worker, routes
        # prefix reused on that replica
        assert tip.cached_tokens >= routes[fork_prefix].prompt_tokens - 1, routes


def test_each_program_stays_on_one_replica(deploy_run):
    """Every request of a program (prefix, choices, branches) lands on one replica, with its prefix cached."""
    backend = RouterEndpoint(deploy_run.url)
    served, hits, prompts = [], 0, 0
    try:
        for topic in TOPICS[1:]:
            backend.routes.clear()
            state = advisor.run(topic=topic, backend=backend)
            assert state.error() is None, state.error()
            routes = list(backend.routes)
            workers = {route.worker for route in routes}
            assert len(workers) == 1, routes
            served.append(workers.pop())
            later = routes[1:]  # all but the program's first request extend a prefix the replica holds
            hits += sum(r.cached_tokens for r in later)
            prompts += sum(r.prompt_tokens for r in later)
    finally:
        backend.shutdown()
    print(f"\nprograms per replica: {Counter(served)}; token hit rate after each program's first request: "
          f"{hits / prompts:.1%}")
    assert hits / prompts > 0.9


def _stream(url: str, text: str, out: dict, started: threading.Event) -> None:
    """A long streamed generation; records its worker, chunks and how it ended."""
    out.update(chunks=0, end=None, worker=None)
    try:
        with requests.post(f"{url}/generate", stream=True, timeout=(5, 60), json={
                "text": text, "stream": True,
                "sampling_params": {"max_new_tokens": 600, "ignore_eos": True, "temperature": 0}}) as resp:
            out["worker"] = resp.headers.get(ROUTED_WORKER_HEADER)
            for chunk in sse_chunks(resp.iter_lines()):
                if "error" in chunk:
                    out["end"] = "error: " + json.dumps(chunk["error"])
                    return
                out["chunks"] += 1
                if out["chunks"] == 5:
                    started.set()
            out["end"] = "done"
    except StreamIncomplete:
        out["end"] = "eof without [DONE]"
    except requests.RequestException as err:
        out["end"] = f"exception: {err!r}"
    finally:
        started.set()


def _running_requests(url: str) -> int | None:
    """How many requests `url` is running now (SGLang's /v1/loads), for the report only."""
    try:
        loads = requests.get(url + "/v1/loads", timeout=10).json()
        return sum(int(rank.get("num_running_reqs", 0)) for rank in loads.get("loads", []))
    except (requests.RequestException, ValueError, AttributeError):
        return None


def test_killed_replica_loses_no_request_and_rejoins(deploy_run):
    """SIGKILL a replica under load: no request lost, its streams end in an error, it rejoins."""
    url = deploy_run.url
    texts = [f"Stream {i}: " + f"story line {i} " * 25 for i in range(4)]
    streams = [{} for _ in texts]
    started = [threading.Event() for _ in texts]
    stream_threads = [threading.Thread(target=_stream, args=(url, text, out, event))
                      for text, out, event in zip(texts, streams, started)]
    for thread in stream_threads:
        thread.start()
    for event in started:
        assert event.wait(120)
    target = next(i for i, s in enumerate(streams) if s["end"] is None and s["worker"])
    victim = streams[target]["worker"]

    results: list[int | str] = []

    def client(c: int) -> None:
        for j in range(12):  # bounded: 4 clients x 12 requests
            # Extending the victim's stream prompt: the cache-aware router sends these to the victim.
            text = f"{texts[target]} client {c} asks question {j}"
            try:
                results.append(_post(url, text, 24, ignore_eos=True).status_code)
            except requests.RequestException as err:
                results.append(repr(err))

    clients = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for thread in clients:
        thread.start()
    victim_streams = sum(1 for s in streams if s["worker"] == victim and s["end"] is None)
    deadline = time.monotonic() + 30
    while (running := _running_requests(victim) or 0) < victim_streams + 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # until at least 2 non-streaming requests run beside the streams on the victim
    os.killpg(deploy_run.replica_pid(victim), signal.SIGKILL)
    for thread in clients + stream_threads:
        thread.join(240)
    assert not any(t.is_alive() for t in clients + stream_threads), "a client hung"

    lost = [r for r in results if r != 200]
    cut = [s for s in streams if s["worker"] == victim]
    print(f"\nkilled {victim} running {running} requests ({victim_streams} streams); "
          f"non-streaming: {results.count(200)}/{len(results)} "
          f"succeeded; streams on it: {[(s['chunks'], s['end']) for s in cut]}; "
          f"others: {[(s['chunks'], s['end']) for s in streams if s not in cut]}")
    assert running >= victim_streams + 2, "the victim never ran non-streaming requests"
    assert len(results) == 48 and not lost, lost
    assert cut and all(s["end"].startswith("error") for s in cut), cut
    assert all(s["end"] == "done" for s in streams if s not in cut)

    deploy_run.wait_for_line(r"replica \d: exited with .*restarting", 60)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready = requests.get(url + "/readiness", timeout=10).json()
        if ready.get("healthy_workers") == 2:
            break
        time.sleep(2)
    assert ready.get("healthy_workers") == 2, ready
    served = Counter()
    for i in range(24):  # bounded: until the restarted replica has served 2 requests
        resp = _post(url, f"After restart {i}: " + f"new prefix {i} " * 20)
        assert resp.status_code == 200, resp.text
        served[resp.headers[ROUTED_WORKER_HEADER]] += 1
        if served[victim] >= 2:
            break
    print(f"after restart: {dict(served)}")
    assert served[victim] >= 2, served


def test_sigterm_stops_everything(deploy_run):
    """SIGTERM to deploy stops the router and every replica (no process left, ports closed), exit 0."""
    tree = psutil.Process(deploy_run.process.pid).children(recursive=True)
    assert len(tree) >= 3  # 2 replicas (+ their scheduler/detokenizer) and the router
    deploy_run.process.send_signal(signal.SIGTERM)
    assert deploy_run.process.wait(90) == 0
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, [p.pid for p in alive]
    for url in [deploy_run.url, *deploy_run.replica_urls]:
        host, port = url.removeprefix("http://").split(":")
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) != 0, f"{url} still accepts connections"
    assert "deploy: stopped" in "".join(deploy_run.drain())
