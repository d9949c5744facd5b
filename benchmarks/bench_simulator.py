"""Simulator evaluations and chip-clock charges per second, against the 100,000/s goal.

The server charges every forward batch through `ChipClock.charge(BatchShape)` (the `ModelRunner.forward`
hook), which builds the batch's `RequestWork` rows, calls `Simulator.step` and stamps each request; the
scheduler also calls `arrive` per new request and the output streamer `finish` per finished one. That
whole path must stay far below the time a real scheduler step takes. Two tables, one run:

1. Bare `Simulator.decode`/`step` on fixed shapes, repeated (the model's own cost).
2. The server's path on a replayed continuous-batching schedule (requests arriving with prompts of
   32-1024 tokens, half of them with a cached prefix, and finishing after 64-256 tokens), timed three
   ways over the same batches: `Simulator.decode`/`extend`, `Simulator.step` (the call `charge`
   makes) and `arrive` + `charge` + `finish`; the ratio is the clock's bookkeeping on top of the model.

Host wall-clock, single thread, no SGLang or torch. The exit status is 0 when both the bare decode
evaluations and the server path's charges reach the goal.

    python benchmarks/bench_simulator.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sglang_hyperaccel.platform.clock import BatchShape, ChipClock  # noqa: E402
from sglang_hyperaccel.simulator import RequestWork, Simulator  # noqa: E402

GOAL = 100_000  # decode-step evaluations per second (issue: LPU simulator)
CHIP, MODEL, DEVICES = "lpu", "opt-66b", 2
SCHEDULE_BATCHES = 2000  # forward batches per replayed schedule


def rate(fn: Callable[[], object], seconds: float, per_call: int = 1) -> float:
    """Units per second of `fn` (`per_call` units per call), best of three runs of about `seconds` / 3.

    Calls are batched so that reading the clock is a negligible share of what is timed.
    """
    repeat = max(1, 1000 // per_call)
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(repeat):
                fn()
            calls += repeat
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, calls * per_call / (now - start))
    return best


@dataclass(frozen=True)
class Event:
    """One scheduler iteration: requests received, the forward batch charged, requests finished."""

    arrivals: tuple[str, ...]
    shape: BatchShape
    finished: tuple[str, ...]


@dataclass
class _Request:
    prompt: int
    output_len: int
    cached: int
    produced: int = 0  # output tokens sampled so far (the prefill samples the first)


def schedule(concurrency: int, batches: int, seed: int = 0) -> list[Event]:
    """A continuous-batching schedule of `batches` forward batches with `concurrency` running requests.

    As SGLang's scheduler does by default (no mixed chunks): a free slot is refilled at once by a new
    request, whose prompt runs as an extend batch of its own; otherwise all running requests decode
    one token. Shapes follow `BatchShape.from_forward_batch` (a decode row's cached tokens are its
    sequence length minus the token fed). Requests still running at the end finish with the last
    batch, so every replay starts and ends with an empty clock.
    """
    rng = random.Random(seed)
    running: dict[str, _Request] = {}
    events: list[Event] = []
    serial = 0
    while len(events) < batches:
        arrivals = []
        while len(running) < concurrency:
            rid, serial = f"req-{serial}", serial + 1
            prompt = rng.randint(32, 1024)
            running[rid] = _Request(prompt, rng.randint(64, 256), rng.choice((0, prompt // 2)))
            arrivals.append(rid)
        if arrivals:
            reqs = [running[rid] for rid in arrivals]
            shape = BatchShape("extend", tuple(arrivals), tuple(r.prompt - r.cached for r in reqs),
                               tuple(r.cached for r in reqs))
        else:
            reqs = list(running.values())
            shape = BatchShape("decode", tuple(running), (1,) * len(reqs),
                               tuple(r.prompt + r.produced - 1 for r in reqs))
        for r in reqs:
            r.produced += 1
        finished = tuple(rid for rid in shape.rids if running[rid].produced == running[rid].output_len)
        for rid in finished:
            del running[rid]
        events.append(Event(tuple(arrivals), shape, finished))
    last = events[-1]
    events[-1] = Event(last.arrivals, last.shape, last.finished + tuple(running))
    return events


@dataclass(frozen=True)
class PathRates:
    """Forward batches per second of one schedule, timed three ways."""

    by_kind: float  # Simulator.decode / Simulator.extend
    step: float  # Simulator.step, the call ChipClock.charge makes
    charge: float  # ChipClock.arrive + charge + finish, as the server calls them


def time_paths(sim: Simulator, events: list[Event], seconds: float) -> PathRates:
    """Replay `events` through the bare simulator calls and through a fresh `ChipClock`."""
    by_kind = [(sim.decode, (e.shape.cached_tokens,)) if e.shape.kind == "decode"
               else (sim.extend, (e.shape.new_tokens, e.shape.cached_tokens)) for e in events]
    rows = [[RequestWork(n, c) for n, c in zip(e.shape.new_tokens, e.shape.cached_tokens)] for e in events]
    clock = ChipClock(sim)  # no listeners: a server without --enable-metrics or a trace path

    def replay_by_kind() -> None:
        for fn, args in by_kind:
            fn(*args)

    def replay_step() -> None:
        for r in rows:
            sim.step(r)

    def replay_charge() -> None:
        for e in events:
            for rid in e.arrivals:
                clock.arrive(rid)
            clock.charge(e.shape)
            for rid in e.finished:
                clock.finish(rid)

    n = len(events)
    return PathRates(rate(replay_by_kind, seconds, n), rate(replay_step, seconds, n),
                     rate(replay_charge, seconds, n))


def _us(per_s: float) -> float:
    return 1e6 / per_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    sim = Simulator(CHIP, MODEL, devices=DEVICES)

    print(f"1. bare simulator evaluations, {CHIP} x{DEVICES}, {MODEL}, fixed shapes repeated")
    cases = {
        "decode, batch 1": lambda kv=[1000]: sim.decode(kv),
        "decode, batch 32": lambda kv=[37 * i + 11 for i in range(32)]: sim.decode(kv),
        "mixed step, 8 decode + 1 extend": (
            lambda rows=[RequestWork(1, 900 + i) for i in range(8)] + [RequestWork(256, 1024)]:
            sim.step(rows)),
    }
    print(f"{'case':34s} {'evals/s':>12s} {'us/eval':>8s} {'vs goal':>8s}")
    bare = None
    for name, fn in cases.items():
        r = rate(fn, args.seconds)
        print(f"{name:34s} {r:12,.0f} {_us(r):8.2f} {r / GOAL:7.2f}x")
        if name.startswith("decode"):
            bare = r if bare is None else min(bare, r)

    print(f"\n2. the server's path per forward batch, replayed schedules of {SCHEDULE_BATCHES:,} batches "
          "(requests arriving and finishing); steps/s and us/step per path")
    print(f"{'running requests':18s} {'decode':>6s} {'extend':>6s}   "
          f"{'decode/extend':>17s}   {'Simulator.step':>17s}   {'ChipClock.charge':>17s}   "
          f"{'charge / step':>13s}")
    print(f"{'':18s} {'':>6s} {'':>6s}   " + "   ".join([f"{'steps/s':>9s} {'us':>7s}"] * 3)
          + f"   {'(cost ratio)':>13s}")
    served = None
    for concurrency in (1, 32):
        events = schedule(concurrency, SCHEDULE_BATCHES)
        decodes = sum(e.shape.kind == "decode" for e in events)
        p = time_paths(sim, events, args.seconds)
        print(f"{concurrency:18d} {decodes:6d} {len(events) - decodes:6d}   "
              + "   ".join(f"{r:9,.0f} {_us(r):7.2f}" for r in (p.by_kind, p.step, p.charge))
              + f"   {p.step / p.charge:12.2f}x")
        served = p.charge if served is None else min(served, p.charge)

    print(f"\ndecode-step evaluations per second: {bare:,.0f} = {bare / GOAL:.2f}x the {GOAL:,} goal")
    print(f"server path (arrive + charge + finish) forward batches per second: {served:,.0f} = "
          f"{served / GOAL:.2f}x the goal")
    return 0 if min(bare, served) >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
