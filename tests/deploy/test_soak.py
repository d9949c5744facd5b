"""The soak (scripts/soak.py), shortened for CI: locust with 64 concurrent users, mixed streaming and
non-streaming, constrained and free generation, against one server and against two replicas behind
the router with the replica holding the most streams SIGKILLed mid-run and restarted by deploy.
The ten-minute runs, and the RSS slopes only they can judge, are in docs/reliability.md.

Run in a subprocess: locust monkey-patches the interpreter it is imported in (gevent).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _soak(tmp_path: Path, *args: str, timeout: float) -> dict:
    """The run's result (the script's JSON); its exit status also judges RSS flatness, which a run
    this short cannot (warm-up is most of it), so it is not asserted here."""
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), *args, "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    print(proc.stdout[-3000:])
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def _consistent(check: dict) -> bool:
    return (check["served_by_server"] == check["reported_to_clients"]
            and abs(check["sim_e2e_server_s"] - check["sim_e2e_clients_s"]) < 1e-3)


def test_soak_one_server(tmp_path) -> None:
    """One minute: no failed request; the chip-time metrics equal what the clients received."""
    result = _soak(tmp_path, "--target", "server", "--minutes", "1", timeout=600)
    assert result["requests"] > 100
    assert not result["failures"] and not result["streams_cut_silently"]
    [check] = result["consistency"]
    assert check["reported_to_clients"] == result["requests"]
    assert _consistent(check), check


def test_soak_router_with_a_killed_replica(tmp_path) -> None:
    """90 s through the router, the replica with the most open streams SIGKILLed at 30%: no
    non-streaming request lost, its streams end with an error event, deploy restarts it and it
    serves again; the survivor's chip-time metrics equal what its clients received."""
    result = _soak(tmp_path, "--target", "router", "--minutes", "1.5", "--kill-at", "0.3", timeout=900)
    assert result["killed"]
    assert result["requests"] > 100
    assert not result["failures"], result["failures"]
    assert not result["streams_cut_silently"], result["streams_cut_silently"]
    assert result["streams_open_on_victim"] > 0
    assert result["streams_cut_with_error"] > 0
    assert result["restarted_after_s"] is not None and result["served_after_restart"] > 0
    [survivor] = result["consistency"]
    assert _consistent(survivor), survivor
