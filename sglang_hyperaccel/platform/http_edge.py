"""The HTTP edge of the server: input errors are 400s, overload answers say when to come back.

Two ASGI middlewares on SGLang's FastAPI app, added in the HTTP server's process (the one that has
imported it) before it starts serving:

* `InputErrorsAre400`: SGLang's convention is that a `ValueError` raised while handling a request
  is the client's error (`/generate` and the OpenAI routes answer 400 with its message), but
  several routes let it escape as a bare 500 (`/v1/loads` with an unknown section,
  `/parse_function_call` without a parser, `/separate_reasoning` with an unknown one, `/api/chat`
  with no messages, `/vertex_generate` without instances: found by scripts/fuzz_api.py). Such an
  escaped `ValueError` (pydantic's `ValidationError` is one) becomes a 400 with its message, when
  the response has not started; so does a `TypeError` about an unexpected keyword argument, which is
  how a route that splats the client's keys into a request class (`/vertex_generate`) reports an
  unknown field. Every other exception stays a 500, which is what a server bug is.
* `RetryAfter`: SGLang answers a full queue (`--max-queued-requests`, which the platform defaults
  from `RequestLimits.max_queued`) with a 503 but no `Retry-After`; every 503 and 429 gets one, so
  clients and the router back off instead of retrying at once.
"""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

from sglang_hyperaccel.after_import import after_import
from sglang_hyperaccel.platform.request_limits import current_limits
from sglang_hyperaccel.platform.validation import check_token_ids

_HTTP_SERVER = "sglang.srt.entrypoints.http_server"
BACKOFF_STATUSES = frozenset({429, 503})
MAX_MESSAGE_CHARS = 2000
# A request dataclass built from client-supplied keywords (`/vertex_generate` passes its `parameters`
# to `GenerateReqInput(**...)`): a TypeError naming a keyword is the client's. Any other TypeError
# is a server bug and stays a 500.
_CLIENT_KEYWORD = re.compile(
    r"ReqInput(\.__init__)?\(\) got (an unexpected|multiple values for) keyword argument")


class InputErrorsAre400:
    """ASGI middleware: a `ValueError` escaping a request handler is a 400 naming the problem."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except (ValueError, TypeError) as exc:
            client_error = isinstance(exc, ValueError) or _CLIENT_KEYWORD.search(str(exc)) is not None
            if started or not client_error:  # a stream under way, or a server bug: leave it a 500
                raise
            body = json.dumps({"object": "error", "message": str(exc)[:MAX_MESSAGE_CHARS],
                               "type": "BadRequestError", "param": None, "code": 400}).encode()
            await send({"type": "http.response.start", "status": 400, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class RetryAfter:
    """ASGI middleware: `Retry-After: <seconds>` on 429 and 503 responses that lack one."""

    def __init__(self, app: Any, seconds: int) -> None:
        self.app = app
        self.header = (b"retry-after", str(seconds).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] in BACKOFF_STATUSES:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, with_header)


def install() -> None:
    """Add both middlewares to SGLang's app once its module is imported, which only the HTTP server's
    process does (before it starts serving); elsewhere nothing happens."""
    after_import(_HTTP_SERVER, _add_middlewares)


def _add_middlewares(module: ModuleType) -> None:
    app = getattr(module, "app", None)
    if app is None or any(m.cls is RetryAfter for m in app.user_middleware):
        return
    app.add_middleware(InputErrorsAre400)
    app.add_middleware(RetryAfter, seconds=current_limits().retry_after_s)


def detokenize_before(serving: Any, adapted_request: Any, request: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `OpenAIServingDetokenize._handle_non_streaming_request`: token ids outside the
    vocabulary reach the tokenizer's decode, whose int conversion overflows (a 500)."""
    vocab_size = serving.tokenizer_manager.model_config.vocab_size
    tokens = getattr(request, "tokens", None)
    rows = tokens if isinstance(tokens, list) and tokens and isinstance(tokens[0], list) else [tokens]
    for row in rows:
        check_token_ids("tokens", row, vocab_size)
    return None
