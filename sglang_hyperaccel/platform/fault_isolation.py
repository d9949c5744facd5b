"""A failure inside one batch's forward ends that batch's requests, not the server.

SGLang 0.5.23 catches nothing in its scheduler loop: an exception in `Scheduler.run_batch` (the
model forward, attention for one request's shape, logits and logprobs, sampling) reaches
`run_scheduler_process`, which SIGQUITs the server, and every in-flight request of every client is
lost. Here (AROUND `run_batch`) such an exception instead finishes each request of the batch with
an abort (HTTP 500 for a non-streaming client, an error event for a stream, both naming the
error), gives back its KV cache and request slot the way SGLang does for a request whose sampled
token must not be committed, streams the aborts, and tells `process_batch_result` to skip the batch.
The scheduler then goes on with the next batch.

Not isolated (the server still ends, as before, and clients see their connections close): failures
outside the forward (building a batch, processing its results), `BaseException`s (interrupts,
exits), and any failure when the scheduler's world has more than one rank (tensor, pipeline or
attention parallelism), where the ranks could disagree about which batch failed and hang in the
next collective. Requests that reach those paths
with bad values are refused up front (`validation.py`). A fault on a real chip that leaves the
device unusable would also end the server; the emulated chip raises Python exceptions only.

`SGLANG_HYPERACCEL_INJECT_FAULT` (tests only) makes the forward raise for a marked request.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sglang_hyperaccel import env

logger = logging.getLogger(__name__)


class InjectedFault(RuntimeError):
    """The test-only fault `SGLANG_HYPERACCEL_INJECT_FAULT` raises inside a forward."""


class _FailedBatch:
    """`run_batch`'s result for a batch whose requests were aborted: nothing to process."""


FAILED_BATCH = _FailedBatch()


@functools.cache
def _marker() -> str | None:
    return env.inject_fault_marker()  # read once: this runs on every forward


def _ranks(scheduler: Any) -> int:
    """Ranks in this scheduler's world (tensor, pipeline, attention data/context parallel)."""
    group = getattr(scheduler, "world_group", None)
    return getattr(group, "world_size", None) or getattr(scheduler, "tp_size", 1)


def maybe_inject(forward_batch: Any) -> None:
    """Raise `InjectedFault` when a request of this batch carries the test marker in its rid."""
    marker = _marker()
    if marker is None:
        return
    for rid in getattr(forward_batch, "rids", None) or ():
        if marker in str(rid):
            raise InjectedFault(f"injected fault for request {rid}")


def run_batch_around(original, scheduler, batch, *args, **kwargs):
    """AROUND `Scheduler.run_batch`: abort the batch's requests on an exception (one rank only)."""
    try:
        return original(scheduler, batch, *args, **kwargs)
    except Exception as exc:
        if _ranks(scheduler) != 1:
            raise
        logger.exception("hyperaccel: a %s batch of %d request(s) failed; aborting them and serving on",
                         batch.forward_mode.name, len(batch.reqs))
        _abort_batch(scheduler, batch, exc)
        return FAILED_BATCH


def process_batch_result_around(original, scheduler, batch, result, *args, **kwargs):
    """AROUND `Scheduler.process_batch_result`: nothing to process for a failed batch."""
    if result is FAILED_BATCH:
        return None
    return original(scheduler, batch, result, *args, **kwargs)


def _abort_batch(scheduler: Any, batch: Any, exc: Exception) -> None:
    from sglang.srt.managers.schedule_batch import FINISH_ABORT

    message = (f"internal error while running this request's batch ({type(exc).__name__}: {exc}); "
               f"the request was aborted and the server is still serving")
    for req in batch.reqs:
        if req.finished():
            continue
        req.finished_reason = FINISH_ABORT(message, 500, "InternalServerError")
        if scheduler.chunked_req is req:
            scheduler.chunked_req = None
        # SGLang's own release for a request whose token must not be committed: KV and request slot
        # back, no prefix checkpoint of the uncommitted tokens.
        scheduler.batch_result_processor._handle_sampling_mask_abort(req)
    scheduler.output_streamer.stream_output(batch.reqs, batch.return_logprob)
