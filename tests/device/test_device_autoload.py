"""`import torch` registers the device through the `torch.backends` entry point: cheaply, with
two off switches, and without breaking `import torch` on a bad chip setting."""

from __future__ import annotations

import pytest

D = "hyperaccel"


_AFTER_IMPORT_TORCH = (
    "import sys, torch\n"
    "print(torch._C._get_privateuse1_backend_name())\n"
    "print(torch.ones(2, device='hyperaccel').device if hasattr(torch, 'hyperaccel') else None)\n"
    "print(any(m.split('.')[0] == 'sglang' for m in sys.modules), 'torch._dynamo' in sys.modules)\n"
)


def test_import_torch_registers_the_device_cheaply(python) -> None:
    """`import torch` alone makes the device usable, without importing SGLang or Dynamo."""
    out = python(_AFTER_IMPORT_TORCH)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["hyperaccel", "hyperaccel:0", "False False"]


@pytest.mark.parametrize("switch", ["TORCH_DEVICE_BACKEND_AUTOLOAD", "SGLANG_HYPERACCEL_AUTOLOAD"])
def test_autoload_can_be_switched_off(python, switch: str) -> None:
    """PyTorch's switch for every backend and the package's own both leave the device unregistered."""
    out = python(_AFTER_IMPORT_TORCH, env={switch: "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["privateuseone", "None"]


def test_bad_chip_environment_leaves_import_torch_alive(python) -> None:
    """A misconfigured chip does not break `import torch`; the explicit register() names the problem."""
    out = python(_AFTER_IMPORT_TORCH + "from sglang_hyperaccel.device import register\nregister()\n",
                 env={"SGLANG_HYPERACCEL_CHIP": "nope"})
    assert out.stdout.split("\n")[:2] == ["privateuseone", "None"]
    assert out.returncode != 0 and "nope" in out.stderr
    warned = [line for line in out.stderr.splitlines() if "not registered at torch import" in line]
    assert warned and "nope" in warned[0], out.stderr  # a PyTorch-only user learns why at once
