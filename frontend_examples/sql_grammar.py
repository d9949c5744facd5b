"""An EBNF grammar: SQL queries from a small SELECT subset, forced by the grammar.

The DSL's `sgl.gen` takes a regex or a JSON schema but no grammar, so this program sends the EBNF
through the OpenAI-compatible completions API (`extra_body={"ebnf": ...}`). It checks every query
twice: a parse with the same grammar (xgrammar's matcher on the text) and a run in SQLite against
empty tables; it prints the queries and exits 1 if one fails.

Run: `python frontend_examples/sql_grammar.py --url http://127.0.0.1:30000`
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

import openai
import xgrammar

TABLES = ("users", "orders", "items", "accounts")
COLUMNS = ("id", "name", "price", "city", "age", "total")

# The leading space: the prompt ends at "Query:" and the model's first token is " SELECT".
GRAMMAR = rf"""
root ::= " SELECT " columns " FROM " table where? ";"
columns ::= column (", " column)*
column ::= {" | ".join(f'"{c}"' for c in COLUMNS)}
table ::= {" | ".join(f'"{t}"' for t in TABLES)}
where ::= " WHERE " column " " op " " number
op ::= "=" | "<" | ">"
number ::= [1-9] [0-9]? [0-9]?
"""

PROMPTS = ["Query:", "List the cheapest items.\nQuery:", "Who lives in Seoul?\nQuery:"]


def parses(text: str) -> bool:
    """Whether `GRAMMAR` accepts exactly `text` (a grammar matcher driven by characters)."""
    compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo([]), cache_enabled=False)
    matcher = xgrammar.GrammarMatcher(compiler.compile_grammar(GRAMMAR), terminate_without_stop_token=True)
    return matcher.accept_string(text) and matcher.is_terminated()


def runs(query: str) -> bool:
    """Whether SQLite accepts and executes the query against empty tables of the schema."""
    db = sqlite3.connect(":memory:")
    for table in TABLES:
        db.execute(f"CREATE TABLE {table} ({', '.join(COLUMNS)})")
    try:
        db.execute(query).fetchall()
    except sqlite3.Error:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=f"{args.url}/v1", api_key="none")
    model = client.models.list().data[0].id

    failures = 0
    for prompt in PROMPTS:
        completion = client.completions.create(
            model=model, prompt=prompt, max_tokens=48, temperature=0, extra_body={"ebnf": GRAMMAR})
        text = completion.choices[0].text
        ok = parses(text) and runs(text.strip())
        failures += not ok
        print(text.strip() if ok else f"INVALID: {text!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
