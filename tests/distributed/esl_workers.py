"""Rank bodies for the collective tests, run by `torch.multiprocessing.spawn` (importable by name).

Each body checks values inside the rank and raises on a mismatch; `spawn` re-raises it in the
test with the rank's traceback.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import traceback
from pathlib import Path

import torch

WORLD = 2


def _init(rank: int, port: int) -> torch.device:
    import torch.distributed as dist

    from sglang_hyperaccel.distributed import register

    name = register()
    torch.hyperaccel.set_device(rank)
    store = dist.TCPStore("127.0.0.1", port, WORLD, rank == 0, timeout=datetime.timedelta(seconds=120))
    dist.init_process_group(name, rank=rank, world_size=WORLD, store=store,
                            timeout=datetime.timedelta(seconds=60))
    return torch.device(f"hyperaccel:{rank}")


def run(rank: int, port: int, bodies: str, results: str = "") -> None:
    """Rank entry point: join the group, run each of `bodies` (comma-separated function names here),
    leave the group.

    Without `results` a failing body raises (spawn re-raises it in the test). With it, each
    body's outcome ("ok" or its traceback) is written to `<results>/<body>.<rank>` and the next
    body still runs, so one spawn serves several tests.
    """
    import torch.distributed as dist

    device = _init(rank, port)
    try:
        for body in bodies.split(","):
            try:
                globals()[body](rank, device)
                outcome = "ok"
            except Exception:
                if not results:
                    raise
                outcome = traceback.format_exc()
            if results:
                Path(results, f"{body}.{rank}").write_text(outcome)
    finally:
        if dist.is_initialized() and "peer_dies" not in bodies:
            dist.destroy_process_group()
    if "peer_dies" in bodies:
        # The survivor's gloo pairs are broken: tearing them down at interpreter exit aborts the
        # process now and then ("terminate called without an active exception", about 1 run in 30).
        # The body has passed; leave without running destructors, as the dead peer did.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _on_chip(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    assert t.device == device, f"{t.device} != {device}"
    return t.cpu()


def collectives(rank: int, device: torch.device) -> None:
    """Every supported collective on chip tensors, values checked against the CPU answer."""
    import torch.distributed as dist

    from sglang_hyperaccel.distributed import BACKEND_NAME, backend_of

    assert dist.get_backend() == BACKEND_NAME
    other = 1 - rank
    before = torch.hyperaccel.memory_allocated(other)

    x = torch.arange(6, dtype=torch.float32, device=device) + 10 * rank
    dist.all_reduce(x)
    assert torch.equal(_on_chip(x, device), torch.arange(6.) * 2 + 10)

    for op, expect in ((dist.ReduceOp.MAX, 1), (dist.ReduceOp.MIN, 0), (dist.ReduceOp.PRODUCT, 0)):
        y = torch.full((3,), rank, dtype=torch.int64, device=device)
        dist.all_reduce(y, op=op)
        assert _on_chip(y, device).tolist() == [expect] * 3, op

    avg = torch.full((4,), float(rank + 1), device=device)
    dist.all_reduce(avg, op=dist.ReduceOp.AVG)
    assert torch.allclose(_on_chip(avg, device), torch.full((4,), 1.5))

    b = torch.full((2, 3), float(rank), dtype=torch.bfloat16, device=device)
    dist.broadcast(b, src=1)
    assert torch.equal(_on_chip(b, device), torch.ones(2, 3, dtype=torch.bfloat16))

    gathered = torch.empty(2, 4, device=device)
    dist.all_gather_into_tensor(gathered, torch.arange(4., device=device) + 100 * rank)
    assert torch.equal(_on_chip(gathered, device), torch.stack([torch.arange(4.), torch.arange(4.) + 100]))

    parts = [torch.empty(3, device=device) for _ in range(WORLD)]
    dist.all_gather(parts, torch.full((3,), float(rank), device=device))
    assert [p.cpu().tolist() for p in parts] == [[0.0] * 3, [1.0] * 3]

    shard = torch.empty(2, device=device)
    dist.reduce_scatter_tensor(shard, torch.arange(4., device=device) * (rank + 1))
    assert _on_chip(shard, device).tolist() == (torch.arange(4.) * 3)[2 * rank:2 * rank + 2].tolist()

    a2a = torch.empty(4, device=device)
    dist.all_to_all_single(a2a, torch.arange(4., device=device) + 10 * rank)
    expect = torch.tensor([0., 1., 10., 11.]) if rank == 0 else torch.tensor([2., 3., 12., 13.])
    assert torch.equal(_on_chip(a2a, device), expect)

    r = torch.full((2,), float(rank + 1), device=device)
    dist.reduce(r, dst=0, op=dist.ReduceOp.AVG)
    if rank == 0:
        assert _on_chip(r, device).tolist() == [1.5, 1.5]

    rows = [torch.empty(2, device=device) for _ in range(WORLD)] if rank == 0 else None
    dist.gather(torch.full((2,), float(rank), device=device), rows, dst=0)
    if rank == 0:
        assert [t.cpu().tolist() for t in rows] == [[0.0, 0.0], [1.0, 1.0]]

    piece = torch.empty(3, device=device)
    sources = [torch.full((3,), 10.0 + i, device=device) for i in range(WORLD)] if rank == 1 else None
    dist.scatter(piece, sources, src=1)
    assert _on_chip(piece, device).tolist() == [10.0 + rank] * 3

    # A strided (non-contiguous) view is reduced in place through a staging copy.
    m = torch.arange(8., device=device).reshape(2, 4) * (rank + 1)
    col = m[:, 1]
    dist.all_reduce(col)
    assert _on_chip(m, device)[:, 1].tolist() == [3.0, 15.0]
    assert _on_chip(m, device)[:, 0].tolist() == [0.0, 4.0 * (rank + 1)]

    if rank == 0:
        dist.send(torch.tensor([7., 8.], device=device), dst=1)
    else:
        got = torch.zeros(2, device=device)
        dist.recv(got, src=0)
        assert _on_chip(got, device).tolist() == [7.0, 8.0]

    work = dist.all_reduce(torch.ones(2, device=device), async_op=True)
    assert work.is_completed() or work.wait()
    dist.barrier()

    # Rank i's tensors live on chip i: nothing was allocated on the other rank's chip.
    assert torch.hyperaccel.memory_allocated(other) == before
    calls = backend_of().calls
    assert calls["allreduce"] >= 6 and calls["all_gather_single"] == 1 and calls["barrier"] == 1


def unsupported(rank: int, device: torch.device) -> None:
    """Collectives the link lacks raise a clear error naming them; CPU tensors are refused."""
    import torch.distributed as dist

    outs = [torch.empty(1, device=device) for _ in range(WORLD)]
    try:
        dist.all_to_all(outs, [torch.ones(1, device=device) for _ in range(WORLD)])
    except Exception as exc:  # noqa: BLE001 (c10d may re-wrap the type; the message is the contract)
        assert "not supported" in str(exc) and "alltoall" in str(exc), str(exc)
    else:
        raise AssertionError("all_to_all on esl did not raise")
    try:
        dist.all_reduce(torch.ones(2, device=device), op=dist.ReduceOp.PREMUL_SUM)
    except Exception as exc:  # noqa: BLE001
        assert "PREMUL_SUM" in str(exc) or "not supported" in str(exc), str(exc)
    try:
        dist.all_reduce(torch.ones(2))
    except RuntimeError as exc:
        assert "cpu" in str(exc).lower(), str(exc)
    else:
        raise AssertionError("a CPU tensor went through the esl backend")
    dist.barrier()


def peer_dies(rank: int, device: torch.device) -> None:
    """Rank 1 exits without a word; rank 0's next all-reduce raises EslError quickly, no hang."""
    import torch.distributed as dist

    from sglang_hyperaccel.distributed import EslError

    dist.all_reduce(torch.ones(1, device=device))
    if rank == 1:
        os._exit(0)
    time.sleep(1.0)
    start = time.monotonic()
    try:
        dist.all_reduce(torch.ones(1, device=device))
    except EslError as exc:
        assert "allreduce failed on rank 0 of 2" in str(exc) and "peer rank" in str(exc), str(exc)
    else:
        raise AssertionError("all_reduce with a dead peer did not raise")
    assert time.monotonic() - start < 30
