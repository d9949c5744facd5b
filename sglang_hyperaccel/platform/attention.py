"""The `hyperaccel` attention backend: paged KV attention for extend (prefill) and decode.

KV lives in SGLang's token pool (`token_to_kv_pool`, one slot per token, pages of `page_size`
slots); `req_to_token` maps each request's positions to slots. Per forward batch, the slot table
and masks are built once (not per layer), then every layer gathers K/V for the whole batch and runs
one padded, masked scaled-dot-product attention instead of a Python loop per request.
Sliding-window, cross and encoder-only attention fall back to SGLang's torch-native loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import scaled_dot_product_attention

from sglang.srt.layers.attention.torch_native_backend import TorchNativeAttnBackend
from sglang.srt.layers.radix_attention import AttentionType
from sglang.srt.mem_cache.memory_pool import KVWriteLoc


@dataclass(frozen=True)
class BatchLayout:
    """Where a forward batch's tokens sit, shared by every layer of that forward.

    `kv_slots[b, j]` is the KV slot of key position j of request b (0 past its length);
    `mask[b, 0, i, j]` allows query i of request b to attend key j; `query_rows` maps each packed
    query token to its row in the padded [batch * max_q] layout.
    """

    kv_slots: torch.Tensor
    mask: torch.Tensor
    query_rows: torch.Tensor | None
    batch: int
    max_q: int


def _layout(req_to_token: torch.Tensor, pool_indices: torch.Tensor, seq_lens: list[int],
            q_lens: list[int], device: torch.device) -> BatchLayout:
    batch, max_kv, max_q = len(seq_lens), max(seq_lens), max(q_lens)
    kv_slots = req_to_token[pool_indices, :max_kv]
    kv_len = torch.tensor(seq_lens, dtype=torch.long).view(batch, 1, 1)
    q_len = torch.tensor(q_lens, dtype=torch.long).view(batch, 1, 1)
    q_pos = torch.arange(max_q).view(1, max_q, 1)
    k_pos = torch.arange(max_kv).view(1, 1, max_kv)
    # Query i of a request is absolute position kv_len - q_len + i: causal over its own keys.
    mask = (k_pos <= kv_len - q_len + q_pos) & (k_pos < kv_len)
    # Padded query rows attend key 0 only, so softmax never sees an all-masked row (NaN).
    mask |= (q_pos >= q_len) & (k_pos == 0)
    kv_slots = kv_slots.masked_fill((k_pos.view(1, max_kv) >= kv_len.view(batch, 1)).to(device), 0)
    query_rows = None
    if max_q > 1:
        rows = [b * max_q + i for b, n in enumerate(q_lens) for i in range(n)]
        query_rows = torch.tensor(rows, dtype=torch.long).to(device)
    return BatchLayout(kv_slots=kv_slots, mask=mask.unsqueeze(1).to(device), query_rows=query_rows,
                       batch=batch, max_q=max_q)


class HyperAccelAttnBackend(TorchNativeAttnBackend):
    """Batched paged attention over SGLang's KV pool on the `hyperaccel` device."""

    def init_forward_metadata(self, forward_batch) -> None:
        super().init_forward_metadata(forward_batch)
        self.layout = None
        mode = forward_batch.forward_mode
        if forward_batch.batch_size == 0 or forward_batch.encoder_lens is not None:
            return
        seq_lens = [int(x) for x in forward_batch.seq_lens_cpu.tolist()]
        if mode.is_decode():
            q_lens = [1] * len(seq_lens)
        elif mode.is_extend() and forward_batch.extend_seq_lens_cpu is not None:
            q_lens = [int(x) for x in forward_batch.extend_seq_lens_cpu]
        else:
            return
        self.layout = _layout(self.req_to_token_pool.req_to_token, forward_batch.req_pool_indices,
                              seq_lens, q_lens, torch.device(self.device))

    def _batched(self, layer) -> bool:
        return (
            self.layout is not None
            and not layer.is_cross_attention
            and layer.attn_type != AttentionType.ENCODER_ONLY
            and (layer.sliding_window_size is None or layer.sliding_window_size < 0)
            and layer.qk_head_dim == layer.v_head_dim
        )

    def _attend(self, q, k, v, layer, forward_batch, save_kv_cache: bool) -> torch.Tensor:
        if save_kv_cache and k is not None and v is not None:
            self.token_to_kv_pool.set_kv_buffer(
                layer, KVWriteLoc(forward_batch.out_cache_loc, self.swa_out_cache_loc), k, v
            )
        lay = self.layout
        heads, dim = layer.tp_q_head_num, layer.qk_head_dim
        q = q.reshape(-1, heads, dim)
        if lay.query_rows is not None:
            padded = q.new_zeros((lay.batch * lay.max_q, heads, dim))
            padded[lay.query_rows] = q
            q = padded
        q = q.view(lay.batch, lay.max_q, heads, dim).transpose(1, 2)
        keys = self.token_to_kv_pool.get_key_buffer(layer.layer_id)[lay.kv_slots].transpose(1, 2)
        values = self.token_to_kv_pool.get_value_buffer(layer.layer_id)[lay.kv_slots].transpose(1, 2)
        if keys.dtype != q.dtype:
            keys, values = keys.to(q.dtype), values.to(q.dtype)
        out = scaled_dot_product_attention(
            q, keys, values, attn_mask=lay.mask, scale=layer.scaling,
            enable_gqa=layer.tp_q_head_num != layer.tp_k_head_num,
        )
        out = out.transpose(1, 2).reshape(lay.batch * lay.max_q, heads * layer.v_head_dim)
        if lay.query_rows is not None:
            out = out[lay.query_rows]
        return out

    def forward_extend(self, q, k, v, layer, forward_batch, save_kv_cache=True):
        if not self._batched(layer):
            return super().forward_extend(q, k, v, layer, forward_batch, save_kv_cache)
        return self._attend(q, k, v, layer, forward_batch, save_kv_cache)

    def forward_decode(self, q, k, v, layer, forward_batch, save_kv_cache=True):
        if not self._batched(layer):
            return super().forward_decode(q, k, v, layer, forward_batch, save_kv_cache)
        return self._attend(q, k, v, layer, forward_batch, save_kv_cache)


def create_backend(runner) -> HyperAccelAttnBackend:
    """Factory registered with SGLang's attention registry under the name `hyperaccel`."""
    return HyperAccelAttnBackend(runner)
