"""`--tp-size 2` on two emulated chips: parity with TP=1, chip time over 2 devices, a rank dying.

The rank-death test kills the TP=2 server, so it runs last in this module.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
import requests

PROMPTS = [
    "Person: {\"name\": ",
    "Extract the record as JSON.\n",
    "Date: 2024-",
    "Compute (3 + 4) * 2 = ",
]
NEW_TOKENS = 40


def _generate(server, payload: dict, timeout: float = 300) -> dict:
    resp = requests.post(f"{server.url}/generate", json=payload, timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def _greedy(server, prompt: str) -> dict:
    return _generate(server, {"text": prompt, "sampling_params": {
        "temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}})


@pytest.mark.parametrize("prompt", PROMPTS)
def test_tp2_greedy_tokens_equal_tp1(tp_servers, prompt):
    """fp32 greedy: 40 tokens from TP=2 (two chips, esl all-reduces) equal TP=1's."""
    one, two = _greedy(tp_servers.tp1, prompt), _greedy(tp_servers.tp2, prompt)
    assert len(one["output_ids"]) == NEW_TOKENS
    assert two["output_ids"] == one["output_ids"]


CHIP_PROMPT_LEN, CHIP_NEW_TOKENS = 32, 24
CHIP_PAYLOAD = {"input_ids": list(range(200, 200 + CHIP_PROMPT_LEN)),
                "sampling_params": {"temperature": 0, "max_new_tokens": CHIP_NEW_TOKENS, "ignore_eos": True}}


def test_chip_report_counts_match_the_request_and_tp_size(tp_servers):
    """No simulator: report devices = --tp-size, decode steps and prompt tokens = SGLang's own counts."""
    for server, tp in ((tp_servers.tp1, 1), (tp_servers.tp2, 2)):
        meta = _generate(server, CHIP_PAYLOAD)["meta_info"]
        chip = meta["hyperaccel"]
        assert chip["devices"] == tp
        assert meta["completion_tokens"] == CHIP_NEW_TOKENS
        assert chip["sim_decode_steps"] == meta["completion_tokens"] - 1
        assert meta["prompt_tokens"] == CHIP_PROMPT_LEN
        assert chip["sim_prefill_tokens"] + chip["sim_cached_tokens"] == meta["prompt_tokens"]


def test_chip_clock_charges_the_batches_generate_assumes(tp_servers, demo_model):
    """Bookkeeping (same simulator both sides): TPOT at TP N = generate() at devices=N, ESL sync at TP 2."""
    from sglang_hyperaccel.chip import emulated_chip
    from sglang_hyperaccel.simulator import ModelSpec, Simulator, generate

    spec = ModelSpec.from_hf_config(demo_model).with_dtype_bytes(4)
    for server, devices in ((tp_servers.tp1, 1), (tp_servers.tp2, 2)):
        chip = _generate(server, CHIP_PAYLOAD)["meta_info"]["hyperaccel"]
        sim = Simulator(emulated_chip(), spec, devices=devices)
        predicted = generate(sim, batch=1, input_len=CHIP_PROMPT_LEN, output_len=CHIP_NEW_TOKENS)
        assert chip["sim_tpot_ms"] == pytest.approx(predicted.ms_per_token, rel=1e-3)
        if devices == 2:
            assert predicted.decode_breakdown_ms["sync"] > 0


def _scheduler(server, rank: int) -> psutil.Process:
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if any(f"scheduler_TP{rank}" in part for part in child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no scheduler_TP{rank} under pid {server.process.pid}")


def test_server_exits_with_clear_error_when_a_rank_dies(tp_servers):
    """SIGKILL of rank 1 mid-generation: the request ends, the server exits in 90 s, the log names it."""
    server = tp_servers.tp2
    outcome: dict[str, object] = {}

    def long_request() -> None:
        try:
            outcome["response"] = requests.post(f"{server.url}/generate", timeout=180, json={
                "text": "Count: 1, 2, 3,",
                "sampling_params": {"temperature": 0, "max_new_tokens": 4000, "ignore_eos": True}})
        except requests.RequestException as exc:
            outcome["error"] = exc

    client = threading.Thread(target=long_request, daemon=True)
    client.start()
    time.sleep(2.0)  # let the request reach the decode loop
    victim = _scheduler(server, 1)
    victim.kill()
    start = time.monotonic()
    server.process.wait(timeout=90)
    elapsed = time.monotonic() - start
    client.join(timeout=30)
    assert not client.is_alive(), "the in-flight request hung after the rank died"
    response = outcome.get("response")
    assert response is None or response.status_code != 200 or "error" in response.text.lower()
    log = server.log_path.read_text(errors="replace")
    # Which error names the death depends on where rank 0 is when rank 1 goes: SGLang's child
    # watchdog ("... crashed"), a chip collective (EslError, "hyperaccel esl: ... peer rank"), or
    # SGLang's own gloo CPU group broadcasting the next batch ("Connection reset by peer").
    clear = (f"pid={victim.pid}) crashed", "hyperaccel esl", "Connection reset by peer",
             "Connection closed by peer")
    assert any(text in log for text in clear), server.log_tail(60)
    assert elapsed < 90
