"""Decode throughput: the hyperaccel server vs Hugging Face transformers `generate` on CPU.

Same ~100M-parameter Llama (`sglang-hyperaccel demo-model bench-100m`, fp32), same 32-token prompts,
64 new tokens, greedy, EOS ignored; batch 1 and batch 16. Prints tokens/s side by side with the ratio
and the goals (>= 1.0x at batch 1, >= 1.5x at batch 16). Wall-clock on this host, not chip time.

    .venv/bin/python benchmarks/bench_decode.py [--model PATH] [--batches 1,16]
"""

from __future__ import annotations

import argparse
import random
import time

import requests
import torch

from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.server import ServerProcess

PROMPT_LEN, NEW_TOKENS = 32, 64
GOALS = {1: 1.0, 16: 1.5}


def _prompts(batch: int, vocab: int) -> list[list[int]]:
    rng = random.Random(batch)
    return [[rng.randrange(10, vocab) for _ in range(PROMPT_LEN)] for _ in range(batch)]


def hf_tokens_per_s(model_path: str, batch: int) -> float:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    ids = torch.tensor(_prompts(batch, model.config.vocab_size))
    kwargs = dict(do_sample=False, eos_token_id=None, pad_token_id=0, attention_mask=torch.ones_like(ids))
    with torch.inference_mode():
        model.generate(ids[:, :8], max_new_tokens=4, **kwargs)  # warm-up
        start = time.perf_counter()
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **kwargs)
        elapsed = time.perf_counter() - start
    assert out.shape[1] == PROMPT_LEN + NEW_TOKENS
    return batch * NEW_TOKENS / elapsed


def server_tokens_per_s(url: str, batch: int, vocab: int) -> float:
    body = {"input_ids": _prompts(batch, vocab),
            "sampling_params": {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}}
    requests.post(f"{url}/generate", timeout=600, json={**body, "input_ids": body["input_ids"][0][:8]})
    requests.post(f"{url}/flush_cache", timeout=60)
    start = time.perf_counter()
    resp = requests.post(f"{url}/generate", json=body, timeout=1800)
    elapsed = time.perf_counter() - start
    resp.raise_for_status()
    outs = resp.json()
    assert all(o["meta_info"]["completion_tokens"] == NEW_TOKENS for o in outs)
    return batch * NEW_TOKENS / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the bench-100m demo model)")
    parser.add_argument("--batches", default="1,16")
    args = parser.parse_args(argv)
    model = str(args.model or ensure_demo_model("bench-100m"))
    batches = [int(b) for b in args.batches.split(",")]
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(model).vocab_size
    hf = {b: hf_tokens_per_s(model, b) for b in batches}
    with ServerProcess(model, args=("--dtype", "float32")) as server:
        ours = {b: server_tokens_per_s(server.url, b, vocab) for b in batches}
    print(f"decode throughput, {model}, fp32, {PROMPT_LEN}-token prompts, {NEW_TOKENS} new tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"{'batch':>5}  {'transformers tok/s':>18}  {'hyperaccel tok/s':>16}  {'ratio':>6}  {'goal':>5}")
    ok = True
    for b in batches:
        ratio = ours[b] / hf[b]
        goal = GOALS.get(b)
        ok &= goal is None or ratio >= goal
        print(f"{b:>5}  {hf[b]:>18.1f}  {ours[b]:>16.1f}  {ratio:>5.2f}x  {'' if goal is None else f'{goal:.1f}x':>5}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
