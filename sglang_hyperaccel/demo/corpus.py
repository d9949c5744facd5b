"""A deterministic synthetic training corpus for the demo models.

No model hub or dataset is reachable, and text that happens to be on a machine (the stdlib, man
pages) differs between machines, so the corpus is generated from a seeded RNG. It covers what the
demo models are asked to produce: prose, chat turns, JSON objects (so a model learns to close
strings and braces), dates, e-mail addresses, phone numbers, arithmetic and a small SQL subset.

Structured generation leans on it most: a grammar forces the keys of a JSON schema the model never
saw, and decoding only ends if the model then closes each string, array and object on its own. So
about a third of the documents are schema-like records (nested objects, arrays, enums, URLs, ids,
sentence-long descriptions, keys in the styles real schemas use), and single-field documents end
right after a date, e-mail address or phone number.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

_NOUNS = (
    "chip model token cache server request router memory prefix batch latency schedule "
    "kernel tensor device stream grammar schema record field value answer question city river "
    "mountain book library student teacher market engine signal network window garden ocean "
    "planet system user program function result error list name price order item account"
).split()
_VERBS = (
    "reads writes serves routes caches computes returns sends builds checks holds moves "
    "measures finds keeps starts stops opens closes shows takes gives makes"
).split()
_ADJS = (
    "fast small large quiet bright early late simple clear real green blue red new old "
    "short long warm cold busy free"
).split()
_NAMES = "alice bob carol dave erin frank grace heidi ivan judy mallory oscar peggy trent".split()
_DOMAINS = "example.com mail.org hyperaccel.ai lpu.dev sglang.io".split()
_CITIES = "Seoul Paris Tokyo Berlin Lima Oslo Cairo Austin Busan Madrid".split()
_LABELS = "positive negative neutral".split()
_TABLES = "users orders items accounts".split()
_COLUMNS = "id name price city age total".split()
# Keys and enum values in the styles of real-world JSON schemas (camelCase, snake_case, short).
_KEYS = (
    "id name type title description version status kind url email created_at updatedAt enabled "
    "count tags items labels metadata owner path value code message level source target priority "
    "category author license homepage region timeout retries apiVersion spec data config options "
    "properties format default required size width height color language timezone currency amount "
    "quantity active visible userId orderId displayName firstName lastName phoneNumber address "
    "street zip country start end duration unit notes comment result error"
).split()
_ENUMS = "active inactive pending done open closed low medium high info warning error draft".split()
_TLDS = "com org io dev net".split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_ADJS), rng.choice(_NOUNS), rng.choice(_VERBS), "the", rng.choice(_NOUNS)]
    if rng.random() < 0.5:
        words += ["in", rng.choice(_CITIES)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1990, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_NAMES)}{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"


def _short_string(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return _sentence(rng)
    if kind == 1:
        return f"https://{rng.choice(_NOUNS)}.{rng.choice(_TLDS)}/{rng.choice(_NOUNS)}/{rng.randint(1, 999)}"
    if kind == 2:
        return f"{rng.choice(_NOUNS)}-{rng.randint(1, 9999)}"
    if kind == 3:
        return f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    if kind == 4:
        return rng.choice(_ENUMS)
    if kind == 5:
        return f"{rng.choice(_NAMES).title()} {rng.choice(_NAMES).title()}"
    if kind == 6:
        return " ".join(rng.choice(_ADJS + _NOUNS) for _ in range(rng.randint(1, 3)))
    return rng.choice([_date(rng), _email(rng), _phone(rng), rng.choice(_CITIES)])


def _schema_value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind < 3:
        return _short_string(rng)
    if kind == 3:
        return rng.randint(0, 10 ** rng.randint(1, 5))
    if kind == 4:
        return round(rng.uniform(-100, 1000), rng.randint(1, 3))
    if kind == 5:
        return rng.choice([True, False, None])
    if kind == 6:
        return [_short_string(rng) for _ in range(rng.randint(0, 3))]
    if kind == 7:
        return [_schema_object(rng, depth + 1) for _ in range(rng.randint(1, 2))]
    return _schema_object(rng, depth + 1)


def _schema_object(rng: random.Random, depth: int = 0) -> dict[str, object]:
    keys = rng.sample(_KEYS, rng.randint(1, 5 if depth == 0 else 3))
    return {key: _schema_value(rng, depth) for key in keys}


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 2 else 5)
    if kind == 0:
        return rng.randint(-50, 500)
    if kind == 1:
        return round(rng.uniform(0, 100), 2)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4):
        return rng.choice([rng.choice(_NAMES), rng.choice(_CITIES), _date(rng), _email(rng),
                           rng.choice(_NOUNS)])
    if kind == 5:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return _json_object(rng, depth + 1)


def _json_object(rng: random.Random, depth: int = 0) -> dict[str, object]:
    keys = rng.sample(_NOUNS + _COLUMNS, rng.randint(1, 4))
    return {key: _json_value(rng, depth) for key in keys}


def _arith(rng: random.Random, depth: int = 0) -> str:
    if depth > 1 or rng.random() < 0.4:
        return str(rng.randint(0, 99))
    op = rng.choice("+-*/")
    expr = f"{_arith(rng, depth + 1)} {op} {_arith(rng, depth + 1)}"
    return f"({expr})" if rng.random() < 0.3 else expr


def _sql(rng: random.Random) -> str:
    cols = ", ".join(rng.sample(_COLUMNS, rng.randint(1, 3)))
    text = f"SELECT {cols} FROM {rng.choice(_TABLES)}"
    if rng.random() < 0.6:
        text += f" WHERE {rng.choice(_COLUMNS)} {rng.choice(['=', '<', '>'])} {rng.randint(1, 100)}"
    return text + ";"


def _field(rng: random.Random) -> str:
    label, value = rng.choice([("Date", _date), ("E-mail", _email), ("Phone", _phone)])
    return f"{label}: {value(rng)}"


def _document(rng: random.Random) -> str:
    kind = rng.randrange(11)
    if kind >= 8:
        if kind == 8:
            return _field(rng)
        return f"Extract the record as JSON.\n{json.dumps(_schema_object(rng))}"
    if kind == 0:
        return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))
    if kind == 1:
        record = _json_object(rng)
        return f"Extract the record as JSON.\n{json.dumps(record)}"
    if kind == 2:
        record = {"name": rng.choice(_NAMES).title(), "age": rng.randint(18, 90),
                  "city": rng.choice(_CITIES), "email": _email(rng)}
        return f"Person: {json.dumps(record)}"
    if kind == 3:
        return f"Date: {_date(rng)}. E-mail: {_email(rng)}. Phone: {_phone(rng)}."
    if kind == 4:
        return f"Compute {_arith(rng)} = {rng.randint(0, 999)}"
    if kind == 5:
        return f"Query: {_sql(rng)}"
    if kind == 6:
        return f"Review: {_sentence(rng)} Sentiment: {rng.choice(_LABELS)}"
    user, answer = _sentence(rng), _sentence(rng)
    return f"<|user|>\n{user}</s>\n<|assistant|>\n{answer}</s>"


def documents(count: int, seed: int = 0) -> Iterator[str]:
    """Yield `count` synthetic documents; the same seed always gives the same text."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _document(rng)
