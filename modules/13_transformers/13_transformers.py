# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 13 — Transformers: LayerNorm, MLP, the pre-norm block, GPT
#
# Module 12 gave us attention: every token builds a weighted average of the
# tokens it may see. A transformer wraps that into a *block* that can be
# stacked dozens of times:
#
#     h = x + Attention(LN1(x))      # tokens exchange information
#     y = h + MLP(LN2(h))            # each token is processed on its own
#
# Three ideas make stacking work:
#
# * **Residual connections** (`x + f(x)`): each block only adds a
#   correction to a running "residual stream", so the gradient has a direct
#   path from the loss to the first layer, whatever the depth.
# * **LayerNorm before each sub-layer** ("pre-norm", as GPT-2 does): the
#   sub-layer always sees inputs of mean 0 and variance 1, however large the
#   stream has grown. The stream itself is never normalized until the very end
#   (`ln_f`), which is why deep pre-norm stacks train without warm-up tricks.
# * **The MLP** widens each token to `4 * D`, applies GELU and projects
#   back: most of a transformer's parameters and FLOPs live here.
#
# GPT is then: token embedding + position embedding, `L` blocks with a causal
# mask, a final LayerNorm and a linear map to vocabulary logits.
#
# In this module you rebuild all of it from differentiable tinytorch ops and
# check, number for number, that it agrees with the engine's fused C++ block
# (`tinytorch.core.transformer`), values *and* gradients.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.attention import causal_mask, scaled_dot_product_attention
from tinytorch.core.transformer import GPT, MLP, LayerNorm, TransformerBlock

tt.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Worked example: what the engine's block is made of
#
# An engine `TransformerBlock(embed_dim, num_heads)` is an ordinary module
# whose parameters you can read. Everything you need for the exercises is an
# attribute:
#
# | attribute | shape | role |
# |---|---|---|
# | `ln1.gamma`, `ln1.beta`, `ln1.eps` | (D,), (D,), float | LayerNorm before attention |
# | `attention.q_proj.weight` / `.bias` (also `k_proj`, `v_proj`, `out_proj`) | (D, D), (D,) | attention projections |
# | `attention.num_heads` | int | heads of size D // num_heads |
# | `ln2.gamma`, `ln2.beta`, `ln2.eps` | (D,), (D,), float | LayerNorm before the MLP |
# | `mlp.linear1.weight` / `.bias` | (D, 4D), (4D,) | widen |
# | `mlp.linear2.weight` / `.bias` | (4D, D), (D,) | project back |
#
# A `Linear`'s weight is stored **(in_features, out_features)**, so a
# linear layer is `x @ weight + bias` with no transpose. Dropout layers exist
# too, but in `eval()` mode (and in a `GPT`, whose dropout is 0 by default)
# they do nothing; we always work in eval mode here.

# %%
D, H, T, B = 8, 2, 5, 2
block = TransformerBlock(embed_dim=D, num_heads=H).eval()
for name, p in block.named_parameters():
    print(f"{name:28s} {tuple(p.shape)}")

x = tt.Tensor(rng.standard_normal((B, T, D)).astype(np.float32) * 3 + 1)
out = block(x, causal_mask(T))
assert out.shape == (B, T, D)   # a block keeps the shape: that is what lets us stack them

# %% [markdown]
# LayerNorm, on one token: subtract the mean of its `D` features, divide by
# the standard deviation (the *biased* variance, dividing by `D`, plus `eps`
# inside the square root), then scale by `gamma` and shift by `beta`. With
# the initial `gamma = 1`, `beta = 0` every token comes out with mean 0 and
# variance ~1:

# %%
ln = LayerNorm(D)
y = np.asarray(ln(x))
print("input  mean/var of token 0:", np.asarray(x)[0, 0].mean().round(3), np.asarray(x)[0, 0].var().round(3))
print("output mean/var of token 0:", y[0, 0].mean().round(6), y[0, 0].var().round(6))
np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
np.testing.assert_allclose(y.var(-1), 1, atol=1e-3)   # var / (var + eps), not exactly 1

# %% [markdown]
# ## Exercise 1: `layer_norm(x, gamma, beta, eps=1e-5)`
#
# `x` is a Tensor of shape `(..., D)`; `gamma`, `beta` are Tensors of shape
# `(D,)`. Return a Tensor of the same shape and dtype as `x`:
#
#     mean = x.mean over the last dim            (keepdims)
#     var  = mean of (x - mean)**2 over the last dim   (biased: divide by D)
#     out  = (x - mean) / sqrt(var + eps) * gamma + beta
#
# Build it from differentiable Tensor ops (`x.mean(axis=-1, keepdims=True)`,
# `-`, `*`, `/`, `.sqrt()`) so that `.backward()` reaches `x`, `gamma` and
# `beta`. Do not call `tt.layer_norm` — that is what we compare against.
# Compute the variance from the centred values `x - mean`, not as
# `E[x^2] - E[x]^2`: in float32 that difference cancels catastrophically
# when the features sit far from zero (try `x + 1e4`).

# %%
def layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last dim of x (..., D) with gamma, beta (D,); returns (..., D)."""
    ### HINT: centre x with its mean over axis -1 (keepdims), divide by sqrt(mean of the squared centred values + eps), then * gamma + beta
    ### BEGIN SOLUTION
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / (var + eps).sqrt() * gamma + beta
    ### END SOLUTION


# %%
# By hand: x = [1, 2, 3, 4] has mean 2.5 and biased variance 1.25.
one = tt.Tensor(np.array([[1.0, 2.0, 3.0, 4.0]], np.float32))
ones4, zeros4 = tt.Tensor(np.ones(4, np.float32)), tt.Tensor(np.zeros(4, np.float32))
expected = (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25 + 1e-5)
np.testing.assert_allclose(layer_norm(one, ones4, zeros4), [expected], rtol=1e-5)
gamma4, beta4 = tt.Tensor(np.array([2, 2, 1, 1], np.float32)), tt.Tensor(np.full(4, 0.5, np.float32))
np.testing.assert_allclose(layer_norm(one, gamma4, beta4), [expected * [2, 2, 1, 1] + 0.5], rtol=1e-5)

# Against the engine, on the block's input and with random gamma / beta:
g = tt.Tensor(rng.standard_normal(D).astype(np.float32))
b = tt.Tensor(rng.standard_normal(D).astype(np.float32))
np.testing.assert_allclose(layer_norm(x, g, b), tt.layer_norm(x, g, b), rtol=1e-4, atol=1e-5)

# Gradients in float64, against the engine's fused backward:
x64 = tt.Tensor(rng.standard_normal((3, 6)), dtype=tt.float64, requires_grad=True)
g64 = tt.Tensor(rng.standard_normal(6), dtype=tt.float64, requires_grad=True)
b64 = tt.Tensor(rng.standard_normal(6), dtype=tt.float64, requires_grad=True)
w64 = tt.Tensor(rng.standard_normal((3, 6)), dtype=tt.float64)
(layer_norm(x64, g64, b64) * w64).sum().backward()
mine = [np.asarray(t.grad).copy() for t in (x64, g64, b64)]
for t in (x64, g64, b64):
    t.grad = None
(tt.layer_norm(x64, g64, b64) * w64).sum().backward()
for got, t in zip(mine, (x64, g64, b64)):
    np.testing.assert_allclose(got, t.grad, rtol=1e-9, atol=1e-12)

# %% [markdown]
# ## Exercise 2: `mlp(x, w1, b1, w2, b2)`
#
# The feed-forward part of a block: `GELU(x @ w1 + b1) @ w2 + b2`, with
# `x` (..., D), `w1` (D, F), `b1` (F,), `w2` (F, D), `b2` (D,) (F is usually
# 4D). Use the **same GELU as the engine's MLP**: the tanh approximation
# `0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))`, which is
# `tt.gelu(h)` (its default `approximate="tanh"`; the exact erf form differs
# by up to ~1e-3 and would not match). Return a Tensor of shape (..., D).

# %%
def mlp(x, w1, b1, w2, b2):
    """GELU(x @ w1 + b1) @ w2 + b2 (tanh GELU); x (..., D) -> (..., D)."""
    ### HINT: two linear maps (x @ w + b, weights are (in, out)) with tt.gelu (tanh form) in between
    ### BEGIN SOLUTION
    return tt.gelu(x @ w1 + b1) @ w2 + b2
    ### END SOLUTION


# %%
ffn = MLP(D).eval()
l1, l2 = ffn.linear1, ffn.linear2
np.testing.assert_allclose(mlp(x, l1.weight, l1.bias, l2.weight, l2.bias), ffn(x), rtol=1e-4, atol=1e-5)
# By hand, D = F = 1: gelu(1) = 0.5 * (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.841192
t1 = tt.Tensor(np.array([[1.0]], np.float32))
w, zero = tt.Tensor(np.array([[1.0]], np.float32)), tt.Tensor(np.array([0.0], np.float32))
np.testing.assert_allclose(mlp(t1, w, zero, w, zero), [[0.841192]], rtol=1e-5)

# %% [markdown]
# ## Exercise 3: `transformer_block(x, block, mask=None)`
#
# Compute the forward pass of the engine block `block` (eval mode) on `x`
# (B, T, D) using **its parameters** (see the table above), and return
# (B, T, D):
#
# 1. `a = layer_norm(x, ln1.gamma, ln1.beta, ln1.eps)`
# 2. `q, k, v = a @ Wq + bq`, ... (each (B, T, D)); split into heads:
#    `reshape(B, T, H, D // H)` then `permute(0, 2, 1, 3)` -> (B, H, T, hd)
# 3. `o, _ = scaled_dot_product_attention(q, k, v, mask)` (the engine's, from
#    `tinytorch.core.attention`; it returns the output and the weights)
# 4. merge the heads back: `permute(0, 2, 1, 3).reshape(B, T, D)`, then the
#    output projection `@ out_proj.weight + out_proj.bias`
# 5. `h = x + that` (first residual)
# 6. return `h + mlp(layer_norm(h, ln2...), linear1..., linear2...)`: note
#    the second LayerNorm sees `h`, the stream *after* attention.
#
# `mask` is `None` or a (T, T) mask in either convention the engine accepts
# (`causal_mask(T)`: 0 / -inf additive, the one GPT uses; or 1 / 0 keep);
# pass it straight to `scaled_dot_product_attention`, it broadcasts over
# batch and heads. Use your own `layer_norm` and `mlp`.

# %%
def transformer_block(x, block, mask=None):
    """Pre-norm block: h = x + attn(ln1(x)); return h + mlp(ln2(h)). x (B, T, D) -> (B, T, D)."""
    ### HINT: ln1 -> q/k/v projections -> reshape(B, T, H, hd).permute(0, 2, 1, 3) -> sdpa -> merge heads -> out_proj -> residual, then ln2 of that stream -> mlp -> residual
    ### BEGIN SOLUTION
    B, T, D = x.shape
    attn = block.attention
    H = attn.num_heads
    hd = D // H

    def heads(t):
        return t.reshape(B, T, H, hd).permute(0, 2, 1, 3)

    a = layer_norm(x, block.ln1.gamma, block.ln1.beta, block.ln1.eps)
    q = heads(a @ attn.q_proj.weight + attn.q_proj.bias)
    k = heads(a @ attn.k_proj.weight + attn.k_proj.bias)
    v = heads(a @ attn.v_proj.weight + attn.v_proj.bias)
    o, _ = scaled_dot_product_attention(q, k, v, mask)
    o = o.permute(0, 2, 1, 3).reshape(B, T, D)
    h = x + (o @ attn.out_proj.weight + attn.out_proj.bias)
    m = block.mlp
    ffn_in = layer_norm(h, block.ln2.gamma, block.ln2.beta, block.ln2.eps)
    return h + mlp(ffn_in, m.linear1.weight, m.linear1.bias, m.linear2.weight, m.linear2.bias)
    ### END SOLUTION


# %%
# A fresh block has gamma = 1 and zero biases; give them other values first so
# that a forgotten beta or bias cannot hide.
with tt.no_grad():
    for name, p in block.named_parameters():
        if not name.endswith("weight"):
            shift = 1.0 if name.endswith("gamma") else 0.0
            p.copy_(tt.Tensor((shift + 0.3 * rng.standard_normal(p.shape)).astype(np.float32)))
for m in (None, causal_mask(T), causal_mask(T, additive=False)):
    np.testing.assert_allclose(transformer_block(x, block, m), block(x, m), rtol=1e-4, atol=1e-5)

# Causality: editing the last token must leave every earlier position unchanged.
x2 = np.asarray(x).copy()
x2[:, -1] = rng.standard_normal((B, D))
before = np.asarray(transformer_block(x, block, causal_mask(T)))
after = np.asarray(transformer_block(tt.Tensor(x2), block, causal_mask(T)))
np.testing.assert_allclose(after[:, :-1], before[:, :-1], atol=1e-6)
assert not np.allclose(after[:, -1], before[:, -1])

# %% [markdown]
# Because every step is a differentiable op on the block's own parameter
# tensors, `loss.backward()` through your block fills the same `.grad`s as
# the engine's fused C++ backward. In float64 they agree to rounding:

# %%
def _float64_copy(mod):
    """Replaces every parameter of mod by a float64 copy (the fused engine runs in float64 too)."""
    for sub in mod.modules():
        for key, val in list(vars(sub).items()):
            if isinstance(val, tt.Tensor) and val.requires_grad:
                setattr(sub, key, tt.Tensor(np.asarray(val), dtype=tt.float64, requires_grad=True))
    return mod


blk64 = _float64_copy(TransformerBlock(D, H).eval())
xg = tt.Tensor(rng.standard_normal((B, T, D)), dtype=tt.float64, requires_grad=True)
wg = tt.Tensor(rng.standard_normal((B, T, D)), dtype=tt.float64)
params = [xg] + blk64.parameters()
(blk64(xg, causal_mask(T)) * wg).sum().backward()
engine_grads = [np.asarray(p.grad).copy() for p in params]
for p in params:
    p.grad = None
(transformer_block(xg, blk64, causal_mask(T)) * wg).sum().backward()
for p, e in zip(params, engine_grads):
    np.testing.assert_allclose(p.grad, e, rtol=1e-7, atol=1e-10)

# %% [markdown]
# ## Exercise 4: `gpt_forward(model, idx)`
#
# `model` is an engine `GPT` (eval mode, dropout 0) and `idx` a (B, T)
# integer array or int64 Tensor of token ids, with `T <= model.max_seq_len`.
# Return the logits, a Tensor (B, T, vocab_size):
#
# 1. `x = tt.embedding(model.token_embedding.weight, idx)` (B, T, D)
#    `+ tt.embedding(model.position_embedding.weight, np.arange(T))` (T, D):
#    positions are learned and always start at 0 for the first token;
#    the (T, D) rows broadcast over the batch.
# 2. `mask = causal_mask(T)` — the additive 0 / -inf mask the engine's GPT
#    builds — and `x = transformer_block(x, blk, mask)` for every `blk` in
#    `model.blocks`, in order (there may be none).
# 3. `x = layer_norm(x, model.ln_f.gamma, model.ln_f.beta, model.ln_f.eps)`.
# 4. `logits = x @ model.lm_head.weight` (D, vocab); `lm_head` has no bias
#    (`model.lm_head.bias is None`).
#
# `tt.embedding` is differentiable in the weight, so the loss's gradient
# reaches the embedding tables too.

# %%
def gpt_forward(model, idx):
    """Logits (B, T, vocab) of engine GPT `model` on token ids idx (B, T), from its parameters."""
    ### HINT: token + position embeddings (positions 0..T-1), every block with causal_mask(T), then ln_f and x @ lm_head.weight
    ### BEGIN SOLUTION
    ids = idx if isinstance(idx, tt.Tensor) else tt.Tensor(np.asarray(idx), dtype=tt.int64)
    T = ids.shape[1]
    positions = tt.Tensor(np.arange(T), dtype=tt.int64)
    x = tt.embedding(model.token_embedding.weight, ids) + tt.embedding(model.position_embedding.weight, positions)
    mask = causal_mask(T)
    for blk in model.blocks:
        x = transformer_block(x, blk, mask)
    x = layer_norm(x, model.ln_f.gamma, model.ln_f.beta, model.ln_f.eps)
    logits = x @ model.lm_head.weight
    if model.lm_head.bias is not None:
        logits = logits + model.lm_head.bias
    return logits
    ### END SOLUTION


# %%
V, L, S = 11, 2, 16
model = GPT(vocab_size=V, embed_dim=D, num_layers=L, num_heads=H, max_seq_len=S).eval()
tokens = rng.integers(0, V, size=(3, 9))
logits = gpt_forward(model, tokens)
assert logits.shape == (3, 9, V)
np.testing.assert_allclose(logits, model(tokens), rtol=1e-4, atol=1e-5)
# The first new token of greedy decoding is the argmax at the last position.
assert model.generate([1, 2, 3], max_new_tokens=1, temperature=0)[3] == \
    int(np.asarray(gpt_forward(model, np.array([[1, 2, 3]])))[0, -1].argmax())

# %% [markdown]
# ## Systems: parameters, FLOPs per token, time
#
# **Parameters.** Per block: two LayerNorms (`2 * 2D`), four attention
# projections (`4 * (D*D + D)`), the MLP (`D*4D + 4D + 4D*D + D`); plus the
# embeddings (`V*D + S*D`), `ln_f` (`2D`) and `lm_head` (`D*V`). Roughly
# `12 L D^2`: the MLP holds two thirds of each block.

# %%
def gpt_parameter_count(V, D, L, S):
    per_block = 2 * 2 * D + 4 * (D * D + D) + (D * 4 * D + 4 * D) + (4 * D * D + D)
    return V * D + S * D + L * per_block + 2 * D + D * V


assert model.num_parameters() == gpt_parameter_count(V, D, L, S)
V2, D2, L2, H2, S2 = 256, 128, 4, 4, 128
big = GPT(vocab_size=V2, embed_dim=D2, num_layers=L2, num_heads=H2, max_seq_len=S2).eval()
n_params = big.num_parameters()
assert n_params == gpt_parameter_count(V2, D2, L2, S2)
print(f"GPT(V={V2}, D={D2}, L={L2}, S={S2}): {n_params:,} parameters, "
      f"{n_params * 4 / 2**20:.2f} MiB in float32 ({L2 * 12 * D2 * D2:,} ~ 12 L D^2 in the blocks)")

# %% [markdown]
# **FLOPs per token** (forward). A matmul with a (D_in, D_out) weight costs
# `2 * D_in * D_out` FLOPs per token (a multiply and an add), so all the
# weight matrices together cost `2 * N_matmul`, where `N_matmul` is every
# parameter except the embeddings, biases and LayerNorms. Attention adds
# what has no weights: `Q K^T` and `weights @ V`, each `2 * T * D` per
# token per layer for a context of `T`. Embedding lookups are copies, not
# FLOPs.

# %%
T2, B2 = 128, 4
n_matmul = L2 * 12 * D2 * D2 + D2 * V2
flops_per_token = 2 * n_matmul + L2 * 2 * (2 * T2 * D2)
print(f"forward FLOPs per token at T={T2}: {flops_per_token / 1e6:.2f} MFLOP "
      f"(weights {2 * n_matmul / 1e6:.2f}, attention scores {L2 * 4 * T2 * D2 / 1e6:.2f})")

idx2 = rng.integers(0, V2, size=(B2, T2))


def median_time(fn, repeats=5):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


with tt.no_grad():
    t_engine = median_time(lambda: big(idx2))
    t_yours = median_time(lambda: gpt_forward(big, idx2))
n_tokens = B2 * T2
for label, t in (("engine GPT (one fused C++ call)", t_engine), ("your gpt_forward (op by op)", t_yours)):
    print(f"{label:34s} {t * 1e3:7.2f} ms  {n_tokens / t:9.0f} tokens/s  "
          f"{flops_per_token * n_tokens / t / 1e9:6.2f} GFLOP/s")
with tt.no_grad():
    np.testing.assert_allclose(gpt_forward(big, idx2), big(idx2), rtol=1e-3, atol=1e-4)

# %% [markdown]
# Both paths do the same arithmetic, which is why the numbers agree. Yours
# launches one op per line, each allocating its result and walking memory
# again; the engine packs Q, K and V into one GEMM, runs a fused
# causal-attention kernel, does LayerNorm in one pass (with a one-pass
# backward) and builds the whole model's graph in a single call. When the
# weight GEMMs dominate the time, as they can here, the two forwards run
# at about the same speed; fusion pays where the work is many small ops.
# Change `D2`, `T2`, `B2` and re-run the cell to see where that happens.
#
# ## Read the engine
#
# * `csrc/nn/transformer.cpp` (and `transformer.h`): the fused block and the
#   whole-GPT forward: LayerNorm -> packed QKV GEMM -> causal attention ->
#   output projection -> residual -> LayerNorm -> Linear+GELU -> Linear ->
#   residual.
# * `csrc/ops/nn_kernels.cpp`: LayerNorm's forward and its one-pass backward
#   kernels; `csrc/ops/linear_kernels.cpp` and `csrc/ops/attention.cpp`: the
#   fused Linear(+GELU) and attention kernels.
# * `csrc/autograd/fused_ops.cpp`: `layer_norm`, `linear`, `linear_gelu`,
#   `attention`: each runs its kernel and records one node.
# * `csrc/autograd/fused_backward.h` / `.cpp`: those nodes (`LayerNormBackward`,
#   `LinearBackward`, `LinearGeluBackward`, `AttentionBackward`), each with the
#   kernel path and the differentiable-op path used for double backward.
# * `csrc/nn/attention.cpp`: scaled dot-product attention and multi-head
#   attention, composed from those ops.
# * `python/tinytorch/core/transformer.py`: the Python modules that own the
#   parameters and fall back to the composed path when you swap in a part.

# %%
print("module 13 checks passed")
