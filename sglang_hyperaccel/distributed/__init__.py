"""Tensor parallelism over several emulated chips: the `esl` c10d backend of the `hyperaccel` device.

`register()` makes `esl` a `torch.distributed` backend for `hyperaccel` tensors, the way a vendor
plugs in its collective library; the platform returns its name from
`get_torch_distributed_backend_str`, so SGLang's world and tensor-parallel device groups use it:

    from sglang_hyperaccel.distributed import BACKEND_NAME, register
    register()
    torch.distributed.init_process_group(BACKEND_NAME, rank=r, world_size=n, store=store)
    torch.distributed.all_reduce(torch.ones(4, device=f"hyperaccel:{r}"))

Only device tensors go through it (as NCCL takes only CUDA tensors); CPU tensors use SGLang's
gloo `cpu_group`. See docs/tensor-parallel.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backend import EslBackend

from sglang_hyperaccel.names import COLLECTIVE_BACKEND as BACKEND_NAME
from sglang_hyperaccel.names import DEVICE_TYPE

__all__ = ["BACKEND_NAME", "EslError", "UnsupportedCollectiveError", "backend_of", "register"]

_registered = False


def register() -> str:
    """Register the device (if needed) and the `esl` backend in this process; returns its name.

    Later calls do nothing. Safe in every SGLang process: it imports torch.distributed only.
    """
    global _registered
    if not _registered:
        import torch.distributed as dist

        from sglang_hyperaccel.device import register as register_device

        from .backend import create_backend

        register_device()
        if BACKEND_NAME.upper() not in dist.Backend._plugins:
            dist.Backend.register_backend(BACKEND_NAME, create_backend, extended_api=True,
                                          devices=[DEVICE_TYPE])
        _registered = True
    return BACKEND_NAME


def backend_of(group: object = None) -> EslBackend:
    """The `EslBackend` behind process group `group` (default: the world group)."""
    import torch
    import torch.distributed as dist

    pg = group if group is not None else dist.group.WORLD
    return pg._get_backend(torch.device(DEVICE_TYPE))


def __getattr__(name: str) -> object:
    if name in ("EslError", "UnsupportedCollectiveError"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(name)
