# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 13 — Transformers
#
# A transformer block is two sub-layers, each wrapped as `x + f(norm(x))`:
# attention lets tokens exchange information, the MLP processes each token on
# its own. Stack blocks between an embedding and a vocabulary projection and
# you have GPT. The pieces live in `tinytorch.core.transformer`.

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.attention import causal_mask
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.transformer import GPT, MLP, LayerNorm, TransformerBlock

tt.manual_seed(0)
rng = np.random.default_rng(0)
B, T, D = 2, 5, 8
x = rng.standard_normal((B, T, D)).astype(np.float32) * 3 + 1

# %% [markdown]
# ## LayerNorm: every token vector rescaled to mean 0, variance 1
# Deep stacks drift: activations grow or shrink layer after layer.
# LayerNorm resets each vector, then a learned `gamma` (scale, starts at 1)
# and `beta` (shift, starts at 0) give the network back its freedom.

# %%
ln = LayerNorm(D)
y = np.asarray(ln(tt.Tensor(x)))
np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
np.testing.assert_allclose(y.var(-1), 1, atol=1e-3)          # var + eps, eps = 1e-5
ln.gamma, ln.beta = tt.Tensor(np.full(D, 2.0, np.float32)), tt.Tensor(np.full(D, 0.5, np.float32))
np.testing.assert_allclose(np.asarray(ln(tt.Tensor(x))), 2 * y + 0.5, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## MLP and the block
# The MLP widens to `4 * D`, applies GELU and projects back, so shapes are
# preserved; so are the block's, which is what lets us stack them. In
# `eval()` mode dropout is off and the block is deterministic.

# %%
assert MLP(D)(tt.Tensor(x)).shape == (B, T, D)
block = TransformerBlock(embed_dim=D, num_heads=2).eval()
out = np.asarray(block(tt.Tensor(x), causal_mask(T)))
assert out.shape == (B, T, D)

# %% [markdown]
# With a causal mask, token t only sees tokens 0..t, so editing the last
# token must leave every earlier output unchanged. Without a mask, the edit
# leaks backwards into every position.

# %%
x2 = x.copy()
x2[:, -1] = rng.standard_normal((B, D))      # not a constant shift: LayerNorm would erase that
out2 = np.asarray(block(tt.Tensor(x2), causal_mask(T)))
np.testing.assert_allclose(out2[:, :-1], out[:, :-1], atol=1e-6)
assert not np.allclose(out2[:, -1], out[:, -1])
leaky = np.asarray(block(tt.Tensor(x))), np.asarray(block(tt.Tensor(x2)))
assert not np.allclose(leaky[0][:, 0], leaky[1][:, 0])

# %% [markdown]
# ## GPT
# GPT adds token and position embeddings, applies its own causal mask in
# every block, a final LayerNorm and `lm_head` (embed -> vocab, no bias).
# Counting parameters by hand is a good check that you know every piece.

# %%
V, L, H, S = 11, 2, 2, 16
model = GPT(vocab_size=V, embed_dim=D, num_layers=L, num_heads=H, max_seq_len=S)
per_block = 2 * D + 4 * (D * D + D) + 2 * D + (D * 4 * D + 4 * D) + (4 * D * D + D)
assert model.num_parameters() == V * D + S * D + L * per_block + 2 * D + D * V
print("GPT parameters:", model.num_parameters())

# %% [markdown]
# One step of training: predict each next token (targets = inputs shifted by
# one), backpropagate, update. The loss on this batch should go down.

# %%
tokens = rng.integers(0, V, size=(4, 9))
inputs, targets = tokens[:, :-1], tokens[:, 1:]
loss_fn, opt = CrossEntropyLoss(), Adam(model.parameters(), lr=1e-2)
loss = loss_fn(model(inputs), targets)
opt.zero_grad()
loss.backward()
opt.step()
after = loss_fn(model(inputs), targets).item()
print(f"loss {loss.item():.4f} -> {after:.4f}")
assert after < loss.item()

# %% [markdown]
# `temperature=0` means greedy decoding: always take the most likely next
# token, so two calls agree, and the first new token is the argmax of the
# logits at the last prompt position.

# %%
prompt = [1, 2, 3]
a = model.generate(prompt, max_new_tokens=6, temperature=0)
assert a == model.generate(prompt, max_new_tokens=6, temperature=0)
assert len(a) == 9 and a[:3] == prompt
assert a[3] == int(np.asarray(model(np.array([prompt])))[0, -1].argmax())
print("module 13 checks passed")
