# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 04 — Losses
#
# A loss turns "how wrong is the model" into one number that backward() can
# start from. Each loss here is one fused C++ op with its own backward
# (`csrc/ops/nn_kernels.cpp`). We check each against its textbook formula.

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

rng = np.random.default_rng(0)
pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
mse = MSELoss()(tt.Tensor(pred, dtype=tt.float64), tt.Tensor(target, dtype=tt.float64))
assert mse.shape == ()                                     # a scalar: mean over all 12 elements
np.testing.assert_allclose(mse.item(), ((pred - target) ** 2).mean(), rtol=1e-12)

# %% [markdown]
# ## Cross-entropy: logits in, class ids out
# The model outputs raw scores (logits), the targets are integer classes.
# The loss is -mean(log softmax(logits)[i, target_i]): the surprise of the
# right answer, averaged over the batch.

# %%
logits = rng.normal(size=(5, 4))
labels = np.array([0, 3, 1, 1, 2])
ce = CrossEntropyLoss()


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


expected = -np_log_softmax(logits)[np.arange(5), labels].mean()
np.testing.assert_allclose(ce(tt.Tensor(logits, dtype=tt.float64), labels).item(), expected, rtol=1e-12)

# %% [markdown]
# ## Huge logits stay finite
# exp(10000) is inf, so a naive softmax-then-log gives nan. Subtracting the
# row max first (log-sum-exp trick) makes the largest exponent exp(0) = 1.

# %%
huge = tt.Tensor([[10000.0, 0.0, -10000.0]])
assert ce(huge, np.array([0])).item() == 0.0               # certain and right
assert ce(huge, np.array([1])).item() == 10000.0           # certain and wrong by 1e4

# %% [markdown]
# ## ignore_index: padding doesn't count
# In language models some positions are padding. Marking them with
# ignore_index (-100 by default) removes them from both the sum and the
# count of the mean — and from the gradient.

# %%
masked = np.array([0, -100, 1, -100, 2])
keep = masked != -100
t = tt.Tensor(logits, dtype=tt.float64, requires_grad=True)
loss = ce(t, masked)
np.testing.assert_allclose(loss.item(), -np_log_softmax(logits)[keep][np.arange(3), masked[keep]].mean(), rtol=1e-12)
loss.backward()
assert np.all(np.asarray(t.grad)[~keep] == 0.0)

# %% [markdown]
# ## The famous gradient: (softmax - onehot) / N
# Differentiating -log softmax gives p - 1 at the target and p elsewhere.
# This clean form is why the loss and softmax are fused into one op.

# %%
t = tt.Tensor(logits, dtype=tt.float64, requires_grad=True)
ce(t, labels).backward()
onehot = np.eye(4)[labels]
np.testing.assert_allclose(t.grad, (np.exp(np_log_softmax(logits)) - onehot) / 5, rtol=1e-10, atol=1e-14)

# %% [markdown]
# ## Binary cross-entropy takes probabilities
# Unlike CrossEntropyLoss, BCE expects p already in (0, 1) (e.g. after a
# Sigmoid). It clamps p to [1e-7, 1 - 1e-7], so a confident mistake costs
# about 16 instead of inf.

# %%
p = np.array([0.9, 0.2, 0.6, 0.01])
y = np.array([1.0, 0.0, 1.0, 0.0])
bce = BinaryCrossEntropyLoss()(tt.Tensor(p, dtype=tt.float64), tt.Tensor(y, dtype=tt.float64))
np.testing.assert_allclose(bce.item(), -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(), rtol=1e-12)
wrong = BinaryCrossEntropyLoss()(tt.Tensor([0.0, 1.0]), tt.Tensor([1.0, 0.0])).item()
assert np.isfinite(wrong) and 15 < wrong < 17

# %% [markdown]
# ## Your turn
# MSE's gradient w.r.t. the predictions is 2 (pred - target) / N. Check it.

# %%
q = tt.Tensor(pred, dtype=tt.float64, requires_grad=True)
MSELoss()(q, tt.Tensor(target, dtype=tt.float64)).backward()
np.testing.assert_allclose(q.grad, 2 * (pred - target) / pred.size, rtol=1e-12)
print("module 04 checks passed")
