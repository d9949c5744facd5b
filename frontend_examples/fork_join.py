"""Parallel branches: `fork` one prompt into a branch per field, `join`, merge into one record.

Each branch fills one field of a Pydantic `Contact` under the regex its JSON schema gives that
field (outlines' date, e-mail and phone types), and a fourth picks a category with `select`; the
branches share the prompt's KV cache and run as one batch. The merged record is checked with
jsonschema against the model's schema, printed as JSON; the program exits 1 if it is invalid.

Run: `python frontend_examples/fork_join.py --url http://127.0.0.1:30000`
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Annotated, Literal

import jsonschema
import sglang as sgl
from outlines.fsm.types import python_types_to_regex
from outlines.types import Email, locale
from pydantic import BaseModel, Field

DATE_REGEX, _ = python_types_to_regex(datetime.date)


class Contact(BaseModel):
    date: Annotated[str, Field(pattern=DATE_REGEX)]
    email: Email
    phone: locale("us").PhoneNumber
    category: Literal["customer", "supplier", "partner"]


SCHEMA = Contact.model_json_schema()
# field -> label the demo corpus writes before such a value
LABELS = {"date": "Date", "email": "E-mail", "phone": "Phone"}


@sgl.function
def contact(s, note: str):
    s += f"Note: {note}\n"
    branches = s.fork(len(LABELS) + 1)
    for branch, (field, label) in zip(branches, LABELS.items()):
        # The space opens the value's first BPE token, so it is part of the regex (see regex_fields.py).
        pattern = " " + SCHEMA["properties"][field]["pattern"]
        branch += f"{label}:" + sgl.gen(field, max_tokens=32, temperature=0, regex=pattern)
    categories = list(SCHEMA["properties"]["category"]["enum"])
    branches[-1] += "Category: " + sgl.select("category", choices=categories)
    branches.join()
    s["record"] = {field: branch[field].strip() for branch, field in zip(branches, [*LABELS, "category"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    sgl.set_default_backend(sgl.RuntimeEndpoint(args.url))

    state = contact.run(note="Met the Lima team; follow up next week.")
    record = state["record"]
    print(json.dumps(record))
    try:
        jsonschema.validate(record, SCHEMA)
    except jsonschema.ValidationError as exc:
        print(f"INVALID: {exc.message}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
