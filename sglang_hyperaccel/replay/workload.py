"""What a replay sends: request records read from a trace file or generated, in arrival order.

A `Workload` is a tuple of `ReplayRequest`s sorted by arrival with consecutive `seq` numbers (the
virtual-time protocol needs them, docs/chip-time.md). Traces carry token counts only, so prompt
token ids are made up deterministically (`prompt_ids`): prompts that share a prefix key share their
first `prefix_len` ids, which is what makes the radix cache matter in synthetic workloads.
Formats read: the Splitwise/Vidur CSV (`arrived_at` seconds, `num_prefill_tokens`,
`num_decode_tokens`) and the Azure LLM inference trace CSV (`TIMESTAMP`, `ContextTokens`,
`GeneratedTokens`).
"""

from __future__ import annotations

import csv
import logging
import math
import zlib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

_BLOCK = 256  # prompt ids are drawn in independently seeded blocks, so a prefix is stable at any length


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file and, where it applies, the line."""


@dataclass(frozen=True)
class ReplayRequest:
    """One request of a replay: when it arrives, how long its prompt and output are.

    `prefix_key`/`prefix_len`: the first `prefix_len` prompt tokens are the shared stream named by
    `prefix_key` (a system prompt, a conversation so far); the rest are the request's own.
    """

    seq: int
    arrival_ms: float
    input_len: int
    output_len: int
    prefix_key: str | None = None
    prefix_len: int = 0


@dataclass(frozen=True)
class Workload:
    """Requests in arrival order (seq 0..n-1) and where they came from."""

    name: str
    requests: tuple[ReplayRequest, ...]

    def __post_init__(self) -> None:
        arrivals = [r.arrival_ms for r in self.requests]
        if arrivals != sorted(arrivals) or [r.seq for r in self.requests] != list(range(len(arrivals))):
            raise ValueError("a workload's requests are sorted by arrival with seq 0..n-1")

    @property
    def span_ms(self) -> float:
        """Arrival of the last request after the first."""
        return self.requests[-1].arrival_ms - self.requests[0].arrival_ms if self.requests else 0.0

    def head(self, n: int | None) -> Workload:
        """The first `n` requests (all when n is None)."""
        return self if n is None else Workload(self.name, self.requests[:n])

    def scaled(self, rate_scale: float) -> Workload:
        """Arrivals compressed by `rate_scale` (2.0: twice the request rate)."""
        if rate_scale <= 0:
            raise ValueError(f"--rate-scale must be positive, got {rate_scale}")
        return Workload(self.name, tuple(replace(r, arrival_ms=r.arrival_ms / rate_scale)
                                         for r in self.requests))


def _ordered(name: str, rows: list[tuple[float, int, int]]) -> Workload:
    """Rows (arrival_ms, input, output) as a workload, sorting them (with a warning) when unsorted."""
    if any(b[0] < a[0] for a, b in zip(rows, rows[1:])):
        logger.warning("%s: arrivals are not sorted; replaying them sorted by arrival time", name)
        rows = sorted(rows, key=lambda row: row[0])
    start = rows[0][0] if rows else 0.0
    return Workload(name, tuple(ReplayRequest(i, t - start, n_in, n_out)
                                for i, (t, n_in, n_out) in enumerate(rows)))


# Columns of each trace format: arrival, prompt tokens, output tokens.
_FORMATS = {
    "splitwise": ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
}


def _azure_time_s(text: str) -> float:
    """Seconds since the epoch of an Azure trace timestamp ('2023-11-16 18:15:46.6805900')."""
    head, _, fraction = text.strip().partition(".")
    seconds = datetime.fromisoformat(head).timestamp()
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)


# Traces shipped with the package, by name (traces/README.md says where they come from).
BUNDLED_TRACES = {"azure-conv-2023": "azure_conv_2023.csv"}


def trace_path(name_or_path: str | Path) -> Path:
    """A bundled trace's file by name, else the path as given."""
    if str(name_or_path) in BUNDLED_TRACES:
        return Path(__file__).resolve().parent / "traces" / BUNDLED_TRACES[str(name_or_path)]
    return Path(name_or_path)


def read_trace(path: str | Path) -> Workload:
    """Read a Splitwise/Vidur or Azure trace CSV (or a bundled trace by name); TraceError names the
    file, line and column."""
    path = trace_path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open the trace ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or ()]
        kind = next((k for k, cols in _FORMATS.items() if set(cols) <= set(header)), None)
        if kind is None:
            wanted = " or ".join(",".join(cols) for cols in _FORMATS.values())
            raise TraceError(f"{path}: missing columns: the header is {','.join(header) or '(empty)'}; "
                             f"expected {wanted}")
        time_col, in_col, out_col = _FORMATS[kind]
        rows: list[tuple[float, int, int]] = []
        for row in reader:
            line = reader.line_num
            row = {(k or "").strip(): v for k, v in row.items()}
            values = []
            for col in (time_col, in_col, out_col):
                cell = (row.get(col) or "").strip()
                try:
                    value = _azure_time_s(cell) * 1e3 if col == "TIMESTAMP" else float(cell)
                except ValueError:
                    raise TraceError(f"{path} line {line}: column {col} is not a "
                                     f"{'timestamp' if col == 'TIMESTAMP' else 'number'}: {cell!r}") from None
                if not math.isfinite(value):
                    raise TraceError(f"{path} line {line}: column {col} is not finite: {cell!r}")
                values.append(value)
            arrival, n_in, n_out = values
            if n_in < 1 or n_out < 1 or n_in != int(n_in) or n_out != int(n_out):
                raise TraceError(f"{path} line {line}: token counts must be whole numbers >= 1, got "
                                 f"{in_col}={n_in:g}, {out_col}={n_out:g}")
            rows.append((arrival * (1e3 if kind == "splitwise" else 1.0), int(n_in), int(n_out)))
    if not rows:
        raise TraceError(f"{path}: the trace has no requests")
    return _ordered(path.name, rows)


@dataclass(frozen=True)
class SyntheticSpec:
    """A generated workload: arrivals at `qps` (Poisson, or gamma with coefficient of variation `cv`),
    lengths uniform in [range_ratio x len, len] as SGLang's bench_serving draws them, and optionally
    shared prefixes: `prefix_groups` system prompts of `prefix_len` tokens, or multi-turn sessions
    of `turns` turns (each turn's prompt is the session so far plus `input_len` new tokens)."""

    num_requests: int
    qps: float
    input_len: int = 1024
    output_len: int = 128
    range_ratio: float = 1.0
    arrival: str = "poisson"
    cv: float = 1.0
    prefix_groups: int = 0
    prefix_len: int = 0
    turns: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_requests < 1 or self.qps <= 0 or self.input_len < 1 or self.output_len < 1:
            raise ValueError("a synthetic workload needs --num-requests >= 1, --qps > 0 and lengths >= 1")
        if not 0 < self.range_ratio <= 1:
            raise ValueError(f"--range-ratio must be in (0, 1], got {self.range_ratio}")
        if self.arrival not in ("poisson", "gamma") or self.cv <= 0:
            raise ValueError("--arrival is poisson or gamma, with --cv > 0")
        if self.prefix_groups < 0 or self.prefix_len < 0 or self.turns < 1:
            raise ValueError("--prefix-groups, --prefix-len >= 0 and --turns >= 1")


def synthetic(spec: SyntheticSpec) -> Workload:
    """Generate `spec`'s workload (deterministic in `spec.seed`)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.num_requests
    if spec.arrival == "poisson":
        gaps = rng.exponential(1.0 / spec.qps, n)
    else:  # gamma with mean 1/qps and the given coefficient of variation (bench_serving's burstiness)
        shape = 1.0 / spec.cv**2
        gaps = rng.gamma(shape, 1.0 / (spec.qps * shape), n)
    gaps[0] = 0.0
    arrivals = np.cumsum(gaps) * 1e3

    def length(mean: int) -> np.ndarray:
        low = max(1, int(mean * spec.range_ratio))
        return rng.integers(low, mean + 1, n)

    inputs, outputs = length(spec.input_len), length(spec.output_len)
    requests = []
    context = 0
    for i in range(n):
        if spec.turns > 1:
            # Turn t of a session: the session's stream so far plus this turn's new tokens, so the
            # previous turn's whole prompt is this one's prefix (the model's replies are not replayed).
            session, turn = divmod(i, spec.turns)
            context = (0 if turn == 0 else context) + int(inputs[i])
            requests.append(ReplayRequest(i, float(arrivals[i]), context, int(outputs[i]),
                                          f"session{session}", context))
            continue
        key, prefix = None, 0
        if spec.prefix_groups:
            key, prefix = f"system{i % spec.prefix_groups}", spec.prefix_len
        requests.append(ReplayRequest(i, float(arrivals[i]), prefix + int(inputs[i]), int(outputs[i]),
                                      key, prefix))
    if spec.turns > 1:  # a session's turns keep their order; sessions interleave by start time
        requests = _sessions_in_time(requests, spec.turns)
    name = f"synthetic-{spec.arrival}-{spec.qps:g}qps"
    return Workload(name, tuple(requests))


def _sessions_in_time(requests: list[ReplayRequest], turns: int) -> list[ReplayRequest]:
    """Session s starts at its first turn's arrival; later turns follow a mean gap apart, then all are
    renumbered in arrival order."""
    gap = (requests[-1].arrival_ms / max(1, len(requests) - 1)) * turns if len(requests) > 1 else 1.0
    timed = []
    for r in requests:
        session, turn = divmod(r.seq, turns)
        start = requests[session * turns].arrival_ms
        timed.append(replace(r, arrival_ms=start + turn * gap))
    timed.sort(key=lambda r: (r.arrival_ms, r.seq))
    return [replace(r, seq=i) for i, r in enumerate(timed)]


def _stream(key: str, length: int, low: int, high: int, seed: int) -> list[int]:
    """The first `length` ids of the stream named `key` (blocks seeded by key and block index)."""
    ids: list[int] = []
    for block in range(math.ceil(length / _BLOCK)):
        rng = np.random.default_rng([seed, zlib.crc32(key.encode()), block])
        ids.extend(rng.integers(low, high, _BLOCK).tolist())
    return ids[:length]


def id_range(vocab_size: int) -> tuple[int, int]:
    """Ids prompts are drawn from: clear of the low control ids and of the special tokens most
    tokenizers place at the end of the vocabulary."""
    low = 1000 if vocab_size > 4000 else 3
    return low, max(low + 1, int(vocab_size * 0.8))


def prompt_ids(request: ReplayRequest, vocab_size: int, seed: int = 0) -> list[int]:
    """`request`'s prompt: its shared prefix stream, then ids of its own."""
    low, high = id_range(vocab_size)
    own = _stream(f"request{request.seq}", request.input_len - request.prefix_len, low, high, seed)
    if request.prefix_key is None:
        return own
    return _stream(request.prefix_key, request.prefix_len, low, high, seed) + own
