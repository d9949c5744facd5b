"""The scheduler keeps its CPU threads: the chip computes on them."""

from __future__ import annotations

import torch

from sglang_hyperaccel.platform.threads import load_model_around, threads_for


class _Runner:
    def __init__(self, tp_size: int) -> None:
        self.tp_size = tp_size


def _load_model_like_sglang(runner) -> str:
    torch.set_num_threads(1)  # what ModelRunner.load_model does for any device but "cpu"
    return "loaded"


def test_threads_come_back_after_load_model():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert load_model_around(_load_model_like_sglang, _Runner(1)) == "loaded"
        assert torch.get_num_threads() == 4
        torch.set_num_threads(4)
        load_model_around(_load_model_like_sglang, _Runner(2))
        assert torch.get_num_threads() == 2  # two ranks on this host share its threads
    finally:
        torch.set_num_threads(before)


def test_threads_per_rank_never_drop_below_one():
    assert threads_for(2, 8) == 1
    assert threads_for(16, 4) == 4
    assert threads_for(3, 0) == 3
