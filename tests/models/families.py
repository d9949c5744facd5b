"""Tiny random checkpoints, one per model family SGLang serves, built offline with transformers.

Every family has the same shape where its architecture allows it: hidden 64, 2 layers, 4 heads
(2 KV heads where the family has GQA), intermediate 128, vocab 512, 512 positions, fp32. Special
token ids are moved inside the 512-token vocabulary (the families' defaults point past it). No
tokenizer is written: serve with `--skip-tokenizer-init` and send `input_ids`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOCAB = 512
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = HIDDEN // HEADS
INTERMEDIATE = 128
POSITIONS = 512
SPECIAL_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
# The prompt each family's init scale below was chosen for: greedy decoding from it gives
# 7 or 8 distinct tokens in 8, with a top-1/top-2 logit margin of at least 1e-3 at every step (fp32 runs
# differ by about 1e-5, so the comparison with transformers is exact, not a coin toss).
PROMPT = [435, 200, 391, 458, 218, 23, 135, 497, 264, 251, 210, 473, 404, 427, 158, 498]
NOISE_STD = 0.1
# Keys the hub checkpoints of a family carry and SGLang 0.5.23 reads as attributes, but that
# transformers 5's config classes no longer define (so `save_pretrained` does not write them);
# values as in google/gemma-2-2b and deepseek-ai/DeepSeek-V2-Lite.
HUB_KEYS: dict[str, dict[str, Any]] = {
    "gemma2": {"hidden_act": "gelu_pytorch_tanh"},
    "deepseek_v2": {"moe_layer_freq": 1, "scoring_func": "softmax", "n_group": 1, "topk_group": 1},
}
_MARKER = "BUILD_OK"  # written last, so a half-built directory is never taken for a checkpoint


@dataclass(frozen=True)
class Family:
    """How to build one family's checkpoint.

    `config_class`/`model_class` name transformers classes; `kwargs` go to the config. Weights are
    drawn from N(0, `std`) (transformers' default 0.02 gives near-flat logits: greedy decoding
    repeats one token); `embed_std`, when set, is the token embedding's own scale (the Gemma
    families multiply embeddings by sqrt(hidden) and tie them to the LM head, so at `std` the output
    only copies the last input token).
    """

    config_class: str
    model_class: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    std: float = 0.3
    embed_std: float | None = None


def _llama_like(**extra: Any) -> dict[str, Any]:
    """Config kwargs of the Llama-style families (names as LlamaConfig spells them)."""
    return {"vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE,
            "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
            "max_position_embeddings": POSITIONS, **SPECIAL_IDS, **extra}


def _gpt2_like(**extra: Any) -> dict[str, Any]:
    """Config kwargs of the GPT-2-style families (n_embd, n_layer, ...)."""
    return {"vocab_size": VOCAB, "n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS,
            "n_inner": INTERMEDIATE, "n_positions": POSITIONS, "bos_token_id": 1, "eos_token_id": 2,
            **extra}


FAMILIES: dict[str, Family] = {
    "llama": Family("LlamaConfig", "LlamaForCausalLM", _llama_like()),
    "mistral": Family("MistralConfig", "MistralForCausalLM", _llama_like(sliding_window=None)),
    "qwen2": Family("Qwen2Config", "Qwen2ForCausalLM", _llama_like(), std=0.05),
    "qwen3": Family("Qwen3Config", "Qwen3ForCausalLM", _llama_like(head_dim=HEAD_DIM)),
    "gemma": Family("GemmaConfig", "GemmaForCausalLM", _llama_like(head_dim=HEAD_DIM), embed_std=0.15),
    # A window of 6 and a tight attention softcap, so the 16-token prompt exercises both (greedy
    # tokens differ without either).
    "gemma2": Family("Gemma2Config", "Gemma2ForCausalLM", _llama_like(
        head_dim=HEAD_DIM, query_pre_attn_scalar=HEAD_DIM, sliding_window=6, attn_logit_softcapping=2.0,
        **HUB_KEYS["gemma2"]), std=0.4, embed_std=0.05),
    "phi3": Family("Phi3Config", "Phi3ForCausalLM",
                   _llama_like(original_max_position_embeddings=POSITIONS), std=0.5),
    "gpt2": Family("GPT2Config", "GPT2LMHeadModel", _gpt2_like(), std=0.2),
    "gpt_bigcode": Family("GPTBigCodeConfig", "GPTBigCodeForCausalLM", _gpt2_like(), std=0.5),
    "gptj": Family("GPTJConfig", "GPTJForCausalLM", _gpt2_like(rotary_dim=HEAD_DIM // 2), std=0.5),
    "opt": Family("OPTConfig", "OPTForCausalLM", {
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "word_embed_proj_dim": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "ffn_dim": INTERMEDIATE,
        "max_position_embeddings": POSITIONS, "dropout": 0.0, **SPECIAL_IDS}, std=0.2),
    "stablelm": Family("StableLmConfig", "StableLmForCausalLM", _llama_like()),
    "starcoder2": Family("Starcoder2Config", "Starcoder2ForCausalLM", _llama_like(), std=0.2),
    # OLMo (1) has no GQA: SGLang's OlmoAttention uses num_attention_heads for K and V.
    "olmo": Family("OlmoConfig", "OlmoForCausalLM", _llama_like(num_key_value_heads=HEADS)),
    "cohere": Family("CohereConfig", "CohereForCausalLM", _llama_like(), std=0.5),
    "mixtral": Family("MixtralConfig", "MixtralForCausalLM",
                      _llama_like(sliding_window=None, num_local_experts=4, num_experts_per_tok=2),
                      std=0.5),
    "qwen3_moe": Family("Qwen3MoeConfig", "Qwen3MoeForCausalLM", _llama_like(
        head_dim=HEAD_DIM, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
        norm_topk_prob=True), std=0.5),
    "deepseek_v2": Family("DeepseekV2Config", "DeepseekV2ForCausalLM", _llama_like(
        num_key_value_heads=HEADS, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=8,
        qk_rope_head_dim=8, v_head_dim=8, head_dim=8, n_routed_experts=4, num_experts_per_tok=2,
        n_shared_experts=1, first_k_dense_replace=1, moe_intermediate_size=32, topk_method="greedy",
        **HUB_KEYS["deepseek_v2"])),
}


def build_tiny(family: str, root: Path) -> Path:
    """The directory of `family`'s tiny checkpoint under `root`, built on first use.

    Holds `model.safetensors`, the full `config.json` (every default written out) and
    `generation_config.json`; no tokenizer.
    """
    path = root / family
    if (path / _MARKER).exists():
        return path
    model = tiny_model(family)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=root))
    model.save_pretrained(staging, safe_serialization=True)
    model.config.to_json_file(staging / "config.json", use_diff=False)
    (staging / _MARKER).write_text(family + "\n")
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path


def tiny_model(family: str) -> Any:
    """`family`'s transformers model with seeded random fp32 weights, in eval mode."""
    import torch
    import transformers

    spec = FAMILIES[family]
    config = getattr(transformers, spec.config_class)(**spec.kwargs, dtype="float32")
    torch.manual_seed(0)
    model = getattr(transformers, spec.model_class)(config).to(torch.float32).eval()
    _randomize(model, spec)
    return model


def _randomize(model: Any, spec: Family) -> None:
    """Matrices drawn from N(0, std); vectors (norm scales, biases) moved off their constant init
    by N(0, NOISE_STD), so a norm or bias that a server loads wrongly, or not at all, shows."""
    import torch

    embedding = model.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=gen, dtype=param.dtype)
            if param is embedding and spec.embed_std is not None:
                param.copy_(noise * spec.embed_std)
            elif param.dim() >= 2:
                param.copy_(noise * spec.std)
            else:
                param.add_(noise * NOISE_STD)
