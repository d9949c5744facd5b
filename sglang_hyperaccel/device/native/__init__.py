"""The compiled runtime of the device, built from ../csrc/ by setup.py: `_C`, the extension whose
loading registers the hyperaccel PrivateUse1 backend (allocator, guard, hooks, kernels) and which
binds what generic torch APIs cannot reach (`_configure`, `_capacity`, `_device_count`).

Its own package so that `device/module.py` imports its native runtime without needing anything
defined in `device/__init__.py` (an import cycle).
"""

from . import _C

__all__ = ["_C"]
