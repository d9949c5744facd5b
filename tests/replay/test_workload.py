"""Trace reading and workload generation for `replay` (no server)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sglang_hyperaccel.replay.workload import (
    ReplayRequest,
    SyntheticSpec,
    TraceError,
    prompt_ids,
    read_trace,
    synthetic,
    trace_path,
)

CONV = str(trace_path("azure-conv-2023"))


def _write(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


def test_conv_trace_matches_csv_module(tmp_path):
    """The bundled conv trace reads to the rows Python's csv module sees, arrivals in ms from 0."""
    import csv

    with open(CONV, newline="") as f:
        rows = list(csv.DictReader(f))
    workload = read_trace(CONV)
    assert len(workload.requests) == len(rows) == 19366
    for req, row in zip(workload.requests[:500], rows[:500]):
        start = float(rows[0]["arrived_at"])
        assert req.arrival_ms == pytest.approx((float(row["arrived_at"]) - start) * 1e3)
        assert req.input_len == int(row["num_prefill_tokens"])
        assert req.output_len == int(row["num_decode_tokens"])
    assert workload.head(1000).span_ms == pytest.approx(float(rows[999]["arrived_at"]) * 1e3)


def test_azure_format_and_rate_scale(tmp_path):
    """Azure timestamps (7 fraction digits) become ms offsets; --rate-scale 2 halves them."""
    path = _write(tmp_path, "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                            "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0000000,10,3\n"
                            "2023-11-16 18:16:46.6805900,5,5\n")
    w = read_trace(path)
    assert [r.arrival_ms for r in w.requests] == pytest.approx([0.0, 319.41, 60000.0])
    assert [r.arrival_ms for r in w.scaled(2.0).requests] == pytest.approx([0.0, 159.705, 30000.0])


@pytest.mark.parametrize("text, where", [
    ("arrived_at,num_prefill_tokens\n0,1\n", "missing columns"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\n1.5,abc,5\n",
     "line 3: column num_prefill_tokens"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\n1,10,0\n", "line 3"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\nnan,10,5\n", "line 3: column arrived_at"),
    ("arrived_at,num_prefill_tokens,num_decode_tokens\n", "no requests"),
])
def test_bad_traces_name_the_line(tmp_path, text, where):
    """Missing columns, non-numeric or bad cells: a TraceError naming the file and line."""
    with pytest.raises(TraceError, match=where) as info:
        read_trace(_write(tmp_path, text))
    assert "t.csv" in str(info.value)


def test_unsorted_arrivals_are_sorted_with_a_warning(tmp_path, caplog):
    """Out-of-order rows are replayed in arrival order, renumbered, with one warning."""
    path = _write(tmp_path, "arrived_at,num_prefill_tokens,num_decode_tokens\n2,20,2\n0,10,1\n1,30,3\n")
    with caplog.at_level(logging.WARNING):
        w = read_trace(path)
    assert [(r.seq, r.input_len) for r in w.requests] == [(0, 10), (1, 30), (2, 20)]
    assert "not sorted" in caplog.text


def test_synthetic_rate_and_lengths():
    """Poisson arrivals at 4 qps over 4,000 requests average 250 ms apart; lengths in [ratio*L, L]."""
    w = synthetic(SyntheticSpec(num_requests=4000, qps=4.0, input_len=200, output_len=50, range_ratio=0.5))
    gaps = np.diff([r.arrival_ms for r in w.requests])
    assert gaps.mean() == pytest.approx(250.0, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.08)  # exponential: cv 1
    assert min(r.input_len for r in w.requests) >= 100 and max(r.input_len for r in w.requests) <= 200
    gamma = synthetic(SyntheticSpec(num_requests=4000, qps=4.0, arrival="gamma", cv=3.0))
    g = np.diff([r.arrival_ms for r in gamma.requests])
    assert g.std() / g.mean() == pytest.approx(3.0, rel=0.15)
    spec = SyntheticSpec(num_requests=50, qps=1.0)
    assert synthetic(spec) == synthetic(spec)


def test_shared_prefixes_and_sessions():
    """Group prompts share exactly prefix_len ids; a session's turn starts with its previous prompt."""
    w = synthetic(SyntheticSpec(num_requests=6, qps=1.0, input_len=40, prefix_groups=2, prefix_len=300))
    ids = [prompt_ids(r, 32000) for r in w.requests]
    assert ids[0][:300] == ids[2][:300] and ids[0][:300] != ids[1][:300]
    assert ids[0][300] != ids[2][300] and len(ids[0]) == 340
    s = synthetic(SyntheticSpec(num_requests=6, qps=1.0, input_len=50, turns=3))
    by_session: dict[str, list[ReplayRequest]] = {}
    for r in s.requests:
        by_session.setdefault(r.prefix_key, []).append(r)
    for turns in by_session.values():
        prompts = [prompt_ids(r, 32000) for r in turns]
        assert [len(p) for p in prompts] == [50, 100, 150]
        assert prompts[1][:50] == prompts[0] and prompts[2][:100] == prompts[1]
    assert all(1000 <= i < 25600 for p in ids for i in p)
