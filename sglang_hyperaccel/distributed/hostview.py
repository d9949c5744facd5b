"""Host views of chip tensors: the emulated chip's memory *is* host memory, so a collective can
hand the CPU transport a tensor that aliases the chip tensor's bytes instead of copying them.

`host_view(t)` is a CPU tensor over exactly the bytes of chip tensor `t` (same size, strides and
storage offset); writes through it are writes to the chip tensor. It does not own the memory:
it must not outlive `t`, which every collective here guarantees by finishing before it returns.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager
from typing import Iterator

import torch


def host_view(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU tensor aliasing `tensor`'s memory (CPU tensors are returned unchanged)."""
    if tensor.device.type == "cpu":
        return tensor
    storage = tensor.untyped_storage()
    nbytes = storage.nbytes()
    if nbytes == 0 or tensor.numel() == 0:
        return torch.empty(tensor.shape, dtype=tensor.dtype)
    raw = (ctypes.c_char * nbytes).from_address(storage.data_ptr())
    flat = torch.frombuffer(raw, dtype=torch.uint8).view(tensor.dtype)
    return flat.as_strided(tensor.size(), tensor.stride(), tensor.storage_offset())


@contextmanager
def dense(tensor: torch.Tensor, *, writes: bool) -> Iterator[torch.Tensor]:
    """`host_view(tensor)` if contiguous, else a contiguous staging copy (written back if `writes`).

    The CPU transport (gloo) takes only dense tensors; SGLang's TP layers pass contiguous ones, so
    the copy is the rare path.
    """
    view = host_view(tensor)
    if view.is_contiguous():
        yield view
        return
    staged = view.contiguous()
    yield staged
    if writes:
        view.copy_(staged)
