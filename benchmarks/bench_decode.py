"""Decode throughput: the hyperaccel server vs Hugging Face transformers `generate` on CPU.

Same ~100M-parameter Llama (`sglang-hyperaccel demo-model bench-100m`, fp32), same 32-token prompts,
64 new tokens, greedy, EOS ignored; batch 1 and batch 16. Prints tokens/s side by side with the ratio
and the goals (>= 1.0x at batch 1, >= 1.5x at batch 16). Wall-clock on this host, not chip time.

Both sides are warmed up, then measured `--repeats` times, alternating transformers and the server so
that both see the same background load; each side's best run is reported (the least disturbed one on
a shared host), with the median beside it. The server's prefix cache is flushed before every run, so
each run prefills its prompts as `generate` does.

    .venv/bin/python benchmarks/bench_decode.py [--model PATH] [--batches 1,16] [--repeats 3] [--port N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass

import requests
import torch

from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.server import ServerProcess

PROMPT_LEN, NEW_TOKENS = 32, 64
GOALS = {1: 1.0, 16: 1.5}


@dataclass(frozen=True)
class Runs:
    """Tokens/s of the repeated runs of one side at one batch size."""

    tokens_per_s: tuple[float, ...]

    @property
    def best(self) -> float:
        return max(self.tokens_per_s)

    @property
    def median(self) -> float:
        return statistics.median(self.tokens_per_s)


def _prompts(batch: int, vocab: int) -> list[list[int]]:
    rng = random.Random(batch)
    return [[rng.randrange(10, vocab) for _ in range(PROMPT_LEN)] for _ in range(batch)]


class HuggingFace:
    """`generate` on CPU with the model loaded once."""

    def __init__(self, model_path: str) -> None:
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
        self.vocab = self.model.config.vocab_size

    def _generate(self, ids: torch.Tensor, new_tokens: int) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       do_sample=False, eos_token_id=None, pad_token_id=0,
                                       attention_mask=torch.ones_like(ids))

    def warm_up(self, batch: int) -> None:
        self._generate(torch.tensor(_prompts(batch, self.vocab))[:, :8], 4)

    def tokens_per_s(self, batch: int) -> float:
        ids = torch.tensor(_prompts(batch, self.vocab))
        start = time.perf_counter()
        out = self._generate(ids, NEW_TOKENS)
        elapsed = time.perf_counter() - start
        assert out.shape[1] == PROMPT_LEN + NEW_TOKENS
        return batch * NEW_TOKENS / elapsed


class Server:
    """`/generate` on a running hyperaccel server."""

    def __init__(self, url: str, vocab: int) -> None:
        self.url, self.vocab = url, vocab

    def _body(self, batch: int, new_tokens: int) -> dict:
        return {"input_ids": _prompts(batch, self.vocab),
                "sampling_params": {"temperature": 0, "max_new_tokens": new_tokens, "ignore_eos": True}}

    def warm_up(self, batch: int) -> None:
        requests.post(f"{self.url}/generate", json=self._body(batch, 4), timeout=600).raise_for_status()

    def tokens_per_s(self, batch: int) -> float:
        requests.post(f"{self.url}/flush_cache", timeout=60)
        start = time.perf_counter()
        resp = requests.post(f"{self.url}/generate", json=self._body(batch, NEW_TOKENS), timeout=1800)
        elapsed = time.perf_counter() - start
        resp.raise_for_status()
        assert all(o["meta_info"]["completion_tokens"] == NEW_TOKENS for o in resp.json())
        return batch * NEW_TOKENS / elapsed


def measure(hf: HuggingFace, server: Server, batch: int, repeats: int) -> tuple[Runs, Runs]:
    """Warm both sides up at `batch`, then alternate them `repeats` times."""
    hf.warm_up(batch)
    server.warm_up(batch)
    ours, theirs = [], []
    for _ in range(repeats):
        theirs.append(hf.tokens_per_s(batch))
        ours.append(server.tokens_per_s(batch))
    return Runs(tuple(theirs)), Runs(tuple(ours))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the bench-100m demo model)")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per side and batch size")
    parser.add_argument("--port", type=int, default=0, help="server port (default: any free port)")
    args = parser.parse_args(argv)
    model = str(args.model or ensure_demo_model("bench-100m"))
    batches = [int(b) for b in args.batches.split(",")]

    hf = HuggingFace(model)
    load_before = os.getloadavg()[0]
    results = {}
    with ServerProcess(model, port=args.port, args=("--dtype", "float32")) as running:
        server = Server(running.url, hf.vocab)
        for b in batches:
            results[b] = measure(hf, server, b, args.repeats)
    load_after = os.getloadavg()[0]

    print(f"decode throughput, {model}, fp32, {PROMPT_LEN}-token prompts, {NEW_TOKENS} new tokens; "
          f"transformers on {torch.get_num_threads()} threads; best of {args.repeats} alternating runs "
          f"(median in brackets)")
    print(f"{'batch':>5}  {'transformers tok/s':>20}  {'hyperaccel tok/s':>20}  {'ratio':>6}  {'goal':>5}")
    ok = True
    for b in batches:
        theirs, ours = results[b]
        ratio = ours.best / theirs.best
        goal = GOALS.get(b)
        ok &= goal is None or ratio >= goal
        print(f"{b:>5}  {theirs.best:>9.1f} ({theirs.median:>7.1f})  {ours.best:>9.1f} ({ours.median:>7.1f})"
              f"  {ratio:>5.2f}x  {'' if goal is None else f'{goal:.1f}x':>5}")
    cores = os.cpu_count() or 1
    if max(load_before, load_after) > cores:
        print(f"note: load average {load_before:.1f} -> {load_after:.1f} on {cores} cores: other work shared "
              f"the host, so these figures are noisy (multi-threaded transformers suffers most)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
