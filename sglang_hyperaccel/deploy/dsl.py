"""A DSL backend for deployments behind SGLang's router: `sgl.set_default_backend(RouterEndpoint(url))`.

Why it exists: SGLang's `RuntimeEndpoint.select` sends one `/generate` request whose `text` is a
list (the prompt + each choice). A single server accepts that, but the router (smg 1.13.0,
sglang-router 0.3.2) only accepts a string there and answers HTTP 422. This backend sends every
list request as individual `/generate` calls, in parallel, and reassembles the list answer, so
`select` (and anything else that batches) works through the router unchanged.

Branches stay on one replica through the router's own cache-aware prefix matching: the shared
prefix is sent alone first (`max_new_tokens=0`), which places it in the router's prefix tree and
in one replica's KV cache; each branch then extends that prefix, so the router sends it to the
same replica, where it hits the cache. `select` does this itself. `fork` is meant to (it submits a
commit of the prefix), but in SGLang 0.5.23 it tests `text_` before its queue has run, so the
commit is usually skipped and the branches race to the router; this backend therefore commits a
branch's fork prefix once, before the first request of any branch of that fork. Every request's
serving worker (smg's `x-smg-routed-worker-id` header) and cache figures are recorded in `routes`,
so callers can check it; `gen` also returns the worker in its meta info as `routed_worker`.

Not supported: `join("concate_and_append")` with `enable_parallel_encoding` (it joins the KV of
requests by id, which need not live on one replica): the text-concatenating join is used instead.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import requests
from sglang.lang.backend.runtime_endpoint import RuntimeEndpoint
from sglang.lang.global_config import global_config

from sglang_hyperaccel.deploy.router import ROUTED_WORKER_HEADER
from sglang_hyperaccel.sse import StreamIncomplete, sse_chunks

# Branches of one fork reach the backend within this many seconds of each other (they start together).
FORK_PREFIX_TTL_S = 30.0

# Request fields that SGLang's /generate accepts per item of a batch (a list of len(batch)).
_PER_ITEM_FIELDS = ("text", "input_ids", "sampling_params", "rid", "return_logprob", "logprob_start_len",
                    "top_logprobs_num", "return_text_in_logprobs", "image_data", "lora_path")


class Route(NamedTuple):
    """One /generate call: which program state sent it, which worker served it, what was cached."""

    kind: str  # "prefix" (prompt sent alone to cache it), "gen", "stream", "select" (one choice)
    sid: str  # the DSL stream executor (one per program state; each fork branch has its own)
    worker: str | None  # the router's routed-worker header; None when not behind smg
    prompt_tokens: int
    cached_tokens: int


def split_batch(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A batched /generate body as one body per item, or None when `data` is a single request."""
    if isinstance(data.get("text"), list):
        size = len(data["text"])
    elif (isinstance(data.get("input_ids"), list) and data["input_ids"]
          and isinstance(data["input_ids"][0], list)):
        size = len(data["input_ids"])
    else:
        return None
    items = []
    for i in range(size):
        item = dict(data)
        for key in _PER_ITEM_FIELDS:
            value = data.get(key)
            if (isinstance(value, list) and len(value) == size
                    and (key != "input_ids" or isinstance(value[i], list))):
                item[key] = value[i]
        items.append(item)
    return items


class RouterEndpoint(RuntimeEndpoint):
    """SGLang's RuntimeEndpoint for a router URL: list requests split, routes recorded.

    `max_parallel` bounds the concurrent calls one split batch (or several programs) may make;
    `timeout` is (connect, read) seconds per call, so a dead route ends in an error, never a hang;
    `routes` keeps the last `route_log_size` calls (see `Route`).
    """

    def __init__(self, base_url: str, api_key: str | None = None, verify: str | None = None,
                 chat_template_name: str | None = None, max_parallel: int = 8,
                 timeout: tuple[float, float] = (10.0, 600.0), route_log_size: int = 10_000) -> None:
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="router-endpoint")
        self.timeout = timeout
        self.routes: deque[Route] = deque(maxlen=route_log_size)
        self._fork_prefixes: OrderedDict[int, tuple[float, threading.Event]] = OrderedDict()  # sent when
        self._fork_lock = threading.Lock()
        super().__init__(base_url.rstrip("/"), api_key=api_key, verify=verify,
                         chat_template_name=chat_template_name)
        self.support_concate_and_append = False  # branch KV need not share a replica

    # -- transport -------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            if self.api_key is not None:
                session.headers["Authorization"] = f"Bearer {self.api_key}"
        return session

    def _post(self, data: dict[str, Any], s: Any, kind: str) -> dict[str, Any] | list[Any]:
        """POST /generate; a batched body goes out as parallel single calls and comes back as a list."""
        items = split_batch(data)
        if items is not None:
            return list(self._pool.map(lambda item: self._post(item, s, kind), items))
        res = self._session().post(self.base_url + "/generate", json=data, timeout=self.timeout,
                                   verify=self.verify if self.verify is not None else True)
        self._assert_success(res)
        obj = res.json()
        meta = obj.get("meta_info", {}) if isinstance(obj, dict) else {}
        worker = res.headers.get(ROUTED_WORKER_HEADER)
        meta["routed_worker"] = worker
        self.routes.append(Route(kind, getattr(s, "sid", ""), worker, int(meta.get("prompt_tokens", 0)),
                                 int(meta.get("cached_tokens", 0))))
        return obj

    def _commit_fork_prefix(self, s: Any) -> None:
        """Before a fork branch's first request: send the fork's prefix alone, once per fork prefix.

        The first branch to get here sends it; the others wait for that answer, so every branch
        reaches the router after the prefix is in its tree (and in the KV cache of its replica).
        """
        start = getattr(s, "fork_start_text_pos", None)
        if not start:
            return
        prefix = s.text_[:start]
        key = hash(prefix)
        now = time.monotonic()
        with self._fork_lock:
            sent_at, done = self._fork_prefixes.get(key, (0.0, None))
            # One fork's branches start together; a later fork of the same prefix sends it again.
            owner = done is None or (done.is_set() and now - sent_at > FORK_PREFIX_TTL_S)
            if owner:
                done = threading.Event()
                self._fork_prefixes[key] = (now, done)
                while len(self._fork_prefixes) > 4096:
                    self._fork_prefixes.popitem(last=False)
        if not owner:
            done.wait(self.timeout[1])
            return
        try:
            data = {"text": prefix, "sampling_params": {"max_new_tokens": 0}}
            self._add_images(s, data)
            self._post(data, s, "prefix")
        finally:
            done.set()

    # -- the calls RuntimeEndpoint makes, through `_post` ----------------------------------------

    def cache_prefix(self, prefix_str: str) -> None:
        self._post({"text": prefix_str, "sampling_params": {"max_new_tokens": 0}}, None, "prefix")

    def commit_lazy_operations(self, s: Any) -> None:
        data = {"text": s.text_, "sampling_params": {"max_new_tokens": 0}}
        self._add_images(s, data)
        self._post(data, s, "prefix")

    def fill_image(self, s: Any) -> None:
        self.commit_lazy_operations(s)

    def _generate_http_request(self, s: Any, data: dict[str, Any]) -> Any:  # used by select()
        self._add_images(s, data)
        single_prefix = not isinstance(data.get("text", ""), list) and "input_ids" not in data
        return self._post(data, s, "prefix" if single_prefix else "select")

    def _generate_body(self, s: Any, sampling_params: Any) -> dict[str, Any]:
        """The body `RuntimeEndpoint.generate` builds (SGLang 0.5.23)."""
        self._handle_dtype_to_regex(sampling_params)
        data: dict[str, Any] = {
            "text": s.text_,
            "sampling_params": {
                "skip_special_tokens": global_config.skip_special_tokens_in_output,
                "spaces_between_special_tokens": global_config.spaces_between_special_tokens_in_out,
                **sampling_params.to_srt_kwargs(),
            },
        }
        for item in ("return_logprob", "logprob_start_len", "top_logprobs_num", "return_text_in_logprobs"):
            value = getattr(sampling_params, item, None)
            if value is not None:
                data[item] = value
        self._add_images(s, data)
        return data

    def select(self, s: Any, choices: list[str], temperature: float, choices_method: Any) -> Any:
        self._commit_fork_prefix(s)
        return super().select(s, choices, temperature, choices_method)

    def generate(self, s: Any, sampling_params: Any) -> tuple[str, dict[str, Any]]:
        self._commit_fork_prefix(s)
        obj = self._post(self._generate_body(s, sampling_params), s, "gen")
        assert isinstance(obj, dict)
        return obj["text"], obj["meta_info"]

    def generate_stream(self, s: Any, sampling_params: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """Stream a generation; a stream the router cuts (replica died) raises RuntimeError."""
        self._commit_fork_prefix(s)
        data = self._generate_body(s, sampling_params)
        data["stream"] = True
        try:
            res = self._session().post(self.base_url + "/generate", json=data, stream=True,
                                       timeout=self.timeout)
        except requests.RequestException as err:
            raise RuntimeError(f"stream request failed: {err}") from err
        self._assert_success(res)
        worker = res.headers.get(ROUTED_WORKER_HEADER)
        pos, meta = 0, {}
        try:
            for chunk in sse_chunks(res.iter_lines()):
                if "error" in chunk:
                    raise RuntimeError(f"stream cut by the router: {chunk['error']}")
                meta = chunk["meta_info"]
                meta["routed_worker"] = worker
                text = chunk["text"][pos:]
                pos += len(text)
                yield text, meta
        except (requests.RequestException, StreamIncomplete) as err:
            raise RuntimeError(f"stream cut: {err}") from err
        finally:
            res.close()
        self.routes.append(Route("stream", s.sid, worker, int(meta.get("prompt_tokens", 0)),
                                 int(meta.get("cached_tokens", 0))))

    def concatenate_and_append(self, src_rids: list[str], dst_rid: str) -> None:
        raise NotImplementedError("KV concatenation across requests needs one server; behind a router "
                                  "the DSL joins branch texts instead")

    def shutdown(self) -> None:
        """Release the worker threads; the endpoint can no longer split batched requests afterwards."""
        self._pool.shutdown(wait=False)
