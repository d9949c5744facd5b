"""`ModelSpec` fields from a Hugging Face `config.json`, for the families whose shapes it fixes exactly.

Each reader counts what the family's modules hold (biases, norms, tied heads, experts, MLA's
low-rank projections), so a reader is exact only for its family; a `model_type` without a reader
is an error here. Readers return plain fields (imports nothing of the simulator but its errors);
`ModelSpec.from_hf_config` builds the records. The server does not depend on these: it reads the
model SGLang built (`platform/model_shapes.py`), and tests check both give the same spec where
both apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import SimulatorError

Config = Mapping[str, Any]


def _get(config: Config, *keys: str, default: Any = None) -> Any:
    """The first of `keys` present (and not None) in `config`; KeyError names the first key."""
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    if default is not None:
        return default
    raise KeyError(keys[0])


def _dense(config: Config, *, hidden: int, heads: int, kv_heads: int, head_dim: int, inter: int,
           layers: int, gated: bool, qkv_bias: bool, out_bias: bool, ffn_bias: bool,
           norms_per_layer: int, norm_bias: bool, tie: bool, v_head_dim: int = 0,
           extra_norm_params: int = 0, lm_head_bias: bool = False) -> dict[str, Any]:
    """Fields of a dense decoder whose attention is Q, K, V and one output projection."""
    v_dim = v_head_dim or head_dim
    width = heads * head_dim + kv_heads * (head_dim + v_dim)
    norm = hidden * (2 if norm_bias else 1)
    vocab = int(config["vocab_size"])
    return dict(
        hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim, v_head_dim=v_head_dim, intermediate_size=inter, vocab_size=vocab,
        max_position=int(_get(config, "max_position_embeddings", "n_positions", "seq_length", default=4096)),
        qkv_params=hidden * width + (width if qkv_bias else 0),
        out_params=heads * v_dim * hidden + (hidden if out_bias else 0),
        ffn_params=(3 if gated else 2) * hidden * inter
        + ((inter * (2 if gated else 1) + hidden) if ffn_bias else 0),
        norm_params=norms_per_layer * norm + extra_norm_params,
        embed_params=vocab * hidden,
        lm_head_params=vocab * hidden + (vocab if lm_head_bias else 0),
        final_norm_params=norm, tie_embeddings=tie, gated_ffn=gated,
        linear_bias=qkv_bias and out_bias and ffn_bias, qkv_bias=qkv_bias, norm_bias=norm_bias,
    )


# Per family: norms per layer, whether they carry a bias, whether the LM head is tied by default.
_NORMS = {"gemma2": (4, False, True), "stablelm": (2, True, False), "olmo": (2, None, False),
          "cohere": (1, False, True), "gemma": (2, False, True)}


def _llama_like(config: Config, family: str) -> dict[str, Any]:
    """Llama and its relatives: Q/K/V/O and a gated FFN; norms, biases and ties by family."""
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    if family == "olmo":
        kv_heads = heads  # SGLang's OLMo is multi-head whatever the config says (as OLMo-1B/7B are)
    head_dim = int(config.get("head_dim") or hidden // heads)
    layers = int(config["num_hidden_layers"])
    norms, norm_bias, tie = _NORMS.get(family, (2, False, False))
    bias = bool(config.get("attention_bias", False))
    qkv_bias = family in ("qwen2", "qwen2_moe") or bias or bool(config.get("use_qkv_bias", False))
    extra = 0
    if family in ("qwen3", "qwen3_moe"):
        extra = 2 * head_dim  # per-head RMSNorm of Q and K
    elif family == "cohere" and config.get("use_qk_norm"):
        extra = (heads + kv_heads) * head_dim  # per-head LayerNorm weights of Q and K
    fields = _dense(
        config, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        inter=int(config.get("intermediate_size") or 4 * hidden), layers=layers, gated=True,
        qkv_bias=qkv_bias, out_bias=bias, ffn_bias=bool(config.get("mlp_bias", False)),
        norms_per_layer=norms, norm_bias=bool(norm_bias), tie=bool(config.get("tie_word_embeddings", tie)),
        extra_norm_params=extra)
    if norm_bias is None:  # OLMo's LayerNorm has no parameters at all
        fields.update(norm_params=0, final_norm_params=0)
    if family == "gemma2":
        window = int(config.get("sliding_window") or 4096)
        types = config.get("layer_types") or ["sliding_attention" if i % 2 == 0 else "full_attention"
                                              for i in range(layers)]
        fields.update(sliding_window=window, window_layers=sum(t == "sliding_attention" for t in types))
    return fields


def _starcoder2(config: Config) -> dict[str, Any]:
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    bias = bool(config.get("use_bias", True))
    kv_heads = int(config.get("num_key_value_heads") or heads)
    return _dense(config, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=hidden // heads,
                  inter=int(config["intermediate_size"]),
                  layers=int(config["num_hidden_layers"]), gated=False, qkv_bias=bias, out_bias=bias,
                  ffn_bias=bias, norms_per_layer=2, norm_bias=True,
                  tie=bool(config.get("tie_word_embeddings", True)))


def _opt(config: Config) -> dict[str, Any]:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    bias = bool(config.get("enable_bias", True))
    proj = int(config.get("word_embed_proj_dim") or hidden)
    fields = _dense(config, hidden=hidden, heads=heads, kv_heads=heads, head_dim=hidden // heads,
                    inter=int(config["ffn_dim"]), layers=int(config["num_hidden_layers"]), gated=False,
                    qkv_bias=bias, out_bias=bias, ffn_bias=bias, norms_per_layer=2, norm_bias=True,
                    tie=bool(config.get("tie_word_embeddings", True)))
    vocab = fields["vocab_size"]
    projections = 2 * proj * hidden if proj != hidden else 0
    fields.update(
        max_position=int(config.get("max_position_embeddings", 2048)), learned_positions=True,
        # OPT's learned position table has 2 extra rows (its padding offset).
        position_params=(int(config.get("max_position_embeddings", 2048)) + 2) * hidden,
        embed_params=vocab * proj + projections, lm_head_params=vocab * proj,
        embed_proj_dim=proj if proj != hidden else 0)
    return fields


def _gpt2_like(config: Config, family: str) -> dict[str, Any]:
    hidden = int(_get(config, "n_embd", "hidden_size"))
    heads = int(_get(config, "n_head", "num_attention_heads"))
    kv_heads = 1 if family == "gpt_bigcode" and config.get("multi_query", True) else heads
    fields = _dense(config, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=hidden // heads,
                    inter=int(config.get("n_inner") or 4 * hidden), layers=int(_get(config, "n_layer")),
                    gated=False, qkv_bias=True, out_bias=True, ffn_bias=True, norms_per_layer=2,
                    norm_bias=True, tie=bool(config.get("tie_word_embeddings", True)))
    positions = int(_get(config, "n_positions", "max_position_embeddings"))
    fields.update(max_position=positions, learned_positions=True, position_params=positions * hidden)
    return fields


def _gptj(config: Config) -> dict[str, Any]:
    hidden, heads = int(config["n_embd"]), int(config["n_head"])
    # One LayerNorm per layer (attention and MLP in parallel), Q/K/V/out without bias, MLP with,
    # and an LM head with a bias.
    return _dense(config, hidden=hidden, heads=heads, kv_heads=heads, head_dim=hidden // heads,
                  inter=int(config.get("n_inner") or 4 * hidden), layers=int(config["n_layer"]),
                  gated=False, qkv_bias=False, out_bias=False, ffn_bias=True, norms_per_layer=1,
                  norm_bias=True, tie=bool(config.get("tie_word_embeddings", False)), lm_head_bias=True)


def _moe(config: Config, family: str, fields: dict[str, Any]) -> dict[str, Any]:
    hidden, layers = fields["hidden_size"], fields["num_layers"]
    if family == "mixtral":
        experts, inter = int(config["num_local_experts"]), fields["intermediate_size"]
        shared, moe_layers = 0, layers
    else:  # qwen2_moe, qwen3_moe
        # transformers 5 writes Qwen's `num_experts` as `num_local_experts` (its attribute map).
        experts = int(_get(config, "num_experts", "num_local_experts"))
        inter = int(config["moe_intermediate_size"])
        shared = int(config.get("shared_expert_intermediate_size") or 0) if family == "qwen2_moe" else 0
        step = int(config.get("decoder_sparse_step", 1) or 1)
        dense = set(config.get("mlp_only_layers") or [])
        moe_layers = sum(1 for i in range(layers) if i not in dense and (i + 1) % step == 0)
    moe = dict(layers=moe_layers, num_experts=experts, top_k=int(config["num_experts_per_tok"]),
                  expert_params=3 * hidden * inter, expert_intermediate=inter,
                  # Qwen2-MoE's shared expert has a one-output gate of its own.
                  shared_params=3 * hidden * shared + (hidden if shared else 0), shared_intermediate=shared,
                  router_params=hidden * experts)
    fields["moe"] = moe
    if moe_layers == layers:
        fields["ffn_params"] = 0
    return fields


def _deepseek_v2(config: Config) -> dict[str, Any]:
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    layers, vocab = int(config["num_hidden_layers"]), int(config["vocab_size"])
    q_rank, kv_rank = config.get("q_lora_rank"), int(config["kv_lora_rank"])
    nope, rope, v_dim = (int(config["qk_nope_head_dim"]), int(config["qk_rope_head_dim"]),
                         int(config["v_head_dim"]))
    q_head = nope + rope
    q_params = hidden * q_rank + q_rank * heads * q_head if q_rank else hidden * heads * q_head
    inter = int(config["intermediate_size"])
    moe_inter = int(config["moe_intermediate_size"])
    experts = int(config.get("n_routed_experts") or 0)
    first_dense, freq = int(config.get("first_k_dense_replace", 0)), int(config.get("moe_layer_freq", 1))
    moe_layers = sum(1 for i in range(layers) if experts and i >= first_dense and i % freq == 0)
    shared = int(config.get("n_shared_experts") or 0) * moe_inter
    return dict(
        hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=1,
        # Decode attends in the latent space (weights absorbed): scores over kv_rank + rope, values
        # of kv_rank; the cache holds that latent vector once per token and layer.
        head_dim=kv_rank + rope, v_head_dim=kv_rank, kv_latent_dim=kv_rank + rope,
        intermediate_size=inter, vocab_size=vocab,
        max_position=int(config.get("max_position_embeddings", 4096)),
        qkv_params=q_params + hidden * (kv_rank + rope) + kv_rank * heads * (nope + v_dim),
        out_params=heads * v_dim * hidden,
        ffn_params=3 * hidden * inter if moe_layers < layers else 0,
        # Two RMSNorms per layer, plus those of the low-rank Q (if any) and of the latent KV.
        norm_params=2 * hidden + (q_rank or 0) + kv_rank,
        embed_params=vocab * hidden, lm_head_params=vocab * hidden, final_norm_params=hidden,
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        moe=dict(layers=moe_layers, num_experts=experts, top_k=int(config["num_experts_per_tok"]),
                    expert_params=3 * hidden * moe_inter, expert_intermediate=moe_inter,
                    shared_params=3 * hidden * shared, shared_intermediate=shared,
                    router_params=hidden * experts) if moe_layers else None,
    )


_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "stablelm", "olmo", "cohere")
_READERS: dict[str, Callable[[Config], dict[str, Any]]] = {
    **{family: (lambda c, f=family: _llama_like(c, f)) for family in _LLAMA_LIKE},
    "opt": _opt,
    "gpt2": lambda c: _gpt2_like(c, "gpt2"),
    "gpt_bigcode": lambda c: _gpt2_like(c, "gpt_bigcode"),
    "gptj": _gptj,
    "starcoder2": _starcoder2,
    **{family: (lambda c, f=family: _moe(c, f, _llama_like(c, f)))
       for family in ("mixtral", "qwen2_moe", "qwen3_moe")},
    "deepseek_v2": _deepseek_v2,
}
SUPPORTED_FAMILIES = tuple(_READERS)


def read_fields(config: Config, source_name: str) -> dict[str, Any]:
    """The `ModelSpec` fields (all but name and dtype) of `config`, `moe` as the `MoESpec` fields.

    Raises SimulatorError for a family without a reader or a config that lacks a field.
    """
    family = str(config.get("model_type", "")).lower()
    reader = _READERS.get(family)
    if reader is None:
        raise SimulatorError(
            f"no config reader for model_type {family or '(none)'!r} in {source_name}; readers: "
            f"{', '.join(SUPPORTED_FAMILIES)} (the server reads any model from the modules SGLang builds)")
    try:
        fields = reader(config)
    except KeyError as exc:
        raise SimulatorError(f"config of {source_name} lacks {exc.args[0]!r}") from None
    return {"family": family, **fields}
