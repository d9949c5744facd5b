"""The `esl` c10d backend: collectives on hyperaccel tensors across two spawned processes."""

from __future__ import annotations

from pathlib import Path

import esl_workers
import pytest
import torch
import torch.multiprocessing as mp

from sglang_hyperaccel.launcher import free_port

SHARED_BODIES = ("collectives", "unsupported")  # run by one spawn, checked by one test each


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Path:
    """Run the shared rank bodies once in two processes; their outcomes land in this folder."""
    out = tmp_path_factory.mktemp("esl")
    mp.spawn(esl_workers.run, args=(free_port(), ",".join(SHARED_BODIES), str(out)),
             nprocs=esl_workers.WORLD)
    return out


def _assert_ok(out: Path, body: str) -> None:
    for rank in range(esl_workers.WORLD):
        result = (out / f"{body}.{rank}").read_text()
        assert result == "ok", f"rank {rank}:\n{result}"


def test_collectives_on_device_match_cpu_values(outcomes):
    """Every supported collective (all-reduce ops, gathers, scatters, send/recv...) is exact on each chip."""
    # all-reduce (sum/max/min/product/avg), reduce, broadcast, all-gather, gather, scatter,
    # reduce-scatter, all-to-all, send/recv and barrier: see esl_workers.collectives.
    _assert_ok(outcomes, "collectives")


def test_unsupported_collectives_raise_clear_errors(outcomes):
    """all_to_all of tensor lists and PREMUL_SUM name themselves; CPU tensors are refused."""
    _assert_ok(outcomes, "unsupported")


@pytest.mark.timeout(180)
def test_dead_peer_raises_instead_of_hanging():
    """A rank that exits makes the other rank's next collective raise EslError within 30 s."""
    mp.spawn(esl_workers.run, args=(free_port(), "peer_dies"), nprocs=esl_workers.WORLD)


def test_platform_hooks_name_the_backend_and_the_rank_chip():
    """The platform returns `esl` (registered for hyperaccel) and `hyperaccel:i` for rank i."""
    import torch.distributed as dist

    from sglang_hyperaccel.distributed import BACKEND_NAME
    from sglang_hyperaccel.platform.srt_platform import HyperAccelPlatform

    platform = HyperAccelPlatform()
    assert platform.get_torch_distributed_backend_str() == BACKEND_NAME
    assert dist.Backend.backend_capability[BACKEND_NAME] == ["hyperaccel"]
    assert dist.Backend.default_device_backend_map["hyperaccel"] == BACKEND_NAME
    assert platform.get_group_coordinator_device(1) == torch.device("hyperaccel:1")


def test_one_rank_reductions_skip_the_link():
    """On a one-rank group every reduce op is the identity: values unchanged, no gloo launch, counted."""
    import datetime

    from torch._C._distributed_c10d import AllreduceOptions, HashStore, ReduceOp

    from sglang_hyperaccel.device import register as register_device
    from sglang_hyperaccel.distributed.backend import EslBackend

    register_device()
    backend = EslBackend(HashStore(), 0, 1, datetime.timedelta(seconds=10))
    backend._transport = None  # any launch would now fail
    ids = torch.tensor([5, 7, 11], device="hyperaccel")
    for op in (ReduceOp.MIN, ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX):
        opts = AllreduceOptions()
        opts.reduceOp = op
        assert backend.allreduce([ids], opts).wait()
    assert ids.cpu().tolist() == [5, 7, 11]
    assert backend.calls["allreduce"] == 4
