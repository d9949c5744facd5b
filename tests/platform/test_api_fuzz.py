"""API fuzzing in the normal test command: schemathesis over the server's own OpenAPI schema (every
user-facing route) and hypothesis over the request fields that reach tensor code, with a fixed seed
(the same cases every run) and short (`scripts/fuzz_api.py --examples 200` is the long run, with a
random seed it prints). Property: every request gets a 2xx or a 4xx, never a 5xx and never a hang;
`/health` and a normal request succeed afterwards. The number of generated requests is printed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261201


def _harness():
    """scripts/fuzz_api.py as a module (loaded once; registered so its dataclasses resolve)."""
    if "fuzz_api" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fuzz_api", ROOT / "scripts" / "fuzz_api.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fuzz_api"] = module
        spec.loader.exec_module(module)
    return sys.modules["fuzz_api"]


@pytest.fixture(scope="module")
def fuzzed(start_server):
    """A server of its own (default arguments): a fuzz failure must not be blamed on other tests."""
    return start_server()


def test_schema_fuzzing_gets_no_5xx(fuzzed, capsys) -> None:
    fuzz = _harness()
    report = fuzz.FuzzReport()
    fuzz.fuzz_schema(fuzzed.url, examples=10, seed=SEED, report=report)
    with capsys.disabled():
        print(f"\nschemathesis: {report.summary()}")
    assert report.cases >= 200
    assert not report.failures, "\n".join(report.failures)
    assert fuzz.healthy(fuzzed.url)


def test_field_fuzzing_gets_no_5xx(fuzzed, capsys) -> None:
    fuzz = _harness()
    report = fuzz.FuzzReport()
    fuzz.fuzz_fields(fuzzed.url, examples=80, seed=SEED, report=report, limits=fuzz.model_limits(fuzzed.url))
    with capsys.disabled():
        print(f"\nhypothesis fields: {report.summary()}")
    assert report.cases == 80
    assert report.statuses[200] > 0, "no generated request was valid: the strategy explores nothing"
    assert not report.failures, "\n".join(report.failures)
    assert fuzz.healthy(fuzzed.url)
