"""Final-logit softcapping on the chip (Gemma 2's `final_logit_softcapping`).

SGLang 0.5.23's logits processor applies the cap with its own Triton kernel on every device but
NPU and CPU (it checks the platform flags, not the tensor's device), and Triton has no driver for
`hyperaccel`, so Gemma 2's first batch ended the scheduler. The same arithmetic in tensor ops:
`cap * tanh(logits / cap)`, computed in FP32 as the kernel does.
"""

from __future__ import annotations

from typing import Any

import torch

from sglang_hyperaccel.names import DEVICE_TYPE


def softcap_around(original: Any, full_logits: torch.Tensor, final_logit_softcapping: float | None,
                   output: torch.Tensor | None = None) -> torch.Tensor:
    """AROUND `softcap._softcap_logits`: tensor ops for chip tensors, the kernel for the rest.

    In place when `output` is None; else `output` (FP32) receives the (capped) logits.
    """
    if full_logits.device.type != DEVICE_TYPE:
        return original(full_logits, final_logit_softcapping, output)
    values = full_logits.float()
    if final_logit_softcapping is not None:
        values = torch.tanh(values / final_logit_softcapping) * final_logit_softcapping
    target = full_logits if output is None else output
    target.copy_(values)
    return target
