"""The emulated chip as a real PyTorch device, `hyperaccel` (PyTorch's PrivateUse1 backend).

Native (`native._C`, built from `csrc/`): a counted allocator of host memory that raises
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

from sglang_hyperaccel.names import DEVICE_TYPE

__all__ = ["DEVICE_TYPE", "register"]

_registered = False


def register() -> None:
    """Make `hyperaccel` a PyTorch device in this process; later calls do nothing.

    Loads the native backend, sizes `env.device_count()` chips of the emulated chip's memory each,
    renames PrivateUse1 to `hyperaccel`, installs `torch.hyperaccel` (see `module.py`) and the
    generated `Tensor.hyperaccel()` / `Tensor.is_hyperaccel` methods.
    """
    global _registered
    if _registered:
        return
    import torch

    from sglang_hyperaccel import env
    from sglang_hyperaccel.chip import emulated_chip

    from . import module
    from .native import _C

    chip = emulated_chip()
    _C._configure([chip.memory_bytes] * env.device_count())
    if torch._C._get_privateuse1_backend_name() != DEVICE_TYPE:
        torch.utils.rename_privateuse1_backend(DEVICE_TYPE)
    if not hasattr(torch, DEVICE_TYPE):
        torch._register_device_module(DEVICE_TYPE, module)
    if not hasattr(torch.Tensor, f"is_{DEVICE_TYPE}"):
        torch.utils.generate_methods_for_privateuse1_backend(for_storage=True)
    module._set_chip_name(chip.name)
    _registered = True
