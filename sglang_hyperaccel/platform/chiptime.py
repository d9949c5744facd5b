"""The hooks that put the chip clock into SGLang's processes (installed by `patches.install`).

Scheduler process: the model runner's forward is charged to the clock, arrivals are stamped, and
the output streamer attaches each request's chip-time report to its output. Main process: the
tokenizer manager turns the reports into one `meta_info["hyperaccel"]` object.
"""

from __future__ import annotations

import logging
from typing import Any

from sglang_hyperaccel.platform.clock import BatchShape, ChipClock

logger = logging.getLogger(__name__)

WIRE_KEY = "hyperaccel_chip"  # customized-info key the scheduler sends (a list, as SGLang requires)
META_KEY = "hyperaccel"  # the object clients read in meta_info

_clock: ChipClock | None = None


def current_clock() -> ChipClock | None:
    """This process's chip clock, once the first forward batch has built it."""
    return _clock


def _build_clock(runner: Any) -> ChipClock:
    import torch

    from sglang_hyperaccel import env
    from sglang_hyperaccel.simulator import ModelSpec, Simulator, get_chip

    chip = get_chip(env.chip_name())
    override = env.memory_override()
    if override:
        chip = chip.with_memory(override)
    dtype = getattr(runner.model_config, "dtype", torch.float32)
    spec = ModelSpec.from_hf_config(runner.model_config.model_path)
    spec = spec.with_dtype_bytes(torch.empty((), dtype=dtype).element_size())
    from sglang.srt.runtime_context import get_parallel

    devices = int(get_parallel().tp_size)
    clock = ChipClock(Simulator(chip, spec, devices=devices))
    from sglang_hyperaccel.platform.observers import attach_observers

    attach_observers(clock, runner)
    logger.info("hyperaccel: chip clock on %s x%d for %s", chip.name, devices, spec.name)
    return clock


def forward_around(original, runner, forward_batch, *args, **kwargs):
    """AROUND `ModelRunner.forward`: run the batch, then charge it to the chip clock."""
    global _clock
    shape = None if runner.is_draft_worker else BatchShape.from_forward_batch(forward_batch)
    result = original(runner, forward_batch, *args, **kwargs)
    if shape is not None:
        if _clock is None:
            _clock = _build_clock(runner)
        _clock.charge(shape)
    return result


def arrival_before(scheduler, recv_req, *args, **kwargs):
    """BEFORE `Scheduler.handle_generate_request`: stamp the request's arrival in chip time."""
    if _clock is not None and getattr(recv_req, "rid", None):
        _clock.arrive(recv_req.rid)
    return None


def output_streamer_class(result, scheduler, *args, **kwargs):
    """AFTER `Scheduler.get_output_streamer_class`: our subclass of whatever SGLang picked."""
    from sglang_hyperaccel.platform.streamer import streamer_with_chip_time

    return streamer_with_chip_time(result)


def meta_info_after(result, manager, meta_info, state, customized_info, index, finish_reason, *a, **k):
    """AFTER `TokenizerManager.update_request_meta_info`: the latest report, as one object.

    The scheduler sends reports as SGLang's per-request lists; the newest entry is the current
    state. Removing the list key keeps incremental streaming from slicing it.
    """
    reports = meta_info.pop(WIRE_KEY, None)
    state.customized_info_accumulated.pop(WIRE_KEY, None)
    state.customized_info_reported_keys.discard(WIRE_KEY)
    if reports:
        meta_info[META_KEY] = reports[-1]
    return result
