"""The `hyperaccel` attention backend: paged KV attention for extend (prefill) and decode.

KV lives in SGLang's token pool (`token_to_kv_pool`, one slot per token, pages of `page_size`
slots); `req_to_token` maps each request's positions to slots. Per forward batch, the slot table
and masks are built once (not per layer). Decode batches run the chip's paged decode kernel, which
reads each request's K/V rows where they sit in the pool; extend batches gather K/V for the whole
batch and run one padded, masked scaled-dot-product attention instead of a loop per request.
Layers with a sliding window or attention-logit softcapping (Gemma 2) take an explicit batched
path (`explicit_attention`), since SDPA can do neither; cross and encoder-only attention fall back
to SGLang's torch-native loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from sglang.srt.layers.attention.torch_native_backend import TorchNativeAttnBackend
from sglang.srt.layers.radix_attention import AttentionType
from sglang.srt.mem_cache.memory_pool import KVWriteLoc
from torch.nn.functional import scaled_dot_product_attention


@dataclass(frozen=True)
class BatchLayout:
    """Where a forward batch's tokens sit, shared by every layer of that forward.

    `kv_index[b * max_kv + j]` is the KV slot of key position j of request b (0 past its length),
    flat so that each layer gathers K and V with one contiguous-row `index_select`; `mask[b, 0, i, j]`
    allows query i of request b to attend key j, or is None when every query may attend every key
    (a decode batch whose requests all have the same length), so attention runs unmasked;
    `query_rows` maps each packed query token to its row in the padded [batch * max_q] layout.
    """

    kv_index: torch.Tensor
    mask: torch.Tensor | None
    query_rows: torch.Tensor | None
    batch: int
    max_q: int
    max_kv: int
    device: torch.device
    seq_lens: tuple[int, ...] = ()
    q_lens: tuple[int, ...] = ()
    # The mask as SDPA's additive float mask, made once per dtype on the first layer that asks.
    additive: dict[torch.dtype, torch.Tensor] = field(default_factory=dict)
    windowed: dict[int, torch.Tensor] = field(default_factory=dict)

    def window_mask(self, window: int | None) -> torch.Tensor | None:
        """Boolean [batch, 1, max_q, max_kv] mask of a layer whose queries see keys back to
        `window` positions before their own (SGLang's `sliding_window_size`), on the device; for
        no window (None or negative), the causal mask, or None where every key is allowed."""
        if window is None or window < 0:
            if self.mask is None:
                return None
            window = -1
        mask = self.windowed.get(window)
        if mask is None and window < 0:
            mask = self.windowed[window] = self.mask.to(self.device)
        elif mask is None:
            kv_len = torch.tensor(self.seq_lens, dtype=torch.long).view(-1, 1, 1)
            q_len = torch.tensor(self.q_lens, dtype=torch.long).view(-1, 1, 1)
            q_pos = kv_len - q_len + torch.arange(self.max_q).view(1, -1, 1)
            k_pos = torch.arange(self.max_kv).view(1, 1, -1)
            mask = (k_pos <= q_pos) & (k_pos < kv_len) & (k_pos >= q_pos - window)
            mask |= (torch.arange(self.max_q).view(1, -1, 1) >= q_len) & (k_pos == 0)  # padded rows
            mask = self.windowed[window] = mask.unsqueeze(1).to(self.device)
        return mask

    def attn_mask(self, dtype: torch.dtype) -> torch.Tensor | None:
        """The mask for queries of `dtype` on the device: 0 where allowed, -inf elsewhere.

        The same values SDPA would derive from the boolean mask on every call (`where(mask, 0, -inf)`),
        so the result is bit-identical; built on the host once per forward instead of per layer.
        """
        if self.mask is None:
            return None
        mask = self.additive.get(dtype)
        if mask is None:
            mask = torch.zeros(self.mask.shape, dtype=dtype).masked_fill_(~self.mask, float("-inf"))
            mask = self.additive[dtype] = mask.to(self.device)
        return mask


def _layout(req_to_token: torch.Tensor, pool_indices: torch.Tensor, seq_lens: list[int],
            q_lens: list[int], device: torch.device) -> BatchLayout:
    batch, max_kv, max_q = len(seq_lens), max(seq_lens), max(q_lens)
    kv_slots = req_to_token[pool_indices, :max_kv]
    ragged = min(seq_lens) != max_kv
    mask = None
    if ragged or max_q > 1:
        kv_len = torch.tensor(seq_lens, dtype=torch.long).view(batch, 1, 1)
        q_len = torch.tensor(q_lens, dtype=torch.long).view(batch, 1, 1)
        q_pos = torch.arange(max_q).view(1, max_q, 1)
        k_pos = torch.arange(max_kv).view(1, 1, max_kv)
        # Query i of a request is absolute position kv_len - q_len + i: causal over its own keys.
        mask = (k_pos <= kv_len - q_len + q_pos) & (k_pos < kv_len)
        # Padded query rows (dropped through `query_rows` afterwards) also attend key 0, so softmax
        # never sees an all-masked row (NaN).
        mask |= (q_pos >= q_len) & (k_pos == 0)
        mask = mask.unsqueeze(1)
    if ragged:
        past_end = torch.arange(max_kv).view(1, max_kv) >= torch.tensor(seq_lens).view(batch, 1)
        kv_slots = kv_slots.masked_fill(past_end.to(device), 0)
    query_rows = None
    if max_q > 1:
        rows = [b * max_q + i for b, n in enumerate(q_lens) for i in range(n)]
        query_rows = torch.tensor(rows, dtype=torch.long).to(device)
    return BatchLayout(kv_index=kv_slots.reshape(-1), mask=mask, query_rows=query_rows, batch=batch,
                       max_q=max_q, max_kv=max_kv, device=device, seq_lens=tuple(seq_lens),
                       q_lens=tuple(q_lens))


def explicit_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       mask: torch.Tensor | None, scaling: float, logit_cap: float) -> torch.Tensor:
    """Attention written out: [b, heads, q, d] queries over [b, kv_heads, k, d] keys and values.

    Scores are scaled, softcapped when `logit_cap` > 0 (`cap * tanh(score / cap)`, Gemma 2), masked
    where the boolean `mask` is False, and normalised in FP32.
    """
    heads, kv_heads = q.shape[1], keys.shape[1]
    if heads != kv_heads:
        keys = keys.repeat_interleave(heads // kv_heads, dim=1)
        values = values.repeat_interleave(heads // kv_heads, dim=1)
    scores = torch.matmul(q, keys.transpose(-1, -2)).float() * scaling
    if logit_cap > 0:
        scores = torch.tanh(scores / logit_cap) * logit_cap
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1).to(values.dtype), values)


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
            and layer.qk_head_dim == layer.v_head_dim
        )

    @staticmethod
    def _explicit(layer) -> bool:
        """Layers SDPA cannot run: a sliding window or attention-logit softcapping."""
        window = layer.sliding_window_size
        return (window is not None and window >= 0) or (layer.logit_cap or 0) > 0

    def _gather(self, buffer: torch.Tensor) -> torch.Tensor:
        """[batch, heads, max_kv, dim] view of the batch's K or V rows of a [slots, heads, dim] buffer."""
        lay = self.layout
        rows = buffer.index_select(0, lay.kv_index)
        return rows.view(lay.batch, lay.max_kv, *buffer.shape[1:]).transpose(1, 2)

    def _attend(self, q, k, v, layer, forward_batch, save_kv_cache: bool) -> torch.Tensor:
        if save_kv_cache and k is not None and v is not None:
            self.token_to_kv_pool.set_kv_buffer(
                layer, KVWriteLoc(forward_batch.out_cache_loc, self.swa_out_cache_loc), k, v
            )
        lay = self.layout
        heads, dim = layer.tp_q_head_num, layer.qk_head_dim
        q = q.reshape(-1, heads, dim)
        explicit = self._explicit(layer)
        if lay.max_q == 1 and not explicit:
            out = self._decode(q, layer)
            if out is not None:
                return out
        if lay.query_rows is not None:
            padded = q.new_zeros((lay.batch * lay.max_q, heads, dim))
            padded[lay.query_rows] = q
            q = padded
        q = q.view(lay.batch, lay.max_q, heads, dim).transpose(1, 2)
        keys = self._gather(self.token_to_kv_pool.get_key_buffer(layer.layer_id))
        values = self._gather(self.token_to_kv_pool.get_value_buffer(layer.layer_id))
        if keys.dtype != q.dtype:
            keys, values = keys.to(q.dtype), values.to(q.dtype)
        if explicit:
            out = explicit_attention(q, keys, values, lay.window_mask(layer.sliding_window_size),
                                     layer.scaling, float(layer.logit_cap or 0))
        else:
            out = scaled_dot_product_attention(
                q, keys, values, attn_mask=lay.attn_mask(q.dtype), scale=layer.scaling,
                enable_gqa=layer.tp_q_head_num != layer.tp_k_head_num,
            )
        out = out.transpose(1, 2).reshape(lay.batch * lay.max_q, heads * layer.v_head_dim)
        if lay.query_rows is not None:
            out = out[lay.query_rows]
        return out

    def _decode(self, q: torch.Tensor, layer) -> torch.Tensor | None:
        """One query per request: the chip's paged decode kernel reads K and V in the pool, with no
        gathered copy (`device/csrc/attention.cpp`); None where it does not apply (a KV cache
        stored in another dtype than the queries), and the gather + SDPA path runs instead."""
        lay = self.layout
        keys = self.token_to_kv_pool.get_key_buffer(layer.layer_id)
        values = self.token_to_kv_pool.get_value_buffer(layer.layer_id)
        if keys.dtype != q.dtype or values.dtype != q.dtype or keys.dim() != 3 or values.dim() != 3:
            return None
        out = torch.ops.hyperaccel.paged_decode_attention(
            q.contiguous(), keys, values, lay.kv_index, lay.seq_lens, lay.max_kv, layer.scaling)
        return out.view(lay.batch, layer.tp_q_head_num * layer.v_head_dim)

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
