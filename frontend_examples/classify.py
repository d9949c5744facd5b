"""Classification with `sgl.select`: the model scores each label and the best one is chosen.

`select` never samples free text: the server returns the log-probability of every choice as a
continuation of the prompt, so the answer is one of the labels by construction. The program checks
that anyway, prints one JSON object per review and exits 1 if a label is not one of the choices.

Run: `python frontend_examples/classify.py --url http://127.0.0.1:30000`
"""

from __future__ import annotations

import argparse
import json
import sys

import sglang as sgl

LABELS = ["positive", "negative", "neutral"]
REVIEWS = [
    "Fast chip serves the request in Seoul.",
    "Slow server drops the cache again.",
    "The router moves the batch.",
]


@sgl.function
def classify(s, review: str):
    s += f"Review: {review} Sentiment: " + sgl.select("label", choices=LABELS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:30000")
    args = parser.parse_args()
    sgl.set_default_backend(sgl.RuntimeEndpoint(args.url))

    states = classify.run_batch([{"review": r} for r in REVIEWS])
    failures = 0
    for review, state in zip(REVIEWS, states):
        label = state["label"]
        failures += label not in LABELS
        print(json.dumps({"review": review, "label": label}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
