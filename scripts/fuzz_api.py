"""Fuzz a hyperaccel server's HTTP API: schemathesis over its own OpenAPI schema, hypothesis over the
request fields that reach tensor code. The property, per request: a 2xx or a 4xx, never a 5xx,
never a hang; and after the run `/health` and a normal request still succeed.

    python scripts/fuzz_api.py [--url http://127.0.0.1:30000] [--examples 200] [--seed N]

A run is random unless `--seed` is given; the seed is printed, so any run can be repeated exactly.

Without `--url` it starts a server on the demo model (127.0.0.1, a free port) and stops it after.
The test suite runs the same harness with few examples (tests/platform/test_api_fuzz.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
from dataclasses import dataclass, field

import requests

# The routes a user of the serving API reaches (inference, tokenizer, model and health information).
# Administrative routes (weights, memory, profiling, cache flushes, LoRA loading, aborts, pausing)
# change the server on purpose and are left out.
USER_ROUTES = (
    "/generate", "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/tokenize",
    "/v1/detokenize", "/v1/models", "/v1/models/{model}", "/v1/messages", "/v1/messages/count_tokens",
    "/v1/responses", "/api/generate", "/api/chat", "/api/show", "/api/tags", "/health", "/model_info",
    "/get_model_info", "/server_info", "/ping", "/ready", "/v1/loads", "/separate_reasoning",
    "/parse_function_call", "/encode", "/classify", "/v1/score", "/v1/rerank", "/invocations",
    "/vertex_generate", "/open_session", "/close_session",
)
HEAVY_ROUTES = ("/generate", "/v1/completions", "/v1/chat/completions")
TIMEOUT_S = 60.0


@dataclass
class FuzzReport:
    """What a run sent and what came back."""

    cases: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)  # one line per 5xx, hang or dead server

    def record(self, label: str, status: int | None, request: object, body: str) -> None:
        self.cases += 1
        self.statuses[status if status is not None else "no answer"] += 1
        if status is None or status >= 500:
            sent = json.dumps(request, default=str)[:300]
            self.failures.append(f"{label} -> {status}: {body[:200]!r} for {sent}")

    def summary(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items(), key=str))
        return f"{self.cases} generated requests ({codes}); {len(self.failures)} failures"


def healthy(url: str) -> bool:
    """`/health` answers 200 and a normal request generates."""
    try:
        if requests.get(f"{url}/health", timeout=30).status_code != 200:
            return False
        out = requests.post(f"{url}/generate", json={"input_ids": [1, 2, 3], "sampling_params": {
            "max_new_tokens": 2}}, timeout=30)
        return out.status_code == 200
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class ModelLimits:
    """The served model's bounds the field fuzzer aims at."""

    vocab_size: int
    context_length: int


def model_limits(url: str) -> ModelLimits:
    """The vocabulary size and context length the server at `url` reports."""
    info = requests.get(f"{url}/model_info", timeout=30).json()
    server = requests.get(f"{url}/server_info", timeout=30).json()
    return ModelLimits(int(server.get("vocab_size") or info.get("vocab_size") or 32000),
                       int(server.get("context_length") or 4096))


def fuzz_schema(url: str, examples: int, seed: int, report: FuzzReport,
                routes: tuple[str, ...] = USER_ROUTES) -> None:
    """schemathesis: `examples` generated cases per operation of `routes` in `/openapi.json`
    (the same `seed` against the same server generates the same cases)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    session = requests.Session()
    for result in schema.include(path=list(routes)).get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=operation.as_strategy())
        def run(case) -> None:
            if operation.path in HEAVY_ROUTES and isinstance(case.body, dict):
                _keep_short(case.body)
            try:
                response = case.call(base_url=url, session=session, timeout=TIMEOUT_S)
                sent = {"query": case.query, "body": case.body}
                report.record(label, response.status_code, sent, response.text)
            except requests.RequestException as exc:
                report.record(label, None, {"query": case.query, "body": case.body}, repr(exc))

        run()
        if report.failures and not healthy(url):
            report.failures.append(f"server not healthy after {label}")
            return


def _keep_short(body: dict) -> None:
    """Cap generation length so the fuzzer spends its time on inputs, not on decoding: a generated
    `max_new_tokens`/`max_tokens` above 16 becomes 16 (values below, zero and negatives stay)."""
    params = body.get("sampling_params")
    for holder in (body, params if isinstance(params, dict) else {}):
        for key in ("max_new_tokens", "max_tokens", "max_completion_tokens"):
            value = holder.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 16:
                holder[key] = 16


def fuzz_fields(url: str, examples: int, seed: int, report: FuzzReport, limits: ModelLimits) -> None:
    """hypothesis: /generate with sampling, logprob, grammar and input_ids fields at and beyond their
    limits (the vocabulary, the context length, zero, negative, huge, wrong types)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    def edges(limit: int) -> st.SearchStrategy:
        return st.sampled_from([-(2**63), -(2**31), -2, -1, 0, 1, 2, limit - 1, limit, limit + 1,
                                2**31 - 1, 2**31, 2**63 - 1, 2**64]) | st.integers()

    reals = st.sampled_from([-1e39, -2.0, -0.0, 0.0, 1e-9, 0.5, 1.0, 2.0, 1e39]) | st.floats(
        allow_nan=True, allow_infinity=True)
    junk = st.none() | st.text(max_size=8) | st.lists(st.integers(), max_size=3) | st.booleans()
    token = edges(limits.vocab_size)
    sampling = st.fixed_dictionaries({}, optional={
        "max_new_tokens": edges(limits.context_length) | junk,
        "min_new_tokens": edges(limits.context_length),
        "n": edges(64) | junk,
        "temperature": reals | junk,
        "top_p": reals, "top_k": edges(limits.vocab_size), "min_p": reals,
        "frequency_penalty": reals, "presence_penalty": reals, "repetition_penalty": reals,
        "stop_token_ids": st.lists(token, max_size=4) | junk,
        "stop": st.text(max_size=40) | st.lists(st.text(max_size=10), max_size=40) | junk,
        "stop_regex": st.sampled_from(["(", "[a-", "a*", "(a+)+$", "\\"]) | junk,
        "logit_bias": st.dictionaries(st.sampled_from(["0", "5", str(limits.vocab_size), "-1", "x"]), reals,
                                      max_size=2) | junk,
        "json_schema": st.sampled_from(['{"type": "object"}', "{", '{"type": 5}', "[]", '"x"']) | junk,
        "regex": st.sampled_from(["a+", "(", "[", "\\d{0,3}", ""]) | junk,
        "ebnf": st.sampled_from(['root ::= "a"', "root ::=", "x"]) | junk,
        "ignore_eos": st.booleans(), "skip_special_tokens": st.booleans() | junk,
    })
    prompt = (st.lists(token, min_size=0, max_size=6)
              | st.lists(st.lists(token, min_size=0, max_size=3), min_size=1, max_size=3)
              | st.lists(st.integers(0, limits.vocab_size - 1), min_size=limits.context_length - 2,
                         max_size=limits.context_length + 2))
    body = st.fixed_dictionaries({"input_ids": prompt, "sampling_params": sampling}, optional={
        "return_logprob": st.booleans() | junk,
        "top_logprobs_num": edges(limits.vocab_size) | junk,
        "logprob_start_len": edges(limits.context_length),
        "token_ids_logprob": st.lists(token, max_size=5) | junk,
        "stream": st.booleans(),
    })
    session = requests.Session()

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(request=body)
    def run(request: dict) -> None:
        _keep_short(request)
        # Python's JSON (not `requests`' strict one): NaN, Infinity and integers beyond 64 bits go out
        # as such, as a careless client would send them; the server's parser accepts them.
        body = json.dumps(request)
        try:
            response = session.post(f"{url}/generate", data=body, timeout=TIMEOUT_S,
                                    headers={"Content-Type": "application/json"})
            report.record("POST /generate (fields)", response.status_code, request, response.text)
        except requests.RequestException as exc:
            report.record("POST /generate (fields)", None, request, repr(exc))

    run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one on the demo model)")
    parser.add_argument("--examples", type=int, default=200, help="generated cases per operation")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: a random seed)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**32)
    print(f"seed {args.seed} (repeat with --seed {args.seed})", flush=True)
    if args.url:
        return _run(args.url.rstrip("/"), args.examples, args.seed)
    from sglang_hyperaccel.demo import ensure_demo_model
    from sglang_hyperaccel.launcher import ServerProcess

    with ServerProcess(ensure_demo_model(), args=("--dtype", "float32")) as server:
        return _run(server.url, args.examples, args.seed)


def _run(url: str, examples: int, seed: int) -> int:
    start = time.monotonic()
    report = FuzzReport()
    fuzz_schema(url, examples, seed, report)
    print(f"schema: {report.summary()} ({time.monotonic() - start:.0f} s)", flush=True)
    fields = FuzzReport()
    fuzz_fields(url, examples, seed, fields, model_limits(url))
    print(f"fields: {fields.summary()}", flush=True)
    ok = healthy(url)
    print(f"after the run: /health and a normal request {'succeed' if ok else 'FAIL'}")
    for line in report.failures + fields.failures:
        print("  " + line)
    return 0 if ok and not report.failures and not fields.failures else 1


if __name__ == "__main__":
    sys.exit(main())
