"""F.scaled_dot_product_attention on the device: the OVERRIDEABLE route to the chip's dense
kernel (row and tiled variants) against CPU, its output layout, half precision, and autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

D = "hyperaccel"


def _sdpa_cases():
    torch.manual_seed(1)
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 6)
    bool_mask = torch.rand(5, 7) > 0.3
    bool_mask[:, 0] = True
    long_q, long_k, long_v = torch.randn(1, 4, 150, 16), torch.randn(1, 4, 170, 16), torch.randn(1, 4, 170, 8)
    long_mask = torch.rand(150, 170) > 0.5
    long_mask[3] = False
    return {
        "plain": ((q, k, v), {}),
        "causal": ((q, k, v), {"is_causal": True}),
        "scale": ((q, k, v), {"scale": 0.3}),
        "bool_mask": ((q, k, v), {"attn_mask": bool_mask}),
        "float_mask": ((q, k, v), {"attn_mask": torch.randn(2, 1, 5, 7)}),
        "gqa": ((q, k[:, :2], v[:, :2]), {"enable_gqa": True}),
        "transposed": ((q.transpose(1, 2).contiguous().transpose(1, 2), k, v), {}),
        # Past 4,096 scores per head the kernel switches to 64-row tiles (dense_attention.cpp):
        # 150 query rows make two full tiles and a partial one; row 3 of the mask sees no key.
        "tiled": ((long_q, long_k, long_v), {}),
        "tiled_causal": ((long_q, long_k, long_v), {"is_causal": True}),
        "tiled_bool_mask": ((long_q, long_k, long_v), {"attn_mask": long_mask}),
        "tiled_float_mask": ((long_q, long_k, long_v), {"attn_mask": torch.randn(1, 4, 150, 170)}),
        "tiled_gqa_causal": ((long_q, long_k[:, :1], long_v[:, :1]), {"enable_gqa": True, "is_causal": True}),
    }


@pytest.mark.parametrize("case", list(_sdpa_cases()))
def test_sdpa_routes_to_overrideable_and_matches_cpu(case: str) -> None:
    """F.scaled_dot_product_attention picks OVERRIDEABLE on the device and matches CPU's math."""
    (q, k, v), kwargs = _sdpa_cases()[case]
    mask = kwargs.get("attn_mask")
    chip_kwargs = {**kwargs, "attn_mask": mask.to(D)} if mask is not None else kwargs
    chip = [t.to(D) for t in (q, k, v)]
    choice_kwargs = {key: val for key, val in chip_kwargs.items() if key != "scale"}
    assert torch._fused_sdp_choice(*chip, **choice_kwargs) == int(SDPBackend.OVERRIDEABLE)
    with torch.autograd.profiler.profile() as prof:
        out = F.scaled_dot_product_attention(*chip, **chip_kwargs)
    names = {e.name for e in prof.function_events}
    assert "aten::_scaled_dot_product_fused_attention_overrideable" in names
    with torch.nn.attention.sdpa_kernel(SDPBackend.MATH):
        expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(out.cpu(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["bhld", "blhd"])
@pytest.mark.parametrize("length", [70, 3], ids=["tiled", "rows"])
@pytest.mark.parametrize("v_dim", [8, 6])
def test_sdpa_output_layout_is_the_one_compiled_graphs_expect(layout: str, length: int, v_dim: int) -> None:
    """The kernel's output strides equal those of PyTorch's meta function for the op (the query's layout)."""
    torch.manual_seed(4)

    def make(dim: int) -> torch.Tensor:
        if layout == "blhd":  # SGLang and transformers hand SDPA [B, L, H, D] tensors transposed
            return torch.randn(2, length, 3, dim).transpose(1, 2)
        return torch.randn(2, 3, length, dim)

    q, k, v = make(8), make(8), make(v_dim)
    op = torch.ops.aten._scaled_dot_product_fused_attention_overrideable
    out = op(q.to(D), k.to(D), v.to(D))[0]
    meta = op(q.to("meta"), k.to("meta"), v.to("meta"))[0]
    assert out.stride() == meta.stride()
    with torch.nn.attention.sdpa_kernel(SDPBackend.MATH):
        torch.testing.assert_close(out.cpu(), F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sdpa_half_precision_matches_cpu(dtype: torch.dtype) -> None:
    """The chip's attention in FP16/BF16 (FP32 inside) matches CPU's within half precision."""
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 9, 16, dtype=dtype) for _ in range(3))
    out = F.scaled_dot_product_attention(q.to(D), k.to(D), v.to(D), is_causal=True)
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float().cpu(), expected, atol=2e-2, rtol=2e-2)


def test_sdpa_with_grad_takes_a_differentiable_backend() -> None:
    """Inputs that need grad skip the forward-only kernel; gradients match CPU; direct backward is named."""
    torch.manual_seed(3)
    q, k, v = (torch.randn(1, 2, 4, 8, requires_grad=True) for _ in range(3))
    chip = [t.detach().to(D).requires_grad_() for t in (q, k, v)]
    assert torch._fused_sdp_choice(*chip) != int(SDPBackend.OVERRIDEABLE)
    F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    F.scaled_dot_product_attention(*chip, is_causal=True).sum().backward()
    for host, device in zip((q, k, v), chip, strict=True):
        torch.testing.assert_close(device.grad.cpu(), host.grad, atol=1e-5, rtol=1e-5)
    x = chip[0].detach()
    outputs = torch.ops.aten._scaled_dot_product_fused_attention_overrideable(x, x, x)
    with pytest.raises(NotImplementedError, match="forward only"):
        torch.ops.aten._scaled_dot_product_fused_attention_overrideable_backward(
            x, x, x, x, x, [True, True, True, False], outputs[0], outputs[1], x, x, 4, 4, 0.0, False,
            outputs[6], outputs[7])
