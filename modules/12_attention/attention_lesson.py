# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 12 — Attention
#
# Each position asks a question (query), every position offers a label (key)
# and a payload (value). The answer is a weighted average of the values,
# weighted by how well each key matches the query:
# `softmax(Q K^T / sqrt(d)) V`. Dividing by `sqrt(d)` keeps the dot products
# from growing with the head size, so the softmax does not saturate.

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.attention import MultiHeadAttention, scaled_dot_product_attention

rng = np.random.default_rng(0)
T, d = 4, 8
Q, K, V = (rng.standard_normal((2, T, d)).astype(np.float32) for _ in range(3))
out, weights = scaled_dot_product_attention(tt.Tensor(Q), tt.Tensor(K), tt.Tensor(V))
out, weights = np.asarray(out), np.asarray(weights)
assert out.shape == (2, T, d) and weights.shape == (2, T, T)
np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)   # each query's weights are a distribution


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


ref_w = softmax(Q @ K.transpose(0, 2, 1) / np.sqrt(d))
np.testing.assert_allclose(weights, ref_w, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(out, ref_w @ V, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## Causal masking: no peeking at the future
# A language model predicts token t+1 from tokens 0..t, so query t must not
# see keys after t. The module accepts two conventions: a *keep/block* mask
# (1 = may look, 0 = blocked) or an *additive* mask (0 keeps, -inf blocks,
# added to the scores). Both make the future weights exactly 0.

# %%
keep = np.tril(np.ones((T, T), dtype=np.float32))
additive = np.triu(np.full((T, T), -np.inf, dtype=np.float32), k=1)
out_k, w_k = (np.asarray(t) for t in scaled_dot_product_attention(Q, K, V, mask=tt.Tensor(keep)))
out_a, w_a = (np.asarray(t) for t in scaled_dot_product_attention(Q, K, V, mask=tt.Tensor(additive)))
future = np.triu(np.ones((T, T), dtype=bool), k=1)
assert (w_k[:, future] == 0).all() and (w_a[:, future] == 0).all()
np.testing.assert_allclose(w_k, w_a, atol=1e-7)
np.testing.assert_allclose(out_k, out_a, atol=1e-6)
np.testing.assert_array_equal(w_k[:, 0], np.tile([1, 0, 0, 0], (2, 1)))   # the first token sees only itself
scores = Q @ K.transpose(0, 2, 1) / np.sqrt(d)
np.testing.assert_allclose(w_k, softmax(scores + additive), rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## Multi-head attention, by hand
# `MultiHeadAttention(embed_dim, num_heads)` projects x with three `Linear`
# layers (weight shape (in, out), so `y = x @ W + b`), splits the last axis
# into `num_heads` heads of size `embed_dim // num_heads`, attends in each
# head separately, glues the heads back together and applies `out_proj`.
# Several small heads can each look for a different pattern.

# %%
tt.manual_seed(0)
D, H = 8, 2
mha = MultiHeadAttention(embed_dim=D, num_heads=H)
for lin in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):   # biases start at 0: make them count
    np.asarray(lin.bias)[:] = rng.standard_normal(D)
x = rng.standard_normal((2, T, D)).astype(np.float32)
y = np.asarray(mha(tt.Tensor(x), mask=tt.Tensor(keep)))


def proj(lin, a):
    return a @ np.asarray(lin.weight) + np.asarray(lin.bias)


def heads(a):                      # (B, T, D) -> (B, H, T, D/H)
    return a.reshape(2, T, H, D // H).transpose(0, 2, 1, 3)


q, k, v = (heads(proj(p, x)) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
w = softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(D // H) + additive)
merged = (w @ v).transpose(0, 2, 1, 3).reshape(2, T, D)
np.testing.assert_allclose(y, proj(mha.out_proj, merged), rtol=1e-4, atol=1e-5)
print("module 12 checks passed")
