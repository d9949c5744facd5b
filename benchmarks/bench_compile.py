"""What torch.compile (Inductor) buys on `hyperaccel`: the demo model's forward, eager vs compiled.

The demo model (`sglang-hyperaccel demo-model`, a 4-layer Llama) is loaded with transformers and
run on the device in two shapes, a prefill (batch 4 x 64 tokens) and a decode-like step (batch 8,
one token, no cache): the whole forward with Inductor and with `aot_eager` (Dynamo's graph, no
code generation), and one decoder layer's RMSNorm + gated MLP with Inductor. Eager runs op by op
(the device's kernels and its CPU fallback); Inductor fuses elementwise and reduction ops into
C++ kernels that run on the device memory directly (it is host memory) and leaves matmuls as
device ops. The same model on `cpu` (eager and Inductor) is the reference: what compiling buys
where PyTorch's own back end runs. Cases that do not compile are reported as such. Compile time is
apart from the steady-state times.

    python benchmarks/bench_compile.py [--repeats 20] [--model tiny]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from bench_device import measure  # the benchmarks' shared timer (median of repeats after warm-up)


@dataclass(frozen=True)
class Case:
    """One row: `fn(*inputs)` eager against `torch.compile(fn, backend=backend)`."""

    name: str
    fn: Callable[..., torch.Tensor]
    backend: str
    inputs: tuple[torch.Tensor, ...]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default="tiny", help="demo model name (built if missing)")
    args = parser.parse_args()

    import transformers

    from sglang_hyperaccel.demo import ensure_demo_model
    from sglang_hyperaccel.device import register

    register()
    path = ensure_demo_model(args.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    cpu_model = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()
    model = model.eval().to("hyperaccel")
    vocab = model.config.vocab_size
    shapes = {"prefill b=4 x 64": (4, 64), "decode-like b=8 x 1": (8, 1)}
    print(f"demo model {args.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"fp32, {torch.get_num_threads()} threads")
    print(f"{'what':<40}{'eager ms':>10}{'compiled ms':>13}{'speed-up':>10}{'compile s':>11}"
          f"{'max |diff|':>12}")
    layer = model.model.layers[0]

    def norm_mlp(x: torch.Tensor) -> torch.Tensor:
        return x + layer.mlp(layer.post_attention_layernorm(x))

    hidden = model.config.hidden_size
    cases: list[Case] = []
    for name, (batch, length) in shapes.items():
        ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))
        ids = ids.to("hyperaccel")
        cases.append(Case(f"model {name}", lambda ids: model(ids, use_cache=False).logits, "inductor",
                          (ids,)))
        cases.append(Case(f"model {name} (aot_eager)", lambda ids: model(ids, use_cache=False).logits,
                          "aot_eager", (ids,)))
        cases.append(Case(f"model {name} on cpu", lambda ids: cpu_model(ids, use_cache=False).logits,
                          "inductor", (ids.cpu(),)))
        x = torch.randn(batch, length, hidden, generator=torch.Generator().manual_seed(1)).to("hyperaccel")
        cases.append(Case(f"norm+MLP layer 0 {name}", norm_mlp, "inductor", (x,)))
    for case in cases:
        name, fn, inputs = case.name, case.fn, case.inputs
        compiled_fn = torch.compile(fn, backend=case.backend, dynamic=False)
        with torch.inference_mode():
            start = time.perf_counter()
            try:
                out = compiled_fn(*inputs)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal: the table says what compiles
                print(f"{name:<40} does not compile: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
                torch._dynamo.reset()
                continue
            compile_s = time.perf_counter() - start
            diff = (out - fn(*inputs)).abs().max().item()
            eager_s = measure(lambda: fn(*inputs), args.repeats).median_s
            compiled_s = measure(lambda: compiled_fn(*inputs), args.repeats).median_s
        print(f"{name:<40}{eager_s * 1e3:>10.2f}{compiled_s * 1e3:>13.2f}{eager_s / compiled_s:>9.2f}x"
              f"{compile_s:>11.1f}{diff:>12.2e}")
        torch._dynamo.reset()


if __name__ == "__main__":
    main()
