"""Wall time per forward of a ~16M-parameter Hugging Face Llama on CPU vs on `hyperaccel`.

Two shapes: a decode-like step (batch 1, one new token over a 32-token KV cache) and a prefill
(batch 16 x 32 tokens). The device runs CPU kernels on the same host memory, so the ratio
measures the backend's per-op overhead (dispatch, aliasing, accounting).

    python benchmarks/bench_device.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Median and minimum seconds of one call."""

    median_s: float
    min_s: float


def measure(fn: Callable[[], object], repeats: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times))


def build_model() -> torch.nn.Module:
    import transformers

    config = transformers.LlamaConfig(
        hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
        num_key_value_heads=4, vocab_size=4096, max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def decode_step(model: torch.nn.Module, device: str, context: int = 32) -> Callable[[], object]:
    """One token over a `context`-token KV cache; the cache is cropped back after each step."""
    ids = torch.randint(0, model.config.vocab_size, (1, context + 1),
                        generator=torch.Generator().manual_seed(1))
    ids = ids.to(device)
    with torch.inference_mode():
        cache = model(ids[:, :context], use_cache=True).past_key_values
    token = ids[:, context:]
    position = torch.tensor([[context]], device=device)

    def step() -> object:
        with torch.inference_mode():
            out = model(token, past_key_values=cache, position_ids=position, use_cache=True)
            cache.crop(-1)  # drop the token just appended
            return out.logits

    return step


def prefill(model: torch.nn.Module, device: str, batch: int = 16, length: int = 32) -> Callable[[], object]:
    ids = torch.randint(0, model.config.vocab_size, (batch, length),
                        generator=torch.Generator().manual_seed(2))
    ids = ids.to(device)

    def run() -> object:
        with torch.inference_mode():
            return model(ids, use_cache=False).logits

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from sglang_hyperaccel.device import register

    register()
    cpu_model = build_model()
    chip_model = copy.deepcopy(cpu_model).to("hyperaccel")
    params = sum(p.numel() for p in cpu_model.parameters())
    print(f"Llama {params / 1e6:.1f}M parameters, fp32, {torch.get_num_threads()} threads")
    print(f"{'shape':<28}{'cpu ms':>10}{'hyperaccel ms':>15}{'ratio':>8}")
    for name, make in [("decode b=1 (kv 32)", decode_step), ("prefill b=16 x 32", prefill)]:
        cpu = measure(make(cpu_model, "cpu"), args.repeats)
        chip = measure(make(chip_model, "hyperaccel"), args.repeats)
        print(f"{name:<28}{cpu.median_s * 1e3:>10.2f}{chip.median_s * 1e3:>15.2f}"
              f"{chip.median_s / cpu.median_s:>8.2f}x")


if __name__ == "__main__":
    main()
