"""The chip's paged decode attention kernel equals per-request SDPA over the gathered rows."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import scaled_dot_product_attention

from sglang_hyperaccel.device import register


def _reference(q, k_cache, v_cache, kv_index, seq_lens, max_kv, scale):
    outs = []
    for b, n in enumerate(seq_lens):
        slots = kv_index[b * max_kv:b * max_kv + n].long()
        k = k_cache[slots].transpose(0, 1).unsqueeze(0)
        v = v_cache[slots].transpose(0, 1).unsqueeze(0)
        outs.append(scaled_dot_product_attention(q[b:b + 1].unsqueeze(2), k, v, scale=scale,
                                                 enable_gqa=q.shape[1] != k_cache.shape[1])[0, :, 0])
    return torch.stack(outs)


@pytest.mark.parametrize("batch,q_heads,kv_heads,dim", [(1, 12, 12, 64), (6, 4, 2, 32), (3, 8, 1, 64)])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_paged_decode_matches_sdpa(batch, q_heads, kv_heads, dim, index_dtype):
    """Paged decode (MHA and GQA, int32/int64 indices, unequal lengths) equals per-request SDPA."""
    register()
    gen = torch.Generator().manual_seed(batch * q_heads)
    slots, max_kv = 400, 37
    k_cache = torch.randn(slots, kv_heads, dim, generator=gen)
    v_cache = torch.randn(slots, kv_heads, dim, generator=gen)
    q = torch.randn(batch, q_heads, dim, generator=gen)
    kv_index = torch.randint(0, slots, (batch * max_kv,), generator=gen).to(index_dtype)
    seq_lens = [max_kv - (7 * b) % 30 for b in range(batch)]
    want = _reference(q, k_cache, v_cache, kv_index, seq_lens, max_kv, 0.17)
    got = torch.ops.hyperaccel.paged_decode_attention(
        q.to("hyperaccel"), k_cache.to("hyperaccel"), v_cache.to("hyperaccel"),
        kv_index.to("hyperaccel"), seq_lens, max_kv, 0.17)
    assert got.device.type == "hyperaccel" and got.shape == want.shape
    torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=2e-6)


def test_paged_decode_refuses_bad_lengths():
    """A sequence length beyond the per-request index row (5 > max_kv 4) raises RuntimeError."""
    register()
    q = torch.randn(1, 2, 8, device="hyperaccel")
    cache = torch.randn(10, 2, 8, device="hyperaccel")
    index = torch.zeros(4, dtype=torch.int32, device="hyperaccel")
    with pytest.raises(RuntimeError, match="outside"):
        torch.ops.hyperaccel.paged_decode_attention(q, cache, cache, index, [5], 4, 1.0)
