"""Chip-time throughput with and without RadixAttention on a shared-prefix workload.

128 requests over 8 system prompts of about 1,000 tokens (each request: its tenant's prompt, a
unique 24-token question, 16 new tokens), sent by 16 concurrent clients to a hyperaccel server with
the radix cache and to one with `--disable-radix-cache`. Chip-time throughput is requests' tokens
(prompt + output) over the chip's busy span (last chip finish - first chip arrival, from each
answer's `meta_info.hyperaccel`); hit rate is cached prompt tokens over prompt tokens. Goals: at
least 3x chip-time throughput and at least 80% token hit rate with the cache.

    .venv/bin/python benchmarks/bench_radix_cache.py [--model PATH] [--requests 128] [--tenants 8]
"""

from __future__ import annotations

import argparse
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.launcher import ServerProcess

PREFIX_LEN, QUESTION_LEN, NEW_TOKENS, CLIENTS = 1000, 24, 16, 16


@dataclass(frozen=True)
class RunResult:
    """One server's figures over the whole workload."""

    requests: int
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    chip_span_ms: float

    @property
    def hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens

    @property
    def chip_tokens_per_s(self) -> float:
        return (self.prompt_tokens + self.output_tokens) / (self.chip_span_ms / 1e3)


def workload(requests_n: int, tenants: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    prefixes = [[rng.randrange(10, 2000) for _ in range(PREFIX_LEN)] for _ in range(tenants)]
    return [prefixes[i % tenants] + [rng.randrange(10, 2000) for _ in range(QUESTION_LEN)]
            for i in range(requests_n)]


def run(url: str, prompts: list[list[int]]) -> RunResult:
    def one(ids: list[int]) -> dict:
        resp = requests.post(f"{url}/generate", timeout=900, json={
            "input_ids": ids,
            "sampling_params": {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}})
        resp.raise_for_status()
        return resp.json()["meta_info"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        metas = list(pool.map(one, prompts))
    chips = [m["hyperaccel"] for m in metas]
    span = max(c["sim_finish_ms"] for c in chips) - min(c["sim_arrival_ms"] for c in chips)
    return RunResult(len(metas), sum(m["prompt_tokens"] for m in metas),
                     sum(m["cached_tokens"] for m in metas),
                     sum(m["completion_tokens"] for m in metas), span)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the tiny demo model)")
    parser.add_argument("--requests", type=int, default=128)
    parser.add_argument("--tenants", type=int, default=8)
    args = parser.parse_args(argv)
    model = str(args.model or ensure_demo_model())
    prompts = workload(args.requests, args.tenants)
    results = {}
    for label, extra in (("radix cache", ()), ("no cache", ("--disable-radix-cache",))):
        with ServerProcess(model, args=extra) as server:
            results[label] = run(server.url, prompts)
    on, off = results["radix cache"], results["no cache"]
    print(f"{args.requests} requests, {args.tenants} prefixes of {PREFIX_LEN} tokens, "
          f"{CLIENTS} clients, {model}")
    print(f"{'':<12} {'hit rate':>8} {'chip span ms':>12} {'chip tok/s':>12}")
    for label, r in results.items():
        print(f"{label:<12} {r.hit_rate:>8.1%} {r.chip_span_ms:>12.2f} {r.chip_tokens_per_s:>12.0f}")
    speedup = on.chip_tokens_per_s / off.chip_tokens_per_s
    print(f"chip-time throughput ratio {speedup:.2f}x (goal >= 3x); hit rate {on.hit_rate:.1%} (goal >= 80%)")
    return 0 if speedup >= 3 and on.hit_rate >= 0.8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
