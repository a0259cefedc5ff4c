# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 15 — Memoization: the KV cache
#
# A language model writes one token at a time: run the model on the text so
# far, pick the next token from the last position's logits, append it, run
# the model again. Done naively, step `t` pushes all `t` tokens through every
# layer, so a sequence of `n` tokens costs `1 + 2 + ... + n ~ n^2 / 2`
# token-passes, and almost all of that work is repeated.
#
# Why repeated? In a causal transformer, position `i` only looks at positions
# `<= i`. So the **key** and **value** vectors that position `i` produces in
# every layer depend only on tokens `0..i`: appending a token at the end can
# never change them. The only new work at step `t` is the new token itself:
# its query, key and value, its attention over everything before it, its MLP.
#
# **Memoization** is remembering the result of a computation you will need
# again. The KV cache remembers every layer's keys and values:
#
# * preallocate, per layer, a key tensor and a value tensor of shape
#   `(batch, heads, max_seq_len, head_dim)`;
# * run the prompt once (the *prefill*) and write its keys and values;
# * then, per generated token, run only that token, write its key and value
#   at the next position, and attend with its query over all cached rows.
#
# The cost per step drops from the whole context to one token: `~n` instead of
# `~n^2 / 2` token-passes for the sequence. The price is memory, which grows
# with layers, heads, sequence length and batch, and on large models is what
# limits how many users a GPU serves at once.

# %%
import math
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.attention import scaled_dot_product_attention, causal_mask
from tinytorch.core.transformer import GPT
from tinytorch.perf import memoization

rng = np.random.default_rng(0)

# %% [markdown]
# ## Worked example: keys of the past do not change
# Run a small GPT on a sequence, then on the same sequence with one more
# token. The logits of the first `t` positions are identical: the new token
# changed nothing about them. (This is exactly what the cache exploits.)

# %%
tt.manual_seed(0)
model = GPT(vocab_size=30, embed_dim=32, num_layers=2, num_heads=4, max_seq_len=24)
model.eval()
seq = rng.integers(0, 30, size=(1, 10))
with tt.no_grad():
    short = np.asarray(model(tt.Tensor(seq[:, :9], dtype=tt.int64)))
    longer = np.asarray(model(tt.Tensor(seq, dtype=tt.int64)))
print("largest change of the first 9 positions' logits:", np.abs(longer[:, :9] - short).max())
np.testing.assert_allclose(longer[:, :9], short, atol=1e-5)

# %% [markdown]
# ## Exercise 1: `KVCache`
#
# The cache of one model, with TinyTorch's API:
#
# * `KVCache(batch_size, max_seq_len, num_layers, num_heads, head_dim)`
#   stores those five numbers, sets `seq_pos = 0` and fills `self.caches` with
#   one `(key_cache, value_cache)` pair per layer, each a **float32 Tensor of
#   zeros** of shape `(batch_size, num_heads, max_seq_len, head_dim)`.
#   Allocate it all now: growing a tensor on every step would copy it.
# * `update(layer_idx, key, value)`: `key` and `value` have shape
#   `(batch_size, num_heads, n, head_dim)` with `n >= 1` new positions; write
#   them at positions `[seq_pos, seq_pos + n)` of that layer. Do **not** move
#   `seq_pos` (every layer writes at the same positions; `advance` moves it
#   once all layers are done). Raise `IndexError` for a `layer_idx` outside
#   `0..num_layers-1` and `ValueError` if the write would pass `max_seq_len`.
# * `get(layer_idx)`: the filled part `[0, seq_pos)` of that layer's keys and
#   values, as two Tensors of shape `(batch_size, num_heads, seq_pos, head_dim)`
#   (same `IndexError` rule).
# * `advance(n=1)`: `seq_pos += n`; `reset()`: back to `seq_pos = 0`.
#
# A Tensor's `.data` is a numpy array **sharing its memory**, so
# `key_cache.data[:, :, a:b] = ...` writes into the Tensor in place.

# %%
class KVCache:
    """Per-layer preallocated keys and values (batch, heads, max_seq_len, head_dim); seq_pos counts filled rows."""

    def __init__(self, batch_size, max_seq_len, num_layers, num_heads, head_dim):
        ### HINT: store the five sizes, self.seq_pos = 0, self.caches = [(Tensor of zeros, Tensor of zeros)] * layers
        ### BEGIN SOLUTION
        self.batch_size, self.max_seq_len, self.num_layers = batch_size, max_seq_len, num_layers
        self.num_heads, self.head_dim = num_heads, head_dim
        self.seq_pos = 0
        shape = (batch_size, num_heads, max_seq_len, head_dim)
        self.caches = [(tt.Tensor(np.zeros(shape, np.float32)), tt.Tensor(np.zeros(shape, np.float32)))
                       for _ in range(num_layers)]
        ### END SOLUTION

    def _check_layer(self, layer_idx):
        if not 0 <= layer_idx < self.num_layers:
            raise IndexError(f"KVCache: layer_idx {layer_idx} is out of range for {self.num_layers} layers")

    def update(self, layer_idx, key, value):
        ### HINT: check the layer and that seq_pos + n <= max_seq_len, then key_cache.data[:, :, pos:pos + n] = key
        ### BEGIN SOLUTION
        self._check_layer(layer_idx)
        k, v = np.asarray(key), np.asarray(value)
        n = k.shape[2]
        if self.seq_pos + n > self.max_seq_len:
            raise ValueError(f"KVCache.update: {n} new position(s) at seq_pos {self.seq_pos} do not fit "
                             f"max_seq_len={self.max_seq_len}")
        key_cache, value_cache = self.caches[layer_idx]
        key_cache.data[:, :, self.seq_pos:self.seq_pos + n] = k
        value_cache.data[:, :, self.seq_pos:self.seq_pos + n] = v
        ### END SOLUTION

    def get(self, layer_idx):
        ### HINT: slice [:, :, :seq_pos] of the layer's two cache Tensors
        ### BEGIN SOLUTION
        self._check_layer(layer_idx)
        key_cache, value_cache = self.caches[layer_idx]
        return key_cache[:, :, :self.seq_pos], value_cache[:, :, :self.seq_pos]
        ### END SOLUTION

    def advance(self, n=1):
        ### HINT: move seq_pos forward by n
        ### BEGIN SOLUTION
        self.seq_pos += n
        ### END SOLUTION

    def reset(self):
        self.seq_pos = 0


# %% [markdown]
# Check: writes of 2 positions, then 1, against a numpy copy kept by hand;
# `update` leaves `seq_pos` alone; errors for a bad layer and an overflow.

# %%
cache = KVCache(batch_size=2, max_seq_len=5, num_layers=2, num_heads=3, head_dim=4)
assert cache.seq_pos == 0 and len(cache.caches) == 2
assert cache.caches[1][0].shape == (2, 3, 5, 4) and np.asarray(cache.caches[1][0]).dtype == np.float32
ref = np.zeros((2, 2, 2, 3, 5, 4), np.float32)          # (layer, K/V, batch, heads, positions, head_dim)
for n in (2, 1):
    for layer in range(2):
        k, v = rng.standard_normal((2, 3, n, 4)), rng.standard_normal((2, 3, n, 4))
        cache.update(layer, tt.Tensor(k.astype(np.float32)), tt.Tensor(v.astype(np.float32)))
        ref[layer, 0, :, :, cache.seq_pos:cache.seq_pos + n] = k
        ref[layer, 1, :, :, cache.seq_pos:cache.seq_pos + n] = v
    cache.advance(n)
got_k, got_v = cache.get(1)
assert cache.seq_pos == 3 and got_k.shape == (2, 3, 3, 4)
np.testing.assert_allclose(np.asarray(got_k), ref[1, 0, :, :, :3], rtol=1e-6)
np.testing.assert_allclose(np.asarray(got_v), ref[1, 1, :, :, :3], rtol=1e-6)
for bad in (lambda: cache.get(2), lambda: cache.update(-1, k, v)):
    try:
        bad()
        raise AssertionError("a bad layer_idx should raise IndexError")
    except IndexError as e:
        print("IndexError:", e)
try:
    cache.update(0, np.zeros((2, 3, 3, 4)), np.zeros((2, 3, 3, 4)))
    raise AssertionError("3 more positions at seq_pos 3 of 5 should raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `cached_attention(q, keys, values)`
#
# The attention of the **new** queries over everything cached so far.
#
# * `q`: `(B, H, n, d)`, the queries of the `n` newest positions;
# * `keys`, `values`: `(B, H, L, d)`, the cache rows `[0, L)`, whose last `n`
#   rows are those same new positions (they were written before attending);
# * new query `i` sits at position `L - n + i`, so it may look at keys
#   `0 .. L - n + i` (causal) and not at the newer ones;
# * return `softmax(q K^T / sqrt(d)) V` with that mask, shape `(B, H, n, d)`,
#   as a Tensor. numpy is fine (nothing here needs a gradient: generation
#   runs without autograd); subtract each row's max before `exp`.
#
# With `n = 1` (one decode step) the mask blocks nothing: the newest token
# may look at all of the past.

# %%
def cached_attention(q, keys, values):
    """Causal attention of the last n positions' queries q (B, H, n, d) over cached keys/values (B, H, L, d)."""
    ### HINT: scores = q @ keys^T / sqrt(d); block key j > L - n + i with -inf; stable softmax; @ values
    ### BEGIN SOLUTION
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, keys, values))
    n, L, d = q.shape[-2], k.shape[-2], q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(d)
    blocked = np.arange(L)[None, :] > (L - n + np.arange(n))[:, None]       # (n, L)
    scores = np.where(blocked, -np.inf, scores)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return tt.Tensor((w @ v).astype(np.float32))
    ### END SOLUTION


# %% [markdown]
# Check: the rows of ordinary causal attention over the whole sequence
# (the engine's `scaled_dot_product_attention` with a causal mask) equal the
# cached attention of the last `n` queries, for `n = 1` and `n = 3`.

# %%
B, H, L, d = 2, 3, 7, 8
Q, K, V = (rng.standard_normal((B, H, L, d)).astype(np.float32) for _ in range(3))
full, _ = scaled_dot_product_attention(tt.Tensor(Q), tt.Tensor(K), tt.Tensor(V), causal_mask(L))
for n in (1, 3):
    mine = cached_attention(tt.Tensor(Q[:, :, L - n:]), tt.Tensor(K), tt.Tensor(V))
    assert mine.shape == (B, H, n, d)
    np.testing.assert_allclose(np.asarray(mine), np.asarray(full)[:, :, L - n:], rtol=1e-4, atol=1e-5)
print("cached attention == the last rows of full causal attention")

# %% [markdown]
# ## Worked example: one GPT step over the cache, in Python
# With the two pieces, a whole model step is the usual block, run on the new
# tokens only: embeddings at positions `[pos, pos + n)`, and in each block
# LayerNorm, the Q/K/V projections, **write K and V into the cache**, attend
# with `cached_attention` over rows `[0, pos + n)`, output projection, MLP.
# After the last layer, `advance(n)`. (The engine's `GPT` stores Linear
# weights as `(in, out)`, so a projection is `h @ W + b`.)

# %%
def np_layer_norm(x, ln):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * np.asarray(ln.gamma) + np.asarray(ln.beta)


def np_linear(x, lin):
    y = x @ np.asarray(lin.weight)
    return y if lin.bias is None else y + np.asarray(lin.bias)


def np_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def python_gpt_step(model, cache, new_ids):
    """Logits (B, n, vocab) of the n new tokens new_ids (B, n), reusing the cache's keys and values."""
    B, n = new_ids.shape
    pos, H = cache.seq_pos, model.num_heads
    x = np.asarray(model.token_embedding.weight)[new_ids] + np.asarray(model.position_embedding.weight)[pos:pos + n]
    heads = lambda t: t.reshape(B, n, H, -1).transpose(0, 2, 1, 3)       # (B, n, D) -> (B, H, n, d)  # noqa: E731
    for layer, block in enumerate(model.blocks):
        h = np_layer_norm(x, block.ln1)
        att = block.attention
        q, k, v = (heads(np_linear(h, p)) for p in (att.q_proj, att.k_proj, att.v_proj))
        cache.update(layer, k.astype(np.float32), v.astype(np.float32))
        keys = np.asarray(cache.caches[layer][0])[:, :, :pos + n]           # the past and the new rows
        values = np.asarray(cache.caches[layer][1])[:, :, :pos + n]
        o = np.asarray(cached_attention(q, keys, values)).transpose(0, 2, 1, 3).reshape(B, n, -1)
        x = x + np_linear(o, att.out_proj)
        x = x + np_linear(np_gelu(np_linear(np_layer_norm(x, block.ln2), block.mlp.linear1)), block.mlp.linear2)
    cache.advance(n)
    return np_linear(np_layer_norm(x, model.ln_f), model.lm_head)


py_cache = KVCache(1, model.max_seq_len, model.num_layers, model.num_heads, model.embed_dim // model.num_heads)
first = python_gpt_step(model, py_cache, seq[:, :6])                 # prefill: 6 tokens at once
np.testing.assert_allclose(first, longer[:, :6], rtol=1e-3, atol=1e-4)
for t in range(6, 10):                                               # then one token per step
    step = python_gpt_step(model, py_cache, seq[:, t:t + 1])
    np.testing.assert_allclose(step[:, 0], longer[:, t], rtol=1e-3, atol=1e-4)
print("the cached Python steps reproduce the full forward's logits at every position")

# %% [markdown]
# ## Exercise 3: `generate_with_cache(step, prompt_ids, max_new_tokens)`
#
# The decode loop, greedy. `step(new_ids, start)` runs `new_ids` `(B, n)` at
# positions `[start, start + n)` over a cache and returns their logits
# `(B, n, vocab)` (the engine's C++ step below, or `python_gpt_step`
# wrapped).
#
# * Call `step` **once** on the whole prompt at `start = 0` (prefill);
# * then repeat: pick each row's argmax of the **last** position's logits,
#   append it, and call `step` with **only that token** `(B, 1)` at its own
#   position, until `max_new_tokens` tokens are new. The last new token is
#   not run (its logits are not needed);
# * return the prompt followed by the new tokens, an int64 array
#   `(B, T + max_new_tokens)`. The caller guarantees that
#   `T + max_new_tokens <= max_seq_len`.

# %%
def generate_with_cache(step, prompt_ids, max_new_tokens):
    """Greedy decoding with a prefill call, then one step call per new token; returns (B, T + max_new_tokens)."""
    ### HINT: logits = step(prompt, 0); loop: nxt = logits[:, -1].argmax(-1); append; logits = step(nxt[:, None], pos)
    ### BEGIN SOLUTION
    seq = np.asarray(prompt_ids, dtype=np.int64)
    if max_new_tokens == 0:
        return seq
    logits = np.asarray(step(seq, 0))
    for i in range(max_new_tokens):
        nxt = logits[:, -1].argmax(-1).astype(np.int64)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
        if i + 1 < max_new_tokens:
            logits = np.asarray(step(nxt[:, None], seq.shape[1] - 1))
    return seq
    ### END SOLUTION


# %% [markdown]
# Check: with the engine's C++ step (`tinytorch.perf.memoization`, one call
# into `csrc/nn/kv_decode.cpp` per step), your loop gives the same tokens as
# the engine's uncached `generate`, and it called `step` once with the prompt
# and then with one token at a time at increasing positions.

# %%
def engine_step(model, batch):
    """The engine's decode step over a fresh cache, recording how it was called."""
    c = memoization.KVCache(batch, model.max_seq_len, model.num_layers, model.num_heads,
                            model.embed_dim // model.num_heads)
    decoder = memoization.make_decoder(model, c)
    calls = []

    def step(new_ids, start):
        calls.append((np.asarray(new_ids).shape[1], start))
        return decoder.step(tt.Tensor(np.ascontiguousarray(new_ids), dtype=tt.int64), start)
    return step, calls


prompt = rng.integers(0, 30, size=(2, 5))
step, calls = engine_step(model, 2)
mine = generate_with_cache(step, prompt, 12)
np.testing.assert_array_equal(mine, model.generate(prompt, 12, temperature=0, use_cache=False))
assert calls == [(5, 0)] + [(1, p) for p in range(5, 16)], calls
print("same tokens as the uncached engine; calls:", calls[:3], "...")

# %% [markdown]
# ## Exercise 4: `kv_cache_bytes(...)`: what the cache costs
#
# Keys **and** values, for every layer, batch row, head, position and head
# dimension: write `kv_cache_bytes(num_layers, batch_size, num_heads,
# max_seq_len, head_dim, bytes_per_value=4)` returning the bytes as an int.

# %%
def kv_cache_bytes(num_layers, batch_size, num_heads, max_seq_len, head_dim, bytes_per_value=4):
    """Bytes of a KV cache: keys and values of every layer, row, head, position and head dimension."""
    ### HINT: 2 (K and V) times the product of all the sizes
    ### BEGIN SOLUTION
    return int(2 * num_layers * batch_size * num_heads * max_seq_len * head_dim * bytes_per_value)
    ### END SOLUTION


# %% [markdown]
# Check against the cache you built, and a few real models (GPT-2 small:
# 12 layers, 12 heads of 64, 1024 positions; a 7B model with 32 layers, 32
# heads of 128 and 4096 positions in float16):

# %%
assert kv_cache_bytes(2, 2, 3, 5, 4) == sum(np.asarray(t).nbytes for pair in cache.caches for t in pair)
for name, args in [("this lesson's GPT", (2, 1, 4, 24, 8, 4)), ("GPT-2 small, batch 1", (12, 1, 12, 1024, 64, 4)),
                   ("7B model, fp16, batch 1", (32, 1, 32, 4096, 128, 2)),
                   ("7B model, fp16, batch 32", (32, 32, 32, 4096, 128, 2))]:
    print(f"{name:26s}: {kv_cache_bytes(*args) / 2**20:12,.2f} MiB")
assert kv_cache_bytes(32, 1, 32, 4096, 128, 2) == 2 * 2**30       # 2 GiB per sequence

# %% [markdown]
# ## Systems: tokens per second, cached and not
#
# The engine's `GPT.generate` uses the cache when you call
# `memoization.enable_kv_cache(model)` (or pass `use_cache=True`): the prompt
# runs once, then each token crosses into C++ once, with no autograd graph.
# Without it, every step re-runs the whole context. Measured here on a
# medium model (the numbers depend on your machine; medians of 3 runs):

# %%
def median_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


tt.manual_seed(1)
medium = GPT(vocab_size=96, embed_dim=128, num_layers=4, num_heads=4, max_seq_len=128)
p = rng.integers(0, 96, size=(1, 8))
new = 120
t_plain = median_time(lambda: medium.generate(p, new, temperature=0, use_cache=False))
t_cached = median_time(lambda: medium.generate(p, new, temperature=0, use_cache=True))
print(f"no cache : {new / t_plain:8,.0f} tokens/s")
print(f"KV cache : {new / t_cached:8,.0f} tokens/s   ({t_plain / t_cached:.1f}x)")
assert (medium.generate(p, new, temperature=0, use_cache=True) ==
        medium.generate(p, new, temperature=0, use_cache=False)).all()

engine_cache = memoization.enable_kv_cache(medium)
print(engine_cache)
assert engine_cache.nbytes() == kv_cache_bytes(4, 1, 4, 128, 32)
print(f"cache {engine_cache.nbytes() / 2**10:.0f} KiB vs weights "
      f"{sum(np.asarray(w).nbytes for w in medium.parameters()) / 2**20:.1f} MiB")

# %% [markdown]
# What to take away:
#
# * The saving grows with the context: step `t` without the cache costs about
#   `t` token-passes, with it one. At the end of a 128-token sequence that is
#   over 100x less arithmetic per step; the measured gain is smaller because a
#   one-token step is bound by reading the weights from memory, not by FLOPs.
# * The cache is small next to the weights for this model, but it grows with
#   `batch * max_seq_len`: for a 7B model serving 32 users, it is larger than
#   the weights themselves. That is why production systems page it (vLLM),
#   share heads (multi-query / grouped-query attention) or quantize it
#   (module 16).
# * Past `max_seq_len` a model with learned positions has to crop its context,
#   which shifts every position: the engine then re-runs the cropped window at
#   each step (same tokens as without the cache, no saving).
#
# ## Read the engine
# * `csrc/nn/kv_decode.h`, `csrc/nn/kv_decode.cpp`: the C++ decode step:
#   embeddings at the new positions, the projections, the keys and values
#   written into the cache tensors in place, attention of the new queries
#   over the cached rows with BLAS, the MLP, ln_f and lm_head.
# * `csrc/python/kv_bind.cpp`: the binding `_KVDecoder`, built once per
#   `generate` call.
# * `python/tinytorch/perf/memoization.py`: `KVCache`, `enable_kv_cache`,
#   `disable_kv_cache` and the decode loop `GPT.generate` calls.

# %%
print("module 15 checks passed")
