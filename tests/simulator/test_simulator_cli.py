"""The CLI as users run it: `python -m sglang_hyperaccel.simulator ...` in a subprocess."""

from __future__ import annotations

import json
import sys

import pytest

from sglang_hyperaccel.simulator.cli import main

ISSUE_EXAMPLE = ("--model", "opt-1.3b", "--chip", "lpu", "--devices", "1", "--batch", "1",
                 "--input-len", "32", "--output-len", "2016")


def test_issue_example_prints_the_table(cli):
    """The issue's command prints one row with ms/token near 1.25, throughput, TTFT, util, bound."""
    out = cli(*ISSUE_EXAMPLE)
    assert out.returncode == 0, out.stderr
    header, rule, row = out.stdout.strip().splitlines()
    for column in ("ms/token", "tokens/s", "TTFT ms", "BW util", "bound"):
        assert column in header
    cells = row.split()
    assert cells[:6] == ["opt-1.3b", "lpu", "1", "1", "32", "2016"]
    assert float(cells[6]) == pytest.approx(1.25, rel=0.05)
    assert cells[-1] == "memory"


def test_calibration_points_through_the_cli(cli):
    """--json for both calibration points lands within ±5% of 1.25 and 20.9 ms/token."""
    one = json.loads(cli("--model", "opt-1.3b", "--devices", "1", "--json").stdout)
    two = json.loads(cli("--model", "opt-66b", "--devices", "2", "--json").stdout)
    assert one["ms_per_token"] == pytest.approx(1.25, rel=0.05)
    assert two["ms_per_token"] == pytest.approx(20.9, rel=0.05)


def test_sweep_json_one_object_per_configuration(cli):
    """Comma-separated values sweep every combination; --json prints one object per line."""
    out = cli("--model", "opt-1.3b,llama-3-8b", "--chip", "lpu,h100", "--batch", "1,8", "--json",
              "--output-len", "64")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert {"ms_per_token", "tokens_per_s", "ttft_ms", "bandwidth_utilization"} <= set(row)
        assert row["ms_per_token"] >= row["floor_ms_per_token"] > 0
    assert {(r["model"], r["chip"], r["batch"]) for r in rows} == {
        (m, c, b) for m in ("opt-1.3b", "llama-3-8b") for c in ("lpu", "h100") for b in (1, 8)}


def test_scaling_through_the_cli(cli):
    """Devices 1,2,4,8 on OPT-13B: each doubling 1.75x ±10%."""
    out = cli("--model", "opt-13b", "--devices", "1,2,4,8", "--json")
    ms = [json.loads(line)["ms_per_token"] for line in out.stdout.splitlines()]
    assert len(ms) == 4
    for slow, fast in zip(ms, ms[1:]):
        assert slow / fast == pytest.approx(1.75, rel=0.10)


def test_trace_is_valid_chrome_trace(cli, tmp_path):
    """--trace writes JSON with traceEvents: X events with ts/dur/pid/tid, tracks named per device."""
    path = tmp_path / "trace.json"
    out = cli("--model", "opt-66b", "--devices", "2", "--output-len", "16", "--trace", str(path))
    assert out.returncode == 0, out.stderr
    events = json.loads(path.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all({"name", "ts", "dur", "pid", "tid"} <= set(e) for e in spans)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    assert {e["tid"] for e in spans} == {0, 1}
    tracks = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert tracks == {"device 0", "device 1"}
    names = {e["name"] for e in spans}
    assert {"prefill", "decode 1", "attention", "ffn", "sync", "layer 63"} <= names


def test_plot_writes_a_png(cli, tmp_path):
    """--plot writes a PNG of latency and throughput against batch."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "sweep.png"
    out = cli("--model", "opt-1.3b", "--chip", "lpu,h100", "--output-len", "32", "--plot", str(path))
    assert out.returncode == 0, out.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (("--model", "opt-999b"), ("unknown model", "opt-1.3b")),
    (("--chip", "tpu"), ("unknown chip", "lpu-fpga")),
    (("--devices", "0"), ("devices",)),
    (("--model", "opt-66b", "--devices", "1"), ("does not fit", "GiB")),
    (("--batch", "512", "--input-len", "2048", "--output-len", "2048", "--model", "opt-30b"),
     ("KV cache",)),
])
def test_errors_are_one_line_exit_2(cli, args, words):
    """Unknown model or chip, zero devices, non-fit: one stderr line, status 2, no traceback."""
    out = cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in out.stderr
    assert all(word in lines[0] for word in words)


def test_bad_memory_variable_is_an_error(cli):
    """A malformed SGLANG_HYPERACCEL_MEMORY is reported, not raised."""
    out = cli("--output-len", "8", env={"SGLANG_HYPERACCEL_MEMORY": "lots"})
    assert out.returncode == 2 and "SGLANG_HYPERACCEL_MEMORY" in out.stderr
    assert "Traceback" not in out.stderr


def test_env_chip_is_the_default(cli):
    """Without --chip, SGLANG_HYPERACCEL_CHIP names the chip."""
    out = cli("--output-len", "8", "--json", env={"SGLANG_HYPERACCEL_CHIP": "h100"})
    assert json.loads(out.stdout)["chip"] == "h100"


def test_in_process_main_and_tables(capsys):
    """main(argv) returns the status; --calibration, --parameters and --list print tables."""
    assert main(["--calibration"]) == 0
    assert "opt-66b on 2 x lpu" in capsys.readouterr().out
    assert main(["--parameters"]) == 0
    assert "op_overhead_s" in capsys.readouterr().out
    assert main(["--list"]) == 0
    assert "lpu-fpga" in capsys.readouterr().out


def test_package_imports_without_sglang_torch_or_matplotlib(cli):
    """Importing the simulator (and running it) pulls in no SGLang, torch or matplotlib."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, sglang_hyperaccel.simulator as s; s.Simulator('lpu','opt-1.3b').decode([1]);"
            "bad = [m for m in ('sglang.srt', 'torch', 'matplotlib') if m in sys.modules];"
            "sys.exit(str(bad) if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
