# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 11 — Embeddings
#
# A language model reads token *ids*, but a network needs vectors. An
# `Embedding(vocab_size, embed_dim)` is just a learnable table with one row
# per token: looking up id `i` returns row `i`. No multiplication happens,
# which is why it is cheap even for huge vocabularies (the C++ op is
# `embedding`, read by `tinytorch.core.embeddings.Embedding`).

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.embeddings import Embedding, PositionalEncoding, create_sinusoidal_embeddings

tt.manual_seed(0)
emb = Embedding(vocab_size=6, embed_dim=4)
table = np.asarray(emb.weight).copy()
ids = np.array([[1, 3, 1], [0, 5, 3]])
out = emb(ids)
print("ids", ids.shape, "->", out.shape)
assert out.shape == (2, 3, 4)
np.testing.assert_array_equal(np.asarray(out), table[ids])   # every output row is a table row

# %% [markdown]
# ## Backward is a scatter-add
# Each output row came from one table row, so its gradient flows back to that
# row. When a token appears twice (id 1 and id 3 above), the two gradients
# *add up*. Rows of tokens that never appeared get exactly zero: nothing
# touched them.

# %%
w = np.arange(1.0, 5.0)                      # weight each output column differently
(out * tt.Tensor(w)).sum().backward()
grad = np.asarray(emb.weight.grad)
counts = np.bincount(ids.ravel(), minlength=6)   # [1, 2, 0, 2, 0, 1]
np.testing.assert_array_equal(grad, counts[:, None] * w[None, :])
assert (grad[[2, 4]] == 0).all()
np.testing.assert_array_equal(grad[1], 2 * w)   # id 1 used twice

# %% [markdown]
# ## Where is each token? Positional encodings
# Attention treats its input as a *set*; without extra information "dog bites
# man" and "man bites dog" look the same. A learned `PositionalEncoding` adds
# row `t` of its own table to the vector at position `t`.

# %%
pos = PositionalEncoding(max_seq_len=8, embed_dim=4)
x = out.detach()
y = pos(x)
np.testing.assert_allclose(np.asarray(y), np.asarray(x) + np.asarray(pos.position_embeddings)[:3], rtol=1e-6)

# %% [markdown]
# The original Transformer uses fixed sinusoids instead: even columns
# `sin(pos / 10000^(2i/d))`, odd columns `cos` of the same angle. Each pair of
# columns is a clock ticking at a different speed, so nearby positions get
# similar vectors and no parameters are needed.

# %%
T, d = 10, 6
pe = np.asarray(create_sinusoidal_embeddings(T, d))
p, i = np.arange(T)[:, None], np.arange(0, d, 2)[None, :]
angle = p / 10000 ** (i / d)
np.testing.assert_allclose(pe[:, 0::2], np.sin(angle), atol=1e-6)
np.testing.assert_allclose(pe[:, 1::2], np.cos(angle), atol=1e-6)
np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0, 1])   # position 0: sin 0 = 0, cos 0 = 1

# %% [markdown]
# ## A token that does not exist
# Id 6 has no row in a 6-row table. Instead of reading garbage memory, the
# lookup raises `IndexError`.

# %%
try:
    emb(np.array([2, 6]))
    raise AssertionError("expected IndexError")
except IndexError as e:
    print("IndexError:", e)
print("module 11 checks passed")
