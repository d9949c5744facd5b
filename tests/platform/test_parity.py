"""Greedy decoding on hyperaccel equals Hugging Face transformers on CPU for the same checkpoint."""

from __future__ import annotations

import pytest
import requests
import torch

PROMPTS = [
    "Person: {\"name\": ",
    "Extract the record as JSON.\n",
    "Date: 2024-",
    "<|user|>\nFast chip reads the cache in Seoul.</s>\n<|assistant|>\n",
    "Compute (3 + 4) * 2 = ",
]
NEW_TOKENS = 64
TOP_K = 20


@pytest.fixture(scope="module")
def reference(demo_model):
    """transformers' LlamaForCausalLM on CPU in fp32, with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(demo_model)
    model = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32).eval()
    return tok, model


def _hf_greedy(model, ids: list[int]) -> tuple[list[int], torch.Tensor]:
    """Greedy tokens (EOS does not stop, as `ignore_eos`) and the log-probs at the last prompt position."""
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0, output_logits=True,
                             return_dict_in_generate=True)
    tokens = out.sequences[0, len(ids):].tolist()
    return tokens, torch.log_softmax(out.logits[0][0].float(), dim=-1)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_tokens_and_logprobs_match_transformers(server, reference, prompt):
    """64 greedy tokens are identical; last-position log-probs of the top tokens agree within 1e-3."""
    tok, model = reference
    ids = tok(prompt, add_special_tokens=False).input_ids
    expected_tokens, expected_logprobs = _hf_greedy(model, ids)
    resp = requests.post(f"{server.url}/generate", timeout=300, json={
        "input_ids": ids,
        "sampling_params": {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True},
        "return_logprob": True, "top_logprobs_num": TOP_K,
    })
    resp.raise_for_status()
    out = resp.json()
    assert out["output_ids"] == expected_tokens
    first = out["meta_info"]["output_top_logprobs"][0]  # distribution after the last prompt token
    assert len(first) == TOP_K
    for logprob, token_id, _ in first:
        assert abs(logprob - expected_logprobs[token_id].item()) < 1e-3, (token_id, logprob)
