"""Numerics on hyperaccel equal CPU's, and views and in-place ops behave as on CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

D = "hyperaccel"


def _to(value: Any, device: str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value


def _assert_same(cpu: Any, chip: Any, name: str) -> None:
    if isinstance(cpu, (list, tuple)):
        assert len(cpu) == len(chip), name
        for a, b in zip(cpu, chip):
            _assert_same(a, b, name)
    elif isinstance(cpu, torch.Tensor):
        assert chip.device.type == D, f"{name}: result on {chip.device}"
        assert chip.dtype == cpu.dtype and chip.shape == cpu.shape, name
        # SDPA runs the chip's own attention kernel (OVERRIDEABLE backend), not CPU's flash kernel:
        # the same math, summed in another order (docs/device.md).
        tolerance = 1e-6 if name.startswith("sdpa") else 0.0
        torch.testing.assert_close(chip.cpu(), cpu, rtol=tolerance, atol=tolerance, equal_nan=True, msg=name)
    else:
        assert cpu == chip, name


def _idx(*rows: list[int]) -> torch.Tensor:
    return torch.tensor(list(rows))


G = torch.Generator().manual_seed(0)
A = torch.randn(4, 6, generator=G)
B = torch.randn(6, 5, generator=G)
C = torch.randn(3, 4, 6, generator=G)
E = torch.randn(3, 6, 5, generator=G)
Q, K, V = (torch.randn(2, 4, 8, 16, generator=G) for _ in range(3))
KV = torch.randn(2, 2, 8, 16, generator=G)


def _index_put(x: torch.Tensor, i: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.index_put_((i,), v, accumulate=True)
    x[i[:1]] = 9.0
    return x


CASES: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "elementwise": (lambda x: (x * 2 + 1).sigmoid() - x.exp() / (x.abs() + 1), (A,)),
    "silu_gelu_pow_rsqrt": (lambda x: F.silu(x) + F.gelu(x) + x.pow(2).mean(-1, keepdim=True).rsqrt(), (A,)),
    "matmul": (lambda x, y: x @ y, (A, B)),
    "matmul_3d_2d": (lambda x, y: x @ y, (C, B)),
    "linear": (lambda x, w, b: F.linear(x, w, b), (A, B.t(), B[0])),
    "bmm": (torch.bmm, (C, E)),
    "baddbmm": (lambda b, x, y: torch.baddbmm(b, x, y, alpha=0.5, beta=2), (torch.ones(3, 4, 5), C, E)),
    "softmax": (lambda x: (F.softmax(x, -1), F.log_softmax(x, 0)), (A,)),
    "layer_norm": (lambda x, w: F.layer_norm(x, (6,), w, w), (A, B[:, 0])),
    "rms_norm": (lambda x, w: F.rms_norm(x, (6,), w), (A, B[:, 0])),
    "embedding": (lambda w, i: F.embedding(i, w), (A, _idx([0, 3], [2, 1]))),
    "index_select": (lambda x, i: x.index_select(1, i), (A, torch.tensor([0, 5, 2]))),
    "gather": (lambda x, i: x.gather(1, i), (A, _idx([0, 1], [5, 5], [2, 0], [1, 1]))),
    "scatter": (lambda x, i: (x.scatter(1, i, 1.5), x.scatter_add(1, i, x[:, :2])), (A, _idx(*[[0, 1]] * 4))),
    "index_put_": (_index_put, (A, torch.tensor([0, 2, 0]), torch.ones(3, 6))),
    "masked_fill": (lambda x: x.masked_fill(x > 0, -1.0), (A,)),
    "boolean_index": (lambda x: x[x > 0], (A,)),
    "advanced_index": (lambda x, i, j: x[i, j], (A, torch.tensor([0, 1]), torch.tensor([2, 3]))),
    "cat_stack": (lambda x: (torch.cat([x, x], 1), torch.stack([x, x])), (A,)),
    "split_chunk_narrow": (lambda x: (*x.split(2), *x.chunk(3, 1), x.narrow(1, 2, 3)), (A,)),
    "transpose_permute_contiguous": (
        lambda x: (x.transpose(0, 2).contiguous(), x.permute(2, 0, 1).contiguous()), (C,)),
    "topk_sort": (lambda x: (*x.topk(3), *x.sort(1, descending=True)), (A,)),
    "argmax_cumsum": (lambda x: (x.argmax(-1), x.cumsum(1), x.max(1)), (A,)),
    "sdpa_causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (Q, K, V)),
    "sdpa_mask": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                  (Q, K, V, Q[0, 0, :, :8] > 0)),
    "sdpa_gqa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), (Q, KV, KV)),
    "nonzero_where": (lambda x: (torch.nonzero(x > 0), torch.where(x > 0, x, 0.0)), (A,)),
    "half_bf16": (lambda x: ((x.half() * 3).float(), (x.bfloat16() + 1).float()), (A,)),
    "cpu_scalar_operand": (lambda x: x * torch.tensor(2.0), (A,)),
    "item_tolist": (lambda x: (x.sum().item(), x[0].tolist()), (A,)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_cpu(name: str) -> None:
    """Each op gives bit-identical results on hyperaccel and CPU (same kernels, same memory)."""
    fn, args = CASES[name]
    _assert_same(fn(*args), fn(*_to(args, D)), name)


def test_multinomial_with_seeded_generator_matches_cpu() -> None:
    """A seeded hyperaccel generator draws what a CPU generator with that seed draws."""
    probs = torch.rand(20, generator=torch.Generator().manual_seed(1))
    chip = torch.multinomial(probs.to(D), 8, generator=torch.Generator(device=D).manual_seed(7))
    cpu = torch.multinomial(probs, 8, generator=torch.Generator().manual_seed(7))
    assert chip.device.type == D and torch.equal(chip.cpu(), cpu)


def test_views_and_in_place_write_through() -> None:
    """Writes through native and fallback views (slice, transpose, unfold, view) reach the base."""
    base = torch.zeros(4, 4, device=D)
    base[1:3, 1:3].add_(1)
    base.t()[0].fill_(5)
    base.diagonal().mul_(2)
    base.view(16)[3] = 42
    expected = torch.zeros(4, 4)
    expected[1:3, 1:3].add_(1)
    expected.t()[0].fill_(5)
    expected.diagonal().mul_(2)
    expected.view(16)[3] = 42
    assert torch.equal(base.cpu(), expected)
    base.unfold(0, 2, 2)[0].zero_()  # unfold runs in the fallback yet returns a view
    assert base[:2].abs().sum().item() == 0 and base[2:].abs().sum().item() > 0


def test_inference_mode() -> None:
    """Tensors made and mutated under inference_mode are inference tensors with right values."""
    with torch.inference_mode():
        x = torch.ones(3, device=D)
        x.add_(1)
        y = x * x
    assert x.is_inference() and y.is_inference()
    assert y.cpu().tolist() == [4.0, 4.0, 4.0]


def test_out_argument_is_resized() -> None:
    """An out= tensor too small for the result is grown, as on CPU."""
    out = torch.empty(0, device=D)
    result = torch.add(torch.ones(100, device=D), 1, out=out)
    assert result is out and out.shape == (100,)
    assert out.cpu().eq(2).all()
    mm_out = torch.empty(0, device=D)
    torch.mm(A.to(D), B.to(D), out=mm_out)
    torch.testing.assert_close(mm_out.cpu(), A @ B, rtol=0, atol=0)


def test_autograd_backward() -> None:
    """Gradients flow through device ops and land on the device."""
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(3))
    chip = w.to(D).requires_grad_()
    host = w.clone().requires_grad_()
    (chip @ chip).sin().sum().backward()
    (host @ host).sin().sum().backward()
    assert chip.grad.device.type == D
    torch.testing.assert_close(chip.grad.cpu(), host.grad, rtol=0, atol=0)
