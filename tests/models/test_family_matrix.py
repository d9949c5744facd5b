"""The model-family matrix: every family SGLang serves runs on hyperaccel, greedy tokens equal
transformers' on CPU for the same tiny random checkpoint, and every answer carries chip time.

One server per family, started and stopped inside its test, so the host never holds more than one.
A family SGLang itself cannot serve on this device is an `xfail(strict=True)` with SGLang's error,
so the matrix documents it and flips to a failure when it is fixed.
"""

from __future__ import annotations

from pathlib import Path

import families
import pytest
import requests
import torch

from sglang_hyperaccel.launcher import ServerProcess

ARGS = ("--dtype", "float32", "--skip-tokenizer-init")
# Stopping a server takes 5 s more with SGLang's pre-crash diagnostics (it waits "for GPU activity to
# settle" before a py-spy dump when the scheduler gets SIGTERM); 18 stops add up.
ENV = {"SGLANG_PYSPY_DUMP_BEFORE_CRASH": "0", "SGLANG_CUDA_COREDUMP_BEFORE_CRASH": "0"}
NEW_TOKENS = 8
# Families SGLang cannot serve on this device: family -> SGLang's one-line error.
SGLANG_CANNOT_SERVE: dict[str, str] = {}


def _params() -> list:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=SGLANG_CANNOT_SERVE[name]))
            if name in SGLANG_CANNOT_SERVE else name for name in families.FAMILIES]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tiny checkpoints are built, once per session."""
    return tmp_path_factory.mktemp("families")


def _hf_greedy(path: Path, ids: list[int]) -> list[int]:
    """transformers' greedy tokens on CPU in fp32 with its eager (reference) attention, which applies
    every family's attention options (softcapping included); EOS does not stop (as `ignore_eos`)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("family", _params())
def test_family_serves_greedy_with_chip_time(family: str, checkpoints: Path) -> None:
    """8 greedy tokens equal transformers'; chip TPOT is at or above its floor, over 7 decode steps."""
    path = families.build_tiny(family, checkpoints)
    expected = _hf_greedy(path, families.PROMPT)
    assert len(expected) == NEW_TOKENS
    with ServerProcess(path, args=ARGS, env=ENV) as server:
        resp = requests.post(f"{server.url}/generate", timeout=300, json={
            "input_ids": families.PROMPT,
            "sampling_params": {"max_new_tokens": NEW_TOKENS, "temperature": 0, "ignore_eos": True}})
        assert resp.status_code == 200, f"{resp.text}\n{server.log_tail()}"
        out = resp.json()
    assert out["output_ids"] == expected
    chip = out["meta_info"]["hyperaccel"]
    assert chip["sim_ttft_ms"] > 0
    assert chip["sim_tpot_ms"] >= chip["sim_tpot_floor_ms"] > 0
    assert chip["sim_decode_steps"] == NEW_TOKENS - 1
