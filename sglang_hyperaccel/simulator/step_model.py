"""The time model of one forward batch: decode, extend (prefill after a cached prefix), or a mix.

Every operator of a step takes the longer of moving its bytes and doing its FLOPs,
`max(bytes / (bandwidth * efficiency), flops / (peak * efficiency))`, plus the vector work it
cannot overlap (norms, softmax, sampling) and a fixed cost per operator launch. Operators run one
after another, as the LPU's single streamed dataflow runs them. Over N devices (tensor parallel)
each device holds 1/N of every matrix and of the KV heads; each layer then pays the exposed part
of its link synchronisations. A step's `floor_s` is the bandwidth roofline of the bytes it moves
at 100% of peak bandwidth; since every operator is at least its own bytes over that bandwidth, no
step can be faster than its floor.

Whole generations (prefill, then every decode step) are `generation.generate`, built on this
model. The hot path (`decode`, `step`) is called once per forward batch by the server, so the model's
constants are computed once in `Simulator.__init__` and a step is a few dozen float operations.
"""

from __future__ import annotations

import math
from typing import Sequence

from .chips import ChipSpec, get_chip
from .errors import DoesNotFitError, SimulatorError
from .models import ConfigSource, ModelSpec, load_model
from .records import (
    ATTENTION,
    COMPUTE,
    EMBEDDING,
    FFN,
    FIXED,
    MEMORY,
    NORMS,
    OUT_PROJ,
    QKV_PROJ,
    SAMPLING,
    SYNC,
    OpTime,
    RequestWork,
    StepTime,
    gib,
)

# Vector FLOPs per element, counted as the VXE would issue them (reasons in docs/simulator.md).
_NORM_FLOPS = 8  # mean, variance, normalise, scale (+ shift) and the residual add, per element
_SOFTMAX_FLOPS = 5  # max, subtract, exp, sum, divide, per attention score
_ACT_FLOPS = 4  # ReLU / SiLU and the gate product, per FFN intermediate element
_SAMPLE_FLOPS = 10  # softmax, temperature, top-k / top-p selection, per vocabulary entry

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__: the hot path


class Simulator:
    """The performance model of one model on `devices` chips joined by the chip's link.

    `chip` is a ChipSpec or a registered name; `model` a ModelSpec, a bundled name, a model
    directory / config.json path, or a config dict. Raises SimulatorError for a bad device count
    and DoesNotFitError when the weights exceed `chip.memory_bytes * devices`.
    """

    def __init__(self, chip: ChipSpec | str, model: ModelSpec | ConfigSource, devices: int = 1) -> None:
        self.chip = get_chip(chip) if isinstance(chip, str) else chip
        self.model = load_model(model)
        if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
            raise SimulatorError(f"devices must be a positive integer, got {devices!r}")
        if devices > self.chip.max_devices:
            raise SimulatorError(
                f"{self.chip.name} systems join at most {self.chip.max_devices} devices, got {devices}")
        self.devices = devices
        self.weight_bytes_per_device = self.model.weight_bytes / devices
        if self.weight_bytes_per_device > self.chip.memory_bytes:
            need = math.ceil(self.model.weight_bytes / self.chip.memory_bytes)
            raise DoesNotFitError(
                f"model {self.model.name} does not fit: {gib(self.model.weight_bytes)} of weights "
                f"vs {self.chip.name} memory {gib(self.chip.memory_bytes)} x {devices} device(s) "
                f"= {gib(self.chip.memory_bytes * devices)}; use at least {need} devices")
        self._prepare()

    def __repr__(self) -> str:
        return f"Simulator(chip={self.chip.name!r}, model={self.model.name!r}, devices={self.devices})"

    def _prepare(self) -> None:
        """Per-device constants of the hot path, so a step is only arithmetic."""
        chip, m, n = self.chip, self.model, self.devices
        d = m.dtype_bytes
        L = m.num_layers
        self._n = n
        self._layers = L
        self._inv_bw = 1.0 / (chip.memory_bandwidth * chip.bandwidth_efficiency)
        self._inv_peak_bw = 1.0 / chip.memory_bandwidth
        self._inv_flops = 1.0 / (chip.peak_flops * chip.compute_efficiency)
        self._inv_vec = 1.0 / chip.vector_flops
        c = chip.op_overhead_s
        heads = math.ceil(m.num_heads / n)  # a device holds whole heads
        if m.kv_latent_dim:  # MLA: the latent is not split by heads, every device caches it all
            kv_elems = m.kv_latent_dim
        else:  # fewer KV heads than devices: replicated
            kv_elems = math.ceil(m.num_kv_heads / n) * (m.head_dim + m.value_dim)
        W = m.window_layers
        # Whole-step constants, all layers summed.
        self._qkv_bytes = L * m.qkv_params * d / n
        self._qkv_flops = L * 2 * m.qkv_params / n  # per token
        self._out_bytes = L * m.out_params * d / n
        self._out_flops = L * 2 * m.out_params / n
        dense, moe = m.dense_layers, m.moe
        self._ffn_bytes = dense * m.ffn_params * d / n
        self._ffn_flops = dense * 2 * m.ffn_params / n
        self._ffn_vec = dense * _ACT_FLOPS * m.intermediate_size / n
        self._moe = moe
        if moe is not None:
            # Shared experts and the router are read every step; routed experts as activated.
            self._ffn_bytes += moe.layers * (moe.shared_params + moe.router_params) * d / n
            self._expert_bytes = moe.layers * moe.expert_params * d / n  # per distinct active expert
            self._ffn_flops += moe.layers * 2 * (moe.shared_params + moe.router_params
                                                 + moe.top_k * moe.expert_params) / n
            self._ffn_vec += moe.layers * _ACT_FLOPS * (moe.top_k * moe.expert_intermediate
                                                        + moe.shared_intermediate) / n
        # Per cached or written token, for layers over the whole context and sliding-window layers.
        self._kv_bytes = (L - W) * kv_elems * d
        self._kv_bytes_w = W * kv_elems * d
        self._window = m.sliding_window if W else 0
        pair_flops = 2 * heads * (m.head_dim + m.value_dim)  # per (query, key) pair: QK and PV
        self._attn_flops = (L - W) * pair_flops
        self._attn_flops_w = W * pair_flops
        self._attn_vec = (L - W) * _SOFTMAX_FLOPS * heads
        self._attn_vec_w = W * _SOFTMAX_FLOPS * heads
        self._norm_bytes = L * m.norm_params * d  # replicated on every device
        self._norm_vec = L * 2 * _NORM_FLOPS * m.hidden_size
        self._embed_bytes = m.hidden_size * d * (2 if m.learned_positions else 1)  # per token
        self._head_bytes = (m.lm_head_params / n + m.final_norm_params) * d
        self._head_flops = 2 * m.lm_head_params / n  # per sampled token
        self._head_vec = _NORM_FLOPS * m.hidden_size + _SAMPLE_FLOPS * m.vocab_size / n
        self._c_qkv = self._c_out = self._c_attn = L * c
        self._c_ffn = self._c_norms = 2 * L * c  # two matmuls (up/gate, down); two norms
        self._c_embed = c
        self._c_head = 2 * c  # final norm + LM head; the sampler runs on the same vector pass
        link = chip.link
        if n > 1:
            self._sync_count = L * link.syncs_per_layer
            self._sync_lat = (n - 1) * link.hop_latency_s
            # Per token of payload (hidden vector), the exposed last chunk of a ring gather.
            self._sync_per_tok = (n - 1) / n * m.hidden_size * d / (link.bandwidth * link.chunks)
        else:
            self._sync_count = 0
            self._sync_lat = self._sync_per_tok = 0.0

    # --- public entry points --------------------------------------------------------------------
    def decode(self, kv_lens: Sequence[int]) -> StepTime:
        """One decode step: one new token per request; `kv_lens[i]` tokens already cached."""
        b = len(kv_lens)
        if b == 0:
            raise SimulatorError("decode needs at least one request")
        p = sum(kv_lens)
        if min(kv_lens) < 0:
            raise SimulatorError("kv lengths must be >= 0")
        w = self._window
        if not w:
            return self._step(b, b, p, p + b, p, p + b)
        return self._step(b, b, p, p + b, sum(min(k, w - 1) for k in kv_lens),
                          sum(min(k + 1, w) for k in kv_lens))

    def extend(self, new_tokens: Sequence[int], cached_prefix: Sequence[int]) -> StepTime:
        """Prefill `new_tokens[i]` tokens after `cached_prefix[i]` cached ones, per request.

        Cached tokens cost their KV read (and attention FLOPs against them), not projections.
        A request with one new token is a decode row, so this times any mixed batch.
        """
        if len(new_tokens) != len(cached_prefix):
            raise SimulatorError(
                f"extend: {len(new_tokens)} new-token counts vs {len(cached_prefix)} cached prefixes")
        return self._mixed(zip(new_tokens, cached_prefix), len(new_tokens))

    def step(self, requests: Sequence[RequestWork]) -> StepTime:
        """A mixed batch: each record's new tokens after its cached tokens."""
        return self._mixed(requests, len(requests))

    def uniform(self, batch: int, new_tokens: int, cached_tokens: int) -> StepTime:
        """`batch` identical requests of `new_tokens` after `cached_tokens` (no list to build)."""
        if batch < 1 or new_tokens < 1 or cached_tokens < 0:
            raise SimulatorError(
                f"bad uniform batch: {batch} x ({new_tokens} new after {cached_tokens} cached)")
        pairs = new_tokens * cached_tokens + new_tokens * (new_tokens + 1) // 2
        w = self._window
        if w:
            cached_w, pairs_w = min(cached_tokens, w - 1), _window_pairs(new_tokens, cached_tokens, w)
        else:
            cached_w, pairs_w = cached_tokens, pairs
        return self._step(batch * new_tokens, batch, batch * cached_tokens, batch * pairs,
                          batch * cached_w, batch * pairs_w)

    @property
    def kv_bytes_per_token(self) -> float:
        """KV cache bytes one token takes on each device (all layers, K and V)."""
        return self._kv_bytes

    # --- the model --------------------------------------------------------------------------
    def _mixed(self, rows, count: int) -> StepTime:
        if count == 0:
            raise SimulatorError("a step needs at least one request")
        tokens = cached = pairs = cached_w = pairs_w = 0
        w = self._window
        for new, old in rows:
            if new < 1 or old < 0:
                raise SimulatorError(f"bad request: {new} new tokens after {old} cached (need >= 1, >= 0)")
            tokens += new
            cached += old
            # Causal attention: token j of the new ones sees the cache and new tokens 0..j.
            pairs += new * old + new * (new + 1) // 2
            if w:
                cached_w += min(old, w - 1)
                pairs_w += _window_pairs(new, old, w)
        if not w:
            cached_w, pairs_w = cached, pairs
        return self._step(tokens, count, cached, pairs, cached_w, pairs_w)

    def _step(self, t: int, r: int, cached: int, pairs: int, cached_w: int, pairs_w: int) -> StepTime:
        """t new tokens, r sampled tokens, `cached` KV tokens read, `pairs` attention scores.

        `cached_w` and `pairs_w` are the same for sliding-window layers (only the window's keys).

        Unrolled on purpose: this runs once per simulated forward batch (see module docstring).
        """
        inv_bw, inv_fl, inv_vec = self._inv_bw, self._inv_flops, self._inv_vec

        # Embedding: gather one row (and OPT's position row) per new token.
        b_emb = self._embed_bytes * t
        t_emb = b_emb * inv_bw + self._c_embed
        mem_s = b_emb * inv_bw

        # Norms are vector work on the VXE, beside the matrix engine: not part of `bound`.
        b_norm = self._norm_bytes
        f_norm = self._norm_vec * t
        tm, tc = b_norm * inv_bw, f_norm * inv_vec
        norm = _new(OpTime, (NORMS, (tm if tm > tc else tc) + self._c_norms, b_norm, f_norm,
                             MEMORY if tm >= tc else COMPUTE))
        mem_s += tm

        b_qkv = self._qkv_bytes
        f_qkv = self._qkv_flops * t
        tm, tc = b_qkv * inv_bw, f_qkv * inv_fl
        qkv = _new(OpTime, (QKV_PROJ, (tm if tm > tc else tc) + self._c_qkv, b_qkv, f_qkv,
                            MEMORY if tm >= tc else COMPUTE))
        mem_s += tm
        comp_s = tc

        # Attention reads every cached token's K and V and writes the new tokens' own.
        b_att = self._kv_bytes * (cached + t) + self._kv_bytes_w * (cached_w + t)
        f_att = self._attn_flops * pairs + self._attn_flops_w * pairs_w
        v_att = self._attn_vec * pairs + self._attn_vec_w * pairs_w
        tm, tc = b_att * inv_bw, f_att * inv_fl
        att = _new(OpTime, (ATTENTION, (tm if tm > tc else tc) + v_att * inv_vec + self._c_attn,
                            b_att, f_att + v_att, MEMORY if tm >= tc else COMPUTE))
        mem_s += tm
        comp_s += tc

        b_out = self._out_bytes
        f_out = self._out_flops * t
        tm, tc = b_out * inv_bw, f_out * inv_fl
        out = _new(OpTime, (OUT_PROJ, (tm if tm > tc else tc) + self._c_out, b_out, f_out,
                            MEMORY if tm >= tc else COMPUTE))
        mem_s += tm
        comp_s += tc

        b_ffn = self._ffn_bytes
        if self._moe is not None:  # the weights of the experts this batch's tokens activate
            b_ffn += self._expert_bytes * self._moe.active_experts(t)
        f_ffn = self._ffn_flops * t
        v_ffn = self._ffn_vec * t
        tm, tc = b_ffn * inv_bw, f_ffn * inv_fl
        ffn = _new(OpTime, (FFN, (tm if tm > tc else tc) + v_ffn * inv_vec + self._c_ffn,
                            b_ffn, f_ffn + v_ffn, MEMORY if tm >= tc else COMPUTE))
        mem_s += tm
        comp_s += tc

        # Final norm, LM head and the sampler, once per sampled token.
        b_head = self._head_bytes
        f_head = self._head_flops * r
        v_head = self._head_vec * r
        tm, tc = b_head * inv_bw, f_head * inv_fl
        head = _new(OpTime, (SAMPLING, (tm if tm > tc else tc) + v_head * inv_vec + self._c_head,
                             b_head, f_head + v_head, MEMORY if tm >= tc else COMPUTE))
        mem_s += tm
        comp_s += tc

        if self._sync_count:
            # Layer syncs carry every new token's hidden vector; the logits sync one per request.
            sync = (self._sync_count * (self._sync_lat + self._sync_per_tok * t)
                    + self._sync_lat + self._sync_per_tok * r)
        else:
            sync = 0.0

        total = t_emb + norm[1] + qkv[1] + att[1] + out[1] + ffn[1] + head[1] + sync
        total_b = b_emb + b_norm + b_qkv + b_att + b_out + b_ffn + b_head
        total_f = f_norm + f_qkv + f_att + v_att + f_out + f_ffn + v_ffn + f_head + v_head
        # No clamp: every operator above costs at least its bytes at `bandwidth_efficiency <= 1`
        # of peak, so the step is never below its roofline (tested on a sweep of shapes and chips).
        floor = total_b * self._inv_peak_bw
        # A balanced chip (the LPU at batch 1) ties; a tie is memory-bound, as the design intends.
        bound = COMPUTE if comp_s > mem_s * (1.0 + 1e-9) else MEMORY
        ops = (_new(OpTime, (EMBEDDING, t_emb, b_emb, 0.0, MEMORY)), norm, qkv, att, out, ffn, head,
               _new(OpTime, (SYNC, sync, 0.0, 0.0, FIXED)))
        return _new(StepTime, (total, floor, total_b, total_f, bound, sync, ops, t, r,
                               self._layers, self._n))


def _window_pairs(new: int, cached: int, window: int) -> int:
    """Attention scores of `new` tokens after `cached` ones when each sees its last `window` positions.

    New token j (position cached + j) scores min(cached + j + 1, window) keys.
    """
    last = cached + new
    if last <= window:
        return new * cached + new * (new + 1) // 2
    if cached >= window:
        return new * window
    below = window - cached  # tokens that still see their whole past
    return (window * (window + 1) - cached * (cached + 1)) // 2 + (new - below) * window
