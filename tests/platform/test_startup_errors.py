"""Start-up refuses an unknown chip or a model larger than the chip's memory: one clear line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

from sglang_hyperaccel.launcher import free_port


def _launch(demo_model, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sglang.launch_server", "--device", "hyperaccel",
           "--model-path", str(demo_model),
           "--host", "127.0.0.1", "--port", str(free_port())]
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single `sglang-hyperaccel: error:` line of a start-up that ended with exit code 2 and
    no traceback."""
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("sglang-hyperaccel: error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return lines[0]


def test_unknown_chip_name(demo_model):
    """SGLANG_HYPERACCEL_CHIP=nope stops start-up naming the known chips."""
    line = _one_error_line(_launch(demo_model, {"SGLANG_HYPERACCEL_CHIP": "nope"}))
    assert "nope" in line and "lpu" in line


def test_model_larger_than_chip_memory(demo_model):
    """A 1 MiB chip cannot hold the demo model's 5 MB of weights: a clear error naming both sizes."""
    line = _one_error_line(_launch(demo_model, {"SGLANG_HYPERACCEL_MEMORY": "1Mi"}))
    assert "GiB of weights" in line and "--tp-size" in line


def test_bad_memory_setting(demo_model):
    """SGLANG_HYPERACCEL_MEMORY=lots is refused with the variable named."""
    done = _launch(demo_model, {"SGLANG_HYPERACCEL_MEMORY": "lots"})
    assert done.returncode == 2
    assert "SGLANG_HYPERACCEL_MEMORY" in done.stderr


def test_bad_request_limits(demo_model):
    """A typo in SGLANG_HYPERACCEL_LIMITS stops start-up with one line naming the key and the known ones."""
    line = _one_error_line(_launch(demo_model, {"SGLANG_HYPERACCEL_LIMITS": "top_logprob=5"}))
    assert "'top_logprob=5'" in line and "top_logprobs" in line


def test_more_ranks_than_chips(demo_model):
    """--tp-size 4 with 2 emulated chips is refused before any rank starts."""
    cmd = [sys.executable, "-m", "sglang.launch_server", "--device", "hyperaccel",
           "--model-path", str(demo_model),
           "--host", "127.0.0.1", "--port", str(free_port()), "--tp-size", "4"]
    done = subprocess.run(cmd, env={**os.environ, "SGLANG_HYPERACCEL_DEVICE_COUNT": "2"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert "needs 4 chips but 2 are emulated" in done.stderr


def test_model_whose_shapes_cannot_be_read(tmp_path):
    """A GPT-Neo config (no SGLang implementation) stops start-up with one line naming the model."""
    import transformers

    config = transformers.GPTNeoConfig(hidden_size=64, num_layers=2, num_heads=4, vocab_size=512,
                                       max_position_embeddings=512, attention_types=[[["global"], 2]],
                                       bos_token_id=1, eos_token_id=2, architectures=["GPTNeoForCausalLM"])
    config.to_json_file(tmp_path / "config.json", use_diff=False)
    done = _launch(tmp_path, {})
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("sglang-hyperaccel: error:")]
    assert len(lines) == 1 and "cannot read the shapes" in lines[0] and str(tmp_path) in lines[0], lines
    assert "GPTNeoForCausalLM" in lines[0]
    assert "Traceback" not in done.stderr
