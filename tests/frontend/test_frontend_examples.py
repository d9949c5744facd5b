"""Every program in frontend_examples/ against the shared server: exit code 0 and a sane result."""

from __future__ import annotations

import json
import re

import pytest

# Each check receives the program's stdout lines and raises AssertionError when they are wrong.


def _json_records(lines: list[str]) -> None:
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == 3 and lines[-1] == "3/3 records valid"
    assert all({"name", "age", "city", "email"} == set(r) for r in records)


def _regex_fields(lines: list[str]) -> None:
    fields = json.loads(lines[-1])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fields["Date"])
    assert "@" in fields["E-mail"]
    assert re.fullmatch(r"(\(\d{3}\) |\d{3}-)\d{3}-\d{4}", fields["Phone"])


def _sql(lines: list[str]) -> None:
    assert len(lines) == 3 and all(re.match(r"SELECT .+ FROM \w+", line) for line in lines)


def _classify(lines: list[str]) -> None:
    labels = [json.loads(line)["label"] for line in lines]
    assert len(labels) == 3 and set(labels) <= {"positive", "negative", "neutral"}


def _fork_join(lines: list[str]) -> None:
    record = json.loads(lines[-1])
    assert set(record) == {"date", "email", "phone", "category"}


def _chat(lines: list[str]) -> None:
    turns = [line.split(": ", 1) for line in lines]
    assert [role for role, _ in turns] == ["system", "user", "assistant", "user", "assistant"]
    call = json.loads(turns[2][1])
    assert call["name"] in {"get_weather", "get_time"} and call["arguments"]["city"]
    assert isinstance(json.loads(turns[4][1])["answer"], str)


EXAMPLES = {
    "json_extraction": _json_records,
    "regex_fields": _regex_fields,
    "sql_grammar": _sql,
    "classify": _classify,
    "fork_join": _fork_join,
    "chat_tool_call": _chat,
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_passes_its_own_validation(server, program, name):
    """`python frontend_examples/NAME.py --url URL` exits 0 and prints a result of the right shape."""
    out = program(f"frontend_examples/{name}.py", "--url", server.url)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr[-3000:]}"
    EXAMPLES[name](out.stdout.strip().splitlines())
    assert server.healthy()
