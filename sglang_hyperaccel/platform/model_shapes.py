"""A `ModelSpec` read off the model SGLang built: any architecture it implements, no family table.

`spec_from_module` walks an SGLang model (loaded, or built on the `meta` device by `meta_model.py`):
the decoder layers are the module list whose layers hold `RadixAttention`s; in each layer every
parameter is given a role by where it sits (a norm; the attention block's output projection or its
other projections; a `FusedMoE`'s experts, the MoE block's router and shared experts; else the
dense FFN); the attention geometry comes from `RadixAttention` (heads, head widths, sliding window)
and, for multi-head latent attention, from the attention block's `kv_lora_rank`; the embedding,
position table, LM head (tied or not) and final norm from the modules outside the layers.

Counts are those of one tensor-parallel rank: call it on a model built at TP 1 (the meta build is).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from torch import nn

from sglang_hyperaccel.simulator import ModelSpec, MoESpec, SimulatorError

# Last name of an attention block's output projection across SGLang's model files.
_OUT_PROJ = ("o_proj", "out_proj", "dense", "c_proj", "wo")


def _is_norm(module: nn.Module) -> bool:
    return "norm" in type(module).__name__.lower() and not any(True for _ in module.children())


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def _rows(embedding: nn.Module) -> int:
    """Vocabulary rows of an embedding, without the padding SGLang's parallel embedding adds."""
    return int(getattr(embedding, "org_vocab_size", None) or embedding.num_embeddings)


def _decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The longest module list whose entries hold attention layers."""
    from sglang.srt.layers.radix_attention import RadixAttention

    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and (best is None or len(module) > len(best[1])):
            if any(isinstance(m, RadixAttention) for m in module[0].modules()):
                best = (name, module)
    if best is None:
        raise SimulatorError(f"{type(model).__name__}: no decoder layers with attention found")
    return best


class _LayerCounts:
    """Parameters of one decoder layer by role, and what its attention and MoE modules say."""

    def __init__(self, layer: nn.Module, hidden: int) -> None:
        from sglang.srt.layers.linear import RowParallelLinear
        from sglang.srt.layers.moe.fused_moe_triton.layer import FusedMoE
        from sglang.srt.layers.radix_attention import RadixAttention

        self.hidden, self._row_parallel = hidden, RowParallelLinear
        self.role: dict[str, int] = defaultdict(int)
        modules = dict(layer.named_modules())
        radix = [(n, m) for n, m in modules.items() if isinstance(m, RadixAttention)]
        # MLA builds two attention layers over one cache (decode in the latent, prefill in heads):
        # the cache is the one with the fewest KV heads.
        self.attention_path, self.attention = min(radix, key=lambda nm: nm[1].tp_k_head_num)
        self.attention_home = self.attention_path.rpartition(".")[0]
        self.mla = modules.get(self.attention_home) if self.attention_home else None
        if self.mla is not None and not hasattr(self.mla, "kv_lora_rank"):
            self.mla = None
        moe = [(n, m) for n, m in modules.items() if isinstance(m, FusedMoE)]
        self.moe = moe[0][1] if moe else None
        moe_home = moe[0][0].rpartition(".")[0] if moe else None
        self.dense_intermediate = self.shared_intermediate = 0
        for name, module in modules.items():
            own = _numel(module)
            if not own or module is self.moe:
                continue
            in_attention = self.attention_home == "" or name.startswith(self.attention_home + ".")
            if _is_norm(module):
                self.role["norm"] += own
            elif in_attention:
                self.role["out" if name.rpartition(".")[2] in _OUT_PROJ else "qkv"] += own
            elif moe_home is not None and (name == moe_home or name.startswith(moe_home + ".")):
                self.role["router" if name == f"{moe_home}.gate" or name == moe_home else "shared"] += own
                self.shared_intermediate += self._down_width(module)
            else:
                self.role["ffn"] += own
                self.dense_intermediate += self._down_width(module)
        if self.moe is not None:
            self.expert_params = sum(p.numel() for p in self.moe.parameters()) // self.moe.num_experts

    def _down_width(self, module: nn.Module) -> int:
        """Intermediate width of an FFN's projection back to the hidden size (0 for other modules).

        That projection splits its input over ranks: SGLang builds it as a `RowParallelLinear`.
        """
        weight = getattr(module, "weight", None)
        if not isinstance(module, self._row_parallel) or weight is None:
            return 0
        if int(weight.shape[0]) != self.hidden:
            return 0
        return int(weight.shape[1])


def spec_from_module(model: nn.Module, hf_config: Mapping[str, Any], *, name: str,
                     dtype_bytes: int) -> ModelSpec:
    """The shapes of `model` (an SGLang model at TP 1) as a `ModelSpec`.

    `hf_config` (the model's config as a dict) gives only the family name and the context length.
    Raises SimulatorError naming what could not be read.
    """
    from sglang.srt.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding

    prefix, layers = _decoder_layers(model)
    vocab = int(hf_config.get("vocab_size") or 0)
    embeddings = (m for n, m in model.named_modules()
                  if isinstance(m, (VocabParallelEmbedding, nn.Embedding))
                  and not isinstance(m, ParallelLMHead) and not n.startswith(prefix + "."))
    embed = next((m for m in embeddings if _rows(m) == vocab), None)
    if embed is None:
        raise SimulatorError(f"{type(model).__name__}: no token embedding of {vocab} rows found")
    hidden = int(embed.embedding_dim)
    counts = [_LayerCounts(layer, hidden) for layer in layers]
    first = counts[0]
    for role in ("qkv", "out", "norm"):
        values = {c.role[role] for c in counts}
        if len(values) != 1:
            raise SimulatorError(f"{type(model).__name__}: layers differ in their {role} parameters {values}")
    dense = [c for c in counts if c.moe is None]
    ffn = {c.role["ffn"] for c in dense}
    if len(ffn) > 1:
        raise SimulatorError(f"{type(model).__name__}: dense layers differ in FFN parameters {ffn}")
    attn = first.attention
    windowed = [c for c in counts if (c.attention.sliding_window_size or -1) > 0]
    moe = None
    moe_layers = [c for c in counts if c.moe is not None]
    if moe_layers:
        m = moe_layers[0]
        if getattr(m.moe, "num_fused_shared_experts", 0):
            raise SimulatorError(f"{type(model).__name__}: shared experts fused into the routed ones")
        moe = MoESpec(layers=len(moe_layers), num_experts=int(m.moe.num_experts), top_k=int(m.moe.top_k),
                      expert_params=m.expert_params,
                      expert_intermediate=int(m.moe.intermediate_size_per_partition),
                      shared_params=m.role["shared"], shared_intermediate=m.shared_intermediate,
                      router_params=m.role["router"])
    head_dim, v_dim = int(attn.head_dim), int(attn.v_head_dim)
    fields: dict[str, Any] = dict(
        family=str(hf_config.get("model_type", "")), hidden_size=hidden, num_layers=len(layers),
        num_heads=int(attn.tp_q_head_num), num_kv_heads=int(attn.tp_k_head_num), head_dim=head_dim,
        v_head_dim=v_dim if v_dim != head_dim else 0,
        kv_latent_dim=head_dim if first.mla is not None else 0,
        intermediate_size=dense[0].dense_intermediate if dense else int(
            hf_config.get("intermediate_size") or moe.expert_intermediate),
        vocab_size=vocab, max_position=int(hf_config.get("max_position_embeddings")
                                           or hf_config.get("n_positions") or 4096),
        qkv_params=first.role["qkv"], out_params=first.role["out"],
        ffn_params=next(iter(ffn)) if ffn else 0, norm_params=first.role["norm"],
        # SGLang's window counts the keys before the query; the chip model counts the query too.
        sliding_window=int(windowed[0].attention.sliding_window_size) + 1 if windowed else 0,
        window_layers=len(windowed), moe=moe, dtype_bytes=dtype_bytes,
    )
    fields.update(_outside_layers(model, prefix, embed, vocab, hidden))
    return ModelSpec(name=name, **fields)


def _outside_layers(model: nn.Module, prefix: str, embed: nn.Module, vocab: int,
                    hidden: int) -> dict[str, Any]:
    """Embedding, position table, LM head and final norm: the parameters outside the layers."""
    from sglang.srt.layers.vocab_parallel_embedding import ParallelLMHead

    head = next((m for m in model.modules() if isinstance(m, ParallelLMHead)), None)
    if head is None:
        head = getattr(model, "lm_head", None)
    tied = head is None or head is embed or getattr(head, "weight", None) is embed.weight
    out: dict[str, Any] = dict(embed_params=vocab * hidden, lm_head_params=vocab * hidden,
                               final_norm_params=0, position_params=0, learned_positions=False,
                               tie_embeddings=tied)
    if not tied:
        if getattr(head, "bias", None) is not None:
            out["lm_head_params"] += vocab  # one per vocabulary entry, without SGLang's padding
    for name, module in model.named_modules():
        if name == prefix or name.startswith(prefix + ".") or module is embed or module is head:
            continue
        own = _numel(module)
        if not own:
            continue
        if _is_norm(module):
            out["final_norm_params"] += own
        elif isinstance(module, nn.Embedding) or "embed" in type(module).__name__.lower():
            # A learned position table (OPT, GPT-2), without the rows SGLang pads it with.
            out["position_params"] += _rows(module) * int(module.embedding_dim)
            out["learned_positions"] = True
        else:
            out["embed_params"] += own  # projections in and out of the embedding width (OPT-350M)
    return out
