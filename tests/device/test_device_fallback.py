"""The CPU fallback's holes: ops with no CPU kernel are named, recurrent cells are decomposed into
device ops, and PyTorch's OpInfo database runs on the device without hitting a hole."""

from __future__ import annotations

import pytest
import torch

D = "hyperaccel"


def _fallback_holes() -> list[str]:
    """aten ops that reach the CPU fallback but have no CPU kernel for it to run."""
    c = torch._C
    holes = []
    for name in c._dispatch_get_all_op_names():
        if not name.startswith("aten::"):
            continue
        served = (c._dispatch_has_kernel_for_dispatch_key(name, key) for key in (
            "PrivateUse1", "CompositeImplicitAutograd", "CompositeExplicitAutograd",
            "CompositeExplicitAutogradNonFunctional"))
        if not any(served) and not c._dispatch_has_computed_kernel_for_dispatch_key(name, "CPU"):
            holes.append(name)
    return holes


def test_fallback_holes_are_named_not_blamed_on_cpu() -> None:
    """An op with no CPU kernel raises NotImplementedError naming it and hyperaccel, not 'CPU backend'."""
    holes = _fallback_holes()
    assert "aten::_fused_dropout" in holes and len(holes) > 50
    assert "aten::_thnn_fused_lstm_cell" not in holes and "aten::_thnn_fused_gru_cell" not in holes
    x = torch.ones(4, device=D)
    with pytest.raises(NotImplementedError, match=r"'aten::_fused_dropout' is not currently implemented "
                                                  r"for the hyperaccel device") as raised:
        torch.ops.aten._fused_dropout(x, 0.5)
    assert "'CPU' backend" not in str(raised.value)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_recurrent_layers_match_cpu(cell: str) -> None:
    """nn.LSTM/GRU (fused cells, decomposed on the device) match CPU, forward and backward."""
    torch.manual_seed(0)
    module = getattr(torch.nn, cell)(6, 5)
    chip_module = getattr(torch.nn, cell)(6, 5).to(D)
    chip_module.load_state_dict(module.state_dict())
    x = torch.randn(3, 6) if cell.endswith("Cell") else torch.randn(4, 2, 6)
    chip_x = x.to(D).requires_grad_()
    x.requires_grad_()
    out = module(x)
    chip_out = chip_module(chip_x)
    first, chip_first = (out[0], chip_out[0]) if isinstance(out, tuple) else (out, chip_out)
    torch.testing.assert_close(chip_first.cpu(), first)
    (first.sin().sum()).backward()
    (chip_first.sin().sum()).backward()
    torch.testing.assert_close(chip_x.grad.cpu(), x.grad)
    for (name, p), chip_p in zip(module.named_parameters(), chip_module.parameters(), strict=True):
        torch.testing.assert_close(chip_p.grad.cpu(), p.grad, msg=name)


def test_opinfo_walk_hits_no_fallback_hole() -> None:
    """Every OpInfo op's first float32 sample runs on the device or fails without blaming CPU."""
    from torch.testing._internal.common_methods_invocations import op_db

    ran, blamed = 0, []
    for op in op_db:
        if torch.float32 not in op.supported_dtypes("cpu"):
            continue
        try:
            sample = next(iter(op.sample_inputs("cpu", torch.float32, requires_grad=False)))
        except Exception:  # noqa: BLE001 - a sample generator that cannot run on CPU is not ours
            continue
        moved = sample.transform(lambda t: t.to(D) if isinstance(t, torch.Tensor) else t)
        try:
            op(moved.input, *moved.args, **moved.kwargs)
            ran += 1
        except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
            if "'CPU' backend" in str(exc):
                blamed.append(f"{op.name}: {str(exc).splitlines()[0]}")
    assert not blamed, blamed
    assert ran > 400
