"""The attention backend's per-forward batch layout (`BatchLayout` from `_layout`) on CPU tensors.

Each case is checked against hand-written values and against a brute-force reference built with
Python loops from the definition: request b's key j is slot `req_to_token[pool_index[b], j]` while
j < seq_len[b] (0 past it); its query i is absolute position seq_len - q_len + i and may attend keys
0..that position (the cached prefix in full, the new tokens causally).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from sglang_hyperaccel.platform.attention import BatchLayout, _layout

CPU = torch.device("cpu")
POOL_ROWS, POOL_COLS = 6, 10


def _req_to_token() -> torch.Tensor:
    """Pool row r, position j holds slot 100 * r + j + 1 (never 0, so a 0 in kv_index means padding)."""
    return torch.tensor([[100 * r + j + 1 for j in range(POOL_COLS)] for r in range(POOL_ROWS)],
                        dtype=torch.int32)


def _build(pool_indices: list[int], seq_lens: list[int], q_lens: list[int]) -> BatchLayout:
    return _layout(_req_to_token(), torch.tensor(pool_indices), seq_lens, q_lens, CPU)


@dataclass(frozen=True)
class Reference:
    """What the layout must hold, computed one element at a time."""

    kv_index: list[int]
    allowed: list[list[set[int]]]  # allowed[b][i]: the keys real query i of request b may attend
    query_rows: list[int] | None
    max_q: int
    max_kv: int


def _reference(pool_indices: list[int], seq_lens: list[int], q_lens: list[int]) -> Reference:
    table = _req_to_token().tolist()
    max_kv, max_q = max(seq_lens), max(q_lens)
    kv_index = []
    for b, row in enumerate(pool_indices):
        for j in range(max_kv):
            kv_index.append(table[row][j] if j < seq_lens[b] else 0)
    allowed = []
    for b in range(len(seq_lens)):
        per_query = []
        for i in range(q_lens[b]):
            position = seq_lens[b] - q_lens[b] + i
            per_query.append({j for j in range(max_kv) if j <= position})
        allowed.append(per_query)
    query_rows = None
    if max_q > 1:
        query_rows = []
        for b in range(len(q_lens)):
            for i in range(q_lens[b]):
                query_rows.append(b * max_q + i)
    return Reference(kv_index, allowed, query_rows, max_q, max_kv)


def _assert_matches(layout: BatchLayout, ref: Reference, seq_lens: list[int], q_lens: list[int]) -> None:
    assert layout.kv_index.tolist() == ref.kv_index
    assert (layout.batch, layout.max_q, layout.max_kv) == (len(seq_lens), ref.max_q, ref.max_kv)
    assert layout.seq_lens == tuple(seq_lens)
    if ref.query_rows is None:
        assert layout.query_rows is None
    else:
        assert layout.query_rows is not None and layout.query_rows.tolist() == ref.query_rows
    if layout.mask is None:
        # Unmasked attention is only right when every query may attend every key of the batch.
        assert all(keys == set(range(ref.max_kv)) for rows in ref.allowed for keys in rows)
        return
    assert layout.mask.dtype == torch.bool
    assert tuple(layout.mask.shape) == (len(seq_lens), 1, ref.max_q, ref.max_kv)
    for b in range(len(seq_lens)):
        for i in range(ref.max_q):
            got = {j for j in range(ref.max_kv) if bool(layout.mask[b, 0, i, j])}
            if i < q_lens[b]:
                assert got == ref.allowed[b][i], (b, i)
            else:
                # A padded query row is dropped after attention; it only must not be all-masked
                # (softmax would give NaN) nor reach past the request's keys.
                assert got and max(got) < seq_lens[b], (b, i, got)


def test_decode_equal_lengths_has_no_mask():
    """Decode, all lengths 3: kv_index lists each request's pool row in batch order; no mask, no rows."""
    layout = _build([2, 0], [3, 3], [1, 1])
    assert layout.kv_index.tolist() == [201, 202, 203, 1, 2, 3]
    assert layout.mask is None and layout.query_rows is None
    assert (layout.batch, layout.max_q, layout.max_kv) == (2, 1, 3)
    assert layout.attn_mask(torch.float32) is None


def test_decode_unequal_lengths_masks_keys_past_each_end():
    """Decode, lengths 2/4/1: slots past a request's length read 0 and its mask row stops at its length."""
    layout = _build([1, 3, 0], [2, 4, 1], [1, 1, 1])
    assert layout.kv_index.tolist() == [101, 102, 0, 0, 301, 302, 303, 304, 1, 0, 0, 0]
    assert layout.mask is not None and layout.query_rows is None
    assert layout.mask[:, 0, 0].tolist() == [[True, True, False, False], [True, True, True, True],
                                             [True, False, False, False]]


def test_extend_with_cached_prefix_is_full_over_prefix_and_causal_over_new_tokens():
    """Extend: 3 cached + 2 new tokens beside 3 new ones; prefix fully visible, new tokens causal."""
    layout = _build([4, 1], [5, 3], [2, 3])
    assert layout.kv_index.tolist() == [401, 402, 403, 404, 405, 101, 102, 103, 0, 0]
    assert layout.query_rows is not None and layout.query_rows.tolist() == [0, 1, 3, 4, 5]
    assert layout.mask is not None and tuple(layout.mask.shape) == (2, 1, 3, 5)
    assert layout.mask[0, 0, :2].tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert layout.mask[1, 0].tolist() == [[True, False, False, False, False],
                                          [True, True, False, False, False],
                                          [True, True, True, False, False]]


CASES = [
    ([0], [1], [1]),  # one request, one token
    ([2, 0], [3, 3], [1, 1]),  # decode, equal lengths
    ([1, 3, 0], [2, 4, 1], [1, 1, 1]),  # decode, unequal lengths
    ([5, 2], [4, 4], [1, 1]),  # extend of one token each, equal lengths: same as decode
    ([0], [6], [6]),  # prefill, no prefix
    ([3], [7], [2]),  # extend after a 5-token prefix
    ([4, 1], [5, 3], [2, 3]),  # a prefix request beside a fresh one
    ([0, 1, 2, 3], [9, 2, 5, 1], [4, 2, 1, 1]),  # mixed prefixes and lengths
    ([5, 4], [10, 10], [3, 3]),  # equal lengths, several new tokens: still causal
]


@pytest.mark.parametrize("pool_indices,seq_lens,q_lens", CASES)
def test_layout_matches_brute_force_reference(pool_indices, seq_lens, q_lens):
    """kv_index, mask and query_rows equal the loop-built reference for decode and extend batches."""
    _assert_matches(_build(pool_indices, seq_lens, q_lens), _reference(pool_indices, seq_lens, q_lens),
                    seq_lens, q_lens)


def test_random_batches_match_brute_force_reference():
    """Random batches (1-4 requests, prefixes of 0-6 tokens, 1-4 new tokens) equal the reference."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        batch = int(torch.randint(1, 5, (1,), generator=gen))
        pool_indices = torch.randperm(POOL_ROWS, generator=gen)[:batch].tolist()
        q_lens = torch.randint(1, 5, (batch,), generator=gen).tolist()
        prefixes = torch.randint(0, 7, (batch,), generator=gen).tolist()
        seq_lens = [p + q for p, q in zip(prefixes, q_lens)]
        _assert_matches(_build(pool_indices, seq_lens, q_lens), _reference(pool_indices, seq_lens, q_lens),
                        seq_lens, q_lens)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attn_mask_is_zero_where_allowed_and_minus_inf_elsewhere(dtype):
    """attn_mask(dtype) is 0 at allowed keys and -inf at the others, built once per dtype."""
    layout = _build([1, 3, 0], [2, 4, 1], [1, 1, 1])
    additive = layout.attn_mask(dtype)
    assert additive is not None and additive.dtype == dtype and additive.device == CPU
    assert additive[:, 0, 0].tolist() == [[0.0, 0.0, -float("inf"), -float("inf")], [0.0, 0.0, 0.0, 0.0],
                                          [0.0, -float("inf"), -float("inf"), -float("inf")]]
    assert layout.attn_mask(dtype) is additive
