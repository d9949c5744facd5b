"""Malformed or unservable constraints get a 4xx with the reason, and the server keeps serving."""

from __future__ import annotations

import json

import pytest
import requests

VALID = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

# (case id, sampling params, words the reason must contain)
NATIVE = [
    ("malformed-json-schema", {"json_schema": '{"type": "object", '}, ["json", "Expecting"]),
    ("schema-not-an-object", {"json_schema": "[1, 2]"}, ["json", "object"]),
    ("unknown-type", {"json_schema": '{"type": "foo"}'}, ["json", "Unsupported type"]),
    ("dangling-ref", {"json_schema": json.dumps({"properties": {"a": {"$ref": "#/nope"}}})}, ["nope"]),
    ("unsupported-keyword", {"json_schema": '{"type": "integer", "multipleOf": 3}'},
     ["not supported", "multipleOf"]),
    ("unsupported-format", {"json_schema": '{"type": "string", "format": "credit-card"}'},
     ["not implemented", "credit-card"]),
    ("unclosed-regex-group", {"regex": "(ab"}, ["regex", "parenthesis"]),
    ("reversed-regex-range", {"regex": "[z-a]"}, ["regex", "lower bound"]),
    ("undefined-ebnf-rule", {"ebnf": 'root ::= "a" rest'}, ["ebnf", "rest"]),
    ("truncated-ebnf", {"ebnf": 'root ::= "a" |'}, ["ebnf", "parser error"]),
    ("two-constraints", {"json_schema": json.dumps(VALID), "regex": "a+"}, ["Only one of"]),
]


def _still_serves(url: str) -> None:
    """A constrained request right after the bad one succeeds and validates."""
    resp = requests.post(f"{url}/generate", timeout=120, json={
        "text": "Person: ", "sampling_params": {"max_new_tokens": 48, "temperature": 0,
                                                "json_schema": json.dumps(VALID)}})
    assert resp.status_code == 200, resp.text
    assert isinstance(json.loads(resp.json()["text"])["name"], str)


@pytest.mark.parametrize("params,words", [c[1:] for c in NATIVE], ids=[c[0] for c in NATIVE])
def test_generate_rejects_with_reason(server, params, words):
    """/generate answers 400 with the compiler's reason in error.message; the server still serves."""
    resp = requests.post(f"{server.url}/generate", timeout=120,
                         json={"text": "Person: ", "sampling_params": {"max_new_tokens": 8, **params}})
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]["message"]
    assert all(w.lower() in message.lower() for w in words), message
    _still_serves(server.url)


def test_openai_chat_rejects_unsupported_schema(server):
    """The OpenAI chat route answers 400 BadRequestError naming the unsupported keyword."""
    schema = {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}
    resp = requests.post(f"{server.url}/v1/chat/completions", timeout=120, json={
        "model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["type"] == "BadRequestError" and "multipleOf" in resp.json()["message"]
    _still_serves(server.url)


def test_openai_completions_rejects_bad_ebnf(server):
    """The OpenAI completions route answers 400 for an EBNF with an undefined rule."""
    resp = requests.post(f"{server.url}/v1/completions", timeout=120, json={
        "model": "default", "prompt": "Query:", "max_tokens": 8, "ebnf": "root ::= select"})
    assert resp.status_code == 400, resp.text
    assert "select" in resp.json()["message"]
    _still_serves(server.url)
