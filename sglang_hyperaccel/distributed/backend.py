"""`EslBackend`: the c10d backend of the `hyperaccel` device, the emulated chips' ESL link.

A Python subclass of c10d's `Backend` (the extension point PyTorch gives vendors, the way
ProcessGroupNCCL/XCCL/HCCL plug in), created by `torch.distributed` for every process group whose
backend is `esl` and used for every tensor on a `hyperaccel` device in that group. The chips'
memory is host memory, so the bytes travel through a gloo group on the same store (prefixed
`esl/`) over host views of the chip tensors, with no copy on the way in or out (see `hostview`).

Every collective finishes before it returns (the chip's streams are synchronous), so the `Work`
it hands back is already complete; `async_op=True` is accepted and changes nothing. How long the
link would take is not measured here: the chip clock charges each forward batch's exposed ESL
syncs from the simulator's multi-device model (`platform/clock_hooks.py`).

A peer that dies turns the next collective into an `EslError` that names the collective, the
group and this rank, instead of a hang (gloo sees the closed connection at once; the group
timeout bounds the rest).
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, Sequence

import torch
from torch._C._distributed_c10d import Backend as C10dBackend
from torch._C._distributed_c10d import PrefixStore, ProcessGroupGloo, ReduceOp, Work

from sglang_hyperaccel.names import COLLECTIVE_BACKEND as BACKEND_NAME
from sglang_hyperaccel.names import DEVICE_TYPE

from .hostview import dense

# What this backend does; anything else raises UnsupportedCollectiveError naming this list.
SUPPORTED = (
    "allreduce", "allreduce_coalesced", "broadcast", "reduce", "allgather", "all_gather_single",
    "all_gather_single_coalesced", "gather", "scatter", "reduce_scatter", "reduce_scatter_single",
    "reduce_scatter_single_coalesced", "all_to_all_single", "send", "recv", "barrier",
)


class EslError(RuntimeError):
    """A collective failed on the link: usually a peer rank exited or the group timed out."""


class UnsupportedCollectiveError(RuntimeError):
    """The collective has no implementation on the ESL backend."""


class _Done(Work):
    """A finished collective: `wait` returns at once, the future holds the output tensors."""

    def __init__(self, outputs: list[torch.Tensor]) -> None:
        super().__init__()
        self._outputs = outputs

    def wait(self, timeout: timedelta | None = None) -> bool:
        return True

    def get_future(self) -> torch.futures.Future:
        future: torch.futures.Future = torch.futures.Future()
        future.set_result(self._outputs)
        return future


class EslBackend(C10dBackend):
    """The collectives of one process group over the `hyperaccel` chips of its ranks.

    `calls` and `bytes_sent` count, per collective name, what this rank has run and the bytes
    of its input tensors (for tests and for checking the sync count the simulator assumes).
    """

    def __init__(self, store: Any, rank: int, size: int, timeout: timedelta, group: str = "") -> None:
        super().__init__(rank, size)
        self._rank, self._size, self._group = rank, size, group or "(default)"
        self._transport = ProcessGroupGloo(PrefixStore(f"{BACKEND_NAME}/", store), rank, size, timeout)
        self.calls: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()

    def getBackendName(self) -> str:  # noqa: N802 (c10d's name)
        return BACKEND_NAME

    # --- the collectives --------------------------------------------------------------------
    def allreduce(self, tensors: list[torch.Tensor], opts: Any) -> Work:
        return self._reduce_like("allreduce", tensors, opts,
                                 lambda views, o: self._transport.allreduce(views, o))

    def allreduce_coalesced(self, tensors: list[torch.Tensor], opts: Any) -> Work:
        return self._reduce_like("allreduce_coalesced", tensors, opts,
                                 lambda views, o: self._transport.allreduce_coalesced(views, o))

    def reduce(self, tensors: list[torch.Tensor], opts: Any) -> Work:
        avg = self._check_op("reduce", opts.reduceOp)
        work = self._run("reduce", tensors, tensors,
                         lambda o, i: self._transport.reduce(o, _sum(opts, avg)))
        if avg and self._rank == opts.rootRank:
            self._divide(tensors)
        return work

    def broadcast(self, tensors: list[torch.Tensor], opts: Any) -> Work:
        return self._run("broadcast", tensors, tensors, lambda o, i: self._transport.broadcast(o, opts))

    def allgather(self, outputs: list[list[torch.Tensor]], inputs: list[torch.Tensor], opts: Any) -> Work:
        flat = [t for row in outputs for t in row]
        return self._run("allgather", flat, inputs,
                         lambda o, i: self._transport.allgather(_rows(o, outputs), i, opts),
                         results=flat)

    def all_gather_single(self, output: torch.Tensor, input: torch.Tensor, opts: Any) -> Work:
        return self._run("all_gather_single", [output], [input],
                         lambda o, i: self._transport._allgather_base(_flat(o[0]), _flat(i[0]), opts))

    _allgather_base = all_gather_single

    def all_gather_single_coalesced(self, outputs: list[torch.Tensor], inputs: list[torch.Tensor],
                                    opts: Any) -> Work:
        for output, input in zip(outputs, inputs, strict=True):
            self.all_gather_single(output, input, opts)
        return _Done(list(outputs))

    allgather_into_tensor_coalesced = all_gather_single_coalesced

    def gather(self, outputs: list[list[torch.Tensor]], inputs: list[torch.Tensor], opts: Any) -> Work:
        flat = [t for row in outputs for t in row]
        return self._run("gather", flat, inputs,
                         lambda o, i: self._transport.gather(_rows(o, outputs), i, opts), results=flat)

    def scatter(self, outputs: list[torch.Tensor], inputs: list[list[torch.Tensor]], opts: Any) -> Work:
        flat = [t for row in inputs for t in row]
        return self._run("scatter", outputs, flat,
                         lambda o, i: self._transport.scatter(o, _rows(i, inputs), opts))

    def reduce_scatter(self, outputs: list[torch.Tensor], inputs: list[list[torch.Tensor]],
                       opts: Any) -> Work:
        avg = self._check_op("reduce_scatter", opts.reduceOp)
        flat = [t for row in inputs for t in row]
        work = self._run("reduce_scatter", outputs, flat,
                         lambda o, i: self._transport.reduce_scatter(o, _rows(i, inputs), _sum(opts, avg)))
        if avg:
            self._divide(outputs)
        return work

    def reduce_scatter_single(self, output: torch.Tensor, input: torch.Tensor, opts: Any) -> Work:
        avg = self._check_op("reduce_scatter_single", opts.reduceOp)
        work = self._run("reduce_scatter_single", [output], [input],
                         lambda o, i: self._transport._reduce_scatter_base(_flat(o[0]), _flat(i[0]),
                                                                           _sum(opts, avg)))
        if avg:
            self._divide([output])
        return work

    _reduce_scatter_base = reduce_scatter_single

    def reduce_scatter_single_coalesced(self, outputs: list[torch.Tensor], inputs: list[torch.Tensor],
                                        opts: Any) -> Work:
        for output, input in zip(outputs, inputs, strict=True):
            self.reduce_scatter_single(output, input, opts)
        return _Done(list(outputs))

    reduce_scatter_tensor_coalesced = reduce_scatter_single_coalesced

    def all_to_all_single(self, output: torch.Tensor, input: torch.Tensor, output_splits: list[int],
                          input_splits: list[int], opts: Any) -> Work:
        return self._run("all_to_all_single", [output], [input],
                         lambda o, i: self._transport.alltoall_base(o[0], i[0], output_splits,
                                                                    input_splits, opts))

    alltoall_base = all_to_all_single

    def send(self, tensors: list[torch.Tensor], dst: int, tag: int) -> Work:
        return self._run("send", [], tensors, lambda o, i: self._transport.send(i, dst, tag),
                         results=tensors)

    def recv(self, tensors: list[torch.Tensor], src: int, tag: int) -> Work:
        return self._run("recv", tensors, [], lambda o, i: self._transport.recv(o, src, tag))

    def barrier(self, opts: Any = None) -> Work:
        self.calls["barrier"] += 1
        self._wait("barrier", lambda: self._transport.barrier())
        return _Done([])

    # --- what the link cannot do --------------------------------------------------------------
    def allreduce_sparse(self, *args: Any) -> Work:
        raise self._unsupported("allreduce_sparse")

    def alltoall(self, *args: Any) -> Work:
        raise self._unsupported("alltoall (tensor lists; use all_to_all_single)")

    def allgather_coalesced(self, *args: Any) -> Work:
        raise self._unsupported("allgather_coalesced (use all_gather_single_coalesced)")

    def gather_single(self, *args: Any) -> Work:
        raise self._unsupported("gather_single (use gather)")

    gather_into_tensor = gather_single

    def recv_anysource(self, *args: Any) -> Work:
        raise self._unsupported("recv_anysource")

    # --- plumbing -----------------------------------------------------------------------------
    def _run(self, name: str, outputs: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor],
             launch: Any, results: list[torch.Tensor] | None = None) -> Work:
        """Run `launch(output_views, input_views)` on host views and wait for its gloo work.

        A tensor that is both an output and an input (in-place collectives) gets one view.
        """
        self.calls[name] += 1
        self.bytes_sent[name] += sum(t.numel() * t.element_size() for t in inputs)
        with ExitStack() as stack:
            views: dict[int, torch.Tensor] = {}
            for tensor in outputs:
                views[id(tensor)] = stack.enter_context(dense(tensor, writes=True))
            for tensor in inputs:
                if id(tensor) not in views:
                    views[id(tensor)] = stack.enter_context(dense(tensor, writes=False))
            out_views = [views[id(t)] for t in outputs]
            in_views = [views[id(t)] for t in inputs]
            self._wait(name, lambda: launch(out_views, in_views))
        return _Done(list(outputs) if results is None else results)

    def _reduce_like(self, name: str, tensors: list[torch.Tensor], opts: Any, launch: Any) -> Work:
        avg = self._check_op(name, opts.reduceOp)
        if self._size == 1 and all(t.device.type == DEVICE_TYPE for t in tensors):
            # Every reduce op over one rank is the identity. SGLang all-reduces the sampled token
            # ids whenever a batch holds a grammar (`Sampler._sync_token_ids_across_tp`), at TP 1
            # too; through gloo and host views that cost ~6% of a constrained decode step.
            self.calls[name] += 1
            return _Done(list(tensors))
        work = self._run(name, tensors, tensors, lambda o, i: launch(o, _sum(opts, avg)))
        if avg:
            self._divide(tensors)
        return work

    def _divide(self, tensors: Sequence[torch.Tensor]) -> None:
        """Finish an AVG that ran as a SUM (gloo has no AVG), on the chip."""
        for tensor in tensors:
            if tensor.is_floating_point():
                tensor.div_(self._size)
            else:
                tensor.floor_divide_(self._size)

    def _check_op(self, name: str, op: Any) -> bool:
        """True for AVG (run as SUM, then divided); raise for ops the link does not reduce with."""
        kind = getattr(op, "op", op)
        if kind == ReduceOp.AVG:
            return True
        if kind == ReduceOp.PREMUL_SUM:
            raise UnsupportedCollectiveError(
                f"{BACKEND_NAME} backend: {name} with ReduceOp.PREMUL_SUM is not supported "
                f"(SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR and BXOR are)")
        return False

    def _wait(self, name: str, launch: Any) -> None:
        try:
            work = launch()
            if work is not None:
                work.wait()
        except UnsupportedCollectiveError:
            raise
        except RuntimeError as exc:
            text = str(exc)
            cause = ("a peer rank has probably exited or stopped responding; "
                     if _is_link_failure(text) else "")
            raise EslError(
                f"hyperaccel {BACKEND_NAME}: {name} failed on rank {self._rank} of {self._size} in "
                f"group {self._group}: {cause}{text}") from exc

    def _unsupported(self, name: str) -> UnsupportedCollectiveError:
        return UnsupportedCollectiveError(
            f"{BACKEND_NAME} backend (hyperaccel): {name} is not supported; supported: "
            f"{', '.join(SUPPORTED)}")


def _is_link_failure(text: str) -> bool:
    """Whether a gloo error means the peer is gone or silent (not a bad argument)."""
    text = text.lower()
    return any(mark in text
               for mark in ("connection", "timed out", "timeout", "broken pipe", "reset by peer"))


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    """A 1-D view of a dense tensor: gloo's single-tensor gather/scatter want (world * n,) shapes,
    torch.distributed also allows (world, n)."""
    return tensor.view(-1)


def _rows(flat: list[torch.Tensor], shape: Sequence[Sequence[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Regroup `flat` into lists shaped like `shape`."""
    rows, start = [], 0
    for row in shape:
        rows.append(flat[start:start + len(row)])
        start += len(row)
    return rows


def _sum(opts: Any, avg: bool) -> Any:
    """`opts` with its reduce op turned from AVG into SUM (the division follows)."""
    if avg:
        opts.reduceOp = ReduceOp.SUM
    return opts


def create_backend(options: Any, backend_options: Any = None) -> EslBackend:
    """c10d's creator (`extended_api=True`): one backend per process group."""
    ranks = list(options.global_ranks_in_group or range(options.group_size))
    return EslBackend(options.store, options.group_rank, options.group_size, options.timeout,
                      group=f"{options.group_id or 'default'} (global ranks {ranks})")
