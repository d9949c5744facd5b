"""Replay a request trace on the chip in virtual time: `sglang-hyperaccel replay`.

    from sglang_hyperaccel.replay import read_trace, replay, EngineTarget, summarize
    results = replay(read_trace("trace.csv").head(100), EngineTarget(model_path=...), "run1")

`workload` reads and generates request records, `driver` sends them to an in-process engine or a
server URL, `summary` turns the chip-time reports into percentiles, goodput and the chip's state.
"""

from sglang_hyperaccel.replay.driver import EngineTarget, HttpTarget, RequestResult, ServerLimits, replay
from sglang_hyperaccel.replay.summary import ReplaySummary, format_table, summarize
from sglang_hyperaccel.replay.workload import (
    ReplayRequest,
    SyntheticSpec,
    TraceError,
    Workload,
    read_trace,
    synthetic,
)

__all__ = [
    "EngineTarget", "HttpTarget", "RequestResult", "ServerLimits", "replay",
    "ReplaySummary", "format_table", "summarize",
    "ReplayRequest", "SyntheticSpec", "TraceError", "Workload", "read_trace", "synthetic",
]
