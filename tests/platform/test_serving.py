"""The hyperaccel server answers SGLang's routes end to end on the demo model."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from sglang_hyperaccel.sse import sse_chunks


def _generate(url: str, text: str, **params) -> dict:
    resp = requests.post(f"{url}/generate", json={"text": text, "sampling_params": params}, timeout=120)
    resp.raise_for_status()
    return resp.json()


def test_health_and_info_routes(server):
    """/health, /model_info and /server_info answer, and the server reports the hyperaccel device."""
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    info = requests.get(f"{server.url}/model_info", timeout=10).json()
    assert info["model_path"].endswith("tiny")
    server_info = requests.get(f"{server.url}/server_info", timeout=10).json()
    assert server_info["device"] == "hyperaccel"
    assert server_info["attention_backend"] == "hyperaccel"


def test_generate_greedy_is_deterministic(server):
    """Greedy /generate gives the same tokens twice and respects max_new_tokens."""
    a = _generate(server.url, "Person: {\"name\": ", temperature=0, max_new_tokens=16, ignore_eos=True)
    b = _generate(server.url, "Person: {\"name\": ", temperature=0, max_new_tokens=16, ignore_eos=True)
    assert a["output_ids"] == b["output_ids"]
    assert a["meta_info"]["completion_tokens"] == 16


def test_generate_sampling(server):
    """Sampling gives the requested length; top_k=1 sampling at temperature 1 equals greedy."""
    sampled = _generate(server.url, "Review: ", temperature=1.0, top_p=0.9, top_k=50, max_new_tokens=12,
                        ignore_eos=True)
    assert sampled["meta_info"]["completion_tokens"] == 12
    top1 = _generate(server.url, "Review: ", temperature=1.0, top_k=1, max_new_tokens=12, ignore_eos=True)
    greedy = _generate(server.url, "Review: ", temperature=0, max_new_tokens=12, ignore_eos=True)
    assert top1["output_ids"] == greedy["output_ids"]


def test_generate_streaming(server):
    """A streamed /generate sends several chunks whose final text equals the non-streamed answer."""
    body = {"text": "Date: ", "sampling_params": {"temperature": 0, "max_new_tokens": 20, "ignore_eos": True},
            "stream": True}
    chunks = []
    with requests.post(f"{server.url}/generate", json=body, stream=True, timeout=120) as resp:
        resp.raise_for_status()
        chunks.extend(sse_chunks(resp.iter_lines()))
    assert len(chunks) > 1
    full = _generate(server.url, "Date: ", temperature=0, max_new_tokens=20, ignore_eos=True)
    assert chunks[-1]["text"] == full["text"]
    assert chunks[-1]["meta_info"]["hyperaccel"]["sim_ttft_ms"] > 0


def test_openai_completions_and_chat(server):
    """/v1/completions and /v1/chat/completions (chat template applied) answer with usage counts."""
    comp = requests.post(f"{server.url}/v1/completions", timeout=120, json={
        "model": "default", "prompt": "Query: SELECT", "max_tokens": 8, "temperature": 0}).json()
    assert comp["choices"][0]["text"]
    assert comp["usage"]["completion_tokens"] <= 8
    chat = requests.post(f"{server.url}/v1/chat/completions", timeout=120, json={
        "model": "default", "messages": [{"role": "user", "content": "Small chip reads the cache."}],
        "max_tokens": 16, "temperature": 0}).json()
    assert chat["choices"][0]["message"]["role"] == "assistant"
    assert chat["usage"]["prompt_tokens"] > 5


def test_metrics_route(server):
    """/metrics (with --enable-metrics) exposes SGLang's Prometheus metrics."""
    _generate(server.url, "Hello", temperature=0, max_new_tokens=4)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "sglang:prompt_tokens_total" in text


def test_bad_sampling_params_get_4xx_and_server_keeps_serving(server):
    """Invalid sampling parameters come back as a clear 4xx; the next request still succeeds."""
    for params in ({"temperature": -1.0}, {"top_p": 1.5}, {"max_new_tokens": -3}):
        resp = requests.post(f"{server.url}/generate", json={"text": "x", "sampling_params": params},
                             timeout=60)
        assert 400 <= resp.status_code < 500, (params, resp.status_code, resp.text)
        assert next(iter(params)) in resp.text, resp.text  # the answer names the bad parameter
    assert _generate(server.url, "Hello", temperature=0, max_new_tokens=4,
                     ignore_eos=True)["meta_info"]["completion_tokens"] == 4


def test_oversize_prompt_gets_4xx(server):
    """A prompt longer than the context window is refused with a 4xx naming the limit."""
    resp = requests.post(f"{server.url}/generate", timeout=60,
                         json={"input_ids": [5] * 5000, "sampling_params": {"max_new_tokens": 4}})
    assert 400 <= resp.status_code < 500, resp.text
    assert "context length" in resp.text.lower() or "too long" in resp.text.lower()
    assert _generate(server.url, "Hello", temperature=0, max_new_tokens=2,
                     ignore_eos=True)["meta_info"]["completion_tokens"] == 2


def test_out_of_vocabulary_input_ids_get_4xx_and_server_keeps_serving(server):
    """Prompt ids < 0 or >= vocab size get a 400 naming the id and the range; the server keeps serving."""
    # Before this check such a request ended the scheduler.
    vocab = json.loads((Path(server.model_path) / "config.json").read_text())["vocab_size"]
    for bad in (vocab, vocab + 1000, -1):
        resp = requests.post(f"{server.url}/generate", timeout=60,
                             json={"input_ids": [5, bad, 6], "sampling_params": {"max_new_tokens": 4}})
        assert resp.status_code == 400, resp.text
        assert f"out-of-vocabulary token id {bad}" in resp.text and f"[0, {vocab})" in resp.text
    ok = requests.post(f"{server.url}/generate", timeout=60,
                       json={"input_ids": [5, vocab - 1, 6], "sampling_params": {"max_new_tokens": 2}})
    assert ok.status_code == 200, ok.text
    assert _generate(server.url, "Hello", temperature=0, max_new_tokens=2,
                     ignore_eos=True)["meta_info"]["completion_tokens"] == 2


def test_constrained_decoding_on_chip_with_default_grammar_backend(server):
    """xgrammar (the default) masks logits on hyperaccel: regex and JSON-schema outputs match."""
    import re

    out = _generate(server.url, "A number: ", temperature=0, max_new_tokens=8, regex="[0-9]{1,3}")
    assert re.fullmatch("[0-9]{1,3}", out["text"])
    schema = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0, "maximum": 150}},
              "required": ["age"], "additionalProperties": False}
    out = _generate(server.url, "Person: ", temperature=0, max_new_tokens=32, json_schema=json.dumps(schema))
    assert 0 <= json.loads(out["text"])["age"] <= 150


def test_profiler_route_writes_a_trace_and_server_keeps_serving(server, tmp_path):
    """/start_profile (torch profiler, CPU activity) writes a trace file and the server keeps serving."""
    # It used to end the scheduler, since SGLang asks the platform for its profiler activity.
    import time

    resp = requests.post(f"{server.url}/start_profile", json={
        "activities": ["CPU"], "num_steps": 2, "output_dir": str(tmp_path)}, timeout=60)
    assert resp.status_code == 200, resp.text
    _generate(server.url, "Hello", temperature=0, max_new_tokens=8, ignore_eos=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*.trace.json*")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert list(tmp_path.glob("*.trace.json*")), "no trace written"
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    assert _generate(server.url, "Hello", temperature=0,
                     max_new_tokens=2)["meta_info"]["completion_tokens"] >= 1
