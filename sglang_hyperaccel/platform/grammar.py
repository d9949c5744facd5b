"""Grammar masks on the chip: the token bitmask of xgrammar and llguidance applied on `hyperaccel`.

SGLang 0.5.23's grammar objects apply their 32-bit token bitmask with a kernel picked by
`logits.device.type` (CUDA/Triton, NPU, or xgrammar's CPU kernel) and raise "Unsupported device"
for any other device; llguidance's fallback is a `torch.compile`d function, and inductor knows no
`hyperaccel`. The mask is plain tensor arithmetic, so on the chip it runs as device ops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

DEVICE_TYPE = "hyperaccel"


def apply_token_bitmask(logits: torch.Tensor, vocab_mask: torch.Tensor) -> None:
    """Set `logits[b, t]` to -inf where bit `t % 32` of `vocab_mask[b, t // 32]` is 0 (in place).

    Tokens past the mask's coverage are left alone, as xgrammar's own kernels do.
    """
    mask = vocab_mask.to(logits.device)
    rows = logits.view(-1, logits.shape[-1])
    covered = min(rows.shape[-1], mask.shape[-1] * 32)
    shifts = torch.arange(32, dtype=mask.dtype, device=logits.device)
    allowed = ((mask.unsqueeze(-1) >> shifts) & 1).reshape(mask.shape[0], -1)[: rows.shape[0], :covered]
    rows[:, :covered].masked_fill_(allowed == 0, float("-inf"))


def _on_chip(original: Callable, *, bound: bool) -> Callable:
    """Wrap an `apply_vocab_mask` so hyperaccel logits take `apply_token_bitmask`."""
    if bound:
        @functools.wraps(original)
        def method(self, logits, vocab_mask):
            if logits.device.type == DEVICE_TYPE:
                return apply_token_bitmask(logits, vocab_mask)
            return original(self, logits, vocab_mask)

        return method

    @functools.wraps(original)
    def static(logits, vocab_mask):
        if logits.device.type == DEVICE_TYPE:
            return apply_token_bitmask(logits, vocab_mask)
        return original(logits, vocab_mask)

    return staticmethod(static)


# (module, class) of every grammar object whose apply_vocab_mask dispatches on the device type.
TARGETS = (
    ("sglang.srt.constrained.xgrammar_backend", "XGrammarGrammar"),
    ("sglang.srt.constrained.xgrammar_backend", "XGrammarGrammarBackend"),
    ("sglang.srt.constrained.llguidance_backend", "GuidanceGrammar"),
)


def install() -> None:
    """Patch each target class's apply_vocab_mask, keeping static methods static."""
    import importlib
    import inspect

    for module_name, class_name in TARGETS:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue  # a grammar backend this install lacks
        raw = inspect.getattr_static(cls, "apply_vocab_mask", None)
        if raw is None or getattr(raw, "_hyperaccel", False):
            continue
        if isinstance(raw, staticmethod):
            patched = _on_chip(raw.__func__, bound=False)
            patched.__func__._hyperaccel = True
        else:
            patched = _on_chip(raw, bound=True)
            patched._hyperaccel = True
        setattr(cls, "apply_vocab_mask", patched)
