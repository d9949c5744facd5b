"""The hooks that put the chip clock into SGLang's processes (installed by `patches.install`).

Scheduler process: the clock is built when the model runner has loaded its model (from the model
config SGLang loaded, so what it serves is what it times), every forward batch is charged to it,
arrivals are stamped, and the output streamer attaches each request's chip-time report to its
output. Main process: the tokenizer manager turns the reports into one `meta_info["hyperaccel"]`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sglang_hyperaccel import env
from sglang_hyperaccel.chip import emulated_chip
from sglang_hyperaccel.names import META_KEY, WIRE_KEY
from sglang_hyperaccel.platform import model_spec
from sglang_hyperaccel.platform.clock import BatchShape, ChipClock, current_clock, set_current_clock
from sglang_hyperaccel.platform.fault_isolation import maybe_inject
from sglang_hyperaccel.platform.metrics import MetricsRecorder
from sglang_hyperaccel.platform.model_shapes import spec_from_module
from sglang_hyperaccel.platform.streamer import streamer_with_chip_time
from sglang_hyperaccel.platform.timeline import TraceRecorder
from sglang_hyperaccel.simulator import (
    DEFAULT_HOST,
    HostOverhead,
    ModelSpec,
    Simulator,
    SimulatorError,
    get_host,
)

logger = logging.getLogger(__name__)


def served_spec(runner: Any, tp_size: int) -> ModelSpec:
    """The shapes the chip times: read off the loaded model at TP 1, else the start-up spec.

    At TP 1 the loaded model is the whole model (`model_shapes.spec_from_module`); a rank of a
    larger group holds a slice, so it times the spec the launching process worked out for it
    (the same reader; tests check the two agree). Precision is the loaded model's.
    """
    import torch

    config = runner.model_config
    path = str(config.model_path)
    name = path.rstrip("/").split("/")[-1]
    dtype_bytes = getattr(config, "dtype", torch.float32).itemsize
    spec = model_spec.exported(path)
    if tp_size == 1:
        try:
            spec = spec_from_module(runner.model, config.hf_config.to_dict(), name=name,
                                    dtype_bytes=dtype_bytes)
        except SimulatorError as exc:
            if spec is None:
                raise
            logger.warning("hyperaccel: timing the start-up model spec (%s)", exc)
    if spec is None:  # started without the platform's start-up (no exported spec)
        spec = ModelSpec.from_hf_config(config.hf_config.to_dict(), name=name)
    return spec.with_dtype_bytes(dtype_bytes)


def build_clock(runner: Any) -> ChipClock:
    """The chip clock of `runner`'s scheduler process, with the observers the server asked for."""
    from sglang.srt.runtime_context import get_parallel

    chip = emulated_chip()
    parallel = get_parallel()
    rank = int(parallel.tp_rank)
    # Timing-only `--tp-size N` runs one rank charged as N chips; its module tree is the whole model.
    devices = env.virtual_tp() or int(parallel.tp_size)
    spec = served_spec(runner, int(parallel.tp_size))
    host = None
    if env.host_overhead_mode() != "none":  # the serving host's CPU time per step, as data
        host = HostOverhead(get_host(env.host_name() or DEFAULT_HOST), env.host_overhead_mode())
        logger.info("hyperaccel: charging host time per step (%s, %s)", host.host.name, host.mode)
    clock = ChipClock(Simulator(chip, spec, devices=devices), host=host)
    path = env.trace_path()
    if path is not None:
        if int(parallel.tp_size) > 1:  # one file per rank process
            path = path.with_name(f"{path.stem}.rank{rank}{path.suffix}")
        clock.listeners.append(TraceRecorder(path, rank, clock.chip, clock.devices))
        logger.info("hyperaccel: writing the chip timeline to %s", path)
    if getattr(runner.server_args, "enable_metrics", False) and rank == 0:
        try:
            clock.listeners.append(MetricsRecorder(clock, runner))
        except Exception:  # metrics are an aid: never let them stop serving
            logger.exception("hyperaccel: chip-time metrics unavailable")
    logger.info("hyperaccel: chip clock on %s x%d for %s", chip.name, devices, spec.name)
    return clock


def load_model_after(result: Any, runner: Any, *args: Any, **kwargs: Any) -> Any:
    """AFTER `ModelRunner.load_model`: build this process's chip clock (not for draft models)."""
    if not runner.is_draft_worker:
        set_current_clock(build_clock(runner))
    return result


def forward_around(original, runner, forward_batch, *args, **kwargs):
    """AROUND `ModelRunner.forward`: run the batch, then charge it to the chip clock.

    In timing-only execution (`timing.py`) the batch does not run: it is charged, and the output
    has no logits (`ModelRunner.sample` then draws its tokens, `timing_tokens.py`).
    """
    clock = None if runner.is_draft_worker else current_clock()
    shape = None if clock is None else BatchShape.from_forward_batch(forward_batch)
    maybe_inject(forward_batch)  # test aid, off unless SGLANG_HYPERACCEL_INJECT_FAULT is set
    if env.is_timing():
        result = _timed_output()
    else:
        result = original(runner, forward_batch, *args, **kwargs)
    if shape is not None:
        clock.charge(shape)
        delay = env.step_delay_s()
        if delay > 0:  # test aid: a slower host must not change chip time
            time.sleep(delay)
    return result


def _timed_output() -> Any:
    """What `ModelRunner.forward` returns for a batch that was timed, not computed."""
    from sglang.srt.layers.logits_processor import LogitsProcessorOutput
    from sglang.srt.model_executor.model_runner import ModelRunnerOutput

    return ModelRunnerOutput(logits_output=LogitsProcessorOutput(next_token_logits=None), can_run_graph=False)


def arrival_before(scheduler, recv_req, *args, **kwargs):
    """BEFORE `Scheduler.handle_generate_request`: stamp the request's arrival in chip time.

    A request without a virtual-time field arrives now; one with it was stamped at its declared
    arrival when `virtual_time.py` let it in, and the clock keeps that first stamp.
    """
    clock = current_clock()
    if clock is not None and getattr(recv_req, "rid", None):
        clock.arrive(recv_req.rid)
    return None


def abort_output_after(result, scheduler, abort_req, req, *args, **kwargs):
    """AFTER `Scheduler.send_abort_output`: the request ended without passing the output streamer
    (refused by a full queue, timed out while waiting, rejected): the clock forgets it, uncounted."""
    clock = current_clock()
    if clock is not None and getattr(req, "rid", None):
        clock.finish(req.rid, counted=False)
    return result


def output_streamer_class(result, scheduler, *args, **kwargs):
    """AFTER `Scheduler.get_output_streamer_class`: our subclass of whatever SGLang picked."""
    return streamer_with_chip_time(result)


def meta_info_after(result, manager, meta_info, state, customized_info, index, finish_reason, *a, **k):
    """AFTER `TokenizerManager.update_request_meta_info`: the latest report, as one object.

    The scheduler sends reports as SGLang's per-request lists; the newest entry is the current
    state. Removing the list key (and SGLang's per-request accumulation of it, in
    `state.customized_info_accumulated`/`_reported_keys`) keeps incremental streaming from
    slicing it.
    """
    reports = meta_info.pop(WIRE_KEY, None)
    state.customized_info_accumulated.pop(WIRE_KEY, None)
    state.customized_info_reported_keys.discard(WIRE_KEY)
    if reports:
        meta_info[META_KEY] = reports[-1]
    return result
