"""Chip timelines as Chrome-trace JSON (opens in Perfetto and chrome://tracing).

One process per simulated system, one track (thread) per device. Each step is an "X" (complete)
event with its operators nested inside: at `detail="op"` one event per operator class (compact,
for a server charging thousands of steps), at `detail="layer"` every layer's operators in
execution order (each operator's total split evenly across layers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import SimulatorError
from .records import ATTENTION, EMBEDDING, FFN, NORMS, OUT_PROJ, QKV_PROJ, SAMPLING, SYNC, StepTime

DETAILS = ("op", "layer")


class ChromeTrace:
    """Collects simulated steps on device tracks and writes them as Chrome-trace JSON.

    Usage: `trace = ChromeTrace(); pid = trace.add_process("opt-1.3b on 1 x lpu");
    end_s = trace.add_step(step, start_s, pid=pid); trace.write("trace.json")`. Times are seconds
    on the caller's clock (simulated or wall); the JSON holds microseconds.
    """

    def __init__(self, detail: str = "op") -> None:
        if detail not in DETAILS:
            raise SimulatorError(f"trace detail must be one of {DETAILS}, got {detail!r}")
        self.detail = detail
        self._events: list[dict[str, Any]] = []
        self._tracks: set[tuple[int, int]] = set()
        self._processes = 0

    def add_process(self, name: str) -> int:
        """A new process (one simulated system); returns its pid for `add_step`."""
        pid = self._processes
        self._processes += 1
        self._events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                             "args": {"name": name}})
        self._events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
                             "args": {"sort_index": pid}})
        return pid

    def add_step(self, step: StepTime, start_s: float, *, name: str = "step", pid: int | None = None,
                 args: dict[str, Any] | None = None) -> float:
        """Lay `step` out on every device track from `start_s`; returns its end time in seconds."""
        if pid is None:
            pid = self.add_process("simulated system") if self._processes == 0 else 0
        info = {"tokens": step.tokens, "requests": step.requests, "bound": step.bound,
                "floor_ms": 1e3 * step.floor_s, "bytes_moved": step.bytes_moved,
                "flops": step.flops, "sync_ms": 1e3 * step.sync_s}
        if args:
            info.update(args)
        for device in range(step.devices):
            self._track(pid, device)
            self._event(name, "step", start_s, step.total_s, pid, device, info)
            if self.detail == "op":
                self._ops_flat(step, start_s, pid, device)
            else:
                self._ops_by_layer(step, start_s, pid, device)
        return start_s + step.total_s

    def to_dict(self) -> dict[str, Any]:
        """The trace as a Chrome-trace JSON object."""
        return {"traceEvents": list(self._events), "displayTimeUnit": "ms"}

    def write(self, path: str | Path) -> Path:
        """Write the JSON to `path`; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    # --- layout ------------------------------------------------------------------------------
    def _track(self, pid: int, tid: int) -> None:
        if (pid, tid) not in self._tracks:
            self._tracks.add((pid, tid))
            self._events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                                 "args": {"name": f"device {tid}"}})
            self._events.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
                                 "args": {"sort_index": tid}})

    def _event(self, name: str, cat: str, start_s: float, dur_s: float, pid: int, tid: int,
               args: dict[str, Any] | None = None) -> None:
        event = {"name": name, "cat": cat, "ph": "X", "ts": start_s * 1e6, "dur": dur_s * 1e6,
                 "pid": pid, "tid": tid}
        if args:
            event["args"] = args
        self._events.append(event)

    def _ops_flat(self, step: StepTime, t: float, pid: int, tid: int) -> None:
        for op in step.ops:
            if op.time_s > 0:
                self._event(op.name, "op", t, op.time_s, pid, tid,
                            {"bytes": op.bytes, "flops": op.flops, "bound": op.bound})
                t += op.time_s

    def _ops_by_layer(self, step: StepTime, t: float, pid: int, tid: int) -> None:
        times = step.breakdown
        layers = max(step.layers, 1)
        # Syncs: two per layer (after attention, after the FFN) and one for the logits.
        sync = times.get(SYNC, 0.0) / (2 * layers + 1)
        norm = times[NORMS] / (2 * layers)
        order = ((NORMS, norm), (QKV_PROJ, times[QKV_PROJ] / layers),
                 (ATTENTION, times[ATTENTION] / layers), (OUT_PROJ, times[OUT_PROJ] / layers),
                 (SYNC, sync), (NORMS, norm), (FFN, times[FFN] / layers), (SYNC, sync))
        if times[EMBEDDING] > 0:
            self._event(EMBEDDING, "op", t, times[EMBEDDING], pid, tid)
            t += times[EMBEDDING]
        layer_s = 0.0
        for _, dur in order:
            layer_s += dur
        for layer in range(layers):
            # The enclosing event first: viewers nest same-start events in file order.
            self._event(f"layer {layer}", "layer", t, layer_s, pid, tid)
            for name, dur in order:
                if dur > 0:
                    self._event(name, "op", t, dur, pid, tid)
                    t += dur
        for name, dur in ((SAMPLING, times[SAMPLING]), (SYNC, sync)):
            if dur > 0:
                self._event(name, "op", t, dur, pid, tid)
                t += dur
