"""Shared helper for the frontend tests: run a program as users do, in its own interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_program(path: str, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    """`python PATH ARGS...` from the repository root; the output is captured, never checked."""
    return subprocess.run([sys.executable, str(ROOT / path), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture
def program() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The runner (see run_program)."""
    return run_program
