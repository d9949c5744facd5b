"""Tensor parallelism in chip time: the server at TP 1 and 2 beside the simulator at 1, 2, 4, 8 devices.

One workload: batch 1, a 32-token prompt, 64 new tokens, greedy, EOS ignored, on the ~100M Llama
(`sglang-hyperaccel demo-model bench-100m`). The server's figure is `meta_info.hyperaccel.sim_tpot_ms`
(chip time per output token, charged batch by batch by the chip clock with the multi-device model
and its exposed ESL sync); the prediction is `Simulator(chip, model, devices=N).generate(...)` for the
same shapes. Prints both, the sync share, and whether each server figure is within 5% of its
prediction (the goal). Host wall-clock per token is shown too: the emulation's speed, not the chip's.

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

import requests

from sglang_hyperaccel import env
from sglang_hyperaccel.demo import ensure_demo_model
from sglang_hyperaccel.server import ServerProcess
from sglang_hyperaccel.simulator import GenerationResult, ModelSpec, Simulator, get_chip

BATCH, PROMPT_LEN, NEW_TOKENS = 1, 32, 64
GOAL = 0.05  # server chip time within 5% of the simulator's prediction
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
    """The simulator's answer for the workload, built as the server's chip clock builds it."""
    chip = get_chip(env.chip_name())
    override = env.memory_override()
    if override:
        chip = chip.with_memory(override)
    spec = ModelSpec.from_hf_config(model).with_dtype_bytes(DTYPE_BYTES[dtype])
    return Simulator(chip, spec, devices=devices).generate(BATCH, PROMPT_LEN, NEW_TOKENS)


def measure(url: str, vocab: int, rounds: int) -> dict[str, float]:
    """Mean chip ms/token, TTFT and host wall ms/token over `rounds` distinct prompts."""
    params = {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}
    requests.post(f"{url}/generate", timeout=600,
                  json={"input_ids": [5, 6, 7, 8], "sampling_params": {**params, "max_new_tokens": 4}})
    tpot, ttft, wall = [], [], []
    rng = random.Random(0)
    for _ in range(rounds):
        requests.post(f"{url}/flush_cache", timeout=60)
        ids = [rng.randrange(10, vocab) for _ in range(PROMPT_LEN)]
        resp = requests.post(f"{url}/generate", timeout=1800, json={"input_ids": ids, "sampling_params": params})
        resp.raise_for_status()
        meta = resp.json()["meta_info"]
        chip = meta["hyperaccel"]
        assert meta["completion_tokens"] == NEW_TOKENS and chip["sim_decode_steps"] == NEW_TOKENS - 1
        tpot.append(chip["sim_tpot_ms"])
        ttft.append(chip["sim_ttft_ms"])
        wall.append(1e3 * meta["e2e_latency"] / NEW_TOKENS)
        devices = chip["devices"]
    return {"devices": devices, "ms_per_token": sum(tpot) / rounds, "ttft_ms": sum(ttft) / rounds,
            "wall_ms_per_token": sum(wall) / rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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

    served: dict[int, dict[str, float]] = {}
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
            served[tp] = measure(proc.url, vocab, args.rounds)
            assert served[tp]["devices"] == tp, served[tp]

    base = predicted[devices[0]].ms_per_token
    print(f"chip time per output token, {predicted[1].model if 1 in predicted else model} on "
          f"{predicted[devices[0]].chip}, {args.dtype}, batch {BATCH}, {PROMPT_LEN}-token prompt, "
          f"{NEW_TOKENS} new tokens")
    print(f"{'devices':>7}  {'sim ms/tok':>10}  {'sim sync ms':>11}  {'speedup':>7}  "
          f"{'server ms/tok':>13}  {'diff':>7}  {'goal 5%':>7}  {'sim TTFT ms':>11}  {'server TTFT ms':>14}  "
          f"{'host wall ms/tok':>16}")
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
            diff = s["ms_per_token"] / p.ms_per_token - 1.0
            within = abs(diff) <= GOAL
            ok &= within
            row.update(server_ms_per_token=s["ms_per_token"], diff=diff, within_goal=within,
                       server_ttft_ms=s["ttft_ms"], wall_ms_per_token=s["wall_ms_per_token"])
            line += (f"{s['ms_per_token']:>13.4f}  {100 * diff:>+6.2f}%  {'yes' if within else 'NO':>7}  "
                     f"{p.ttft_ms:>11.4f}  {s['ttft_ms']:>14.4f}  {s['wall_ms_per_token']:>16.1f}")
        else:
            line += f"{'-':>13}  {'-':>7}  {'-':>7}  {p.ttft_ms:>11.4f}  {'-':>14}  {'-':>16}"
        print(line)
        rows.append(row)
    if args.json:
        print(json.dumps({"model": model, "dtype": args.dtype, "rows": rows}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
