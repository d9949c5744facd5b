"""Chip forwards for SGLang's fused ops, through its public out-of-tree seam
(`BaseFusedOp.register_oot_forward`, keyed by this platform's dispatch key).

The chip runs SGLang's pure-PyTorch (`forward_native`) ops, where each small op costs a dispatch
on the host. These forwards compute the same arithmetic, in the same order (bit-identical
results), with fewer ops.
"""

from __future__ import annotations

from typing import Any

import torch


def rotary_forward(self, positions: torch.Tensor, query: torch.Tensor, key: torch.Tensor,
                   offsets: torch.Tensor | None = None, fused_set_kv_buffer_arg: Any = None):
    """`RotaryEmbedding.forward_native` (Neox style, full rotary dim) with the cos/sin rows gathered
    once per forward batch instead of once per layer, and no pass-through concatenation.

    Every layer of a model shares one rotary module (SGLang's `get_rope` caches them) and gets the
    same `positions` tensor within a forward, so the first layer's gather serves the others.
    """
    if (offsets is not None or fused_set_kv_buffer_arg is not None or not self.is_neox_style
            or self.rotary_dim != self.head_size or hasattr(self, "sin_cos_cache")):
        return self.forward_native(positions, query, key, offsets, fused_set_kv_buffer_arg)
    cos, sin = _cos_sin(self, positions, query.dtype)
    return _rotate(query, cos, sin, self.head_size), _rotate(key, cos, sin, self.head_size)


def _cos_sin(module: Any, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """[tokens, 1, rotary_dim / 2] cos and sin for `positions`, reused while `positions` is the
    same, unmodified tensor (the cache holds it, so its identity cannot be recycled)."""
    cached = getattr(module, "_hyperaccel_cos_sin", None)
    if (cached is not None and cached[0] is positions and cached[1] == positions._version
            and cached[2] is module.cos_sin_cache and cached[3] == dtype):
        return cached[4], cached[5]
    cos, sin = module.cos_sin_cache.index_select(0, positions.flatten()).chunk(2, dim=-1)
    cos, sin = cos.unsqueeze(-2).to(dtype), sin.unsqueeze(-2).to(dtype)
    module._hyperaccel_cos_sin = (positions, positions._version, module.cos_sin_cache, dtype, cos, sin)
    return cos, sin


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, head_size: int) -> torch.Tensor:
    shape = x.shape
    x1, x2 = torch.chunk(x.view(cos.shape[0], -1, head_size), 2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).reshape(shape)


def register(*_args: Any, **_kwargs: Any) -> None:
    """BEFORE `ModelRunner.load_model`: register the chip forwards (idempotent; callable directly)."""
    from sglang.kernels.fused_op import BaseFusedOp
    from sglang.srt.layers.rotary_embedding.base import RotaryEmbedding

    from sglang_hyperaccel.platform.srt_platform import DISPATCH_KEY

    BaseFusedOp.register_oot_forward(RotaryEmbedding, rotary_forward, DISPATCH_KEY)
