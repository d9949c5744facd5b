"""Load: 256 requests from 64 concurrent clients all complete, nothing lost, chip TPOT above its floor."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import requests

REQUESTS, CLIENTS, NEW_TOKENS = 256, 64, 8


def test_256_requests_from_64_clients(server):
    """Every request answers 200 with its full token count and a chip TPOT at or above the bandwidth floor."""
    rng = random.Random(0)
    prompts = [[rng.randrange(10, 2000) for _ in range(rng.randrange(8, 64))] for _ in range(REQUESTS)]

    def one(ids: list[int]) -> dict:
        resp = requests.post(f"{server.url}/generate", timeout=600, json={
            "input_ids": ids,
            "sampling_params": {"temperature": 0, "max_new_tokens": NEW_TOKENS, "ignore_eos": True}})
        assert resp.status_code == 200, resp.text
        return resp.json()["meta_info"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        metas = list(pool.map(one, prompts))
    assert len(metas) == REQUESTS
    assert len({m["id"] for m in metas}) == REQUESTS
    for meta in metas:
        assert meta["completion_tokens"] == NEW_TOKENS
        chip = meta["hyperaccel"]
        assert chip["sim_decode_steps"] == NEW_TOKENS - 1
        assert chip["sim_tpot_ms"] >= chip["sim_tpot_floor_ms"] > 0
