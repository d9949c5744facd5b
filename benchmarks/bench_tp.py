"""Tensor parallelism in chip time: the server at TP 1 and 2 beside the simulator at 1, 2, 4, 8 devices.

One workload: batch 1, a 32-token prompt, 64 new tokens, greedy, EOS ignored, on the ~100M Llama
(`sglang-hyperaccel demo-model bench-100m`). The prediction for N devices is
`generate(Simulator(chip, model, devices=N), 1, 32, 64)`; its sync share and speedup over 1 device
are the simulator's answer to "what does TP N buy on the chip".

The server's figure, `meta_info.hyperaccel.sim_tpot_ms`, is chip time from the server's chip clock,
which charges every forward batch to that same simulator. Server and prediction agreeing is therefore
not evidence that the model is right (it is the model on both sides); it proves bookkeeping: the
batches the real scheduler formed at TP N were charged to a clock of `devices=N` over the shapes
`generate()` assumes (one prefill of the prompt, then single-token decode steps over a growing KV
cache). Both sides evaluate the same formulas on the same shapes, so they must agree to float
rounding: checked to 0.1% (`bookkeeping`; the 5% first set as the goal allowed far more).

A decode step missing or charged twice hardly moves a mean per step, so beside it stand checks that
do not go through the simulator:

- counts: the report's `devices` is the `--tp-size` the server was started with, its
  `sim_decode_steps` is SGLang's `completion_tokens - 1` and `sim_prefill_tokens + sim_cached_tokens`
  is SGLang's `prompt_tokens`;
- tokens: the greedy output ids at TP N equal TP 1's for the same prompts (when TP 1 is served).

Host wall-clock per token is shown too: the emulation's speed, not the chip's. Exit status 0 when
every check passes.

    .venv/bin/python benchmarks/bench_tp.py [--model PATH] [--tp 1,2] [--devices 1,2,4,8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass

import requests

from sglang_hyperaccel.chip import emulated_chip
from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.launcher import ServerProcess
from sglang_hyperaccel.simulator import GenerationResult, ModelSpec, Simulator, generate

BATCH, PROMPT_LEN, NEW_TOKENS = 1, 32, 64
BOOKKEEPING_TOLERANCE = 1e-3  # same formulas on the same shapes: float rounding only
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
PORTS = range(33000, 34000)
KV_TOKENS = 4096  # the workload needs ~100; each rank's KV pool is zeroed host RAM


def _port(avoid: set[int]) -> int:
    start = (os.getpid() + int(time.time())) % len(PORTS)
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        if port in avoid:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        avoid.add(port)
        return port
    raise RuntimeError("no free port in 33000-33999")


def predict(model: str, dtype: str, devices: int) -> GenerationResult:
    """`generate()` for the workload on the simulator the server's chip clock builds (same chip, shapes)."""
    spec = ModelSpec.from_hf_config(model).with_dtype_bytes(DTYPE_BYTES[dtype])
    return generate(Simulator(emulated_chip(), spec, devices=devices), BATCH, PROMPT_LEN, NEW_TOKENS)


@dataclass(frozen=True)
class Served:
    """One server's means over the measured requests, and the simulator-independent count check."""

    ms_per_token: float  # chip time (sim_tpot_ms)
    ttft_ms: float  # chip time (sim_ttft_ms)
    wall_ms_per_token: float  # host wall clock, end to end
    counts_ok: bool  # devices == --tp-size; decode steps and prompt tokens match SGLang's counts
    output_ids: tuple[tuple[int, ...], ...]  # greedy tokens per request, for parity across TP sizes


def measure(url: str, tp: int, vocab: int, rounds: int) -> Served:
    """Chip ms/token, TTFT and host wall ms/token over `rounds` prompts (the same ones for every server)."""
    params = {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}
    requests.post(f"{url}/generate", timeout=600,
                  json={"input_ids": [5, 6, 7, 8], "sampling_params": {**params, "max_new_tokens": 4}})
    tpot, ttft, wall, outputs = [], [], [], []
    counts_ok = True
    rng = random.Random(0)
    for _ in range(rounds):
        requests.post(f"{url}/flush_cache", timeout=60)
        ids = [rng.randrange(10, vocab) for _ in range(PROMPT_LEN)]
        resp = requests.post(f"{url}/generate", timeout=1800,
                             json={"input_ids": ids, "sampling_params": params})
        resp.raise_for_status()
        out = resp.json()
        meta = out["meta_info"]
        chip = meta["hyperaccel"]
        counts_ok &= (meta["completion_tokens"] == NEW_TOKENS and chip["devices"] == tp
                      and chip["sim_decode_steps"] == meta["completion_tokens"] - 1
                      and chip["sim_prefill_tokens"] + chip["sim_cached_tokens"] == meta["prompt_tokens"])
        tpot.append(chip["sim_tpot_ms"])
        ttft.append(chip["sim_ttft_ms"])
        wall.append(1e3 * meta["e2e_latency"] / NEW_TOKENS)
        outputs.append(tuple(out["output_ids"]))
    return Served(sum(tpot) / rounds, sum(ttft) / rounds, sum(wall) / rounds, counts_ok, tuple(outputs))


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else "yes" if ok else "NO"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model directory (default: the bench-100m demo model)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPE_BYTES))
    parser.add_argument("--tp", default="1,2", help="tensor-parallel sizes to serve (started together)")
    parser.add_argument("--devices", default="1,2,4,8", help="device counts to predict")
    parser.add_argument("--rounds", type=int, default=3, help="measured requests per server")
    parser.add_argument("--json", action="store_true", help="also print one JSON line of the results")
    args = parser.parse_args(argv)
    model = str(args.model or ensure_demo_model("bench-100m"))
    tps = [int(t) for t in args.tp.split(",")]
    devices = sorted(set(int(d) for d in args.devices.split(",")) | set(tps))
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(model).vocab_size
    predicted = {n: predict(model, args.dtype, n) for n in devices}

    served: dict[int, Served] = {}
    used: set[int] = set()
    with ExitStack() as stack:
        servers = {}
        for tp in tps:
            extra = ("--nccl-port", str(_port(used))) if tp > 1 else ()
            proc = ServerProcess(model, port=_port(used),
                                 args=("--dtype", args.dtype, "--tp-size", str(tp), *extra,
                                       "--max-total-tokens", str(KV_TOKENS)))
            stack.callback(proc.stop)
            servers[tp] = proc.start()
        for tp, proc in servers.items():
            proc.wait_healthy(900)
        for tp, proc in servers.items():
            served[tp] = measure(proc.url, tp, vocab, args.rounds)

    base = predicted[devices[0]].ms_per_token
    print(f"chip time per output token, {predicted[1].model if 1 in predicted else model} on "
          f"{predicted[devices[0]].chip}, {args.dtype}, batch {BATCH}, {PROMPT_LEN}-token prompt, "
          f"{NEW_TOKENS} new tokens")
    print("  sim: generate() on Simulator(devices=N); server: its chip clock, charged with the batches the "
          "scheduler formed, on the same simulator")
    print(f"  bookkeeping: server = sim to {100 * BOOKKEEPING_TOLERANCE:g}%: the scheduler's batches were "
          "charged at devices=N over the shapes generate() assumes (1 prefill, then decode steps); "
          "not a check of the model")
    print(f"  counts: devices = --tp-size, decode steps = completion_tokens - 1 = {NEW_TOKENS - 1}, "
          "prefill + cached = prompt_tokens (SGLang's counts); tokens: greedy output ids = TP 1's. "
          "Neither uses the simulator")
    print(f"{'devices':>7}  {'sim ms/tok':>10}  {'sim sync ms':>11}  {'speedup':>7}  "
          f"{'server ms/tok':>13}  {'diff':>7}  {'bookkeeping':>11}  {'counts':>6}  {'tokens':>6}  "
          f"{'sim TTFT ms':>11}  {'server TTFT ms':>14}  {'host wall ms/tok':>16}")
    ok = True
    rows = []
    for n in devices:
        p = predicted[n]
        row = {"devices": n, "sim_ms_per_token": p.ms_per_token, "sim_sync_ms": p.decode_breakdown_ms["sync"],
               "sim_speedup": base / p.ms_per_token, "sim_ttft_ms": p.ttft_ms}
        line = (f"{n:>7}  {p.ms_per_token:>10.4f}  {row['sim_sync_ms']:>11.4f}  "
                f"{row['sim_speedup']:>6.2f}x  ")
        if n in served:
            s = served[n]
            diff = s.ms_per_token / p.ms_per_token - 1.0
            bookkeeping = abs(diff) <= BOOKKEEPING_TOLERANCE
            tokens = None if 1 not in served or n == 1 else s.output_ids == served[1].output_ids
            ok &= bookkeeping and s.counts_ok and tokens is not False
            row.update(server_ms_per_token=s.ms_per_token, diff=diff, bookkeeping_ok=bookkeeping,
                       counts_ok=s.counts_ok, tokens_equal_tp1=tokens, server_ttft_ms=s.ttft_ms,
                       wall_ms_per_token=s.wall_ms_per_token)
            line += (f"{s.ms_per_token:>13.4f}  {100 * diff:>+6.2f}%  {_mark(bookkeeping):>11}  "
                     f"{_mark(s.counts_ok):>6}  {_mark(tokens):>6}  "
                     f"{p.ttft_ms:>11.4f}  {s.ttft_ms:>14.4f}  {s.wall_ms_per_token:>16.1f}")
        else:
            line += (f"{'-':>13}  {'-':>7}  {'-':>11}  {'-':>6}  {'-':>6}  {p.ttft_ms:>11.4f}  {'-':>14}  "
                     f"{'-':>16}")
        print(line)
        rows.append(row)
    if args.json:
        print(json.dumps({"model": model, "dtype": args.dtype, "rows": rows}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
