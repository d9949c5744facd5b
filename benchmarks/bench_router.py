"""cache_aware vs round_robin routing over hyperaccel replicas that must evict.

Multi-tenant shared-prefix workload: T tenants, each with its own ~P-token system prompt; every
request is its tenant's prompt + a unique question, in one seeded random order, sent by C
concurrent clients through SGLang's router (smg). Each replica's KV pool is capped
(`--max-total-tokens`) so that it holds about `--kv-prefixes` tenant prompts: fewer than all
tenants, more than its share under cache-aware routing. The same replicas serve both policies
(the router is restarted with the other policy and every cache is flushed in between).

One run per seed (request order): where the router places each new tenant depends on the load at
its first request, so a run can put 6 tenants on one replica and 2 on the other; a line per seed
shows it. Printed side by side over all seeds: token hit rate, prompt tokens prefilled again
(misses), and chip-time throughput (mean over seeds; see `sglang_hyperaccel.deploy.stats`), with
the ratios against the goals: round_robin recomputes >= 2x the prefill tokens of cache_aware, and
cache_aware has >= 1.5x the chip-time throughput.

    .venv/bin/python benchmarks/bench_router.py [--replicas 2] [--tenants 8] [--per-tenant 24] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.deploy import (
    ROUTED_WORKER_HEADER,
    RequestRecord,
    RouterProcess,
    RouterSettings,
    RunSummary,
    summarize,
)
from sglang_hyperaccel.deploy.deployment import stop_all
from sglang_hyperaccel.launcher import ServerProcess

WORDS = tuple((
    "chip model token cache server request router memory prefix batch latency schedule kernel "
    "tensor device stream grammar schema record field value answer question city river mountain "
    "book library student teacher market engine signal network window garden ocean planet system "
    "user program function result error list name price order item account reads writes serves "
    "routes caches computes returns sends builds checks holds moves measures finds keeps"
).split())


def tenant_prompt(tokenizer, tenant: int, tokens: int, seed: int) -> str:
    """A distinct system prompt of about `tokens` tokens for one tenant."""
    rng = random.Random(seed * 1000 + tenant)
    words = [f"Tenant {tenant} system prompt:"]
    while len(tokenizer(" ".join(words)).input_ids) < tokens:
        words.extend(rng.choice(WORDS) for _ in range(16))
    return " ".join(words)


def workload(model: Path, tenants: int, per_tenant: int, prefix_tokens: int, seed: int) -> list[str]:
    """Every request's text, in the seeded random order both policies see."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    prompts = [tenant_prompt(tokenizer, t, prefix_tokens, seed) for t in range(tenants)]
    rng = random.Random(seed)
    texts = [f"{prompts[t]}\nQuestion {j} of tenant {t}: "
             + " ".join(rng.choice(WORDS) for _ in range(8)) + "?"
             for t in range(tenants) for j in range(per_tenant)]
    rng.shuffle(texts)
    return texts


def run_policy(url: str, texts: list[str], clients: int, new_tokens: int) -> tuple[RunSummary, Counter]:
    """Send every text through the router; the summary, and how many tenants each replica mostly served."""
    session_local = requests.Session()

    def one(text: str) -> RequestRecord:
        resp = session_local.post(f"{url}/generate", timeout=600, json={
            "text": text,
            "sampling_params": {"temperature": 0, "max_new_tokens": new_tokens, "ignore_eos": True}})
        resp.raise_for_status()
        return RequestRecord.from_response(resp.headers.get(ROUTED_WORKER_HEADER, "?"), resp.json())

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        records = list(pool.map(one, texts))
    wall_s = time.monotonic() - start
    by_tenant: dict[str, Counter] = {}
    for text, rec in zip(texts, records):
        tenant = re.match(r"Tenant (\d+)", text).group(1)
        by_tenant.setdefault(tenant, Counter())[rec.worker] += 1
    homes = Counter(counts.most_common(1)[0][0] for counts in by_tenant.values())
    return summarize(records, wall_s=wall_s), homes


def flush(replicas: list[ServerProcess]) -> None:
    for server in replicas:
        requests.post(server.url + "/flush_cache", timeout=30).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the demo model")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--per-tenant", type=int, default=24)
    parser.add_argument("--prefix-tokens", type=int, default=800)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent clients; keep their in-flight KV under 80%% of a pool, or smg's "
                             "overload protection sends requests away from the replica holding their prefix")
    parser.add_argument("--kv-prefixes", type=float, default=6.0,
                        help="KV pool per replica, in tenant prompts (must be < tenants)")
    parser.add_argument("--port", type=int, default=32200, help="router port; replicas on the next ones")
    parser.add_argument("--seeds", default="0,1,2",
                        help="one run per seed (request order); where the router places each tenant varies")
    args = parser.parse_args()
    assert args.kv_prefixes < args.tenants, "the caches must not hold every tenant's prompt"

    model = args.model or ensure_demo_model()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    kv_tokens = int(args.kv_prefixes * args.prefix_tokens)
    server_args = ("--max-total-tokens", str(kv_tokens), "--enable-metrics")
    log_dir = Path(f"/tmp/bench-router-{args.port}")
    log_dir.mkdir(exist_ok=True)
    replicas = [ServerProcess(model, port=args.port + 1 + i, args=server_args,
                              log_path=log_dir / f"replica-{i}.log")
                for i in range(args.replicas)]
    print(f"{args.replicas} replicas x {kv_tokens} KV tokens; {args.tenants} tenants x {args.per_tenant} "
          f"requests, ~{args.prefix_tokens}-token prompts, {args.new_tokens} new tokens, "
          f"{args.clients} clients, seeds {seeds}")
    runs: dict[str, list[tuple[RunSummary, Counter]]] = {"cache_aware": [], "round_robin": []}
    try:
        for server in replicas:
            server.start()
        for server in replicas:
            server.wait_healthy(900)
        for seed in seeds:
            texts = workload(model, args.tenants, args.per_tenant, args.prefix_tokens, seed)
            for policy, results in runs.items():
                flush(replicas)
                router = RouterProcess("127.0.0.1", args.port, tuple(s.url for s in replicas),
                                       RouterSettings(policy=policy), log_dir / f"router-{policy}-{seed}.log")
                try:
                    router.start().wait_ready(healthy=len(replicas), timeout=120)
                    results.append(run_policy(router.url, texts, args.clients, args.new_tokens))
                finally:
                    router.stop()
            report_seed(seed, runs["cache_aware"][-1], runs["round_robin"][-1])
    finally:
        stop_all(server.stop for server in replicas)
    report(runs)


def _ratios(ca: RunSummary, rr: RunSummary) -> str:
    return (f"recomputed rr/ca {rr.missed_tokens / max(ca.missed_tokens, 1):.2f}x, chip throughput ca/rr "
            f"{ca.chip_tokens_per_s / rr.chip_tokens_per_s:.2f}x "
            f"(makespan {ca.makespan_tokens_per_s / rr.makespan_tokens_per_s:.2f}x)")


def report_seed(seed: int, ca_run: tuple[RunSummary, Counter], rr_run: tuple[RunSummary, Counter]) -> None:
    (ca, homes), (rr, _) = ca_run, rr_run
    split = " / ".join(str(homes.get(w, 0)) for w in sorted(ca.replica_requests))
    print(f"seed {seed}: hit rate {ca.hit_rate:.1%} vs {rr.hit_rate:.1%}; "
          f"tenants per replica under cache_aware {split}; {_ratios(ca, rr)}", flush=True)


def report(runs: dict[str, list[tuple[RunSummary, Counter]]]) -> None:
    """The side-by-side table over all seeds: token sums, mean throughputs, and the ratios vs the goals."""
    def total(policy: str) -> dict[str, float]:
        summaries = [summary for summary, _ in runs[policy]]
        n = len(summaries)
        return {
            "requests": sum(s.requests for s in summaries),
            "prompt": sum(s.prompt_tokens for s in summaries),
            "hit": sum(s.cached_tokens for s in summaries) / sum(s.prompt_tokens for s in summaries),
            "missed": sum(s.missed_tokens for s in summaries),
            "tput": sum(s.chip_tokens_per_s for s in summaries) / n,
            "makespan": sum(s.makespan_tokens_per_s for s in summaries) / n,
            "wall": sum(s.wall_s for s in summaries),
        }

    ca, rr = total("cache_aware"), total("round_robin")
    rows = [("requests", "requests", "{:.0f}"), ("prompt tokens", "prompt", "{:.0f}"),
            ("token hit rate", "hit", "{:.1%}"), ("prefill tokens recomputed", "missed", "{:.0f}"),
            ("chip-time throughput, tok/s (mean)", "tput", "{:,.0f}"),
            ("makespan throughput, tok/s (mean)", "makespan", "{:,.0f}"), ("wall time, s", "wall", "{:.1f}")]
    print("\n| over all seeds | cache_aware | round_robin | ratio |\n|---|---|---|---|")
    for name, key, fmt in rows:
        ratio = ""
        if key == "missed":
            ratio = f"{rr[key] / ca[key]:.2f}x (goal >= 2x)"
        elif key in ("tput", "makespan"):
            ratio = f"{ca[key] / rr[key]:.2f}x" + (" (goal >= 1.5x)" if key == "tput" else "")
        print(f"| {name} | {fmt.format(ca[key])} | {fmt.format(rr[key])} | {ratio} |")
    miss_ok, tput_ok = rr["missed"] / ca["missed"] >= 2, ca["tput"] / rr["tput"] >= 1.5
    print(f"\ngoals: recomputed prefill >= 2x: {'met' if miss_ok else 'NOT met'}; "
          f"chip-time throughput >= 1.5x: {'met' if tput_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
