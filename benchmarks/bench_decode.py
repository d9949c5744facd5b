"""Generation speed on the host: the hyperaccel server vs Hugging Face transformers `generate` on CPU.

Same ~100M-parameter Llama (`sglang-hyperaccel demo-model bench-100m`, fp32), same 32-token prompts,
greedy, EOS ignored; batch 1 and batch 16. Wall-clock on this host, not chip time. Each side is timed
twice per run on the same prompts, and three figures are printed side by side:

- first-token time `t1`: one call with `max_new_tokens=1` (prefill and the first token; for the server
  also the HTTP round trip; prompts go as `input_ids`, so neither side tokenizes);
- end-to-end tok/s: `batch * 64 / t64`, one call generating 64 tokens, prefill and HTTP included
  (what this benchmark printed as "decode throughput" before it measured decode alone);
- decode tok/s: `batch * 63 / (t64 - t1)`, tokens 2..64 alone (the 63 decode steps, with whatever
  per-step work each side does around them: for the server its scheduler and output streaming).

The goals (>= 1.0x transformers at batch 1, >= 1.5x at batch 16) are judged on decode tok/s, and
decide the exit status; the end-to-end ratio is printed beside them.

Both sides are warmed up, then measured `--repeats` times, alternating transformers and the server so
that both see the same background load; each run's decode rate pairs its own `t1` and `t64`. Each
side's best run is reported (the least disturbed one on a shared host), with the median beside it.
The server's prefix cache is flushed before every call, so each call prefills its prompts as
`generate` does.

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
from sglang_hyperaccel.launcher import ServerProcess

PROMPT_LEN, NEW_TOKENS = 32, 64
GOALS = {1: 1.0, 16: 1.5}  # decode tok/s, hyperaccel over transformers, per batch size


@dataclass(frozen=True)
class Timing:
    """Wall seconds of two calls on the same `batch` prompts: 1 new token, then NEW_TOKENS new tokens."""

    batch: int
    first_s: float  # prefill + first token (+ HTTP for the server)
    full_s: float  # prefill + NEW_TOKENS tokens (+ HTTP for the server)

    @property
    def e2e_tokens_per_s(self) -> float:
        return self.batch * NEW_TOKENS / self.full_s

    @property
    def decode_tokens_per_s(self) -> float:
        # The two calls share prefill, first token and fixed overheads; the difference is the
        # NEW_TOKENS - 1 decode steps.
        return self.batch * (NEW_TOKENS - 1) / (self.full_s - self.first_s)


@dataclass(frozen=True)
class Runs:
    """The repeated timings of one side at one batch size: best and median of each figure."""

    timings: tuple[Timing, ...]

    def best(self, figure: str) -> float:
        """Highest rate, or lowest time for `first_s`."""
        values = [getattr(t, figure) for t in self.timings]
        return min(values) if figure == "first_s" else max(values)

    def median(self, figure: str) -> float:
        return statistics.median(getattr(t, figure) for t in self.timings)


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

    def _seconds(self, ids: torch.Tensor, new_tokens: int) -> float:
        start = time.perf_counter()
        out = self._generate(ids, new_tokens)
        elapsed = time.perf_counter() - start
        assert out.shape[1] == PROMPT_LEN + new_tokens
        return elapsed

    def warm_up(self, batch: int) -> None:
        self._generate(torch.tensor(_prompts(batch, self.vocab))[:, :8], 4)

    def timing(self, batch: int) -> Timing:
        ids = torch.tensor(_prompts(batch, self.vocab))
        return Timing(batch, self._seconds(ids, 1), self._seconds(ids, NEW_TOKENS))


class Server:
    """`/generate` on a running hyperaccel server."""

    def __init__(self, url: str, vocab: int) -> None:
        self.url, self.vocab = url, vocab

    def _body(self, batch: int, new_tokens: int) -> dict:
        return {"input_ids": _prompts(batch, self.vocab),
                "sampling_params": {"temperature": 0, "max_new_tokens": new_tokens, "ignore_eos": True}}

    def _seconds(self, batch: int, new_tokens: int) -> float:
        requests.post(f"{self.url}/flush_cache", timeout=60)
        start = time.perf_counter()
        resp = requests.post(f"{self.url}/generate", json=self._body(batch, new_tokens), timeout=1800)
        elapsed = time.perf_counter() - start
        resp.raise_for_status()
        assert all(o["meta_info"]["completion_tokens"] == new_tokens for o in resp.json())
        return elapsed

    def warm_up(self, batch: int) -> None:
        requests.post(f"{self.url}/generate", json=self._body(batch, 4), timeout=600).raise_for_status()

    def timing(self, batch: int) -> Timing:
        return Timing(batch, self._seconds(batch, 1), self._seconds(batch, NEW_TOKENS))


def measure(hf: HuggingFace, server: Server, batch: int, repeats: int) -> tuple[Runs, Runs]:
    """Warm both sides up at `batch`, then alternate them `repeats` times: (transformers, server)."""
    hf.warm_up(batch)
    server.warm_up(batch)
    ours, theirs = [], []
    for _ in range(repeats):
        theirs.append(hf.timing(batch))
        ours.append(server.timing(batch))
    return Runs(tuple(theirs)), Runs(tuple(ours))


def _cell(runs: Runs, figure: str, scale: float = 1.0) -> str:
    return f"{scale * runs.best(figure):>9.1f} ({scale * runs.median(figure):>7.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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

    print(f"hyperaccel server vs transformers, {model}, fp32, {PROMPT_LEN}-token prompts, greedy; "
          f"transformers on {torch.get_num_threads()} threads; best of {args.repeats} alternating runs "
          "(median in brackets); host wall clock")
    print("  t1 ms            one call, max_new_tokens=1: prefill + first token (server: + HTTP)")
    print(f"  end-to-end tok/s batch x {NEW_TOKENS} / t{NEW_TOKENS}, one call of {NEW_TOKENS} new tokens "
          "(prefill and HTTP included)")
    print(f"  decode tok/s     batch x {NEW_TOKENS - 1} / (t{NEW_TOKENS} - t1): the decode steps alone; "
          "the goal applies here")
    w = 19  # one best (median) cell
    print(f"{'':>5}  {'t1 ms':^{2 * w + 2}}  {'end-to-end tok/s':^{2 * w + 10}}  "
          f"{'decode tok/s':^{2 * w + 17}}")
    sides = f"{'transformers':>{w}}  {'hyperaccel':>{w}}"
    print(f"{'batch':>5}  {sides}  {sides}  {'ratio':>6}  {sides}  {'ratio':>6}  {'goal':>5}")
    ok = True
    for b in batches:
        theirs, ours = results[b]
        e2e = ours.best("e2e_tokens_per_s") / theirs.best("e2e_tokens_per_s")
        decode = ours.best("decode_tokens_per_s") / theirs.best("decode_tokens_per_s")
        goal = GOALS.get(b)
        ok &= goal is None or decode >= goal
        print(f"{b:>5}  {_cell(theirs, 'first_s', 1e3):>{w}}  {_cell(ours, 'first_s', 1e3):>{w}}  "
              f"{_cell(theirs, 'e2e_tokens_per_s'):>{w}}  {_cell(ours, 'e2e_tokens_per_s'):>{w}}  "
              f"{e2e:>5.2f}x  "
              f"{_cell(theirs, 'decode_tokens_per_s'):>{w}}  {_cell(ours, 'decode_tokens_per_s'):>{w}}  "
              f"{decode:>5.2f}x  {'' if goal is None else f'{goal:.1f}x':>5}")
    cores = os.cpu_count() or 1
    if max(load_before, load_after) > cores:
        print(f"note: load average {load_before:.1f} -> {load_after:.1f} on {cores} cores: other work shared "
              "the host, so these figures are noisy (multi-threaded transformers suffers most)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
