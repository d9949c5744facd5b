"""The soak (scripts/soak.py), shortened for CI: locust with 64 concurrent users, mixed streaming and
non-streaming, constrained and free generation, against one server and against two replicas behind
the router with one replica SIGKILLed mid-run and restarted by deploy. The ten-minute runs and their
numbers are in docs/reliability.md.

Run in a subprocess: locust monkey-patches the interpreter it is imported in (gevent).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _soak(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict, str]:
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), *args, "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    print(proc.stdout[-3000:])
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, json.loads(out.read_text()), proc.stdout


def test_soak_one_server(tmp_path) -> None:
    """One minute: no failed request, flat RSS, chip-time metrics equal to what the clients received."""
    code, result, out = _soak(tmp_path, "--target", "server", "--minutes", "1", timeout=600)
    assert result["requests"] > 100
    assert not result["failures"] and not result["streams_cut_silently"]
    assert result["served_by_servers"] == result["reported_to_clients"] == result["requests"]
    assert abs(result["sim_e2e_servers_s"] - result["sim_e2e_clients_s"]) < 1e-3
    del code, out  # the exit status also judges RSS flatness, which a run this short cannot; see the docs


def test_soak_router_with_a_killed_replica(tmp_path) -> None:
    """90 s through the router, replica 0 SIGKILLed at 40%: no non-streaming request lost, every cut
    stream ends with an error event, and the run keeps serving."""
    code, result, out = _soak(tmp_path, "--target", "router", "--minutes", "1.5", "--kill-at", "0.4",
                              timeout=900)
    assert result["killed"]
    assert result["requests"] > 100
    assert not result["failures"], result["failures"]
    assert not result["streams_cut_silently"], result["streams_cut_silently"]
    del code, out  # the exit status also judges RSS flatness, which a run this short cannot; see the docs
