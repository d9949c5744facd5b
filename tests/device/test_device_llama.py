"""A Hugging Face Llama runs on hyperaccel exactly as on CPU."""

from __future__ import annotations

import copy

import torch

D = "hyperaccel"


def test_llama_forward_and_generate_match_cpu() -> None:
    """Logits agree to 1e-5 and greedy generation gives the same tokens."""
    import transformers

    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=256)
    torch.manual_seed(0)
    cpu_model = transformers.LlamaForCausalLM(config).eval()
    chip_model = copy.deepcopy(cpu_model).to(D)
    assert next(chip_model.parameters()).device.type == D
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        cpu_logits = cpu_model(ids).logits
        chip_logits = chip_model(ids.to(D)).logits
        assert chip_logits.device.type == D
        assert (chip_logits.cpu() - cpu_logits).abs().max().item() <= 1e-5
        cpu_tokens = cpu_model.generate(ids, do_sample=False, max_new_tokens=16)
        chip_tokens = chip_model.generate(ids.to(D), do_sample=False, max_new_tokens=16)
    assert chip_tokens.device.type == D
    assert torch.equal(chip_tokens.cpu(), cpu_tokens)
