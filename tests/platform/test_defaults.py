"""The platform's grammar defaults: compact JSON unless the user asked for whitespace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from sglang_hyperaccel.platform.defaults import grammar_defaults


def _args(**overrides) -> SimpleNamespace:
    fields = {"constrained_json_disable_any_whitespace": False, "constrained_json_whitespace_pattern": None,
              "constrained_json_max_whitespace_cnt": None}
    return SimpleNamespace(**{**fields, **overrides})


def test_compact_json_by_default():
    """Nothing set: any-whitespace is disabled."""
    args = _args()
    grammar_defaults(args)
    assert args.constrained_json_disable_any_whitespace is True


@pytest.mark.parametrize("field,value", [("constrained_json_whitespace_pattern", r"[\n ]*"),
                                         ("constrained_json_max_whitespace_cnt", 4)])
def test_user_whitespace_choice_is_kept(field, value):
    """A whitespace pattern or count from the user leaves any-whitespace as the user set it."""
    args = _args(**{field: value})
    grammar_defaults(args)
    assert args.constrained_json_disable_any_whitespace is False
    assert getattr(args, field) == value


def test_server_reports_compact_json(server):
    """The running server resolved the default: /server_info shows any-whitespace disabled."""
    info = requests.get(f"{server.url}/server_info", timeout=30).json()
    assert info["constrained_json_disable_any_whitespace"] is True
