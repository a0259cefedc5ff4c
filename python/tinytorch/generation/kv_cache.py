"""TinyTorch's path for the KV cache; the code lives in tinytorch.perf.memoization (module 15)."""
from ..perf.memoization import KVCache, disable_kv_cache, enable_kv_cache

__all__ = ["KVCache", "enable_kv_cache", "disable_kv_cache"]
