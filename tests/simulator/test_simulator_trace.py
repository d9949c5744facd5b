"""ChromeTrace as the server uses it: steps appended on device tracks, written as JSON."""

from __future__ import annotations

import json

import pytest

from sglang_hyperaccel.simulator import ChromeTrace, Simulator, SimulatorError


def test_server_style_trace_nests_operators_in_steps(tmp_path):
    """Steps at caller times, one track per device; operators lie inside their step."""
    sim = Simulator("lpu", "opt-66b", devices=2)
    trace = ChromeTrace()
    pid = trace.add_process("server replica 0")
    t = 1.5
    for kv in (100, 101, 102):
        step = sim.decode([kv, 2 * kv])
        end = trace.add_step(step, t, pid=pid, name="decode", args={"batch": 2})
        assert end == pytest.approx(t + step.total_s)
        t = end + 1e-4  # the scheduler's own time between steps
    data = json.loads(trace.write(tmp_path / "t.json").read_text())
    spans = [e for e in data["traceEvents"] if e["ph"] == "X"]
    steps = [e for e in spans if e["cat"] == "step"]
    assert len(steps) == 6 and {e["tid"] for e in steps} == {0, 1}
    assert steps[0]["ts"] == pytest.approx(1.5e6) and steps[0]["args"]["batch"] == 2
    for step in steps:
        ops = [e for e in spans if e["cat"] == "op" and e["tid"] == step["tid"]
               and step["ts"] <= e["ts"] < step["ts"] + step["dur"]]
        assert len(ops) == 8
        assert sum(e["dur"] for e in ops) == pytest.approx(step["dur"])


def test_layer_detail_expands_every_layer():
    """detail='layer' lays out each layer's operators in execution order."""
    sim = Simulator("lpu", "opt-1.3b")
    trace = ChromeTrace(detail="layer")
    trace.add_step(sim.extend([32], [0]), 0.0, name="prefill")
    spans = [e for e in trace.to_dict()["traceEvents"] if e["ph"] == "X"]
    layers = [e for e in spans if e["cat"] == "layer"]
    assert len(layers) == 24
    first = [e["name"] for e in spans if e["cat"] == "op"][:8]
    assert first == ["embedding", "norms", "qkv_proj", "attention", "out_proj", "norms", "ffn",
                     "norms"]
    total = [e for e in spans if e["cat"] == "step"][0]["dur"]
    ends = max(e["ts"] + e["dur"] for e in spans if e["cat"] == "op")
    assert ends == pytest.approx(total)


def test_bad_detail():
    """An unknown detail level is refused."""
    with pytest.raises(SimulatorError):
        ChromeTrace(detail="cycle")
