"""The emulated chip as a real PyTorch device, `hyperaccel` (PyTorch's PrivateUse1 backend).

Native (`_C`, built from `csrc/`): a counted allocator of host memory that raises
`torch.OutOfMemoryError` at the chip's capacity, a device guard (synchronous streams and events),
generators and the PrivateUse1 hooks, and the kernels: structural ops natively, everything else
run by the CPU kernel on zero-copy CPU aliases of the device memory.

Importing this package registers nothing; the plugin decides when:

    from sglang_hyperaccel.device import register
    register()
    x = torch.ones(4, device="hyperaccel")      # counted against hyperaccel:0
    torch.hyperaccel.memory_allocated()          # 16
"""

from __future__ import annotations

__all__ = ["DEVICE_TYPE", "register"]

# The name PyTorch knows the device by: torch.device("hyperaccel:0"), Tensor.is_hyperaccel.
DEVICE_TYPE = "hyperaccel"

_registered = False


def _capacity_bytes() -> int:
    """Memory of one chip: SGLANG_HYPERACCEL_MEMORY if set, else the chip spec's capacity."""
    from sglang_hyperaccel import env

    override = env.memory_override()
    if override is not None:
        return override
    from sglang_hyperaccel.simulator import get_chip

    return get_chip(env.chip_name()).memory_bytes


def register() -> None:
    """Make `hyperaccel` a PyTorch device in this process; later calls do nothing.

    Loads the native backend, sizes `env.device_count()` chips of `_capacity_bytes()` each,
    renames PrivateUse1 to `hyperaccel`, installs `torch.hyperaccel` (see `module.py`) and the
    generated `Tensor.hyperaccel()` / `Tensor.is_hyperaccel` methods.
    """
    global _registered
    if _registered:
        return
    import torch

    from sglang_hyperaccel import env

    from . import _C, module

    _C._configure([_capacity_bytes()] * env.device_count())
    if torch._C._get_privateuse1_backend_name() != DEVICE_TYPE:
        torch.utils.rename_privateuse1_backend(DEVICE_TYPE)
    if not hasattr(torch, DEVICE_TYPE):
        torch._register_device_module(DEVICE_TYPE, module)
    if not hasattr(torch.Tensor, f"is_{DEVICE_TYPE}"):
        torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)
    module._set_chip_name(env.chip_name())
    _registered = True
