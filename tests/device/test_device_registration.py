"""The device's identity: names, accelerator API, factories and transfers."""

from __future__ import annotations

import pytest
import torch

D = "hyperaccel"


def test_import_does_not_register(python) -> None:
    """Without autoload, importing the package leaves PrivateUse1 unnamed; register() names it."""
    result = python(
        "import torch, sglang_hyperaccel.device as d\n"
        "print(torch._C._get_privateuse1_backend_name(), hasattr(torch, 'hyperaccel'))\n"
        "d.register(); d.register()\n"
        "print(torch._C._get_privateuse1_backend_name(), hasattr(torch, 'hyperaccel'))\n",
        env={"SGLANG_HYPERACCEL_AUTOLOAD": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["privateuseone", "False", "hyperaccel", "True"]


def test_device_names_and_accelerator() -> None:
    """torch.device parses hyperaccel[:n] and the accelerator API reports hyperaccel."""
    assert torch.device(D).type == D
    assert torch.device(f"{D}:1").index == 1
    assert torch.accelerator.current_accelerator().type == D
    assert torch.accelerator.is_available()
    assert torch.accelerator.device_count() == torch.hyperaccel.device_count() >= 2
    assert torch.hyperaccel.is_available() and torch.hyperaccel.is_initialized()


def test_factories_make_device_tensors() -> None:
    """Factory functions with device=hyperaccel produce the right values on the device."""
    torch.manual_seed(5)
    cpu_randn = torch.randn(3, 4)
    torch.manual_seed(5)
    made = {
        "zeros": (torch.zeros(2, 3, device=D), torch.zeros(2, 3)),
        "ones": (torch.ones(2, 3, dtype=torch.int32, device=D), torch.ones(2, 3, dtype=torch.int32)),
        "arange": (torch.arange(7, device=D), torch.arange(7)),
        "full": (torch.full((2,), 2.5, device=D), torch.full((2,), 2.5)),
        "randn": (torch.randn(3, 4, device=D), cpu_randn),
        "tensor": (torch.tensor([1.0, 2.0], device=D), torch.tensor([1.0, 2.0])),
    }
    for name, (chip, cpu) in made.items():
        assert chip.device == torch.device(D, 0), name
        assert chip.is_hyperaccel and chip.device.type == D, name
        assert torch.equal(chip.cpu(), cpu), name
    empty = torch.empty(5, 6, device=D)
    assert empty.shape == (5, 6) and empty.device.type == D


def test_transfers_are_independent_copies() -> None:
    """.to(hyperaccel) and .cpu() copy: writes on one side do not show on the other."""
    host = torch.arange(12.0).reshape(3, 4)
    chip = host.to(D)
    assert chip.is_hyperaccel and torch.equal(chip.cpu(), host)
    chip.add_(1)
    assert host[0, 0].item() == 0.0
    back = chip.cpu()
    chip.zero_()
    assert back[0, 0].item() == 1.0 and not back.is_hyperaccel
    assert torch.equal(host.hyperaccel().cpu(), host)
    assert torch.equal(host.t().to(D).cpu(), host.t())  # strided source
    assert chip.to(torch.float16).dtype == torch.float16


def test_copy_between_devices() -> None:
    """A tensor moves between chips by copy and lands on the requested index."""
    first = torch.arange(10, device=f"{D}:0")
    second = first.to(f"{D}:1")
    assert second.device == torch.device(D, 1)
    assert torch.equal(second.cpu(), torch.arange(10))
    second.add_(1)
    assert first[0].item() == 0


def test_ops_on_different_chips_are_refused() -> None:
    """As on real accelerators, an op may not mix tensors of two chips."""
    with pytest.raises(RuntimeError, match="same device"):
        torch.ones(2, device=f"{D}:0") + torch.ones(2, device=f"{D}:1")
