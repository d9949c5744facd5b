"""Grammar backends side by side on JSONSchemaBench schemas: coverage, validity and masking cost.

For each backend (xgrammar, outlines, llguidance) servers are started in turn with
`--grammar-backend NAME` (or one running server is used with `--url`), and every schema is sent as
a `json_schema` constraint with greedy decoding. Reported per backend:

- compiled: the server accepted the schema (otherwise a 4xx with a reason, or a compile timeout);
- finished: the output ended (EOS) within `--max-new-tokens`;
- validated: finished outputs that parse and validate (jsonschema, Draft 2020-12); anything less
  than all of them is an engine bug, listed at the end;
- decode ms/token with and without the constraint: the same prompt and the same number of new
  tokens at batch 1, the constrained run with its grammar already compiled (one untimed warm-up),
  the unconstrained one with `ignore_eos`; server-side `meta_info.e2e_latency` / completion tokens,
  in alternating pairs. The masking cost is the median over pairs of constrained / free - 1
  (medians: other processes on a shared host add noise to single runs). When servers are started
  here, timing runs on a fresh server, so no grammar still compiling in the background slows it.

outlines compiles a schema in Python (schema -> regex -> interegular FSM) on a thread of the
scheduler process, and cannot be stopped: a schema that takes minutes stalls every decode on that
server while it holds the GIL, and SGLang's compile timeout only aborts the request. So for outlines
each schema is first compiled here with the same SGLang code under `--outlines-compile-budget`;
one that runs over is counted as a compile timeout and never sent.

Run: `python benchmarks/eval_grammar_backends.py [--quick] [--backends xgrammar,llguidance]`.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

# Runnable from a checkout without installing the package.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BACKENDS = ("xgrammar", "outlines", "llguidance")
PROMPT = "Extract the record as JSON.\n"  # the demo corpus's JSON-record document opening
SERVER_ARGS = ("--dtype", "float32")
DATA_NAME = "jsonschemabench-dev"  # beside the clone: <repo>/../shared/data/


@dataclass(frozen=True)
class Case:
    """One schema of the benchmark: `<subset>---<id>.json`."""

    name: str
    subset: str
    schema: dict


@dataclass
class Outcome:
    """What one backend did with one schema."""

    case: Case
    compiled: bool = False
    finished: bool = False
    valid: bool = False
    tokens: int = 0
    error: str = ""  # the server's reason for a rejection, or the validation error
    text: str = ""


@dataclass(frozen=True)
class Timing:
    """Server-side ms per token of the same tokens with and without the constraint."""

    constrained_ms: float
    free_ms: float


@dataclass
class Report:
    """Everything measured for one backend."""

    backend: str
    outcomes: list[Outcome] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)

    def count(self, attr: str) -> int:
        return sum(getattr(o, attr) for o in self.outcomes)

    def timed_out(self) -> int:
        """Schemas not compiled because compiling took too long (screened or server-side timeout)."""
        return sum(not o.compiled and ("timed out" in o.error or "timeout" in o.error
                                       or "no answer" in o.error) for o in self.outcomes)

    def ms_per_token(self, constrained: bool) -> float:
        values = [t.constrained_ms if constrained else t.free_ms for t in self.timings]
        return statistics.median(values) if values else float("nan")

    def masking_cost(self) -> float:
        ratios = [t.constrained_ms / t.free_ms - 1 for t in self.timings]
        return statistics.median(ratios) if ratios else float("nan")


def load_cases(data_dir: Path, limit: int) -> list[Case]:
    """The first `limit` schemas, taken round-robin over the subsets so a sample covers them all."""
    names = json.loads((data_dir / "MANIFEST.json").read_text())
    by_subset: dict[str, list[str]] = {}
    for name in names:
        by_subset.setdefault(name.split("---")[0], []).append(name)
    order = [n for group in zip(*by_subset.values()) for n in group]
    order += [n for n in names if n not in order]
    cases = []
    for name in order[:limit]:
        doc = json.loads((data_dir / name).read_text())
        cases.append(Case(name.removesuffix(".json"), name.split("---")[0], doc["schema"]))
    return cases


class _Budget(Exception):
    """A screened compile ran over its budget."""


def screen_outlines(cases: list[Case], tokenizer_path: str, budget: float) -> dict[str, str]:
    """Compile each schema as SGLang's outlines backend does; {name: reason} for those over budget."""
    from outlines.fsm.guide import RegexGuide
    from outlines.models.transformers import TransformerTokenizer
    from sglang.srt.constrained.outlines_backend import build_regex_from_object
    from transformers import AutoTokenizer

    tokenizer = TransformerTokenizer(AutoTokenizer.from_pretrained(tokenizer_path))

    def over_budget(*_: object) -> None:
        raise _Budget

    previous = signal.signal(signal.SIGALRM, over_budget)  # interegular is Python: interruptible
    slow: dict[str, str] = {}
    try:
        for case in cases:
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, budget)
            try:
                RegexGuide.from_regex(build_regex_from_object(json.dumps(case.schema)), tokenizer)
            except _Budget:
                slow[case.name] = f"compile timeout: outlines needs > {budget:.0f} s (screened, not sent)"
            except Exception:  # noqa: BLE001 - the server reports its own reason for these
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            print(f"  [outlines screen] {case.name}: {time.perf_counter() - start:.2f} s", file=sys.stderr)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return slow


def generate(url: str, params: dict, timeout: float) -> tuple[int, dict]:
    try:
        resp = requests.post(f"{url}/generate", json={"text": PROMPT, "sampling_params": params},
                             timeout=timeout)
    except requests.Timeout:
        return 0, {"error": {"message": f"no answer within {timeout:.0f} s"}}
    try:
        body = resp.json()
    except ValueError:
        body = {"error": {"message": resp.text[:300]}}
    return resp.status_code, body


def validate(schema: dict, text: str) -> str:
    """Empty when `text` is JSON that validates against `schema` (Draft 2020-12), else why not."""
    import jsonschema

    try:
        instance = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    try:
        errors = jsonschema.Draft202012Validator(schema).iter_errors(instance)
        error = jsonschema.exceptions.best_match(errors)
    except Exception as exc:  # a schema the validator cannot use is not the engine's fault
        return f"validator error: {type(exc).__name__}: {exc}"
    return "" if error is None else f"invalid: {error.message[:200]}"


def run_case(url: str, case: Case, args: argparse.Namespace) -> Outcome:
    out = Outcome(case)
    params = {"temperature": 0, "max_new_tokens": args.max_new_tokens, "json_schema": json.dumps(case.schema)}
    status, body = generate(url, params, args.request_timeout)
    if status != 200:
        out.error = f"HTTP {status}: {body.get('error', {}).get('message', body)}"[:300]
        return out
    meta = body["meta_info"]
    out.compiled, out.text, out.tokens = True, body["text"], meta["completion_tokens"]
    out.finished = meta["finish_reason"]["type"] == "stop"
    if out.finished:
        out.error = validate(case.schema, out.text)
        out.valid = not out.error
    return out


def coverage(url: str, report: Report, cases: list[Case], args: argparse.Namespace,
             skip: dict[str, str]) -> None:
    """Every schema once (those in `skip` recorded with their reason), `--concurrency` in flight."""
    with ThreadPoolExecutor(args.concurrency) as pool:
        futures = [pool.submit(Outcome, case, error=skip[case.name]) if case.name in skip
                   else pool.submit(run_case, url, case, args) for case in cases]
        for i, fut in enumerate(futures, 1):
            out = fut.result()
            report.outcomes.append(out)
            mark = "ok" if out.valid else ("len" if out.compiled and not out.finished else "x")
            print(f"  [{report.backend} {i}/{len(cases)}] {out.case.name}: {mark} {out.tokens} tok "
                  f"{out.error[:90]}", file=sys.stderr, flush=True)


def time_case(url: str, outcome: Outcome, args: argparse.Namespace) -> Timing | None:
    """Same prompt, same number of new tokens, batch 1: constrained (grammar cached) vs free."""
    base = {"temperature": 0, "max_new_tokens": min(outcome.tokens, args.timing_tokens)}
    schema = json.dumps(outcome.case.schema)
    status, con = generate(url, {**base, "json_schema": schema}, args.request_timeout)
    status2, free = generate(url, {**base, "ignore_eos": True}, args.request_timeout)
    if status != 200 or status2 != 200:
        return None
    con_meta, free_meta = con["meta_info"], free["meta_info"]
    tokens = con_meta["completion_tokens"]
    if tokens != free_meta["completion_tokens"] or tokens < 8:
        return None
    return Timing(1000 * con_meta["e2e_latency"] / tokens, 1000 * free_meta["e2e_latency"] / tokens)


def timing(url: str, report: Report, args: argparse.Namespace) -> None:
    """Alternating constrained / free pairs at batch 1 on schemas whose output validated."""
    timed = [o for o in report.outcomes if o.valid and o.tokens >= 32][: args.timing_schemas]
    generate(url, {"max_new_tokens": 8}, args.request_timeout)
    for out in timed:  # compile (or fetch) every grammar before any timed run
        generate(url, {"max_new_tokens": 1, "json_schema": json.dumps(out.case.schema)}, args.request_timeout)
    for _ in range(args.timing_repeats):
        for out in timed:
            result = time_case(url, out, args)
            if result is not None:
                report.timings.append(result)


@contextmanager
def backend_server(backend: str, args: argparse.Namespace) -> Iterator[str]:
    from sglang_hyperaccel.launcher import ServerProcess, ServerStartError

    server_args = (*SERVER_ARGS, "--grammar-backend", backend, *args.server_arg)
    env = {"SGLANG_GRAMMAR_MAX_POLL_ITERATIONS": str(args.compile_polls)}
    for attempt in (1, 2):  # a busy host sometimes gives a new server a port still in use (EADDRINUSE)
        print(f"starting a server with --grammar-backend {backend} ...", file=sys.stderr, flush=True)
        srv = ServerProcess(args.model_path, args=server_args, env=env)
        try:
            srv.start().wait_healthy()
            break
        except ServerStartError as exc:
            srv.stop()
            if attempt == 2:
                raise
            print(f"  start failed, retrying once: {str(exc).splitlines()[-1]}", file=sys.stderr)
    try:
        yield srv.url
    finally:
        srv.stop()


def print_table(reports: list[Report], max_new_tokens: int, file=sys.stdout) -> None:
    print(f"| backend | schemas | compiled (timed out) | finished (<= {max_new_tokens} tok) "
          "| validated / finished | finished / compiled | ms/tok constrained | ms/tok free "
          "| masking cost |", file=file)
    print("|---|---|---|---|---|---|---|---|---|", file=file)
    for r in reports:
        n, comp, fin, val = len(r.outcomes), r.count("compiled"), r.count("finished"), r.count("valid")
        con, free = r.ms_per_token(True), r.ms_per_token(False)
        print(f"| {r.backend} | {n} | {comp} ({r.timed_out()}) | {fin} | {val} / {fin} "
              f"| {fin / max(comp, 1):.0%} "
              f"| {con:.2f} | {free:.2f} | {r.masking_cost():+.1%} ({len(r.timings)} pairs) |", file=file)


def print_subsets(reports: list[Report]) -> None:
    subsets = sorted({o.case.subset for r in reports for o in r.outcomes})
    print("\nValidated / schemas, per subset:\n")
    print("| subset | " + " | ".join(r.backend for r in reports) + " |")
    print("|---|" + "---|" * len(reports))
    for subset in subsets:
        cells = []
        for r in reports:
            rows = [o for o in r.outcomes if o.case.subset == subset]
            cells.append(f"{sum(o.valid for o in rows)} / {len(rows)}")
        print(f"| {subset} | " + " | ".join(cells) + " |")


def print_failures(reports: list[Report]) -> None:
    for r in reports:
        bad = [o for o in r.outcomes if o.finished and not o.valid]
        rejected: dict[str, int] = {}
        for o in r.outcomes:
            if not o.compiled:
                key = o.error.split(": ", 2)[-1][:80]
                rejected[key] = rejected.get(key, 0) + 1
        print(f"\n{r.backend}: {len(bad)} finished but invalid (engine bugs); rejections by reason:")
        for o in bad:
            print(f"  INVALID {o.case.name}: {o.error} :: {o.text[:160]!r}")
        for reason, count in sorted(rejected.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  {count:3d} x {reason}")


def load_outcomes(path: Path, cases: list[Case]) -> dict[str, list[Outcome]]:
    """Coverage outcomes per backend from an earlier `--json-out` (to re-run only the timing)."""
    data = json.loads(path.read_text())
    by_name = {case.name: case for case in cases}
    outcomes: dict[str, list[Outcome]] = {}
    for row in data["outcomes"] if isinstance(data, dict) else data:
        if row["schema"] in by_name:
            outcomes.setdefault(row["backend"], []).append(Outcome(
                by_name[row["schema"]], row["compiled"], row["finished"], row["valid"], row["tokens"],
                row["error"], row["text"]))
    return outcomes


def write_json(reports: list[Report], path: Path) -> None:
    rows = [{"backend": r.backend, "schema": o.case.name, "compiled": o.compiled, "finished": o.finished,
             "valid": o.valid, "tokens": o.tokens, "error": o.error, "text": o.text}
            for r in reports for o in r.outcomes]
    timings = {r.backend: [[t.constrained_ms, t.free_ms] for t in r.timings] for r in reports}
    path.write_text(json.dumps({"outcomes": rows, "timings_ms_per_token": timings}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this running server (its own grammar backend) instead of starting")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, in order")
    parser.add_argument("--num-schemas", type=int, default=150)
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / DATA_NAME,
                        help="JSONSchemaBench sample (MANIFEST.json + one file per schema)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight in the coverage pass")
    parser.add_argument("--timing-schemas", type=int, default=20, help="schemas timed at batch 1")
    parser.add_argument("--timing-tokens", type=int, default=128, help="most new tokens per timed run")
    parser.add_argument("--timing-repeats", type=int, default=3, help="timed pairs per schema")
    parser.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--compile-polls", type=int, default=2000,
                        help="SGLANG_GRAMMAR_MAX_POLL_ITERATIONS for started servers: a grammar still "
                             "compiling after this many scheduler polls (>= 5 ms each) is answered 400")
    parser.add_argument("--outlines-compile-budget", type=float, default=15.0,
                        help="seconds one outlines schema may take to compile before it counts as timed out")
    parser.add_argument("--model-path", type=Path, help="model to serve (default: the demo model)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra server argument, repeatable; write --server-arg=--flag")
    parser.add_argument("--quick", action="store_true", help="20 schemas, 256 new tokens, 8 timed")
    parser.add_argument("--json-out", type=Path, help="also write every outcome here")
    parser.add_argument("--reuse", type=Path, help="take coverage outcomes from this --json-out; time only")
    args = parser.parse_args()
    if args.quick:
        args.num_schemas, args.max_new_tokens, args.timing_schemas = 20, 256, 8

    cases = load_cases(args.data_dir, args.num_schemas)
    reports: list[Report] = []
    if args.url:
        url = args.url.rstrip("/")
        info = requests.get(f"{url}/server_info", timeout=30).json()
        backend = info.get("grammar_backend", "?")
        skip = screen_outlines(cases, info["tokenizer_path"], args.outlines_compile_budget) \
            if backend == "outlines" else {}
        reports.append(Report(backend))
        coverage(url, reports[-1], cases, args, skip)
        timing(url, reports[-1], args)
    else:
        from sglang_hyperaccel.demo import ensure_demo_model

        args.model_path = args.model_path or ensure_demo_model()
        previous = load_outcomes(args.reuse, cases) if args.reuse else {}
        for backend in args.backends.split(","):
            reports.append(Report(backend, previous.get(backend, [])))
            if not reports[-1].outcomes:
                skip = screen_outlines(cases, str(args.model_path), args.outlines_compile_budget) \
                    if backend == "outlines" else {}
                with backend_server(backend, args) as url:
                    coverage(url, reports[-1], cases, args, skip)
            with backend_server(backend, args) as url:
                timing(url, reports[-1], args)
            print_table(reports[-1:], args.max_new_tokens, file=sys.stderr)  # partial results survive
            if args.json_out:
                write_json(reports, args.json_out)

    print(f"\nJSONSchemaBench dev sample, {len(cases)} schemas, greedy, prompt {PROMPT!r}\n")
    print_table(reports, args.max_new_tokens)
    print_subsets(reports)
    print_failures(reports)
    if args.json_out:
        write_json(reports, args.json_out)
    return 0 if all(o.valid for r in reports for o in r.outcomes if o.finished) else 1


if __name__ == "__main__":
    raise SystemExit(main())
