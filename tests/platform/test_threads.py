"""The scheduler keeps its CPU threads: the chip computes on them."""

from __future__ import annotations

import torch

from sglang_hyperaccel.platform.threads import load_model_around, threads_for


def _tp(monkeypatch, tp_size: int) -> None:
    """Make SGLang's parallel context report `tp_size` ranks."""
    from types import SimpleNamespace

    import sglang.srt.runtime_context as context

    monkeypatch.setattr(context, "get_parallel", lambda: SimpleNamespace(tp_size=tp_size, tp_rank=0))


def _load_model_like_sglang(runner) -> str:
    torch.set_num_threads(1)  # what ModelRunner.load_model does for any device but "cpu"
    return "loaded"


def test_threads_come_back_after_load_model(monkeypatch):
    """After a load_model that drops to 1 thread, a TP=1 rank gets 4 back and a TP=2 rank 4 // 2."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        _tp(monkeypatch, 1)
        assert load_model_around(_load_model_like_sglang, object()) == "loaded"
        assert torch.get_num_threads() == 4
        torch.set_num_threads(4)
        _tp(monkeypatch, 2)
        load_model_around(_load_model_like_sglang, object())
        assert torch.get_num_threads() == 2  # two ranks on this host share its threads
    finally:
        torch.set_num_threads(before)


def test_threads_per_rank_never_drop_below_one():
    """Threads per rank are available // ranks, at least 1, and all of them when ranks is 0."""
    assert threads_for(2, 8) == 1
    assert threads_for(16, 4) == 4
    assert threads_for(3, 0) == 3
