"""Grammar token bitmasks applied to hyperaccel logits match a reference, on both paths."""

from __future__ import annotations

import pytest
import torch

from sglang_hyperaccel.device import register
from sglang_hyperaccel.platform.grammar import _host_kernel, apply_token_bitmask, apply_token_bitmask_ops


def _reference(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = logits.clone()
    for b in range(out.shape[0]):
        for t in range(min(out.shape[1], mask.shape[1] * 32)):
            if not (int(mask[b, t // 32]) >> (t % 32)) & 1:
                out[b, t] = float("-inf")
    return out


@pytest.mark.parametrize("batch,vocab,words", [(1, 300, 10), (3, 130, 5), (2, 96, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bitmask_matches_reference(batch, vocab, words, dtype):
    """Both bitmask paths set exactly the masked-out logits to -inf (fp32, bf16; mask shorter/longer)."""
    register()
    assert _host_kernel() is not None  # xgrammar's CPU kernel is what runs on the chip's bytes
    gen = torch.Generator().manual_seed(batch * vocab)
    logits = torch.randn(batch, vocab, generator=gen).to(dtype)
    mask = torch.randint(-2**31, 2**31 - 1, (batch + 1, words), dtype=torch.int32, generator=gen)
    expect = _reference(logits, mask)
    for apply in (apply_token_bitmask, apply_token_bitmask_ops):
        chip = logits.to("hyperaccel")
        apply(chip, mask.to("hyperaccel"))
        assert torch.equal(chip.cpu(), expect), apply.__name__
