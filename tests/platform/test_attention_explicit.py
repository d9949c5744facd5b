"""Attention with a sliding window or logit softcapping (Gemma 2), against loops over every score."""

from __future__ import annotations

import math

import torch

from sglang_hyperaccel.platform.attention import _layout, explicit_attention


def _reference(q, k, v, allowed, scaling, cap):
    """One query at a time: scores, softcap, mask, softmax, weighted values."""
    b, h, nq, d = q.shape
    group = h // k.shape[1]
    out = torch.zeros(b, h, nq, v.shape[-1], dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(nq):
                keys = [j for j in range(k.shape[2]) if allowed(bi, i, j)]
                scores = []
                for j in keys:
                    s = float(q[bi, hi, i] @ k[bi, hi // group, j]) * scaling
                    scores.append(cap * math.tanh(s / cap) if cap > 0 else s)
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for w, j in zip(weights, keys):
                    out[bi, hi, i] += (w / total) * v[bi, hi // group, j].double()
    return out


def test_softcapped_gqa_attention_matches_the_loop():
    """Softcap 0.7, 4 query heads over 2 KV heads, a causal mask: equal to the per-score loop."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 3, 8, generator=gen), torch.randn(2, 2, 5, 8, generator=gen),
               torch.randn(2, 2, 5, 8, generator=gen))
    causal = torch.tensor([[j <= 2 + i for j in range(5)] for i in range(3)]).view(1, 1, 3, 5)
    causal = causal.expand(2, 1, 3, 5)
    got = explicit_attention(q, k, v, causal, scaling=0.5, logit_cap=0.7)
    want = _reference(q, k, v, lambda b, i, j: j <= 2 + i, 0.5, 0.7)
    assert torch.allclose(got.double(), want, atol=1e-5)


def test_window_mask_lets_each_query_see_its_last_keys():
    """SGLang's window W: a query at position p sees keys p - W .. p of its own request, no more."""
    seq_lens, q_lens, window = [9, 4], [3, 4], 2
    table = torch.arange(32).view(2, 16)
    lay = _layout(table, torch.tensor([0, 1]), seq_lens, q_lens, torch.device("cpu"))
    mask = lay.window_mask(window)
    for b in range(2):
        for i in range(q_lens[b]):
            p = seq_lens[b] - q_lens[b] + i
            for j in range(lay.max_kv):
                assert bool(mask[b, 0, i, j]) == (p - window <= j <= p), (b, i, j)


def test_windowed_attention_matches_the_loop():
    """Windowed, softcapped attention over a ragged extend batch equals the loop on the valid rows."""
    seq_lens, q_lens, window = [9, 4], [3, 4], 2
    lay = _layout(torch.arange(32).view(2, 16), torch.tensor([0, 1]), seq_lens, q_lens, torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(2, 2, lay.max_q, 4, generator=gen)
    k, v = torch.randn(2, 1, lay.max_kv, 4, generator=gen), torch.randn(2, 1, lay.max_kv, 4, generator=gen)
    got = explicit_attention(q, k, v, lay.window_mask(window), scaling=1.0, logit_cap=2.0)

    def allowed(b, i, j):
        p = seq_lens[b] - q_lens[b] + i
        return p - window <= j <= p if i < q_lens[b] else j == 0

    want = _reference(q, k, v, allowed, 1.0, 2.0)
    for b in range(2):
        assert torch.allclose(got[b, :, : q_lens[b]].double(), want[b, :, : q_lens[b]], atol=1e-5)
