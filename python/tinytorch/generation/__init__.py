"""TinyTorch's import path for generation helpers: `tinytorch.generation.kv_cache`."""
from . import kv_cache
from .kv_cache import KVCache, disable_kv_cache, enable_kv_cache

__all__ = ["kv_cache", "KVCache", "enable_kv_cache", "disable_kv_cache"]
