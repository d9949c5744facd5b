"""RadixAttention (SGLang's prefix cache) over the hyperaccel chip's KV memory, with counters."""

from sglang_hyperaccel.names import RADIX_CACHE_BACKEND as BACKEND_NAME
from sglang_hyperaccel.radix_cache.counted_cache import RadixStats, current_stats, register

__all__ = ["BACKEND_NAME", "RadixStats", "current_stats", "register"]
