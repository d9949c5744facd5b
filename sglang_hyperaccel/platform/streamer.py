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
    SGLang's health probes leave the clock uncounted: the metrics count served requests only.
    """

    class ChipTimeOutputStreamer(base):  # type: ignore[misc, valid-type]
        has_additional_customized_info = True

        def build_additional_customized_info(self, reqs: list[Any]) -> dict[str, list]:
            from sglang.srt.managers.utils import is_health_check_generate_req

            info = super().build_additional_customized_info(reqs)
            clock = current_clock()
            reports = []
            for req in reqs:
                if clock is None:
                    reports.append([])
                    continue
                if req.finished():  # a health probe is not a served request (SGLang's metrics agree)
                    report = clock.finish(req.rid, counted=not is_health_check_generate_req(req))
                else:
                    report = clock.report(req.rid)
                reports.append([report.to_wire()] if report else [])
            info[WIRE_KEY] = reports
            return info

    ChipTimeOutputStreamer.__name__ = f"ChipTime{base.__name__}"
    return ChipTimeOutputStreamer
