"""Shared helpers for the simulator tests: the repo root, and the CLI run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`sglang-hyperaccel simulate ARGS` (as `python -m sglang_hyperaccel.cli`), output captured.

    The caller's SGLANG_HYPERACCEL_* variables are dropped, so defaults are the spec's; `env`
    adds variables back.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_HYPERACCEL_")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "sglang_hyperaccel.cli", "simulate", *args],
                          cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def cli():
    """The CLI runner (see run_cli)."""
    return run_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """In-process tests see the spec defaults, whatever the shell exported."""
    monkeypatch.delenv("SGLANG_HYPERACCEL_CHIP", raising=False)
    monkeypatch.delenv("SGLANG_HYPERACCEL_MEMORY", raising=False)
