"""RadixAttention (SGLang's prefix cache) over the hyperaccel chip's KV memory, with counters."""

from sglang_hyperaccel.radix_cache.chip_cache import BACKEND_NAME, RadixStats, current_stats, register

__all__ = ["BACKEND_NAME", "RadixStats", "current_stats", "register"]
