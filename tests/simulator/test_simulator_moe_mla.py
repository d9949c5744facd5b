"""Mixture-of-experts, multi-head latent attention and sliding windows, against hand-computed counts."""

from __future__ import annotations

import pytest

from sglang_hyperaccel.simulator import ModelSpec, Simulator
from sglang_hyperaccel.simulator.step_model import _window_pairs

MIXTRAL = {
    "model_type": "mixtral", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
    "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000, "num_local_experts": 4,
    "num_experts_per_tok": 2, "max_position_embeddings": 512, "torch_dtype": "bfloat16",
}
DEEPSEEK_V2 = {
    "model_type": "deepseek_v2", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
    "num_hidden_layers": 3, "vocab_size": 1000, "q_lora_rank": 32, "kv_lora_rank": 16,
    "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "n_routed_experts": 4,
    "num_experts_per_tok": 2, "n_shared_experts": 1, "moe_intermediate_size": 32,
    "first_k_dense_replace": 1, "moe_layer_freq": 1, "max_position_embeddings": 512,
    "torch_dtype": "bfloat16",
}


def test_mixtral_counts_every_expert_and_reads_the_active_ones():
    """Mixtral: params hold all 4 experts; a decode step of one token reads top-2 experts' weights."""
    spec = ModelSpec.from_hf_config(MIXTRAL)
    attention = 64 * (64 + 2 * 32) + 64 * 64  # q, k, v (2 KV heads of 16) and o
    expert = 3 * 64 * 128
    layer = attention + 4 * expert + 64 * 4 + 2 * 64  # experts, router, two RMSNorms
    assert spec.num_params == 2 * 1000 * 64 + 2 * layer + 64
    sim = Simulator("lpu", spec)
    one = sim.decode([10]).op("ffn")
    assert one.bytes == pytest.approx(2 * (64 * 4 + 2 * expert) * 2)  # router + 2 experts, 2 layers, bf16
    assert one.flops == pytest.approx(2 * 2 * (64 * 4 + 2 * expert) + 2 * 4 * 2 * 128)  # matmuls + SiLU
    # Three tokens activate E(1 - (1 - k/E)^3) = 4 * (1 - 1/8) = 3.5 distinct experts on average.
    three = sim.decode([10, 20, 30]).op("ffn")
    assert three.bytes == pytest.approx(2 * (64 * 4 + 3.5 * expert) * 2)


def test_deepseek_v2_mla_and_moe_by_hand():
    """DeepSeek-V2 shape: low-rank Q, latent KV of 16 + 4 per token and layer, 1 dense + 2 MoE layers."""
    spec = ModelSpec.from_hf_config(DEEPSEEK_V2)
    q = 64 * 32 + 32 * 4 * (8 + 4)  # q_a, q_b
    kv = 64 * (16 + 4) + 16 * 4 * (8 + 8)  # kv_a (latent + rope key), kv_b (nope keys and values)
    out = 4 * 8 * 64
    norms = 2 * 64 + 32 + 16  # two per layer, q_a's and kv_a's
    dense_ffn = 3 * 64 * 128
    moe_ffn = 4 * 3 * 64 * 32 + 3 * 64 * 32 + 64 * 4  # routed, one shared, router
    assert spec.qkv_params == q + kv and spec.out_params == out and spec.norm_params == norms
    assert spec.num_params == 3 * (q + kv + out + norms) + dense_ffn + 2 * moe_ffn + 2 * 1000 * 64 + 64
    assert spec.kv_bytes_per_token == 3 * (16 + 4) * 2
    sim = Simulator("lpu", spec)
    att = sim.decode([99]).op("attention")
    assert att.bytes == pytest.approx(3 * 20 * 2 * 100)  # the latent of 99 cached tokens + the new one
    # Absorbed attention: scores over 16 + 4, values over 16, 4 heads, per (query, key) pair.
    assert att.flops == pytest.approx(3 * 100 * (2 * 4 * (20 + 16) + 5 * 4))


def test_mla_latent_is_not_split_over_devices():
    """Over 2 devices each holds half the projections but the whole latent KV cache."""
    spec = ModelSpec.from_hf_config(DEEPSEEK_V2)
    one, two = Simulator("lpu", spec, 1), Simulator("lpu", spec, 2)
    assert two.decode([99]).op("attention").bytes == one.decode([99]).op("attention").bytes
    assert two.decode([99]).op("qkv_proj").bytes == pytest.approx(one.decode([99]).op("qkv_proj").bytes / 2)


@pytest.mark.parametrize("window", [1, 2, 5, 16])
def test_window_pairs_match_a_brute_force_count(window):
    """Scores under a sliding window equal a count over every (query, key) pair."""
    for cached in range(0, 25):
        for new in range(1, 25):
            brute = sum(1 for j in range(new) for key in range(cached + j + 1)
                        if key > cached + j - window)
            assert _window_pairs(new, cached, window) == brute, (new, cached, window)


def test_sliding_window_caps_the_kv_read():
    """With every layer windowed at 8, a decode step at 1000 cached tokens reads 7 cached + 1 new."""
    import dataclasses

    base = ModelSpec.from_hf_config({**MIXTRAL, "model_type": "llama"})
    windowed = dataclasses.replace(base, sliding_window=8, window_layers=base.num_layers)
    per_token = base.kv_bytes_per_token
    assert Simulator("lpu", windowed).decode([1000]).op("attention").bytes == pytest.approx(8 * per_token)
    assert Simulator("lpu", base).decode([1000]).op("attention").bytes == pytest.approx(1001 * per_token)
