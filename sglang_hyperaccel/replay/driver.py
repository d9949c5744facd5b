"""Send a workload to the chip in virtual time and collect each request's chip-time report.

Two targets with one contract (`Target`): an SGLang `Engine` in this process (the default: no
server, no HTTP) or a running server's URL. Every request carries its arrival on the chip clock
(`custom_params["hyperaccel"]`, docs/chip-time.md) and the whole workload is submitted at once, in
seq order, with no cap on requests in flight: the scheduler holds each until the chip clock reaches
its arrival, and waits for seq k+1 before it lets the clock pass k's successor, so a client that
waited for completions before sending more would deadlock it.

Requests the server would refuse before its scheduler sees them (longer than the context, or than
the chip's whole KV capacity) are rejected here, with their reason, and left out of the seq stream:
a request that never reached the scheduler would leave a gap the clock waits on.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sglang_hyperaccel.names import ARRIVAL_KEY, META_KEY
from sglang_hyperaccel.platform.report import ChipTimeReport
from sglang_hyperaccel.replay.workload import ReplayRequest, Workload, prompt_ids

_HTTP_BATCH = 64  # requests per POST to a server URL: few connections, progress per batch


@dataclass(frozen=True)
class ServerLimits:
    """What a request must fit: the model's context, the chip's KV tokens, the prompt limit."""

    context_len: int
    kv_capacity_tokens: int
    max_req_input_len: int
    vocab_size: int


@dataclass(frozen=True)
class RequestResult:
    """One request's outcome: its chip-time report, or why it was rejected or failed."""

    request: ReplayRequest
    rid: str
    report: ChipTimeReport | None
    completion_tokens: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None

    def to_dict(self) -> dict[str, Any]:
        """One line of `--out FILE.jsonl`."""
        r = self.request
        row: dict[str, Any] = {"seq": r.seq, "rid": self.rid, "trace_arrival_ms": r.arrival_ms,
                               "input_len": r.input_len, "output_len": r.output_len,
                               "completion_tokens": self.completion_tokens, "error": self.error}
        if self.report is not None:
            row.update(self.report.to_wire())
        return row


class Target(Protocol):
    """Where requests go: limits to check against, a way to submit, run statistics, shutdown."""

    def limits(self) -> ServerLimits: ...

    def submit(self, payloads: Sequence[dict[str, Any]], done: Callable[[int], None]) -> list[dict[str, Any]]:
        """Send every payload at once; call `done(k)` as k more finish; outputs in payload order
        (an output with an "error" key failed)."""

    def scheduler_stats(self) -> dict[str, Any] | None:
        """The scheduler's `hyperaccel` internal state (chip clock, KV peak, preemptions), if any."""

    def close(self) -> None: ...


def reject_reason(request: ReplayRequest, limits: ServerLimits) -> str | None:
    """Why the server could not take `request` at all (SGLang's own checks, applied up front)."""
    total = request.input_len + request.output_len
    if request.input_len >= limits.context_len or total > limits.context_len:
        return (f"needs {total} tokens ({request.input_len} prompt + {request.output_len} output); "
                f"the model's context is {limits.context_len}")
    if request.input_len > limits.max_req_input_len:
        return (f"prompt of {request.input_len} tokens exceeds the server's limit of "
                f"{limits.max_req_input_len}")
    if total > limits.kv_capacity_tokens:
        return f"needs {total} KV tokens; the chip's KV capacity is {limits.kv_capacity_tokens}"
    return None


def payload(request: ReplayRequest, seq: int, last: bool, trace: str, vocab: int,
            seed: int) -> dict[str, Any]:
    """The `/generate` body of one request: token ids, forced output length, its virtual arrival."""
    arrival = {"arrival_ms": request.arrival_ms, "seq": seq, "last": last, "trace": trace}
    return {
        "input_ids": prompt_ids(request, vocab, seed),
        "rid": f"{trace}-{request.seq}",
        "sampling_params": {"max_new_tokens": request.output_len, "ignore_eos": True, "temperature": 0.0,
                            "custom_params": {ARRIVAL_KEY: arrival}},
    }


def replay(workload: Workload, target: Target, trace: str, seed: int = 0,
           progress: Callable[[int], None] | None = None) -> list[RequestResult]:
    """Replay `workload` on `target` in virtual time; results in workload order."""
    limits = target.limits()
    results: dict[int, RequestResult] = {}
    accepted: list[ReplayRequest] = []
    for request in workload.requests:
        reason = reject_reason(request, limits)
        if reason is None:
            accepted.append(request)
        else:
            rid = f"{trace}-{request.seq}"
            results[request.seq] = RequestResult(request, rid, None, 0, f"rejected: {reason}")
    payloads = [payload(r, k, k == len(accepted) - 1, trace, limits.vocab_size, seed)
                for k, r in enumerate(accepted)]
    outputs = target.submit(payloads, progress or (lambda k: None)) if payloads else []
    for request, body, out in zip(accepted, payloads, outputs):
        results[request.seq] = _result(request, body["rid"], out)
    return [results[r.seq] for r in workload.requests]


def _result(request: ReplayRequest, rid: str, out: dict[str, Any]) -> RequestResult:
    if "error" in out:
        return RequestResult(request, rid, None, 0, f"failed: {out['error']}")
    meta = out.get("meta_info", {})
    wire = meta.get(META_KEY)
    report = ChipTimeReport.from_wire(wire) if wire else None
    finish = meta.get("finish_reason") or {}
    error = None
    if isinstance(finish, dict) and finish.get("type") == "abort":
        error = f"aborted: {finish.get('message', '')}"
    elif report is None:
        error = "failed: the response has no chip-time report"
    return RequestResult(request, rid, report, int(meta.get("completion_tokens", 0)), error)


def _stats_from(server_info: dict[str, Any]) -> dict[str, Any] | None:
    states = server_info.get("internal_states") or [{}]
    return states[0].get(META_KEY)


def _vocab_size(model_path: str) -> int:
    from pathlib import Path

    config = json.loads((Path(model_path) / "config.json").read_text())
    text = config.get("text_config") or {}
    return int(config.get("vocab_size") or text.get("vocab_size"))


class EngineTarget:
    """An SGLang `Engine` in this process (its scheduler runs in a child process, as in a server)."""

    def __init__(self, **engine_args: Any) -> None:
        import sys

        from sglang_hyperaccel.platform import PLATFORM_NAME

        # SGLang picks its platform when sglang is first imported, before any argument is read
        # (`platform/selection.py`); an in-process engine selects it through the environment.
        if "sglang" in sys.modules and os.environ.get("SGLANG_PLATFORM") != PLATFORM_NAME:
            raise RuntimeError("import sglang after setting SGLANG_PLATFORM=hyperaccel to run an "
                               "in-process hyperaccel engine")
        os.environ["SGLANG_PLATFORM"] = PLATFORM_NAME
        import warnings

        # SGLang's import warns that CUDA-only kernels are unavailable; on this device they never run.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"sglang\.")
        import sglang

        self.engine = sglang.Engine(**engine_args)
        self.model_path = str(engine_args["model_path"])

    def limits(self) -> ServerLimits:
        info = self.engine.get_server_info()
        manager = self.engine.tokenizer_manager
        return ServerLimits(int(manager.context_len), int(info["max_total_num_tokens"]),
                            int(info["max_req_input_len"]), _vocab_size(self.model_path))

    def submit(self, payloads, done):
        async def one(body):
            try:
                out = await self.engine.async_generate(input_ids=body["input_ids"], rid=body["rid"],
                                                       sampling_params=body["sampling_params"])
            except Exception as exc:  # a refused request is a result, not the end of the replay
                out = {"error": str(exc)}
            done(1)
            return out

        async def all_of():
            return await asyncio.gather(*(one(body) for body in payloads))

        return self.engine.loop.run_until_complete(all_of())

    def scheduler_stats(self):
        return _stats_from(self.engine.get_server_info())

    def close(self) -> None:
        self.engine.shutdown()


class HttpTarget:
    """A running `sglang.launch_server --device hyperaccel` (or the router in front of one)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.model_path = self._get("/server_info")["model_path"]

    def _get(self, path: str) -> dict[str, Any]:
        import requests

        response = requests.get(self.url + path, timeout=30)
        response.raise_for_status()
        return response.json()

    def limits(self) -> ServerLimits:
        info = self._get("/server_info")
        models = self._get("/v1/models")["data"]
        return ServerLimits(int(models[0]["max_model_len"]), int(info["max_total_num_tokens"]),
                            int(info["max_req_input_len"]), _vocab_size(info["model_path"]))

    def submit(self, payloads, done):
        import aiohttp

        async def batch(session, bodies):
            body = {key: [b[key] for b in bodies] for key in ("input_ids", "rid", "sampling_params")}
            try:
                async with session.post(self.url + "/generate", json=body) as response:
                    data = await response.json(content_type=None)
                    if response.status != 200:
                        message = data.get("error", {}).get("message") if isinstance(data, dict) else data
                        data = [{"error": f"HTTP {response.status}: {message}"}] * len(bodies)
            except aiohttp.ClientError as exc:
                data = [{"error": str(exc)}] * len(bodies)
            done(len(bodies))
            return data

        async def all_of():
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as s:
                chunks = [payloads[i:i + _HTTP_BATCH] for i in range(0, len(payloads), _HTTP_BATCH)]
                parts = await asyncio.gather(*(batch(s, c) for c in chunks))
            return [out for part in parts for out in part]

        return asyncio.run(all_of())

    def scheduler_stats(self):
        return _stats_from(self._get("/server_info"))

    def close(self) -> None:
        pass
