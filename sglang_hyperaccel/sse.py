"""Reading a streamed SGLang response (`"stream": true`): server-sent events, one JSON chunk per
`data:` line, ended by `data: [DONE]`. A server or router that fails mid-stream sends a chunk with
an `error` key before `[DONE]`; a connection cut without one ends the lines early.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator


class StreamIncomplete(RuntimeError):
    """The stream's lines ended without `data: [DONE]` (the connection was cut silently)."""


def sse_chunks(lines: Iterable[bytes]) -> Iterator[dict]:
    """The JSON chunks of a stream's lines (`response.iter_lines()`), up to `data: [DONE]`;
    error chunks are yielded like any other. Raises `StreamIncomplete` if `[DONE]` never comes."""
    for line in lines:
        if not line.startswith(b"data:"):
            continue
        if line.strip() == b"data: [DONE]":
            return
        yield json.loads(line[5:])
    raise StreamIncomplete("the stream ended without data: [DONE]")
