# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 11 — Embeddings and positional encoding
#
# The tokenizer of module 10 turns text into integer ids. A network cannot do
# arithmetic on "token 4017", it needs a vector. An **embedding** is the
# simplest possible answer: a learnable table `weight` of shape
# `(vocab_size, embed_dim)` with one row per token. Reading token `i` means
# returning row `i`.
#
# Two facts make this layer special:
#
# * **It is a lookup, not a multiplication.** Mathematically the lookup equals
#   `one_hot(ids) @ weight`, but the one-hot matrix is almost all zeros, so
#   the engine just copies rows. The cost is `N * embed_dim` copies for `N`
#   tokens, whatever the vocabulary size.
# * **Its backward is a scatter-add.** Each output row came from exactly one
#   table row, so its gradient goes back to that row. A token that occurs
#   twice in the batch collects two gradients (they add up); a token that
#   never occurs gets exactly zero.
#
# After that, the model still has no idea *where* each token sits in the
# sequence: attention (module 12) treats its input as a set. The second half
# of this module adds position information with the fixed sinusoids of the
# original Transformer.

# %%
import math
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.embeddings import Embedding, PositionalEncoding, create_sinusoidal_embeddings

# %% [markdown]
# ## Worked example: the engine's `Embedding`
# A 6-token vocabulary with 4-dimensional vectors. The ids can have any shape;
# the output has that shape plus one trailing axis of size `embed_dim`.

# %%
tt.manual_seed(0)
emb = Embedding(vocab_size=6, embed_dim=4)
table = np.asarray(emb.weight).copy()
ids = np.array([[1, 3, 1], [0, 5, 3]])            # a batch of 2 sequences of 3 tokens
out = emb(ids)
print("ids", ids.shape, "-> vectors", out.shape)
assert out.shape == (2, 3, 4)
np.testing.assert_array_equal(np.asarray(out), table[ids])   # every output row is a table row

# The same numbers, the expensive way: a one-hot matrix times the table.
one_hot = np.eye(6, dtype=np.float32)[ids]          # (2, 3, 6), one 1 per row
np.testing.assert_allclose(one_hot @ table, np.asarray(out), rtol=1e-6)

# %% [markdown]
# ### Backward is a scatter-add
# Weight each output column differently and sum, then look at the gradient of
# the table. Token 1 and token 3 each occur twice, tokens 2 and 4 never.

# %%
col = np.arange(1.0, 5.0, dtype=np.float32)          # d loss / d out[..., j] = col[j]
(out * tt.Tensor(col)).sum().backward()
grad = np.asarray(emb.weight.grad)
counts = np.bincount(ids.ravel(), minlength=6)       # [1, 2, 0, 2, 0, 1]
print("uses per token:", counts)
np.testing.assert_array_equal(grad, counts[:, None] * col[None, :])
assert (grad[[2, 4]] == 0).all()                     # unused rows: exactly zero

# %% [markdown]
# ## Exercise 1: `embedding_lookup(weight, indices)`
#
# Write the forward of an embedding yourself, from engine ops that record the
# autograd graph.
#
# * `weight`: a `(V, D)` Tensor (it may require grad, and may be a
#   non-contiguous view such as a transpose).
# * `indices`: integer token ids of **any shape** `S`, given as an int64
#   Tensor or a numpy integer array.
# * Return a Tensor of shape `S + (D,)` whose entry `[..., :]` is row
#   `weight[indices[...]]`.
# * Raise `IndexError` (naming the bad id and `V`) if any id is `< 0` or
#   `>= V`. Careful: tinytorch's tensor indexing wraps negative indices like
#   Python (`-1` is the last row), which is wrong for token ids, so check the
#   range yourself **before** indexing.
# * Gradients must reach `weight`: do not go through numpy for the values.
#   Indexing a Tensor with an int64 Tensor (`weight[idx]`, the engine's
#   `take`) or `tt.index_select(weight, 0, flat_idx)` followed by `reshape`
#   both record a backward node whose rule is exactly the scatter-add above.
#   (Do not call `tt.embedding` or `Embedding`: that is what we compare with.)

# %%
def embedding_lookup(weight, indices):
    """Rows of `weight` (V, D) for int ids of any shape S; returns shape S + (D,), differentiable w.r.t. weight."""
    ### HINT: check 0 <= id < V with numpy, then index weight with an int64 Tensor of the ids
    ### BEGIN SOLUTION
    ids = np.asarray(indices).astype(np.int64)
    vocab = weight.shape[0]
    bad = (ids < 0) | (ids >= vocab)
    if bad.any():
        raise IndexError(f"embedding_lookup: token id {int(ids[bad].flat[0])} is out of range for a table "
                         f"of {vocab} rows (valid ids are 0 to {vocab - 1})")
    flat = tt.Tensor(ids.reshape(-1), dtype=tt.int64)
    rows = tt.index_select(weight, 0, flat)                  # (N, D), backward: index_add (scatter-add)
    return rows.reshape(*ids.shape, weight.shape[1])
    ### END SOLUTION


# %% [markdown]
# Check: the same values as the engine's `Embedding` (with its weights
# copied), ids of several shapes, gradients that add up over repeated ids,
# and `IndexError` for an id that has no row.

# %%
w = tt.Tensor(table, requires_grad=True)
mine = embedding_lookup(w, ids)
assert mine.shape == (2, 3, 4)
np.testing.assert_array_equal(np.asarray(mine), table[ids])
np.testing.assert_array_equal(np.asarray(embedding_lookup(w, np.array([5]))), table[[5]])
np.testing.assert_array_equal(np.asarray(embedding_lookup(w, tt.Tensor(np.array([[[2]]]), dtype=tt.int64))),
                              table[[[[2]]]])
(mine * tt.Tensor(col)).sum().backward()
np.testing.assert_array_equal(np.asarray(w.grad), grad)   # the engine's scatter-add, from the cell above
for bad_id in (6, -1):
    try:
        embedding_lookup(w, np.array([0, bad_id]))
        raise AssertionError(f"id {bad_id} should raise IndexError")
    except IndexError as e:
        print("IndexError:", e)

# %% [markdown]
# ## Where is each token? Positional encodings
# Attention compares every token with every other token, but nothing in that
# comparison says which came first: "dog bites man" and "man bites dog" give
# the same set of vectors. So we add a vector that depends only on the
# position `t` to the token vector at position `t`.
#
# The engine offers a **learned** version, `PositionalEncoding`, which is just
# a second table with one row per position:

# %%
pos = PositionalEncoding(max_seq_len=8, embed_dim=4)
x = out.detach()                                      # (2, 3, 4) token vectors from above
y = pos(x)
np.testing.assert_allclose(np.asarray(y), np.asarray(x) + np.asarray(pos.position_embeddings)[:3], rtol=1e-6)

# %% [markdown]
# A learned table cannot say anything about a position it never saw in
# training. The original Transformer ("Attention Is All You Need", 2017)
# used a **fixed** encoding instead. Column pairs `(2i, 2i+1)` hold a sine and
# a cosine of the same angle,
#
#     PE[pos, 2i]     = sin(pos / 10000^(2i / dim))
#     PE[pos, 2i + 1] = cos(pos / 10000^(2i / dim))
#
# so each pair is a clock hand turning at its own speed: pair 0 turns by one
# radian per position, the last pair almost not at all (a period of about
# `2 pi * 10000` positions). Because `sin/cos(a + b)` is a rotation of
# `sin/cos(a)`, moving `k` positions is the same linear map at every position,
# which makes relative offsets easy for attention to read.
#
# ## Exercise 2: `sinusoidal_positional_encoding(max_len, dim)`
#
# * Return a `(max_len, dim)` **float32** Tensor with the formula above, for
#   `pos = 0 .. max_len - 1`.
# * The frequency of pair `i` is `1 / 10000^(2i / dim)`: the exponent uses the
#   column index `2i` (0, 2, 4, ...), not the pair index `i`.
# * Odd `dim`: the last column `dim - 1` is even, so it is a sine with its own
#   frequency and has no cosine partner (there are `ceil(dim/2)` sine columns
#   and `floor(dim/2)` cosine columns).
# * Compute the angles in float64 with numpy (positions times frequencies, an
#   outer product) and convert to float32 at the end: in float32, `pos * freq`
#   loses digits for large positions. No gradient is needed: nothing learns.

# %%
def sinusoidal_positional_encoding(max_len, dim):
    """(max_len, dim) float32 Tensor: sin in the even columns, cos in the odd ones, pair i at 1/10000^(2i/dim)."""
    ### HINT: freq = 1 / 10000 ** (np.arange(0, dim, 2) / dim); angle = outer(positions, freq); fill 0::2 and 1::2
    ### BEGIN SOLUTION
    positions = np.arange(max_len, dtype=np.float64)[:, None]            # (max_len, 1)
    freq = 1.0 / 10000.0 ** (np.arange(0, dim, 2, dtype=np.float64) / dim)  # (ceil(dim/2),)
    angle = positions * freq                                             # (max_len, ceil(dim/2))
    pe = np.zeros((max_len, dim), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : dim // 2])
    return tt.Tensor(pe.astype(np.float32))
    ### END SOLUTION


# %% [markdown]
# Check by hand: position 0 is `[0, 1, 0, 1, ...]` (sin 0, cos 0); with
# `dim = 4`, pair 1 has frequency `1 / 10000^(2/4) = 1/100`. Then the engine's
# `create_sinusoidal_embeddings` for several sizes, odd ones included.

# %%
pe = sinusoidal_positional_encoding(3, 4)
assert isinstance(pe, tt.Tensor) and pe.shape == (3, 4) and np.asarray(pe).dtype == np.float32
np.testing.assert_array_equal(np.asarray(pe)[0], [0, 1, 0, 1])
np.testing.assert_allclose(np.asarray(pe)[1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)], rtol=1e-6)
np.testing.assert_allclose(np.asarray(pe)[2, :2], [math.sin(2), math.cos(2)], rtol=1e-6)
for T_, d_ in [(10, 6), (50, 16), (7, 5), (4, 1)]:
    np.testing.assert_allclose(np.asarray(sinusoidal_positional_encoding(T_, d_)),
                               np.asarray(create_sinusoidal_embeddings(T_, d_)), atol=1e-6)

# %% [markdown]
# ### What the encoding buys: similarity depends on distance only
# The dot product `PE[p] . PE[p + k]` is a sum of `cos(k * freq_i)`: it does
# not depend on `p`. Nearby positions are similar, far ones less so.

# %%
big = np.asarray(sinusoidal_positional_encoding(64, 32)).astype(np.float64)
for k in (0, 1, 4, 16):
    dots = [big[p] @ big[p + k] for p in (0, 10, 30)]
    print(f"offset {k:2d}: PE[p].PE[p+k] for p = 0, 10, 30 -> {np.round(dots, 4)}")
    np.testing.assert_allclose(dots, dots[0], atol=1e-4)

# %% [markdown]
# ## Systems: what an embedding costs
#
# **Memory.** The table is `V * D` floats, usually the largest single
# parameter of a small language model. GPT-2 small (V = 50257, D = 768) spends
# about 154 MB (147 MiB) on it in float32, and Adam keeps two more tables of the same size.

# %%
for name, V, D in [("this lesson", 6, 4), ("char-level model", 96, 128), ("GPT-2 small", 50257, 768)]:
    nbytes = V * D * 4
    print(f"{name:18s} V={V:6d} D={D:4d}: table {nbytes / 2**20:9.2f} MiB, with Adam state {3 * nbytes / 2**20:9.2f} MiB")

# %% [markdown]
# **Time.** A lookup of `N` tokens copies `N * D` numbers. The one-hot matmul
# computes the same thing with `2 * N * V * D` FLOPs, and builds an `N x V`
# matrix first. Measured on the engine (medians of a few runs; the numbers
# depend on your machine):

# %%
def median_time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


V, D, N = 4096, 64, 512
rng = np.random.default_rng(0)
table_t = tt.Tensor(rng.standard_normal((V, D)).astype(np.float32))
tok = rng.integers(0, V, size=N)
tok_t = tt.Tensor(tok, dtype=tt.int64)
one_hot_t = tt.Tensor(np.eye(V, dtype=np.float32)[tok])
t_engine = median_time(lambda: tt.embedding(table_t, tok_t))
t_mine = median_time(lambda: embedding_lookup(table_t, tok))
t_onehot = median_time(lambda: one_hot_t @ table_t)
print(f"engine embedding : {t_engine * 1e6:8.1f} us  ({N * D * 4} bytes copied)")
print(f"embedding_lookup : {t_mine * 1e6:8.1f} us  (your range check + index_select + reshape)")
print(f"one-hot @ table  : {t_onehot * 1e6:8.1f} us  ({2 * N * V * D / 1e6:.0f} MFLOP, one-hot is {N * V * 4 / 2**20:.1f} MiB)")

# %% [markdown]
# **Backward.** The gradient of the table is `V x D`, but only the rows of the
# tokens in the batch are nonzero. The engine's rule is an `index_add`: `N`
# row additions, not a `V x N` by `N x D` matmul.
#
# ## Read the engine
# * `csrc/autograd/differentiable.cpp`: `embedding(weight, indices)`, the
#   range check and the backward node that scatter-adds into the table.
# * `csrc/ops/index.cpp`: `index_select`, `take` (which wraps negative
#   indices), `index_add` and `scatter_add`, the kernels under your lookup.
# * `python/tinytorch/core/embeddings.py`: `Embedding`, the learned
#   `PositionalEncoding`, and `create_sinusoidal_embeddings`.

# %%
print("module 11 checks passed")
