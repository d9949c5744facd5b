"""Request checks SGLang leaves to the device: every field that reaches tensor code or the scheduler
unbounded is refused at the tokenizer with a 400 naming the field (`ValueError` there is SGLang's
400), before the request can reach a batch.

Why each rule exists (SGLang 0.5.23, found by fuzzing and reading; docs/reliability.md lists them):
a `top_logprobs_num` above the vocabulary ends the scheduler in `topk`; `top_k` >= 2**31 ends it
converting to int32; `stop_token_ids` outside the vocabulary end it in the min-new-tokens
penalizer; prompt `input_ids` outside the vocabulary end it at the embedding (CUDA's device-side
assert, the chip's IndexError); `n` and batch size are unbounded (one request with n=100000 starved
every other client); `temperature` and `logit_bias` overflow float32 into inf/NaN logits; an invalid
`stop_regex` is a 500. The limits of policy come from `request_limits.py`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sglang_hyperaccel.platform.request_limits import RequestLimits, current_limits

INT32_MAX = 2**31 - 1
_GRAMMARS = ("json_schema", "regex", "ebnf", "structural_tag")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _prompt_count(request: Any) -> int:
    """Prompts in a generate or embedding request: a list of texts, or of input_ids rows."""
    if isinstance(request.text, list):
        return len(request.text)
    ids = request.input_ids
    if isinstance(ids, list) and ids and isinstance(ids[0], list):
        return len(ids)
    return 1


def _is_batch(request: Any, embedding: bool = False) -> bool:
    """Whether SGLang reads the request as a batch: a list of texts or of input_ids rows; for a
    generate request a list of input_embeds matrices, for an embedding request (which ignores
    input_embeds) a list of per-prompt media lists when it has no text or ids."""
    if isinstance(request.text, list):
        return True
    ids = request.input_ids
    if isinstance(ids, list) and ids and isinstance(ids[0], list):
        return True
    if embedding:
        if request.text is not None or ids is not None:
            return False
        media = next((m for m in (request.image_data, request.video_data, request.audio_data)
                      if m is not None), None)
        return isinstance(media, list) and bool(media) and all(isinstance(m, list) for m in media)
    embeds = getattr(request, "input_embeds", None)
    return (isinstance(embeds, list) and bool(embeds) and isinstance(embeds[0], list) and bool(embeds[0])
            and isinstance(embeds[0][0], list))


def _check_shape(request: Any, widest_n: int = 1, embedding: bool = False) -> None:
    """Empty prompt containers and `rid`s that do not match the prompts: SGLang's batch
    normalisation indexes the first prompt, and hashes each rid (IndexError/TypeError, a 500).
    A generate batch may take one string rid (numbered per prompt); an embedding batch may not."""
    for name in ("input_ids", "input_embeds"):
        value = getattr(request, name, None)
        if isinstance(value, list) and (not value or value[0] == []):
            raise ValueError(f"{name} is empty: send at least one token")
    rid = request.rid
    batch = _is_batch(request, embedding)
    if isinstance(rid, str) and embedding and batch:
        raise ValueError("rid must be a list of strings, one per prompt, for a batch of prompts")
    if rid is None or isinstance(rid, str):
        return
    if not isinstance(rid, list) or not all(isinstance(r, str) for r in rid):
        raise ValueError(f"rid must be a string or a list of strings, got {rid!r:.100}")
    prompts = _prompt_count(request)
    if batch or (widest_n > 1 and prompts == 1):
        if len(rid) != prompts:
            raise ValueError(f"rid has {len(rid)} entries for {prompts} prompt(s): one per prompt")
    else:
        raise ValueError("rid is a list but the request has a single prompt: send one string")


def batch_before(request: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `GenerateReqInput.normalize_batch_and_arguments`: `n` and prompts per request, checked
    before SGLang expands the request into n copies per prompt; empty prompts and `rid`s that do
    not match the prompts (`_check_shape`)."""
    limits = current_limits()
    params = [p for p in _as_list(request.sampling_params) if isinstance(p, dict)]
    widest = 1
    for p in params:
        if "n" in p and p["n"] is None:
            del p["n"]  # null is the default (1), as in OpenAI's API; SGLang's batch path compared it
        n = p.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= limits.max_n:
            raise ValueError(f"sampling_params.n = {n!r}: must be an integer in [1, {limits.max_n}] "
                             f"(the server's limit, SGLANG_HYPERACCEL_LIMITS n=...)")
        widest = max(widest, n)
    _check_shape(request, widest)
    prompts = _prompt_count(request)
    if prompts * widest > limits.max_prompts:
        raise ValueError(f"{prompts} prompts x n={widest} = {prompts * widest} sequences in one request: "
                         f"at most {limits.max_prompts} (SGLANG_HYPERACCEL_LIMITS prompts=...)")
    return None


def batch_item_around(original, request: Any, i: int, *args: Any, **kwargs: Any) -> Any:
    """AROUND `GenerateReqInput.__getitem__`: a per-prompt list field (`lora_path`,
    `custom_logit_processor`, `bootstrap_*`, `modalities`, ...) shorter than the batch raised
    IndexError inside SGLang (a 500); it is a 400 naming the field."""
    try:
        return original(request, i, *args, **kwargs)
    except IndexError:
        short = sorted(name for name, value in vars(request).items()
                       if isinstance(value, list) and len(value) <= i)
        raise ValueError(f"per-prompt fields {', '.join(short) or '(unknown)'} have fewer entries than "
                         f"the batch has sequences ({getattr(request, 'batch_size', '?')})") from None


def embedding_item_around(original, request: Any, i: int, *args: Any, **kwargs: Any) -> Any:
    """AROUND `EmbeddingReqInput.__getitem__`: as `batch_item_around`, for /encode and /classify
    (`multi_item_delimiter_indices` shorter than the batch, found by the long fuzz run)."""
    return batch_item_around(original, request, i, *args, **kwargs)


def embedding_batch_before(request: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `EmbeddingReqInput.normalize_batch_and_arguments`: empty prompts, `rid`s that do not
    match the prompts, text entries that are neither strings nor pairs (the tokenizer's TypeError),
    and a `sampling_params` list shorter than the batch or not of objects raised
    IndexError/TypeError/AssertionError inside SGLang (a 500 on /encode, /classify, /v1/embeddings)."""
    _check_shape(request, embedding=True)
    if isinstance(request.text, list):
        for item in request.text:  # a text, or a (query, document) pair for a cross-encoder
            pair = isinstance(item, list) and len(item) == 2 and all(isinstance(t, str) for t in item)
            if not (isinstance(item, str) or pair):
                raise ValueError(f"text: each entry must be a string or a pair of strings, got {item!r:.100}")
    params = request.sampling_params
    if not isinstance(params, list):
        return None
    if not _is_batch(request, embedding=True):
        raise ValueError("sampling_params must be one object for a single prompt, not a list")
    prompts = _prompt_count(request)
    if len(params) < prompts or not all(isinstance(p, dict) for p in params):
        raise ValueError(f"sampling_params: one object per prompt expected ({prompts}), got {params!r:.200}")
    return None


def request_before(manager: Any, obj: Any, input_ids: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `TokenizerManager._validate_one_request`: one (sub-)request with its prompt ids."""
    vocab_size = manager.model_config.vocab_size
    _check_prompt(obj, input_ids, vocab_size)
    limits = current_limits()  # embedding requests have no logprob fields: those checks pass them
    _check_logprobs(obj, vocab_size, limits)
    if isinstance(obj.sampling_params, dict):
        _check_sampling(obj.sampling_params, vocab_size, limits)
    return None


def _check_prompt(obj: Any, input_ids: Any, vocab_size: int) -> None:
    if input_ids is None or getattr(obj, "input_embeds", None) is not None:
        return
    if len(input_ids) == 0:
        raise ValueError("the prompt is empty (0 tokens): send at least one token")
    check_token_ids("input_ids", input_ids, vocab_size)


def check_token_ids(field: str, ids: Any, vocab_size: int) -> None:
    """ValueError naming `field` if a number in the list `ids` is outside [0, vocab_size) (other
    types are left to SGLang's type checks)."""
    if not isinstance(ids, (list, tuple, set)) or not ids:
        return
    try:  # min/max in C: a prompt may be the whole context
        low, high = min(ids), max(ids)
        inside = 0 <= low and high < vocab_size
    except TypeError:  # mixed types
        numbers = [t for t in ids if _number(t)]
        if not numbers:
            return
        low, high = min(numbers), max(numbers)
        inside = 0 <= low and high < vocab_size
    if not inside:
        raise ValueError(f"{field} contains out-of-vocabulary token id {low if low < 0 else high}; "
                         f"valid range is [0, {vocab_size}).")


def _check_logprobs(obj: Any, vocab_size: int, limits: RequestLimits) -> None:
    top = getattr(obj, "top_logprobs_num", None)
    if _number(top):
        most = min(limits.max_top_logprobs, vocab_size)
        if not 0 <= top <= most:
            raise ValueError(f"top_logprobs_num = {top}: must be in [0, {most}] "
                             f"(SGLANG_HYPERACCEL_LIMITS top_logprobs=...)")
    ids = getattr(obj, "token_ids_logprob", None)
    if isinstance(ids, list) and len(ids) > limits.max_token_ids_logprob:
        raise ValueError(f"token_ids_logprob has {len(ids)} entries: at most "
                         f"{limits.max_token_ids_logprob} (SGLANG_HYPERACCEL_LIMITS token_ids_logprob=...)")
    start = getattr(obj, "logprob_start_len", None)
    if _number(start) and start < -1:
        raise ValueError(f"logprob_start_len = {start}: must be -1 (output only) or a prompt position >= 0")


def _check_sampling(params: dict[str, Any], vocab_size: int, limits: RequestLimits) -> None:
    new_tokens = params.get("max_new_tokens")
    if limits.max_new_tokens and _number(new_tokens) and new_tokens > limits.max_new_tokens:
        raise ValueError(f"sampling_params.max_new_tokens = {new_tokens}: at most {limits.max_new_tokens} "
                         f"(SGLANG_HYPERACCEL_LIMITS new_tokens=...)")
    top_k = params.get("top_k")
    if _number(top_k) and top_k > INT32_MAX:
        raise ValueError(f"sampling_params.top_k = {top_k}: must be -1 (all tokens) or in [1, {INT32_MAX}]")
    temperature = params.get("temperature")
    if _number(temperature) and temperature > limits.max_temperature:
        raise ValueError(f"sampling_params.temperature = {temperature}: at most {limits.max_temperature}")
    _check_stops(params, vocab_size, limits)
    bias = params.get("logit_bias")
    if isinstance(bias, dict):
        for token, value in bias.items():
            if _number(value) and not (math.isfinite(value) and abs(value) <= limits.max_abs_logit_bias):
                raise ValueError(f"sampling_params.logit_bias[{token!r}] = {value}: must be finite, within "
                                 f"+-{limits.max_abs_logit_bias}")
    for name in _GRAMMARS:
        grammar = params.get(name)
        size = len(grammar.encode()) if isinstance(grammar, str) else len(str(grammar)) if grammar else 0
        if size > limits.max_grammar_bytes:
            raise ValueError(f"sampling_params.{name} is {size} bytes: at most {limits.max_grammar_bytes} "
                             f"(SGLANG_HYPERACCEL_LIMITS grammar_bytes=...)")


def _check_stops(params: dict[str, Any], vocab_size: int, limits: RequestLimits) -> None:
    stop_ids = params.get("stop_token_ids")
    if isinstance(stop_ids, (list, tuple, set)):
        if len(stop_ids) > limits.max_stop_token_ids:
            raise ValueError(f"sampling_params.stop_token_ids has {len(stop_ids)} ids: at most "
                             f"{limits.max_stop_token_ids}")
        check_token_ids("sampling_params.stop_token_ids", stop_ids, vocab_size)
    for text in _as_list(params.get("stop")):
        if isinstance(text, str) and len(text) > limits.max_stop_chars:
            raise ValueError(f"sampling_params.stop has a {len(text)}-character string: at most "
                             f"{limits.max_stop_chars} (SGLANG_HYPERACCEL_LIMITS stop_chars=...)")
    for pattern in _as_list(params.get("stop_regex")):
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"sampling_params.stop_regex {pattern!r} is not a valid regular "
                                 f"expression: {exc}") from None
