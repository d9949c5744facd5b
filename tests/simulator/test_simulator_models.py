"""Model specs from Hugging Face configs, chip lookup, and the errors a caller can hit."""

from __future__ import annotations

import json

import pytest

from sglang_hyperaccel.simulator import (
    DoesNotFitError,
    ModelSpec,
    Simulator,
    SimulatorError,
    UnknownNameError,
    generate,
    get_chip,
    get_model,
    list_chips,
    list_models,
    load_model,
)

TINY_LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 2048, "max_position_embeddings": 256,
    "tie_word_embeddings": False, "torch_dtype": "float32",
}


@pytest.mark.parametrize("name, params", [
    ("opt-1.3b", 1.316e9), ("opt-6.7b", 6.658e9), ("opt-13b", 12.853e9),
    ("opt-30b", 29.975e9), ("opt-66b", 65.720e9), ("llama-3-8b", 8.030e9), ("llama-3-70b", 70.554e9),
    ("qwen2.5-7b", 7.616e9), ("qwen2.5-72b", 72.706e9), ("mixtral-8x7b", 46.703e9),
    ("deepseek-v2-lite", 15.706e9),
])
def test_bundled_models_have_their_published_size(name, params):
    """Parameter counts of the bundled configs match the models' known sizes (±0.5%)."""
    assert get_model(name).num_params == pytest.approx(params, rel=0.005)


def test_bundled_list():
    """The OPT sizes, Llama 3, Qwen 2.5, a mixture-of-experts and an MLA model are bundled."""
    assert {"opt-1.3b", "opt-6.7b", "opt-30b", "opt-66b", "llama-3-8b", "llama-3-70b", "qwen2.5-7b",
            "qwen2.5-72b", "mixtral-8x7b", "deepseek-v2-lite"} <= set(list_models())


def test_small_llama_from_dict_fp32_and_bf16():
    """A tiny Llama dict parses; torch_dtype sets bytes per parameter; it simulates."""
    spec = ModelSpec.from_hf_config(TINY_LLAMA, name="tiny")
    assert (spec.hidden_size, spec.num_layers, spec.vocab_size, spec.dtype_bytes) == (64, 2, 2048, 4)
    assert spec.num_kv_heads == 2 and spec.head_dim == 16 and spec.gated_ffn
    # Embedding + LM head + 2 x (q, k, v, o, gate/up/down, 2 norms) + final norm.
    layer = 64 * (64 + 2 * 32) + 64 * 64 + 3 * 64 * 128 + 2 * 64
    assert spec.num_params == 2 * 2048 * 64 + 2 * layer + 64
    assert ModelSpec.from_hf_config({**TINY_LLAMA, "torch_dtype": "bfloat16"}).dtype_bytes == 2
    step = Simulator("lpu", spec).decode([10, 20])
    assert step.total_s > step.floor_s > 0


def test_dtype_override_and_newer_dtype_key():
    """dtype_bytes overrides the config; a config may say `dtype` instead of `torch_dtype`."""
    assert ModelSpec.from_hf_config(TINY_LLAMA, dtype_bytes=1).dtype_bytes == 1
    cfg = {k: v for k, v in TINY_LLAMA.items() if k != "torch_dtype"}
    assert ModelSpec.from_hf_config({**cfg, "dtype": "float16"}).dtype_bytes == 2
    assert ModelSpec.from_hf_config(cfg).dtype_bytes == 2  # none given: FP16, the LPU's own
    assert get_model("opt-1.3b", dtype_bytes=4).weight_bytes == 2 * get_model("opt-1.3b").weight_bytes


def test_from_directory_and_file(tmp_path):
    """A model directory or its config.json path both load, named after the directory."""
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(TINY_LLAMA))
    assert load_model(str(model_dir)).name == "my-model"
    assert ModelSpec.from_hf_config(model_dir / "config.json").num_layers == 2


def test_qwen2_has_qkv_bias_and_tied_embeddings():
    """Qwen2 adds a Q/K/V bias; tie_word_embeddings stores the LM head once."""
    cfg = {**TINY_LLAMA, "model_type": "qwen2", "tie_word_embeddings": True}
    spec = ModelSpec.from_hf_config(cfg)
    assert spec.qkv_bias and spec.qkv_params == 64 * 128 + 128
    assert spec.num_params == ModelSpec.from_hf_config(TINY_LLAMA).num_params - 2048 * 64 + 2 * 128


def test_opt_shapes():
    """OPT: two FFN matrices, biases, LayerNorm, learned positions, MHA."""
    spec = get_model("opt-1.3b")
    assert (spec.family, spec.gated_ffn, spec.linear_bias, spec.norm_bias) == ("opt", False, True, True)
    assert spec.num_kv_heads == spec.num_heads == 32
    assert spec.kv_bytes_per_token == 2 * 2048 * 24 * 2


def test_unknown_model_lists_the_bundled_ones():
    """An unknown name raises a ValueError/KeyError naming the bundled models."""
    with pytest.raises(UnknownNameError) as info:
        load_model("gpt-5")
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)
    assert "opt-1.3b" in str(info.value) and "gpt-5" in str(info.value)


def test_unsupported_family_and_broken_config(tmp_path):
    """An unsupported model_type or a config without shapes raises SimulatorError."""
    with pytest.raises(SimulatorError, match="no config reader for model_type 'mamba'"):
        ModelSpec.from_hf_config({"model_type": "mamba", "hidden_size": 8})
    with pytest.raises(SimulatorError, match="lacks 'n_head'"):
        ModelSpec.from_hf_config({"model_type": "gpt2", "n_embd": 768})
    with pytest.raises(SimulatorError, match="lacks"):
        ModelSpec.from_hf_config({"model_type": "llama", "hidden_size": 64})
    with pytest.raises(SimulatorError, match="no model config"):
        ModelSpec.from_hf_config(tmp_path / "missing")
    with pytest.raises(SimulatorError, match="num_kv_heads"):
        ModelSpec.from_hf_config({**TINY_LLAMA, "num_key_value_heads": 3})


def test_unknown_chip_lists_known_chips():
    """An unknown chip raises a ValueError/KeyError naming every known chip."""
    with pytest.raises(UnknownNameError) as info:
        get_chip("tpu-v9")
    assert all(name in str(info.value) for name in list_chips())
    assert {"lpu", "lpu-fpga", "h100"} <= set(list_chips())


@pytest.mark.parametrize("devices", [0, -1, 1.5, True])
def test_bad_device_count(devices):
    """Zero, negative or non-integer device counts are refused."""
    with pytest.raises(SimulatorError, match="devices"):
        Simulator("lpu", "opt-1.3b", devices)


def test_model_that_does_not_fit():
    """OPT-66B on one LPU: the error names model bytes against chip memory x devices."""
    with pytest.raises(DoesNotFitError) as info:
        Simulator("lpu", "opt-66b", 1)
    text = str(info.value)
    assert "122.41 GiB" in text and "96.00 GiB x 1" in text and "at least 2" in text
    with pytest.raises(DoesNotFitError, match="KV cache"):
        generate(Simulator("lpu-fpga", "opt-6.7b"), batch=64, input_len=2048, output_len=2048)


def test_fpga_spec_is_the_u55c():
    """lpu-fpga: 16 GB HBM2 at 460 GB/s; OPT-1.3B is slower there than on the ASIC."""
    fpga = get_chip("lpu-fpga")
    assert fpga.memory_bytes == 16 * 2**30 and fpga.memory_bandwidth == 460e9
    slow = Simulator(fpga, "opt-1.3b").decode([500]).total_s
    assert slow > 5 * Simulator("lpu", "opt-1.3b").decode([500]).total_s

