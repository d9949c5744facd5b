"""`sglang-hyperaccel replay` end to end: faithfulness against the simulator, queueing, Little's law,
bad input. Timing-only execution on bundled config-only models (no weights)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sglang_hyperaccel import env
from sglang_hyperaccel.launcher import ServerProcess
from sglang_hyperaccel.model_configs import config_dir
from sglang_hyperaccel.simulator import Simulator, generate, get_chip, load_model

MODEL = "llama-3-8b"
MAX_RUNNING = 32


def _replay(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sglang_hyperaccel.cli", "replay", *args, "--no-progress"],
                          capture_output=True, text=True, timeout=timeout)


def _json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _csv(tmp_path, rows, name="trace.csv"):
    path = tmp_path / name
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n"
                    + "".join(f"{t},{i},{o}\n" for t, i, o in rows))
    return path


@pytest.fixture(scope="module")
def server():
    """One timing-only llama-3-8b server on 1 LPU, at most 32 requests running."""
    args = ["--max-running-requests", str(MAX_RUNNING)]
    with ServerProcess(config_dir(MODEL), args=args, env={env.EXECUTION: "timing"}) as srv:
        yield srv


def test_one_request_equals_the_simulator_generate_figure(tmp_path):
    """The in-process engine (the default path): one request alone on the chip takes exactly what the
    simulator CLI's `generate` says for batch 1."""
    out = tmp_path / "one.jsonl"
    summary = _json(_replay(str(_csv(tmp_path, [(0.0, 512, 64)])), "--model", MODEL, "--json",
                            "--out", str(out)))
    row = json.loads(out.read_text())
    cli = subprocess.run([sys.executable, "-m", "sglang_hyperaccel.simulator", "--model", MODEL,
                          "--input-len", "512", "--output-len", "64", "--json"],
                         capture_output=True, text=True, check=True)
    figure = json.loads(cli.stdout.strip().splitlines()[-1])
    assert summary["completed"] == 1 and row["completion_tokens"] == 64
    assert row["sim_ttft_ms"] == pytest.approx(figure["ttft_ms"], rel=1e-9)
    assert row["sim_tpot_ms"] == pytest.approx(figure["ms_per_token"], rel=1e-9)
    assert row["sim_e2e_ms"] == pytest.approx(figure["e2e_ms"], rel=1e-9)
    assert row["sim_queue_ms"] == 0.0 and row["sim_decode_steps"] == 63


def test_load_sweep_queueing_saturation_and_littles_law(server, tmp_path):
    """As the rate rises, TTFT and queueing rise; past saturation, throughput levels at what the
    simulator's batch sweep predicts for a full batch; at every rate the scheduler's own count of
    requests in the system equals arrival rate x mean E2E (Little's law)."""
    sim = Simulator(get_chip("lpu"), load_model(MODEL))
    full = generate(sim, batch=MAX_RUNNING, input_len=128, output_len=32)
    saturation_rps = full.e2e_tokens_per_s / 32
    rows = []
    for scale in (0.25, 0.5, 1.0, 4.0):
        rows.append(_json(_replay("--url", server.url, "--qps", f"{scale * saturation_rps:.6f}",
                                  "--num-requests", "160", "--input-len", "128", "--output-len", "32",
                                  "--seed", str(int(scale * 100)), "--json")))
    ttft = [r["ttft_ms"]["p50"] for r in rows]
    queue = [r["queue_ms"]["p90"] for r in rows]
    assert all(r["completed"] == 160 for r in rows)
    assert ttft == sorted(ttft) and ttft[-1] > 5 * ttft[0], ttft
    assert queue == sorted(queue) and queue[-1] > 0, queue
    saturated = rows[-1]["output_throughput"]
    assert saturated == pytest.approx(full.e2e_tokens_per_s, rel=0.15), (saturated, full.e2e_tokens_per_s)
    assert rows[0]["output_throughput"] < 0.5 * saturated
    for r in rows:
        assert r["mean_in_system"] == pytest.approx(r["little_lambda_w"], rel=0.03), r


def test_too_long_requests_are_rejected_and_the_replay_goes_on(server, tmp_path):
    """A request beyond the model's context is a rejected result with its reason; the rest complete."""
    out = tmp_path / "r.jsonl"
    trace = _csv(tmp_path, [(0.0, 100, 8), (0.01, 9000, 8), (0.02, 100, 8)])
    summary = _json(_replay(str(trace), "--url", server.url, "--json", "--out", str(out)))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert (summary["completed"], summary["rejected"]) == (2, 1)
    assert rows[1]["error"].startswith("rejected:") and "context is 8192" in rows[1]["error"]
    assert rows[0]["completion_tokens"] == rows[2]["completion_tokens"] == 8


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model", "--qps", "1"], "no-such-model"),
    (["--chip", "tpu9", "--qps", "1"], "tpu9"),
    (["--qps", "1", "--devices", "0"], "--devices"),
    ([], "--qps"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    """Unknown model or chip, bad numbers: one error line, exit status 2, no engine started."""
    done = _replay(*args, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def test_a_bad_trace_names_its_line(tmp_path):
    """A non-numeric cell: exit 2 with the file and line number."""
    path = tmp_path / "bad.csv"
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,2\n1,ten,2\n")
    done = _replay(str(path), timeout=120)
    assert done.returncode == 2 and "bad.csv line 3" in done.stderr


def test_shared_system_prompts_hit_the_radix_cache(server, tmp_path):
    """Three system prompts of 512 tokens over 12 spaced-out requests: every request after the first
    of its group finds exactly its 512-token prefix in the cache (hit rate 9 x 512 / 12 x 576)."""
    out = tmp_path / "p.jsonl"
    summary = _json(_replay("--url", server.url, "--qps", "0.05", "--num-requests", "12", "--input-len", "64",
                            "--output-len", "4", "--prefix-groups", "3", "--prefix-len", "512", "--json",
                            "--out", str(out)))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["sim_cached_tokens"] for r in rows] == [0, 0, 0] + [512] * 9
    assert summary["prefix_hit_rate"] == pytest.approx(9 * 512 / (12 * 576))
