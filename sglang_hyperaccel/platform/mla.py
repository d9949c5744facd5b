"""Multi-head latent attention (DeepSeek-V2/V3) on the chip: always the absorbed MLA path.

DeepSeek's attention asks `AttentionBackendRegistry` which forward to run for the backend in use.
With no handler for `hyperaccel` it gets the Triton backend's, which sends a prefill without
cached prefix through per-head MHA (`attn_mha`): that reads per-head K and V from the KV pool,
which for MLA holds the compressed latent, so the shapes disagree. The absorbed path (`attn_mqa`)
attends in the latent space the pool holds, for prefill and decode alike.
"""

from __future__ import annotations

from typing import Any

from sglang_hyperaccel.names import ATTENTION_BACKEND


def absorbed(attn: Any, forward_batch: Any) -> Any:
    """The forward method for every batch: `AttnForwardMethod.MLA`."""
    from sglang.srt.models.deepseek_common.attention_forward_methods.forward_methods import AttnForwardMethod

    return AttnForwardMethod.MLA


def register() -> None:
    """Register `absorbed` as the `hyperaccel` backend's handler (idempotent)."""
    from sglang.srt.models.deepseek_common.attention_backend_handler import AttentionBackendRegistry

    AttentionBackendRegistry.register(ATTENTION_BACKEND, absorbed)
