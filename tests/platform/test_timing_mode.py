"""Timing-only execution: config-only models of any size, N chips from one rank, chip time as numeric."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import jsonschema
import psutil
import pytest
import requests

from sglang_hyperaccel.launcher import ServerProcess
from sglang_hyperaccel.model_configs import config_dir
from sglang_hyperaccel.simulator import get_chip

TIMING = {"SGLANG_HYPERACCEL_EXECUTION": "timing"}
LLAMA_70B_EOS = 128001


def _generate(url: str, ids: list[int], new_tokens: int, rid: str | None = None, **extra) -> dict:
    body = {"input_ids": ids, **extra,
            "sampling_params": {"temperature": 0, "max_new_tokens": new_tokens, "ignore_eos": True}}
    if rid is not None:
        body["rid"] = rid
    resp = requests.post(f"{url}/generate", timeout=300, json=body)
    resp.raise_for_status()
    return resp.json()


def _tree_pss(pid: int) -> int:
    """Host memory of a process tree: the sum of proportional set sizes. Summed RSS would count the
    torch and SGLang libraries the three server processes share once per process."""
    root = psutil.Process(pid)
    return sum(p.memory_full_info().pss for p in [root, *root.children(recursive=True)])


@pytest.fixture(scope="module")
def llama_70b() -> Iterator[tuple[ServerProcess, float]]:
    """Llama-3-70B from its bundled config.json, `--tp-size 8`, timing-only; with its start-up seconds."""
    proc = ServerProcess(config_dir("llama-3-70b"), args=("--tp-size", "8"), env=TIMING)
    start = time.monotonic()
    proc.start()
    try:
        proc.wait_healthy(180)
        yield proc, time.monotonic() - start
    finally:
        proc.stop()


def test_llama_70b_tp8_starts_fast_and_small(llama_70b):
    """Llama-3-70B at TP 8 starts in under 60 s and its whole process tree stays under 4 GiB of host
    memory (proportional set size)."""
    server, seconds = llama_70b
    assert seconds < 60
    _generate(server.url, list(range(1000, 1400)), 4)
    assert _tree_pss(server.process.pid) < 4 * 2**30


def test_llama_70b_tokens_are_drawn_deterministically(llama_70b):
    """Exact output length, never EOS, the same ids for the same rid, charged as 8 chips."""
    server, _ = llama_70b
    ids = list(range(2000, 2100))
    first = _generate(server.url, ids, 48, rid="timing-rid-1")
    again = _generate(server.url, ids, 48, rid="timing-rid-1")
    other = _generate(server.url, ids, 48, rid="timing-rid-2")
    assert len(first["output_ids"]) == 48 and LLAMA_70B_EOS not in first["output_ids"]
    assert first["output_ids"] == again["output_ids"] != other["output_ids"]
    assert all(0 <= t < 128256 for t in first["output_ids"])
    assert first["meta_info"]["hyperaccel"]["devices"] == 8


def test_llama_70b_kv_capacity_is_eight_chips_less_weights(llama_70b):
    """max_total_num_tokens = (8 x chip memory x 0.8 - weights) / KV bytes per token, counted by hand."""
    server, _ = llama_70b
    config = json.loads((config_dir("llama-3-70b") / "config.json").read_text())
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    vocab = config["vocab_size"]
    head_dim = hidden // heads
    per_layer = (hidden * hidden  # q
                 + 2 * hidden * kv_heads * head_dim  # k, v
                 + hidden * hidden  # o
                 + 3 * hidden * inter  # gate, up, down
                 + 2 * hidden)  # two RMSNorms
    params = layers * per_layer + 2 * vocab * hidden + hidden  # embedding, untied head, final norm
    weights = 2 * params  # bf16
    kv_per_token = layers * 2 * kv_heads * head_dim * 2
    expected = int(8 * get_chip("lpu").memory_bytes * 0.8 - weights) // kv_per_token
    info = requests.get(f"{server.url}/server_info", timeout=30).json()
    page = int(info.get("page_size") or 1)
    assert expected - page < info["max_total_num_tokens"] <= expected


def test_text_to_config_only_model_is_a_400_naming_input_ids(llama_70b):
    """A config-only model has no tokenizer: text is refused with a 400 naming input_ids, ids still serve."""
    server, _ = llama_70b
    resp = requests.post(f"{server.url}/generate", timeout=60,
                         json={"text": "hello", "sampling_params": {"max_new_tokens": 4}})
    assert resp.status_code == 400
    assert "input_ids" in resp.text and "tokenizer" in resp.text
    assert len(_generate(server.url, [5, 6, 7], 3)["output_ids"]) == 3


def _closed_loop(url: str) -> list[dict]:
    """Requests one after another: short, long (chunked at 128), a repeat (prefix hit), short."""
    prompts = [list(range(10, 50)), [(7 * i + 3) % 1900 + 100 for i in range(300)], list(range(10, 50)),
               list(range(100, 160))]
    return [_generate(url, ids, 8)["meta_info"]["hyperaccel"] for ids in prompts]


def test_timing_reports_equal_numeric_reports(demo_model):
    """The same closed-loop workload gives the same chip-time reports computed and timing-only."""
    args = ("--dtype", "float32", "--chunked-prefill-size", "128", "--skip-server-warmup")
    reports = {}
    for mode in ("numeric", "timing"):
        with ServerProcess(demo_model, args=args, env={"SGLANG_HYPERACCEL_EXECUTION": mode}) as server:
            reports[mode] = _closed_loop(server.url)
    numeric, timing = reports["numeric"], reports["timing"]
    assert numeric[2]["sim_cached_tokens"] > 0 and numeric[1]["sim_prefill_tokens"] == 300
    for computed, timed in zip(numeric, timing, strict=True):
        fields = [k for k in computed if k.startswith("sim_")]
        assert fields and set(fields) == {k for k in timed if k.startswith("sim_")}
        for field in fields:
            assert timed[field] == pytest.approx(computed[field], rel=1e-9, abs=1e-12), field


def test_json_schema_output_validates_in_timing_mode(demo_model):
    """A json_schema-constrained request in timing mode returns JSON that validates against the schema."""
    schema = {"type": "object", "additionalProperties": False, "required": ["ok", "color", "size"],
              "properties": {"ok": {"type": "boolean"}, "color": {"enum": ["red", "green", "blue"]},
                             "size": {"enum": ["small", "large"]}}}
    with ServerProcess(demo_model, args=("--skip-server-warmup",), env=TIMING) as server:
        for rid in ("schema-1", "schema-2"):
            resp = requests.post(f"{server.url}/generate", timeout=300, json={
                "text": "Answer in JSON:", "rid": rid,
                "sampling_params": {"max_new_tokens": 64, "json_schema": json.dumps(schema)}})
            resp.raise_for_status()
            out = resp.json()
            jsonschema.validate(json.loads(out["text"]), schema)
            assert out["meta_info"]["finish_reason"]["type"] != "abort"


def test_model_config_command(tmp_path):
    """`model-config llama-3-70b` prints a directory with config.json; an unknown name exits 2, one line."""
    env = {"SGLANG_HYPERACCEL_MODEL_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "sglang_hyperaccel.cli", "model-config"]
    out = subprocess.run([*cmd, "llama-3-70b"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    directory = out.stdout.strip()
    config = json.loads((tmp_path / "configs" / "llama-3-70b" / "config.json").read_text())
    assert directory == str(tmp_path / "configs" / "llama-3-70b")
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 80
    bad = subprocess.run([*cmd, "no-such-model"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sglang-hyperaccel: error:") and "llama-3-70b" in lines[0]
