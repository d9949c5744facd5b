"""`ChipRadixCache`'s counters on SGLang's unified radix tree over small CPU KV pools (no server).

The cache is SGLang's own class built the way SGLang's unit tests build it (an MHA token pool and
its allocator on CPU, the FULL component only); token sequences are inserted, matched and evicted,
and every counter is compared with a number worked out by hand or by a brute-force prefix search.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence

import pytest
import torch
from sglang.srt.managers.schedule_batch import Req
from sglang.srt.mem_cache.allocator import PagedTokenToKVPoolAllocator, TokenToKVPoolAllocator
from sglang.srt.mem_cache.base_prefix_cache import EvictParams, InsertParams, MatchPrefixParams
from sglang.srt.mem_cache.cache_init_params import CacheInitParams
from sglang.srt.mem_cache.memory_pool import MHATokenToKVPool
from sglang.srt.mem_cache.radix_cache import RadixKey
from sglang.srt.mem_cache.registry import TreeCacheBuildContext
from sglang.srt.mem_cache.unified_cache.components.base import ComponentType
from sglang.srt.mem_cache.unified_radix_cache import UnifiedRadixCache
from sglang.srt.runtime_context import get_context
from sglang.srt.sampling.sampling_params import SamplingParams

from sglang_hyperaccel.radix_cache import RadixStats, counted_cache, current_stats
from sglang_hyperaccel.radix_cache.counted_cache import ChipRadixCache

SLOTS = 64
ZERO = RadixStats(lookups=0, hits=0, hit_tokens=0, evictions=0, evicted_tokens=0)


def _allocator(page_size: int = 1) -> TokenToKVPoolAllocator:
    """A 64-slot CPU KV pool (1 layer, 1 head of 4) and its allocator."""
    pool = MHATokenToKVPool(size=SLOTS, page_size=page_size, dtype=torch.float32, head_num=1, head_dim=4,
                            layer_num=1, device="cpu", enable_memory_saver=False)
    if page_size == 1:
        return TokenToKVPoolAllocator(size=SLOTS, dtype=torch.float32, device="cpu", kvcache=pool,
                                      need_sort=False)
    return PagedTokenToKVPoolAllocator(size=SLOTS, page_size=page_size, dtype=torch.float32, device="cpu",
                                       kvcache=pool, need_sort=False)


def _params(allocator: TokenToKVPoolAllocator, page_size: int = 1, disable: bool = False) -> CacheInitParams:
    return CacheInitParams(disable=disable, req_to_token_pool=None, token_to_kv_pool_allocator=allocator,
                           page_size=page_size, tree_components=(ComponentType.FULL,))


def _cache(page_size: int = 1) -> tuple[ChipRadixCache, TokenToKVPoolAllocator]:
    allocator = _allocator(page_size)
    return ChipRadixCache(_params(allocator, page_size)), allocator


def _insert(cache: ChipRadixCache, allocator: TokenToKVPoolAllocator, tokens: Sequence[int]) -> None:
    """Cache `tokens` in fresh slots, as a finished request does."""
    slots = allocator.alloc(len(tokens))
    assert slots is not None
    result = cache.insert(InsertParams(key=RadixKey(array("q", tokens)), value=slots))
    if result.prefix_len:  # the tree already held that prefix: its copy in fresh slots goes back
        allocator.free(slots[:result.prefix_len])


def _request() -> Req:
    return Req(rid="counted-cache-test", origin_input_text="", origin_input_ids=array("q"),
               sampling_params=SamplingParams(temperature=0, max_new_tokens=1))


def _match(cache: ChipRadixCache, tokens: Sequence[int], admitted: bool = True) -> int:
    """The cached prefix length of `tokens`; `admitted` passes a request, as the scheduler does."""
    params = MatchPrefixParams(key=RadixKey(array("q", tokens)), req=_request() if admitted else None)
    return int(cache.match_prefix(params).device_prefix_len)


def test_fresh_cache_counts_nothing():
    """A cache nothing was asked of reports all five counters as 0."""
    cache, _ = _cache()
    assert cache.stats() == ZERO


def test_admitted_match_counts_a_lookup_a_hit_and_its_tokens():
    """Insert [1,2,3,4], match [1,2,3,9] for a request: lookups 1, hits 1, hit_tokens 3."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    assert _match(cache, [1, 2, 3, 9]) == 3
    assert cache.stats() == RadixStats(lookups=1, hits=1, hit_tokens=3, evictions=0, evicted_tokens=0)


def test_match_without_a_request_is_not_counted():
    """A probe without a request finds the prefix (3 tokens) but leaves every counter at 0."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    assert _match(cache, [1, 2, 3, 9], admitted=False) == 3
    assert cache.stats() == ZERO


def test_misses_count_lookups_but_not_hits():
    """Matches of 3, 4, 0 and 1 tokens: lookups 4, hits 3 (the miss is no hit), hit_tokens 8."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    assert [_match(cache, q) for q in ([1, 2, 3, 9], [1, 2, 3, 4, 5], [9, 1], [1, 7])] == [3, 4, 0, 1]
    assert cache.stats() == RadixStats(lookups=4, hits=3, hit_tokens=8, evictions=0, evicted_tokens=0)


def test_hit_tokens_are_whole_pages():
    """Page size 4, 8 tokens cached: [1..7, 99] hits 4 tokens (one page), [1, 2, 3, 99] misses."""
    cache, allocator = _cache(page_size=4)
    _insert(cache, allocator, list(range(1, 9)))
    assert _match(cache, [1, 2, 3, 4, 5, 6, 7, 99]) == 4
    assert _match(cache, [1, 2, 3, 99]) == 0
    assert cache.stats() == RadixStats(lookups=2, hits=1, hit_tokens=4, evictions=0, evicted_tokens=0)


def _longest_cached_prefix(cached: list[list[int]], query: list[int]) -> int:
    """Brute force: the longest common prefix of `query` with any cached sequence."""
    best = 0
    for seq in cached:
        n = 0
        while n < min(len(seq), len(query)) and seq[n] == query[n]:
            n += 1
        best = max(best, n)
    return best


def test_counters_match_a_brute_force_prefix_search():
    """Random sequences over 3 symbols: each match and the totals equal a longest-common-prefix search."""
    rng = random.Random(7)
    cache, allocator = _cache()
    cached = [[rng.randint(1, 3) for _ in range(rng.randint(1, 6))] for _ in range(6)]
    for seq in cached:
        _insert(cache, allocator, seq)
    hits = hit_tokens = 0
    for _ in range(30):
        query = [rng.randint(1, 3) for _ in range(rng.randint(1, 7))]
        want = _longest_cached_prefix(cached, query)
        assert _match(cache, query) == want, (query, cached)
        hits, hit_tokens = hits + (want > 0), hit_tokens + want
        if rng.random() < 0.3:  # an unadmitted probe in between changes nothing
            assert _match(cache, query, admitted=False) == want
    assert hits > 0 and hit_tokens > hits  # the draw exercises hits of several tokens
    assert cache.stats() == RadixStats(lookups=30, hits=hits, hit_tokens=hit_tokens, evictions=0,
                                       evicted_tokens=0)


def test_evict_frees_whole_least_recently_used_leaves():
    """Leaves of 4 then 3 tokens: evict(2) frees the older 4, evict(1) the other 3, then nothing is left."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    _insert(cache, allocator, [5, 6, 7])
    assert allocator.available_size() == SLOTS - 7
    cache.evict(EvictParams(num_tokens=2))
    assert cache.stats() == RadixStats(lookups=0, hits=0, hit_tokens=0, evictions=1, evicted_tokens=4)
    assert allocator.available_size() == SLOTS - 3
    assert _match(cache, [1, 2, 3, 4], admitted=False) == 0 and _match(cache, [5, 6, 7], admitted=False) == 3
    cache.evict(EvictParams(num_tokens=1))
    assert cache.stats() == RadixStats(lookups=0, hits=0, hit_tokens=0, evictions=2, evicted_tokens=7)
    assert allocator.available_size() == SLOTS
    cache.evict(EvictParams(num_tokens=5))  # an empty tree: a walk that frees nothing is no eviction
    assert cache.stats() == RadixStats(lookups=0, hits=0, hit_tokens=0, evictions=2, evicted_tokens=7)


def test_a_prefix_matched_again_is_evicted_last():
    """[1,2,3,4] cached first but matched again: evict(1) frees the untouched 3-token [5,6,7] leaf."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    _insert(cache, allocator, [5, 6, 7])
    assert _match(cache, [1, 2, 3, 4]) == 4
    cache.evict(EvictParams(num_tokens=1))
    assert cache.stats() == RadixStats(lookups=1, hits=1, hit_tokens=4, evictions=1, evicted_tokens=3)
    assert allocator.available_size() == SLOTS - 4
    assert _match(cache, [1, 2, 3, 4], admitted=False) == 4 and _match(cache, [5, 6, 7], admitted=False) == 0


def test_evict_for_alloc_counts_what_it_freed():
    """evict_for_alloc for 2 more free slots frees the 4-token LRU leaf: 1 eviction of 4 tokens."""
    cache, allocator = _cache()
    _insert(cache, allocator, [1, 2, 3, 4])
    _insert(cache, allocator, [5, 6, 7, 8, 9])
    assert allocator.available_size() == SLOTS - 9
    cache.evict_for_alloc(EvictParams(num_tokens=2))
    assert cache.stats() == RadixStats(lookups=0, hits=0, hit_tokens=0, evictions=1, evicted_tokens=4)
    assert allocator.available_size() == SLOTS - 5


@pytest.fixture
def no_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process has built no chip radix cache yet (the list is restored afterwards)."""
    monkeypatch.setattr(counted_cache, "_caches", [])


def _build_context(disable: bool) -> TreeCacheBuildContext:
    """What SGLang's scheduler hands a radix-cache factory, for a dense model on one rank."""
    return TreeCacheBuildContext(
        server_args=None, params=_params(_allocator(), disable=disable), is_hybrid_swa=False,
        is_hybrid_ssm=False, enable_hierarchical_cache=False, disable_radix_cache=disable, tp_worker=None,
        model_config=None, tp_size=1, tp_rank=0, tp_group=None)


def test_build_cache_makes_its_counters_current(no_caches):
    """build_cache returns a ChipRadixCache; current_stats() is None before and its counters after."""
    assert current_stats() is None
    with get_context().override_server_args():  # SGLang's factory reads the published config
        cache = counted_cache.build_cache(_build_context(disable=False))
    assert isinstance(cache, ChipRadixCache)
    _insert(cache, cache.token_to_kv_pool_allocator, [1, 2, 3])
    assert _match(cache, [1, 2, 9]) == 2
    assert current_stats() == RadixStats(lookups=1, hits=1, hit_tokens=2, evictions=0, evicted_tokens=0)


def test_disabled_radix_cache_is_sglangs_and_not_counted(no_caches):
    """Radix cache disabled: build_cache returns SGLang's disabled cache; current_stats() stays None."""
    with get_context().override_server_args():
        cache = counted_cache.build_cache(_build_context(disable=True))
    assert type(cache) is UnifiedRadixCache and cache.disable
    assert current_stats() is None
