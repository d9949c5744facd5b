"""A multi-turn chat whose assistant turns are structured, through the OpenAI-compatible API.

Turn 1 must be a tool call: `response_format` carries a JSON schema that allows exactly one of the
tools below, with arguments whose schema outlines builds from the Python function's signature. The
program runs the tool, sends its result back as the next user turn, and turn 2 must be a final
answer object. Both turns are checked with jsonschema, the tool's arguments also by calling the
function; the transcript is printed and the program exits 1 if a turn is invalid.

Run: `python frontend_examples/chat_tool_call.py --url http://127.0.0.1:30000`
"""

# No `from __future__ import annotations`: outlines reads the tools' annotations as live types.
import argparse
import json
import sys
from typing import Literal

import jsonschema
import openai
from outlines.fsm.json_schema import get_schema_from_signature


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> dict:
    return {"city": city, "temperature": 21 if unit == "celsius" else 70, "unit": unit}


def get_time(city: str) -> dict:
    return {"city": city, "time": "09:30"}


TOOLS = {fn.__name__: fn for fn in (get_weather, get_time)}
TOOL_CALL = {"anyOf": [
    {"type": "object", "properties": {"name": {"const": name}, "arguments": get_schema_from_signature(fn)},
     "required": ["name", "arguments"], "additionalProperties": False}
    for name, fn in TOOLS.items()
]}
ANSWER = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 120}},
          "required": ["answer"], "additionalProperties": False}


def ask(client: openai.OpenAI, model: str, messages: list[dict], name: str, schema: dict) -> dict:
    """One assistant turn constrained to `schema`; returns the parsed, validated object."""
    reply = client.chat.completions.create(
        model=model, messages=messages, max_tokens=128, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
    )
    content = reply.choices[0].message.content
    messages.append({"role": "assistant", "content": content})
    value = json.loads(content)
    jsonschema.validate(value, schema)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=f"{args.url}/v1", api_key="none")
    model = client.models.list().data[0].id

    messages = [
        {"role": "system", "content": f"Call one tool as JSON. Tools: {', '.join(TOOLS)}."},
        {"role": "user", "content": "What is the weather in Seoul?"},
    ]
    try:
        call = ask(client, model, messages, "tool_call", TOOL_CALL)
        result = TOOLS[call["name"]](**call["arguments"])
        messages.append({"role": "user", "content": f"Tool result: {json.dumps(result)}"})
        ask(client, model, messages, "answer", ANSWER)
    except (ValueError, TypeError, jsonschema.ValidationError) as exc:
        print(json.dumps(messages, indent=1))
        print(f"INVALID: {str(exc).splitlines()[0]}")
        return 1
    for message in messages:
        print(f"{message['role']}: {message['content']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
