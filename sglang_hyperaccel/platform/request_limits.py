"""What one request may ask of a server: the limits, as a record, and where each comes from.

A request must not be able to monopolise the server (`n`, prompts per request, new tokens, top
logprobs, ...) or reach tensor code with a value the kernels cannot take. The limits below that
are policy are configurable through `SGLANG_HYPERACCEL_LIMITS` (`key=value,...`, the field names
without `max_`, or with it); the ones tied to the model (vocabulary, context length) come from the model.
`validation.py` enforces them with a 400 that names the field; docs/reliability.md lists every rule.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from sglang_hyperaccel import env


@dataclass(frozen=True)
class RequestLimits:
    """Limits of policy: what one request may ask, and the queue in front of the scheduler
    (defaults chosen against OpenAI's API where it has one)."""

    max_n: int = 64  # samples per prompt (`n`); OpenAI allows 128, one replica here is smaller
    max_prompts: int = 256  # prompts x n in one request (a batch of texts or input_ids rows)
    max_new_tokens: int = 0  # 0: no cap beyond the context length (SGLang's own check)
    max_top_logprobs: int = 20  # `top_logprobs_num`; OpenAI's chat maximum
    max_token_ids_logprob: int = 64  # entries of `token_ids_logprob`
    max_stop_token_ids: int = 64
    max_stop_chars: int = 1024  # characters per stop string (each is decoded every step)
    max_grammar_bytes: int = 64 * 1024  # json_schema / regex / ebnf / structural_tag
    max_temperature: float = 100.0  # float32 overflows to inf far above; any sane sampler is below
    max_abs_logit_bias: float = 100.0  # OpenAI's documented range
    max_queued: int = 1024  # requests waiting in a scheduler's queue; beyond, 503 + Retry-After
    retry_after_s: int = 1  # the Retry-After of a 503/429

    @classmethod
    def parse(cls, text: str) -> RequestLimits:
        """The defaults with `key=value` overrides; ValueError names an unknown key or a bad value."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        overrides: dict[str, float | int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            name = f"max_{key.strip()}" if f"max_{key.strip()}" in fields else key.strip()
            if not sep or name not in fields:
                known = ", ".join(sorted(n.removeprefix("max_") for n in fields))
                raise ValueError(f"{env.LIMITS}: {item!r} is not key=value with a key among {known}")
            kind = float if fields[name].type == "float" else int  # annotations are strings here
            try:
                number = kind(value)
            except ValueError:
                raise ValueError(f"{env.LIMITS}: {key.strip()}={value!r} is not a number") from None
            if number < 0:
                raise ValueError(f"{env.LIMITS}: {key.strip()} must not be negative")
            overrides[name] = number
        return cls(**overrides)


@functools.cache
def current_limits() -> RequestLimits:
    """The limits of this process (SGLANG_HYPERACCEL_LIMITS over the defaults), read once; the
    platform's server-args defaults read it first, so a bad value stops start-up."""
    return RequestLimits.parse(env.limits_text())
