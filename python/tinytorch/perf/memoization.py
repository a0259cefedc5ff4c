"""Module 15: memoization, the key/value cache of autoregressive generation.

Generating token t with the plain forward runs the whole context through
every layer again, although the keys and values of the earlier tokens never
change (causal attention: position i depends only on positions <= i). The
cache keeps them. `KVCache` holds, per layer, a preallocated key tensor and a
value tensor of shape (batch_size, num_heads, max_seq_len, head_dim) (the
layout and API of TinyTorch's `KVCache`); `enable_kv_cache(model)` attaches
one to a GPT, after which `model.generate(...)` runs the prompt once and then
one token per step through the C++ decoder (csrc/nn/kv_decode.cpp), which
writes the new keys/values into these same tensors in place and attends over
them: one crossing into C++ per token, no graph recorded.

Outputs equal the uncached `generate` (greedy: the same ids; sampling with
the same `tinytorch.manual_seed`: the same ids), up to float rounding of the
logits (about 1e-6 relative), because the cached step is the same arithmetic
on fewer rows. When the sequence outgrows `max_seq_len`, the uncached path
crops the context to its last `max_seq_len` tokens, which shifts every
learned position; the cached path does the same (each step then re-runs the
cropped window: no saving beyond `max_seq_len`, but identical results).
"""
import numpy as np

from .. import _C
from ..core.tensor import Tensor

__all__ = ["KVCache", "enable_kv_cache", "disable_kv_cache"]


def _positive_int(name, value, fn="KVCache"):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)


class KVCache:
    """Preallocated keys and values of every layer for incremental decoding.

    caches[layer] = (key_cache, value_cache), each a Tensor of shape
    (batch_size, num_heads, max_seq_len, head_dim). seq_pos counts the cached
    positions: update() writes at [seq_pos, seq_pos + n) without moving it,
    advance(n) moves it once every layer has been updated, get() returns the
    filled part [0, seq_pos) as views (no copy).
    """

    def __init__(self, batch_size, max_seq_len, num_layers, num_heads, head_dim, dtype=np.float32):
        self.batch_size = _positive_int("batch_size", batch_size)
        self.max_seq_len = _positive_int("max_seq_len", max_seq_len)
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 0:
            raise ValueError(f"KVCache: num_layers must be a non-negative integer, got {num_layers!r}")
        self.num_layers = int(num_layers)
        self.num_heads = _positive_int("num_heads", num_heads)
        self.head_dim = _positive_int("head_dim", head_dim)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"KVCache: dtype must be float32 or float64, got {self.dtype}")
        self.seq_pos = 0
        self._allocate()

    def _allocate(self):
        shape = (self.batch_size, self.num_heads, self.max_seq_len, self.head_dim)
        zeros = lambda: Tensor(np.zeros(shape, self.dtype), dtype=self.dtype)  # noqa: E731
        self.caches = [(zeros(), zeros()) for _ in range(self.num_layers)]

    def _check_layer(self, layer_idx, fn):
        if isinstance(layer_idx, bool) or not isinstance(layer_idx, (int, np.integer)):
            raise TypeError(f"KVCache.{fn}: layer_idx must be an integer, got {type(layer_idx).__name__}")
        if not 0 <= layer_idx < self.num_layers:
            raise IndexError(f"KVCache.{fn}: layer_idx {layer_idx} is out of range for num_layers={self.num_layers}")

    def update(self, layer_idx, key, value):
        """Writes key and value, each (batch_size, num_heads, n, head_dim), at positions [seq_pos, seq_pos + n)."""
        self._check_layer(layer_idx, "update")
        k, v = np.asarray(key), np.asarray(value)
        want = (self.batch_size, self.num_heads)
        for name, a in (("key", k), ("value", v)):
            if a.ndim != 4 or a.shape[:2] != want or a.shape[3] != self.head_dim or a.shape[2] < 1:
                raise ValueError(f"KVCache.update: {name} must have shape (batch_size={self.batch_size}, "
                                 f"num_heads={self.num_heads}, n >= 1, head_dim={self.head_dim}), got {a.shape}")
        if k.shape != v.shape:
            raise ValueError(f"KVCache.update: key {k.shape} and value {v.shape} must have the same shape")
        n = k.shape[2]
        if self.seq_pos + n > self.max_seq_len:
            raise ValueError(f"KVCache.update: writing {n} position(s) at seq_pos={self.seq_pos} overflows "
                             f"max_seq_len={self.max_seq_len}; call reset() or build a longer cache")
        key_cache, value_cache = self.caches[layer_idx]
        key_cache.data[:, :, self.seq_pos:self.seq_pos + n, :] = k
        value_cache.data[:, :, self.seq_pos:self.seq_pos + n, :] = v

    def get(self, layer_idx):
        """(keys, values) of the cached positions: Tensors (batch_size, num_heads, seq_pos, head_dim), views."""
        self._check_layer(layer_idx, "get")
        key_cache, value_cache = self.caches[layer_idx]
        return key_cache[:, :, :self.seq_pos, :], value_cache[:, :, :self.seq_pos, :]

    def advance(self, n=1):
        """Moves seq_pos past n newly written positions (call once all layers are updated)."""
        n = _positive_int("n", n, "KVCache.advance")
        if self.seq_pos + n > self.max_seq_len:
            raise ValueError(f"KVCache.advance: seq_pos {self.seq_pos} + {n} exceeds max_seq_len={self.max_seq_len}")
        self.seq_pos += n

    def reset(self):
        """Forgets the cached positions (seq_pos = 0) and zeros them, as TinyTorch's; the memory is kept.

        generate() does not call it: it only rewinds seq_pos, since rows past seq_pos are never read."""
        self.seq_pos = 0
        for key_cache, value_cache in self.caches:
            key_cache.data.fill(0)
            value_cache.data.fill(0)

    def nbytes(self):
        """Bytes held: 2 (K and V) * num_layers * batch * heads * max_seq_len * head_dim * itemsize."""
        return (2 * self.num_layers * self.batch_size * self.num_heads * self.max_seq_len * self.head_dim
                * self.dtype.itemsize)

    def get_memory_usage(self):
        """TinyTorch's summary: total_mb, per_layer_mb, cache_tensors, total_elements."""
        total = self.nbytes() / (1024 * 1024)
        return {"total_mb": total, "per_layer_mb": total / max(self.num_layers, 1),
                "cache_tensors": 2 * self.num_layers,
                "total_elements": self.nbytes() // self.dtype.itemsize}

    def _resize_batch(self, batch_size):
        """generate() with another batch size than the cache's: new memory, same object."""
        if batch_size != self.batch_size:
            self.batch_size = int(batch_size)
            self._allocate()
        self.seq_pos = 0

    def __repr__(self):
        return (f"KVCache(batch_size={self.batch_size}, max_seq_len={self.max_seq_len}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads}, head_dim={self.head_dim}, seq_pos={self.seq_pos}, "
                f"{self.nbytes() / 2**20:.2f} MB)")


def _check_model(model, fn):
    for name in ("embed_dim", "num_layers", "num_heads", "max_seq_len", "blocks", "generate"):
        if not hasattr(model, name):
            raise TypeError(f"{fn}: expected a GPT-style model (with {name}), got {type(model).__name__}")


def _model_dtype(model):
    return np.dtype(model.token_embedding.weight.dtype)


def enable_kv_cache(model, batch_size=1):
    """Attaches a KVCache to a GPT and returns it; model.generate() then decodes incrementally.

    The cache holds max_seq_len positions of every layer (see KVCache.nbytes()).
    A generate() call with another batch size reallocates it in place.
    """
    _check_model(model, "enable_kv_cache")
    cache = KVCache(batch_size, model.max_seq_len, model.num_layers, model.num_heads,
                    model.embed_dim // model.num_heads, dtype=_model_dtype(model))
    object.__setattr__(model, "_kv_cache", cache)
    object.__setattr__(model, "_cache_enabled", True)
    return cache


def disable_kv_cache(model):
    """Detaches the cache: model.generate() recomputes the whole context again."""
    _check_model(model, "disable_kv_cache")
    object.__setattr__(model, "_cache_enabled", False)
    model.__dict__.pop("_kv_cache", None)


def cache_usable(model):
    """True when the C++ decoder computes exactly what model.forward would (stock, fusable GPT, one float dtype)."""
    from ..core.transformer import GPT
    if not isinstance(model, GPT) or not model._fusable():
        return False
    dtypes = {np.dtype(p.dtype) for p in model.parameters()}
    return len(dtypes) == 1 and dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}


def make_decoder(model, cache):
    """The C++ decode step (tinytorch._C._KVDecoder) of this model over this cache's tensors:
    .step(tokens (B, n) int64 Tensor, start) -> logits (B, n, vocab), writing the cache rows [start, start + n)."""
    blocks = [b._params() for b in model.blocks]
    return _C._KVDecoder(model.token_embedding.weight, model.position_embedding.weight, blocks, model.ln_f.gamma,
                         model.ln_f.beta, model.ln_f.eps, model.lm_head.weight, model.lm_head.bias, model.num_heads,
                         [k for k, _ in cache.caches], [v for _, v in cache.caches], cache.batch_size,
                         cache.max_seq_len)


def cached_generate(model, seq, max_new_tokens, pick, cache=None):
    """The decode loop of GPT.generate over a cache: seq (batch, T) int64 -> seq extended by max_new_tokens.

    pick(logits (batch, vocab) float64) -> next ids. The prompt runs once (prefill), then
    each new token once. Past max_seq_len the context is cropped exactly as the uncached path
    does it, so each further step re-runs the cropped window.
    """
    if cache is None:
        cache = KVCache(seq.shape[0], model.max_seq_len, model.num_layers, model.num_heads,
                        model.embed_dim // model.num_heads, dtype=_model_dtype(model))
    expect = (model.num_layers, model.num_heads, model.embed_dim // model.num_heads, model.max_seq_len,
              _model_dtype(model))
    have = (cache.num_layers, cache.num_heads, cache.head_dim, cache.max_seq_len, cache.dtype)
    if have != expect:
        raise ValueError(f"generate: the KV cache was built for (num_layers, num_heads, head_dim, max_seq_len, dtype)"
                         f" = {have}, the model needs {expect}; call enable_kv_cache(model) again")
    cache._resize_batch(seq.shape[0])
    decoder = make_decoder(model, cache)
    limit = model.max_seq_len
    new = seq[:, -limit:]
    for i in range(int(max_new_tokens)):
        if cache.seq_pos + new.shape[1] > limit:  # window full: crop as the uncached path and recompute
            cache.seq_pos = 0
            new = seq[:, -limit:]
        logits = np.asarray(decoder.step(Tensor(np.ascontiguousarray(new), dtype=np.int64), cache.seq_pos))
        cache.seq_pos += new.shape[1]
        nxt = pick(logits[:, -1, :].astype(np.float64))
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
        new = nxt[:, None]
    return seq
