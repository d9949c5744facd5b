"""A failure inside a batch's forward ends that batch's requests, not the server; clients that
disconnect or never read do not leak KV or request slots.

One server with the test-only fault hook (`SGLANG_HYPERACCEL_INJECT_FAULT=boom`: the forward raises
for any batch holding a request whose rid contains "boom"). Idle state is read from the scheduler's
own counters (`/server_info`: requests in the system, KV tokens held by requests, which excludes
the prefix cache's evictable tokens) before and after.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid

import pytest
import requests

from sglang_hyperaccel.platform.run_stats import SchedulerChipStats
from sglang_hyperaccel.sse import sse_chunks

IDS = [5, 6, 7, 8]


@pytest.fixture(scope="module")
def faulty(start_server):
    return start_server(env={"SGLANG_HYPERACCEL_INJECT_FAULT": "boom"})


def _stats(url: str) -> SchedulerChipStats:
    info = requests.get(f"{url}/server_info", timeout=30).json()
    return SchedulerChipStats.from_dict(info["internal_states"][0]["hyperaccel"])


def _idle(url: str, timeout: float = 60.0) -> SchedulerChipStats:
    """The counters once no request is in the system (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while (stats := _stats(url)).in_system_now:
        if time.monotonic() > deadline:
            pytest.fail(f"{stats.in_system_now} request(s) still in the system after {timeout:.0f} s")
        time.sleep(0.2)
    return stats


def _generate(url: str, rid: str, new_tokens: int = 8, stream: bool = False) -> requests.Response:
    body = {"rid": rid, "input_ids": IDS, "stream": stream,
            "sampling_params": {"max_new_tokens": new_tokens, "ignore_eos": True}}
    return requests.post(f"{url}/generate", json=body, timeout=120, stream=stream)


def test_faulting_request_gets_a_500_naming_the_error_and_the_server_serves_on(faulty) -> None:
    before = _idle(faulty.url)
    resp = _generate(faulty.url, f"boom-{uuid.uuid4().hex}")
    assert resp.status_code == 500, resp.text
    assert "InjectedFault" in resp.text and "still serving" in resp.text
    ok = _generate(faulty.url, uuid.uuid4().hex)
    assert ok.status_code == 200 and ok.json()["meta_info"]["completion_tokens"] == 8
    after = _idle(faulty.url)
    assert after.in_system_now == 0
    assert after.kv_tokens_used == before.kv_tokens_used and after.clock_requests_now == 0


def test_faulting_stream_ends_with_an_error_event(faulty) -> None:
    with _generate(faulty.url, f"boom-{uuid.uuid4().hex}", stream=True) as resp:
        events = list(sse_chunks(resp.iter_lines()))
    assert events, "the stream ended without any event"
    last = events[-1]
    finish = (last.get("meta_info") or {}).get("finish_reason") or last.get("error") or {}
    assert "InjectedFault" in json.dumps(finish), last


def test_a_fault_in_one_batch_leaves_the_running_requests_alone(faulty) -> None:
    """Eight requests decoding, then a faulting one arrives: its prefill batch fails with the named
    error, the eight complete every token, and the server is idle and serving afterwards."""
    before = _idle(faulty.url)
    new_tokens = 300
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        running = [pool.submit(_generate, faulty.url, uuid.uuid4().hex, new_tokens) for _ in range(8)]
        deadline = time.monotonic() + 60
        while _stats(faulty.url).in_system_now < 8 and not any(f.done() for f in running):
            assert time.monotonic() < deadline, "the eight requests never ran together"
            time.sleep(0.02)
        faulting = _generate(faulty.url, f"boom-{uuid.uuid4().hex}", 24)
        decoding_when_it_failed = sum(not f.done() for f in running)
        answers = [f.result() for f in running]
    assert faulting.status_code == 500 and "InjectedFault" in faulting.text
    assert decoding_when_it_failed > 0, "the eight finished before the fault: nothing was tested"
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert resp.json()["meta_info"]["completion_tokens"] == new_tokens
    after = _idle(faulty.url)
    assert after.kv_tokens_used == before.kv_tokens_used and after.clock_requests_now == 0
    assert _generate(faulty.url, uuid.uuid4().hex).status_code == 200


def test_clients_that_disconnect_or_never_read_leak_nothing(faulty) -> None:
    """Streams closed after their first chunk, and streams never read until their requests finished,
    leave the request and KV counters at their idle values."""
    before = _idle(faulty.url)
    for _ in range(4):  # disconnect mid-stream
        resp = _generate(faulty.url, uuid.uuid4().hex, new_tokens=400, stream=True)
        next(resp.iter_lines())
        resp.close()
    unread = [_generate(faulty.url, uuid.uuid4().hex, new_tokens=64, stream=True) for _ in range(4)]
    after = _idle(faulty.url)  # the unread streams' requests finish while their sockets stay open
    for resp in unread:
        resp.close()
    assert after.in_system_now == 0
    assert after.kv_tokens_used == before.kv_tokens_used and after.clock_requests_now == 0
    assert _idle(faulty.url).kv_tokens_used == before.kv_tokens_used
