"""The chip's rotary forward equals SGLang's forward_native bit for bit, and its per-forward cache
never serves stale positions."""

from __future__ import annotations

import pytest
import torch

from sglang_hyperaccel.device import register as register_device


@pytest.fixture(scope="module")
def rope():
    register_device()
    from sglang.srt.layers.rotary_embedding import base

    # This test process runs no platform; building the module as on a CPU skips the CUDA-kernel
    # lookup its constructor makes otherwise (the hyperaccel server takes the same branch).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base, "_is_cpu", True)
        module = base.RotaryEmbedding(64, 64, 512, 10000, True, torch.float32)
    module.cos_sin_cache = module.cos_sin_cache.to("hyperaccel")
    return module


@pytest.mark.parametrize("tokens,q_heads,kv_heads", [(1, 12, 12), (7, 4, 2), (33, 8, 1)])
def test_rotary_matches_forward_native(rope, tokens, q_heads, kv_heads):
    """rotary_forward equals forward_native bit for bit, on the first call and the cached second."""
    from sglang_hyperaccel.platform.fused_ops import rotary_forward

    gen = torch.Generator().manual_seed(tokens)
    positions = torch.randint(0, 500, (tokens,), generator=gen).to("hyperaccel")
    q = torch.randn(tokens, q_heads * 64, generator=gen).to("hyperaccel")
    k = torch.randn(tokens, kv_heads * 64, generator=gen).to("hyperaccel")
    want_q, want_k = rope.forward_native(positions, q, k)
    for _ in range(2):  # the second call takes the cached cos/sin
        got_q, got_k = rotary_forward(rope, positions, q, k)
        assert got_q.shape == want_q.shape and got_k.shape == want_k.shape
        assert torch.equal(got_q.cpu(), want_q.cpu()) and torch.equal(got_k.cpu(), want_k.cpu())


def test_rotary_cache_follows_in_place_changes(rope):
    """Positions changed in place (same tensor) give freshly rotated q, not the cached answer."""
    from sglang_hyperaccel.platform.fused_ops import rotary_forward

    positions = torch.tensor([3, 4], device="hyperaccel")
    q = torch.randn(2, 64).to("hyperaccel")
    k = torch.randn(2, 64).to("hyperaccel")
    rotary_forward(rope, positions, q, k)
    positions.add_(100)  # same tensor, new values: the cache must not answer
    got_q, _ = rotary_forward(rope, positions, q, k)
    want_q, _ = rope.forward_native(positions, q, k)
    assert torch.equal(got_q.cpu(), want_q.cpu())
