"""Shared setup for the device tests: the device registered once, and a fresh-interpreter runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def hyperaccel() -> str:
    """Register the device for the whole session; the device type name."""
    from sglang_hyperaccel.device import DEVICE_TYPE, register

    register()
    return DEVICE_TYPE


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (the caller's SGLANG_HYPERACCEL_* dropped, `env` added)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_HYPERACCEL_")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The fresh-interpreter runner (see run_python)."""
    return run_python
