"""The chip timeline of a serving run: every charged batch in a Chrome trace (Perfetto).

Written when `SGLANG_HYPERACCEL_TRACE` names a file; one process track per tensor-parallel rank.
"""

from __future__ import annotations

import time
from pathlib import Path

from sglang_hyperaccel.platform.clock import BatchShape
from sglang_hyperaccel.platform.report import ChipTimeReport
from sglang_hyperaccel.simulator import ChromeTrace, StepTime


class TraceRecorder:
    """A `ClockListener` that appends every charged step to a Chrome trace.

    The file is rewritten at most once a second, so it stays readable while the server runs.
    """

    MAX_STEPS = 50_000  # keeps the file openable; later steps are counted, not drawn

    def __init__(self, path: Path, rank: int, chip: str, devices: int) -> None:
        self.path = path
        self.trace = ChromeTrace(detail="op")
        self.pid = self.trace.add_process(f"{chip} rank {rank} ({devices} device(s))")
        self.steps = 0
        self._last_write = 0.0

    def on_step(self, shape: BatchShape, step: StepTime, start_s: float) -> None:
        self.steps += 1
        if self.steps <= self.MAX_STEPS:
            name = (f"{shape.kind} b={len(shape.rids)} new={sum(shape.new_tokens)} "
                    f"cached={sum(shape.cached_tokens)}")
            self.trace.add_step(step, start_s, name=name, pid=self.pid, args={"rids": list(shape.rids)})
        now = time.monotonic()
        if now - self._last_write >= 1.0:
            self._last_write = now
            self.trace.write(self.path)

    def on_finish(self, report: ChipTimeReport) -> None:
        pass
