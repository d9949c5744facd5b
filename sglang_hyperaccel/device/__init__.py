"""The emulated chip as a real PyTorch device, `hyperaccel` (PyTorch's PrivateUse1 backend).

Native (`native._C`, built from `csrc/`): a counted allocator of host memory that raises
`torch.OutOfMemoryError` at the chip's capacity, a device guard (synchronous streams and events),
generators and the PrivateUse1 hooks (pinned host memory, profiler, serialization metadata,
autocast), and the kernels: structural ops and attention natively, everything else run by the CPU
kernel on zero-copy CPU aliases of the device memory. docs/device.md says what is supported.

`import torch` registers the device (`autoload`, a `torch.backends` entry point; off with
SGLANG_HYPERACCEL_AUTOLOAD=0 or PyTorch's TORCH_DEVICE_BACKEND_AUTOLOAD=0). Importing this package
registers nothing by itself; `register()` is idempotent:

    import torch
    x = torch.ones(4, device="hyperaccel")      # counted against hyperaccel:0
    torch.hyperaccel.memory_allocated()          # 16
"""

from __future__ import annotations

from sglang_hyperaccel.names import DEVICE_TYPE

__all__ = ["DEVICE_TYPE", "autoload", "register"]

_registered = False


def register() -> None:
    """Make `hyperaccel` a PyTorch device in this process; later calls do nothing.

    Loads the native backend, sizes `env.device_count()` chips of the emulated chip's memory each,
    renames PrivateUse1 to `hyperaccel`, installs `torch.hyperaccel` (see `module.py`), the
    generated `Tensor.hyperaccel()` / `Tensor.is_hyperaccel` methods and, when Dynamo loads, the
    torch.compile device interface (`compile.py`). Raises for an unknown chip or memory size.
    """
    global _registered
    if _registered:
        return
    import torch

    from sglang_hyperaccel import env
    from sglang_hyperaccel.chip import emulated_chip

    from . import compile, module
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
    compile.install()
    _registered = True


def autoload() -> None:
    """`register()` for a `torch.backends` entry point (run at the end of `import torch`); never raises.

    An exception here would make `import torch` itself fail in every process of the environment,
    so a failure (a chip misconfigured through SGLANG_HYPERACCEL_*, say) is a warning naming it and
    leaves the device unregistered; the explicit `register()` of the platform plugin raises it.
    SGLANG_HYPERACCEL_AUTOLOAD=0 skips it.
    """
    from sglang_hyperaccel import env

    if not env.autoload_enabled():
        return
    try:
        register()
    except Exception as exc:  # noqa: BLE001 - see the docstring: import torch must survive
        import warnings

        warnings.warn(f"the {DEVICE_TYPE} device was not registered at torch import: {exc}",
                      RuntimeWarning, stacklevel=2)
