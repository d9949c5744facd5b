"""Request limits: every field that used to reach tensor code or the scheduler unbounded gets a 400
naming it, the server keeps serving, and the limits of policy are configurable.

Before these checks, `top_logprobs_num` above the vocabulary ended the server (reproduced: the
scheduler died in `topk` and every client lost its connection); the other rules come from reading
SGLang 0.5.23 and from scripts/fuzz_api.py (docs/reliability.md lists each).
"""

from __future__ import annotations

import pytest
import requests

from sglang_hyperaccel.platform.request_limits import RequestLimits

IDS = [5, 6, 7]
VOCAB = 2048  # the demo model's


def _normal(url: str) -> int:
    body = {"input_ids": IDS, "sampling_params": {"max_new_tokens": 2}}
    return requests.post(f"{url}/generate", json=body, timeout=60).status_code


def _gen(**fields) -> dict:
    sampling = fields.pop("sampling", {})
    return {"input_ids": IDS, "sampling_params": {"max_new_tokens": 2, **sampling}, **fields}


CASES = {
    "top_logprobs_above_vocab": (_gen(return_logprob=True, top_logprobs_num=10**6), "top_logprobs_num"),
    "top_logprobs_above_limit": (_gen(return_logprob=True, top_logprobs_num=21), "top_logprobs_num"),
    "token_ids_logprob_long": (_gen(return_logprob=True, token_ids_logprob=list(range(65))),
                               "token_ids_logprob"),
    "logprob_start_negative": (_gen(return_logprob=True, logprob_start_len=-5), "logprob_start_len"),
    "top_k_int32_overflow": (_gen(sampling={"top_k": 2**31}), "top_k"),
    "stop_token_ids_out_of_vocab": (_gen(sampling={"stop_token_ids": [VOCAB], "min_new_tokens": 1}),
                                    "stop_token_ids"),
    "stop_token_ids_negative": (_gen(sampling={"stop_token_ids": [-1], "min_new_tokens": 1}),
                                "stop_token_ids"),
    "stop_token_ids_many": (_gen(sampling={"stop_token_ids": list(range(65))}), "stop_token_ids"),
    "temperature_overflow": (_gen(sampling={"temperature": 1e39}), "temperature"),
    "logit_bias_overflow": (_gen(sampling={"logit_bias": {"5": 1e39}}), "logit_bias"),
    "stop_string_long": (_gen(sampling={"stop": "x" * 1025}), "stop"),
    "stop_regex_invalid": (_gen(sampling={"stop_regex": "("}), "stop_regex"),
    "grammar_huge": (_gen(sampling={"regex": "a" * (64 * 1024 + 1)}), "regex"),
    "n_zero": (_gen(sampling={"n": 0}), "n"),
    "n_huge": (_gen(sampling={"n": 100000}), "n"),
    "batch_times_n": ({"input_ids": [IDS] * 8, "sampling_params": {"max_new_tokens": 2, "n": 64}},
                      "sequences in one request"),
    "empty_prompt_row": ({"input_ids": [IDS, []], "sampling_params": {"max_new_tokens": 2}}, "empty"),
    "prompt_out_of_vocab": ({"input_ids": [1, VOCAB], "sampling_params": {"max_new_tokens": 2}},
                            "out-of-vocabulary"),
    # found by `scripts/fuzz_api.py --examples 200`: IndexError/TypeError inside SGLang's normalisation
    "input_embeds_empty": ({"input_embeds": [[]], "sampling_params": {"max_new_tokens": 2}}, "input_embeds"),
    "rid_list_for_one_prompt": (_gen(rid=["a", "b"]), "rid"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unbounded_field_gets_a_400_naming_it_and_the_server_serves_on(server, case: str) -> None:
    body, named = CASES[case]
    resp = requests.post(f"{server.url}/generate", json=body, timeout=60)
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["error"]["message"]
    assert _normal(server.url) == 200


@pytest.mark.parametrize("route, body, named", [
    ("/v1/completions", {"prompt": "hi", "max_tokens": 2, "logprobs": 1000}, "top_logprobs_num"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                              "n": 100000}, "n"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                              "logprobs": True, "top_logprobs": 10**6}, "top_logprobs"),
    ("/v1/detokenize", {"tokens": [1, 10**12]}, "tokens"),
])
def test_openai_routes_get_the_same_limits(server, route: str, body: dict, named: str) -> None:
    """The OpenAI routes reach the same checks; errors are 400s in OpenAI's format, naming the field."""
    resp = requests.post(f"{server.url}{route}", json={"model": "default", **body}, timeout=60)
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["message"]
    assert _normal(server.url) == 200


@pytest.mark.parametrize("route, body", [
    ("/separate_reasoning", {"text": "x", "reasoning_parser": "no-such-parser"}),
    ("/parse_function_call", {"text": "x", "tools": []}),
    ("/api/chat", {"model": "m", "messages": []}),
    ("/vertex_generate", {"instances": [{"text": "x"}], "parameters": {"no_such_field": 1}}),
    ("/vertex_generate", {"instances": [{"text": "x"}], "parameters": {"text": "y"}}),
    ("/encode", {"input_ids": []}),
    ("/classify", {"input_ids": []}),
    ("/encode", {"text": "a", "rid": ["x", "y"]}),
    ("/classify", {"text": ["a", "b"], "rid": "x"}),
    ("/v1/embeddings", {"model": "default", "input": "a", "rid": ["x", "y"]}),
    ("/encode", {"input_ids": [1, 2], "sampling_params": [{}, {}]}),
    ("/classify", {"text": ["a", "b"], "multi_item_delimiter_indices": [[1]]}),
    ("/encode", {"text": [[], ["a", "b", "c"]]}),
])
def test_value_errors_of_secondary_routes_are_400s(server, route: str, body: dict) -> None:
    """Routes that let SGLang's input ValueError (or, for `/vertex_generate`, a TypeError naming a
    client's keyword; for `/encode` and `/classify`, an IndexError or AssertionError on an empty
    prompt or a rid that does not match the prompts) escape as a 500 now answer a 400."""
    resp = requests.post(f"{server.url}{route}", json=body, timeout=60)
    assert resp.status_code == 400, resp.text
    answer = resp.json()  # OpenAI's error shape, or SGLang's native {"error": {"message": ...}}
    assert (answer.get("message") or answer["error"]["message"]), answer
    assert _normal(server.url) == 200


def test_limits_parse_overrides_and_name_bad_keys() -> None:
    limits = RequestLimits.parse("n=4, top_logprobs=5, temperature=2.5")
    assert (limits.max_n, limits.max_top_logprobs, limits.max_temperature) == (4, 5, 2.5)
    assert limits.max_prompts == RequestLimits().max_prompts
    for bad, message in (("x=1", "not key=value"), ("n=abc", "not a number"), ("n=-1", "negative")):
        with pytest.raises(ValueError, match=message):
            RequestLimits.parse(bad)


@pytest.fixture(scope="module")
def limited(start_server):
    """A server with lowered limits and one running request at a time (so a queue forms)."""
    return start_server(args=("--dtype", "float32", "--max-running-requests", "1"),
                        env={"SGLANG_HYPERACCEL_LIMITS": "n=2,top_logprobs=3,queued=2,retry_after_s=7",
                             "SGLANG_HYPERACCEL_STEP_DELAY_MS": "20"})


def test_configured_limits_are_enforced_at_their_value(limited) -> None:
    """n=2 and top_logprobs=3 pass at the limit (with real values back), one above is a 400."""
    ok = requests.post(f"{limited.url}/generate", json=_gen(
        return_logprob=True, top_logprobs_num=3, sampling={"n": 2, "temperature": 0}), timeout=120)
    assert ok.status_code == 200, ok.text
    outs = ok.json()
    assert len(outs) == 2
    assert all(len(step) == 3 for out in outs for step in out["meta_info"]["output_top_logprobs"])
    for fields in ({"sampling": {"n": 3}}, {"return_logprob": True, "top_logprobs_num": 4}):
        resp = requests.post(f"{limited.url}/generate", json=_gen(**fields), timeout=60)
        assert resp.status_code == 400, resp.text


def test_full_queue_answers_503_with_retry_after(limited) -> None:
    """With one running request and room for two waiting, a burst gets 503s carrying Retry-After,
    every other request completes, and the server serves afterwards."""
    import concurrent.futures

    body = {"input_ids": IDS, "sampling_params": {"max_new_tokens": 16, "ignore_eos": True}}
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: requests.post(f"{limited.url}/generate", json=body, timeout=300),
                                range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 503}, statuses
    assert statuses.count(200) >= 3
    full = [a for a in answers if a.status_code == 503]
    assert all(a.headers.get("Retry-After") == "7" for a in full)
    assert all("queue is full" in a.text for a in full)
    assert _normal(limited.url) == 200
    # refused requests leave no chip-time stamps behind in the scheduler (idle: none tracked)
    info = requests.get(f"{limited.url}/server_info", timeout=30).json()
    assert info["internal_states"][0]["hyperaccel"]["clock_requests_now"] == 0


def test_the_vocabulary_bounds_top_logprobs_above_any_policy(start_server) -> None:
    """With the policy limit raised past the vocabulary, `top_logprobs_num` = vocabulary + 1 (what
    ended the server in the sampler's top-k) is still a 400, and the vocabulary itself works."""
    generous = start_server(env={"SGLANG_HYPERACCEL_LIMITS": "top_logprobs=1000000"})
    above = _gen(return_logprob=True, top_logprobs_num=VOCAB + 1)
    resp = requests.post(f"{generous.url}/generate", json=above, timeout=60)
    assert resp.status_code == 400 and "top_logprobs_num" in resp.text, resp.text
    ok = requests.post(f"{generous.url}/generate", json=_gen(return_logprob=True, top_logprobs_num=VOCAB),
                       timeout=120)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["meta_info"]["output_top_logprobs"][0]) == VOCAB
