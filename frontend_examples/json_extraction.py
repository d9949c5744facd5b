"""JSON extraction: a Pydantic model becomes the JSON schema that constrains `sgl.gen`.

The schema comes from the Pydantic model (plus outlines' `Email` type for the address pattern);
the server's grammar backend makes every output match it. The program checks each record with
jsonschema and with the model itself, prints them as JSON lines and exits 1 if one is invalid.

Run: `python frontend_examples/json_extraction.py --url http://127.0.0.1:30000`
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Literal

import jsonschema
import sglang as sgl
from outlines.types import Email
from pydantic import BaseModel, Field, ValidationError


class Person(BaseModel):
    name: str = Field(max_length=40)
    age: int = Field(ge=0, le=130)
    city: Literal["Seoul", "Paris", "Tokyo", "Berlin", "Lima", "Oslo", "Cairo", "Austin", "Busan", "Madrid"]
    email: Email


SCHEMA = Person.model_json_schema()

TEXTS = [
    "Alice is 34, lives in Seoul and reads alice@example.com.",
    "Bob (61) moved to Oslo; write to bob7@lpu.dev.",
    "Carol, a 25-year-old engineer from Lima, carol@mail.org.",
]


@sgl.function
def extract(s, text: str):
    s += f"{text}\nPerson: "
    s += sgl.gen("record", max_tokens=96, temperature=0, json_schema=json.dumps(SCHEMA))


def check(raw: str) -> str:
    """Empty when `raw` is a valid Person record, else the reason."""
    try:
        record = json.loads(raw)
        jsonschema.validate(record, SCHEMA)
        Person.model_validate(record)
    except (ValueError, jsonschema.ValidationError, ValidationError) as exc:
        return str(exc).splitlines()[0]
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    sgl.set_default_backend(sgl.RuntimeEndpoint(args.url))

    states = extract.run_batch([{"text": t} for t in TEXTS])
    failures = 0
    for state in states:
        raw = state["record"]
        error = check(raw)
        failures += bool(error)
        print(raw if not error else f"INVALID ({error}): {raw!r}")
    print(f"{len(states) - failures}/{len(states)} records valid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
