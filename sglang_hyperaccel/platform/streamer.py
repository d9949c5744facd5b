"""An output streamer that attaches each request's chip-time report to its outputs."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sglang_hyperaccel.names import WIRE_KEY
from sglang_hyperaccel.platform.clock import current_clock


@lru_cache(maxsize=None)
def streamer_with_chip_time(base: type) -> type:
    """A subclass of SGLang's streamer class `base` sending each request's report under `WIRE_KEY`.

    Finished requests get their final report (and leave the clock); others their report so far.
    """

    class ChipTimeOutputStreamer(base):  # type: ignore[misc, valid-type]
        has_additional_customized_info = True

        def build_additional_customized_info(self, reqs: list[Any]) -> dict[str, list]:
            info = super().build_additional_customized_info(reqs)
            clock = current_clock()
            reports = []
            for req in reqs:
                if clock is None:
                    reports.append([])
                    continue
                report = clock.finish(req.rid) if req.finished() else clock.report(req.rid)
                reports.append([report.to_wire()] if report else [])
            info[WIRE_KEY] = reports
            return info

    ChipTimeOutputStreamer.__name__ = f"ChipTime{base.__name__}"
    return ChipTimeOutputStreamer
