"""Grammar masks on the chip: the token bitmask of xgrammar and llguidance applied on `hyperaccel`.

SGLang 0.5.23's grammar objects apply their 32-bit token bitmask with a kernel picked by
`logits.device.type` (CUDA/Triton, NPU, or xgrammar's CPU kernel) and raise "Unsupported device"
for any other device; llguidance's fallback is a `torch.compile`d function, and inductor knows no
`hyperaccel`. The chip's memory is host memory, so xgrammar's CPU kernel applies the mask to the
tensors' bytes in place; device tensor ops are the fallback for layouts it does not take.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from sglang_hyperaccel.names import DEVICE_TYPE


def apply_token_bitmask(logits: torch.Tensor, vocab_mask: torch.Tensor) -> None:
    """Set `logits[b, t]` to -inf where bit `t % 32` of `vocab_mask[b, t // 32]` is 0 (in place).

    Tokens past the mask's coverage are left alone, as xgrammar's own kernels do. The chip's
    memory is host memory, so xgrammar's CPU kernel runs on the tensors' bytes in one call;
    `apply_token_bitmask_ops` (device ops, any dtype and layout) is the fallback.
    """
    kernel = _host_kernel()
    rows = logits.view(-1, logits.shape[-1]) if logits.dim() != 2 else logits
    if (kernel is not None and rows.dtype in _KERNEL_DTYPES and rows.stride(-1) == 1
            and vocab_mask.dtype == torch.int32 and vocab_mask.dim() == 2 and vocab_mask.stride(-1) == 1
            and vocab_mask.device.type in ("cpu", DEVICE_TYPE) and vocab_mask.shape[0] >= rows.shape[0]):
        covered = min(rows.shape[-1], vocab_mask.shape[-1] * 32)
        kernel(rows.data_ptr(), tuple(rows.shape), tuple(rows.stride()),
               vocab_mask.data_ptr(), (rows.shape[0], vocab_mask.shape[1]), tuple(vocab_mask.stride()),
               covered, None, _KERNEL_DTYPES[rows.dtype])
        return
    apply_token_bitmask_ops(logits, vocab_mask)


def apply_token_bitmask_ops(logits: torch.Tensor, vocab_mask: torch.Tensor) -> None:
    """`apply_token_bitmask` as device tensor ops."""
    mask = vocab_mask.to(logits.device)
    rows = logits.view(-1, logits.shape[-1])
    covered = min(rows.shape[-1], mask.shape[-1] * 32)
    shifts = torch.arange(32, dtype=mask.dtype, device=logits.device)
    allowed = ((mask.unsqueeze(-1) >> shifts) & 1).reshape(mask.shape[0], -1)[: rows.shape[0], :covered]
    rows[:, :covered].masked_fill_(allowed == 0, float("-inf"))


_KERNEL_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


@functools.lru_cache(maxsize=1)
def _host_kernel() -> Callable | None:
    """xgrammar's CPU bitmask kernel, called on raw host pointers (xgrammar 0.2.x, pinned by SGLang)."""
    try:
        from xgrammar.base import _core

        return _core.kernels.apply_token_bitmask_inplace_cpu
    except (ImportError, AttributeError):
        return None


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
