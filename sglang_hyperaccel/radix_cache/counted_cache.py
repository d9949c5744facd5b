"""RadixAttention over the chip's paged KV memory: SGLang's unified radix cache, counted.

The tree, its page-aligned keys (`--page-size`) and its LRU eviction are SGLang's own; this class
adds what the chip's users ask of it: how many lookups found a prefix, how many tokens they found,
and how many tokens eviction gave back when the chip's KV memory filled. Chip time sees hits
through the scheduler: a hit request's extend batch carries the cached prefix, which the simulator
charges as a KV read instead of prefill compute.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sglang.srt.mem_cache.unified_radix_cache import UnifiedRadixCache

from sglang_hyperaccel.names import RADIX_CACHE_BACKEND


@dataclass(frozen=True)
class RadixStats:
    """Cumulative counters of one server's prefix cache."""

    lookups: int
    hits: int  # lookups that matched at least one page
    hit_tokens: int
    evictions: int  # eviction walks that freed something
    evicted_tokens: int


class ChipRadixCache(UnifiedRadixCache):
    """`UnifiedRadixCache` with hit and eviction counters (see `stats()`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._lookups = self._hits = self._hit_tokens = self._evictions = self._evicted = 0

    def match_prefix(self, params):
        result = super().match_prefix(params)
        if params.req is not None:  # scheduler admissions, not internal probes
            matched = int(result.device_prefix_len)
            with self._lock:
                self._lookups += 1
                self._hits += matched > 0
                self._hit_tokens += matched
        return result

    def _count_eviction(self, result):
        freed = int(getattr(result, "num_tokens_evicted", 0) or 0)
        if freed:
            with self._lock:
                self._evictions += 1
                self._evicted += freed
        return result

    def evict(self, params):
        return self._count_eviction(super().evict(params))

    def evict_for_alloc(self, params, **kwargs):
        return self._count_eviction(super().evict_for_alloc(params, **kwargs))

    def stats(self) -> RadixStats:
        with self._lock:
            return RadixStats(self._lookups, self._hits, self._hit_tokens, self._evictions, self._evicted)


_caches: list[ChipRadixCache] = []


def build_cache(ctx):
    """Factory registered as SGLang radix-cache backend `hyperaccel` (honours --disable-radix-cache)."""
    from sglang.srt.mem_cache.registry import create_unified_radix_cache, default_radix_cache_factory

    if ctx.disable_radix_cache or ctx.is_hybrid_swa or ctx.is_hybrid_ssm:
        return default_radix_cache_factory(ctx)
    cache = create_unified_radix_cache(ctx, cache_class=ChipRadixCache)
    if isinstance(cache, ChipRadixCache):
        _caches.append(cache)
    return cache


def current_stats() -> RadixStats | None:
    """Counters of this process's chip radix cache, or None when it has none."""
    return _caches[-1].stats() if _caches else None


def register() -> None:
    """Register the backend with SGLang (once per process)."""
    from sglang.srt.mem_cache.registry import get_radix_cache_factory, register_radix_cache_backend

    if get_radix_cache_factory(RADIX_CACHE_BACKEND) is None:
        register_radix_cache_backend(RADIX_CACHE_BACKEND, build_cache)
