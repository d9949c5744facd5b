"""Chip-clocked serving: chip time in every answer, prefix-cache hits in chip time, eviction stays correct."""

from __future__ import annotations

import json
import random
import time

import pytest
import requests

from sglang_hyperaccel.launcher import ServerProcess

FIELDS = ("sim_ttft_ms", "sim_tpot_ms", "sim_e2e_ms", "sim_queue_ms", "chip")


def _prompts(count: int, length: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(10, 2000) for _ in range(length)] for _ in range(count)]


def _run(url: str, ids: list[int], new_tokens: int = 16) -> dict:
    resp = requests.post(f"{url}/generate", timeout=300, json={
        "input_ids": ids,
        "sampling_params": {"temperature": 0, "max_new_tokens": new_tokens, "ignore_eos": True}})
    resp.raise_for_status()
    return resp.json()


def _metric(url: str, name: str) -> float:
    """The sample `name` on `/metrics`, summed over its label sets."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)


def test_every_answer_carries_chip_time(server):
    """meta_info.hyperaccel has the chip-time fields; TPOT is at or above its bandwidth floor."""
    out = _run(server.url, _prompts(1, 40, seed=1)[0])
    chip = out["meta_info"]["hyperaccel"]
    for field in FIELDS:
        assert field in chip
    assert chip["chip"] == "lpu" and chip["devices"] == 1
    assert chip["sim_ttft_ms"] > 0 and chip["sim_e2e_ms"] >= chip["sim_ttft_ms"]
    assert chip["sim_decode_steps"] == 15
    assert chip["sim_tpot_ms"] >= chip["sim_tpot_floor_ms"] > 0


def test_cache_hit_lowers_chip_ttft(server):
    """The same 600-token prompt twice: the second is a prefix-cache hit with a lower chip TTFT."""
    requests.post(f"{server.url}/flush_cache", timeout=30)
    ids = _prompts(1, 600, seed=2)[0]
    miss = _run(server.url, ids)["meta_info"]
    hit = _run(server.url, ids)["meta_info"]
    assert miss["hyperaccel"]["sim_cached_tokens"] == 0
    assert hit["cached_tokens"] >= 590 and hit["hyperaccel"]["sim_cached_tokens"] == hit["cached_tokens"]
    assert hit["hyperaccel"]["sim_ttft_ms"] < 0.5 * miss["hyperaccel"]["sim_ttft_ms"]


def test_chip_time_metrics(server):
    """/metrics exposes chip-time histograms, utilisation, KV usage and the prefix-cache hit rate."""
    _run(server.url, _prompts(1, 30, seed=3)[0])
    time.sleep(1)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    for name in ("sglang_hyperaccel:sim_ttft_seconds_bucket", "sglang_hyperaccel:sim_tpot_seconds_bucket",
                 "sglang_hyperaccel:chip_utilization", "sglang_hyperaccel:kv_cache_usage",
                 "sglang_hyperaccel:prefix_cache_hit_rate", "sglang_hyperaccel:chip_busy_seconds_total"):
        assert name in text, name
    assert _metric(server.url, "sglang_hyperaccel:chip_busy_seconds_total") > 0


def test_health_probes_are_not_served_requests(server):
    """`/health` runs a one-token probe on the chip (its steps are charged), but the chip-time
    request metrics skip it, as SGLang's own request metrics do; a real request counts once."""
    count = "sglang_hyperaccel:sim_e2e_seconds_count"
    time.sleep(1)
    requests_before = _metric(server.url, count)
    steps_before = _metric(server.url, "sglang_hyperaccel:chip_steps_total")
    for _ in range(3):
        requests.get(f"{server.url}/health", timeout=60).raise_for_status()
    time.sleep(1)
    assert _metric(server.url, "sglang_hyperaccel:chip_steps_total") >= steps_before + 3
    assert _metric(server.url, count) == requests_before
    _run(server.url, _prompts(1, 20, seed=4)[0])
    time.sleep(1)
    assert _metric(server.url, count) == requests_before + 1


@pytest.fixture(scope="module")
def small_chip(start_server, tmp_path_factory) -> tuple[ServerProcess, str]:
    """A server whose chip memory holds about 7,000 KV tokens, writing a chip timeline.

    24 MiB: 5 MiB of fp32 weights, ~14 MiB of KV, the rest for the activations of 128-token chunks.
    """
    trace = str(tmp_path_factory.mktemp("trace") / "chip.json")
    proc = start_server(args=("--dtype", "float32", "--enable-metrics", "--max-running-requests", "8",
                              "--chunked-prefill-size", "128"),
                        env={"SGLANG_HYPERACCEL_MEMORY": "24Mi", "SGLANG_HYPERACCEL_TRACE": trace})
    return proc, trace


@pytest.fixture(scope="module")
def no_cache(start_server) -> ServerProcess:
    return start_server(args=("--dtype", "float32", "--disable-radix-cache"))


def test_outputs_identical_with_eviction_and_without_cache(small_chip, no_cache):
    """Greedy outputs are the same with the radix cache on a chip so small it evicts, and with no cache."""
    server, _ = small_chip
    prompts = _prompts(12, 600, seed=4)  # 7,200 prompt tokens: more than the chip's KV holds
    prompts += [p[:500] + q[:60] for p, q in zip(prompts[:4], prompts[4:8])]  # shared prefixes, some evicted
    prompts += prompts[10:12] + prompts[:2]
    cached = [_run(server.url, ids)["output_ids"] for ids in prompts]
    plain = [_run(no_cache.url, ids)["output_ids"] for ids in prompts]
    assert cached == plain
    time.sleep(1)
    assert _metric(server.url, "sglang_hyperaccel:radix_evicted_tokens_total") > 0


def test_serving_run_writes_chip_timeline(small_chip):
    """SGLANG_HYPERACCEL_TRACE writes a Chrome trace of the run's forward batches."""
    server, path = small_chip
    _run(server.url, _prompts(1, 20, seed=5)[0])
    time.sleep(1.5)
    _run(server.url, _prompts(1, 20, seed=6)[0])
    with open(path) as f:
        trace = json.load(f)
    steps = [e for e in trace["traceEvents"]
             if e.get("ph") == "X" and e["name"].startswith(("decode", "extend"))]
    assert steps and all(e["dur"] > 0 for e in steps)


def test_paged_kv_with_page_size_16(server, start_server):
    """With 16-token KV pages, prefix hits are whole pages and outputs equal the page-size-1 server's."""
    paged = start_server(args=("--dtype", "float32", "--page-size", "16"))
    ids = _prompts(1, 600, seed=7)[0]
    first = _run(paged.url, ids)
    again = _run(paged.url, ids)
    assert again["meta_info"]["cached_tokens"] % 16 == 0 and again["meta_info"]["cached_tokens"] >= 576
    assert first["output_ids"] == again["output_ids"] == _run(server.url, ids)["output_ids"]
