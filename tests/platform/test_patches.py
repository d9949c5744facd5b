"""The patch ledger names real SGLang targets, and each hook says what it patches."""

from __future__ import annotations

import importlib

import pytest

from sglang_hyperaccel.platform.patches import PATCHES, ledger_table

HOOKS = [p for p in PATCHES if p.hook is not None]


@pytest.mark.parametrize("patch", HOOKS, ids=[p.hook for p in HOOKS])
def test_hook_target_exists_in_sglang(patch):
    """Every hooked target resolves in SGLang 0.5.23 as HookRegistry resolves it (a rename fails here)."""
    import pkgutil

    assert callable(pkgutil.resolve_name(patch.target))


@pytest.mark.parametrize("patch", HOOKS, ids=[p.hook for p in HOOKS])
def test_hook_docstring_states_its_target_and_kind(patch):
    """A hook's docstring opens with its kind and target, as the ledger records them."""
    module, _, name = patch.hook.partition(":")
    doc = getattr(importlib.import_module(module), name).__doc__ or ""
    cls_method = ".".join(patch.target.rsplit(".", 2)[1:])
    assert doc.startswith(f"{patch.hook_type} `{cls_method}`"), doc


def test_ledger_table_has_a_row_per_patch():
    """The printed ledger has a header, a rule and one row per record."""
    assert len(ledger_table().splitlines()) == 2 + len(PATCHES)
