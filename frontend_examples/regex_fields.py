"""Regex-constrained fields: a date, an e-mail address and a phone number, each forced by a regex.

The regexes come from outlines (`datetime.date` through its Python-type table, its `Email` and US
phone-number types); the program checks every value with `re.fullmatch` against the same regex
(and parses the date), prints the fields as JSON and exits 1 if one does not match.

Run: `python frontend_examples/regex_fields.py --url http://127.0.0.1:30000`
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys

import sglang as sgl
from outlines.fsm.types import python_types_to_regex
from outlines.types.email import EMAIL_REGEX
from outlines.types.phone_numbers import US_PHONE_NUMBER

DATE_REGEX, parse_date = python_types_to_regex(datetime.date)
# label in the prompt -> regex of the value
FIELDS = {"Date": DATE_REGEX, "E-mail": EMAIL_REGEX, "Phone": US_PHONE_NUMBER}


@sgl.function
def fill(s, label: str, regex: str):
    # A byte-level BPE model writes "Date: 2015" as "Date:" + " 2015": the space belongs to the
    # value's first token, so the prompt ends at the colon and the regex starts with the space.
    s += f"{label}:" + sgl.gen("value", max_tokens=32, temperature=0, regex=" " + regex)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    sgl.set_default_backend(sgl.RuntimeEndpoint(args.url))

    states = fill.run_batch([{"label": label, "regex": regex} for label, regex in FIELDS.items()])
    values, failures = {}, 0
    for (label, regex), state in zip(FIELDS.items(), states):
        value = state["value"].removeprefix(" ")
        ok = re.fullmatch(regex, value) is not None
        if ok and label == "Date":
            try:
                parse_date(value)
            except ValueError:
                ok = False
        failures += not ok
        values[label] = value if ok else f"INVALID: {value!r}"
    print(json.dumps(values))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
