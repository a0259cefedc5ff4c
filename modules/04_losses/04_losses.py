# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 04 — Losses: MSE, stable cross-entropy, BCE
#
# Training needs one number that says how wrong the model is, and whose
# gradient says which way to move every parameter. That number is the
# **loss**. Which loss you pick follows from what the model predicts:
#
# * **Mean squared error** for real-valued targets (regression):
#   `mean((prediction - target)²)`.
# * **Cross-entropy** for one class out of `C` (classification, and every
#   next-token prediction of a language model): the model outputs `C` scores
#   (*logits*), softmax turns them into probabilities, and the loss is the
#   mean of `-log p[target]`.
# * **Binary cross-entropy** for yes/no targets with a predicted
#   probability `p`: `-mean(t log p + (1 - t) log(1 - p))`.
#
# The catch is numerical. A confident classifier produces logits like 100 or
# 1000, where `exp` overflows, and a probability of exactly 0 makes `log`
# return `-inf`. The exercises build each loss from tinytorch ops (so that
# `backward()` works through them) in a form that never produces `inf` or
# `nan` for finite inputs.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

# %% [markdown]
# ## Worked example: why the naive cross-entropy fails
# Softmax, then log, then pick the target: fine for small logits, `nan` for
# large ones, because `exp(1000)` is `inf` and `inf / inf` is `nan`.

# %%
logits = np.array([[2.0, 1.0, 0.1], [1000.0, 0.0, -1000.0]])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    print("naive -log p[target] for targets [0, 0]:", -np.log(p[[0, 1], [0, 0]]))
engine_ce = CrossEntropyLoss()(tt.Tensor(logits), np.array([0, 0]))
print("the engine's CrossEntropyLoss:", engine_ce.item())

# %% [markdown]
# The fix is the identity behind every stable implementation, the
# **log-sum-exp trick**: for any constant `m`,
#
# `log Σ_j e^{x_j} = m + log Σ_j e^{x_j - m}`,
#
# and with `m = max_j x_j` every exponent is `<= 0`: nothing overflows, and
# the largest term is exactly `e^0 = 1`, so the sum is at least 1 and its log
# is finite. Then `log_softmax(x)_i = x_i - m - log Σ_j e^{x_j - m}`, and
# cross-entropy never takes a softmax at all.

# %% [markdown]
# ## Exercise 1: `mse_loss(predictions, targets)`
# Return `mean((predictions - targets)²)` over **all** entries, as a 0-d
# Tensor. `targets` may be a Tensor or a numpy array and broadcasts against
# `predictions` (a `(N, 1)` prediction with `(N, 1)` or `(1,)` targets). Use
# tinytorch ops so the gradient reaches `predictions`.

# %%
def _tensor_like(values, like):
    """`values` as a Tensor with the dtype of `like` (targets given as numpy or lists)."""
    return values if isinstance(values, tt.Tensor) else tt.Tensor(np.asarray(values), dtype=like.dtype)


def mse_loss(predictions, targets):
    """mean((predictions - targets)^2) over all entries, differentiable w.r.t. predictions."""
    ### HINT: diff = predictions - targets (as a Tensor); (diff * diff).mean()
    ### BEGIN SOLUTION
    diff = predictions - _tensor_like(targets, predictions)
    return (diff * diff).mean()
    ### END SOLUTION


# %%
pred = tt.Tensor([[1.0], [2.0], [4.0]], dtype=tt.float64, requires_grad=True)
loss = mse_loss(pred, np.array([[1.0], [0.0], [1.0]]))
assert loss.shape == () and loss.item() == (0 + 4 + 9) / 3
loss.backward()
np.testing.assert_allclose(np.asarray(pred.grad), [[0.0], [4 / 3], [2.0]])       # 2 (p - t) / N
np.testing.assert_allclose(mse_loss(pred, np.array([1.0])).item(), MSELoss()(pred, np.array([1.0])).item())

# %% [markdown]
# ## Exercise 2: `log_softmax(x, axis=-1)`
# Write it with the log-sum-exp trick, from tinytorch ops: `m` is the max
# along `axis` (keep the axis so it broadcasts), then
# `x - m - log(sum(exp(x - m), axis, keepdims=True))`. Use `m.detach()`: the
# result does not depend on `m` (its two uses cancel), so no gradient needs to
# flow through the max.

# %%
def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed without overflow (log-sum-exp with the max subtracted)."""
    ### HINT: m = x.max(axis, keepdims=True).detach(); s = x - m; s - tt.log(s.exp().sum(axis, keepdims=True))
    ### BEGIN SOLUTION
    m = x.max(axis, keepdims=True).detach()
    shifted = x - m
    return shifted - tt.log(shifted.exp().sum(axis, keepdims=True))
    ### END SOLUTION


# %%
x = tt.Tensor(logits, dtype=tt.float64)
ls = np.asarray(log_softmax(x))
assert np.all(np.isfinite(ls))
np.testing.assert_allclose(ls, np.asarray(tt.log_softmax(x, -1)), rtol=1e-12)
np.testing.assert_allclose(np.exp(ls).sum(-1), 1.0)
np.testing.assert_allclose(np.asarray(log_softmax(x, axis=0)), np.asarray(tt.log_softmax(x, 0)), rtol=1e-12)

# %% [markdown]
# ## Exercise 3: `cross_entropy_loss(logits, targets, ignore_index=-100)`
# * `logits`: `(N, C)` scores, or `(N, T, C)` for a sequence (one prediction
#   per token). `targets`: integer class ids of shape `(N,)` or `(N, T)`
#   (a numpy array or an int64 Tensor).
# * The loss is the mean over the counted positions of
#   `-log_softmax(logits)[..., target]`. Positions whose target equals
#   `ignore_index` are not counted, neither in the sum nor in the mean
#   (padding in a batch of sentences). If every position is ignored the
#   mean is `0 / 0`: return what the division gives (`nan`), as PyTorch does.
# * Raise `ValueError` if the targets' shape is not the logits' shape
#   without the last axis, and `IndexError` for a counted target outside
#   `0 .. C-1`.
# * Pick the target entries differentiably: multiply by a one-hot mask
#   (`np.eye(C)[ids]`, with ignored rows set to zero) and sum.

# %%
def cross_entropy_loss(logits, targets, ignore_index=-100):
    """Mean of -log softmax(logits)[target] over positions whose target is not ignore_index."""
    ### HINT: one_hot = np.eye(C)[ids] * counted[..., None]; -(log_softmax(logits) * Tensor(one_hot)).sum() / counted.sum()
    ### BEGIN SOLUTION
    ids = np.asarray(targets).astype(np.int64)
    C = logits.shape[-1]
    if ids.shape != tuple(logits.shape[:-1]):
        raise ValueError(f"cross_entropy_loss: targets of shape {ids.shape} do not match logits of shape "
                         f"{tuple(logits.shape)}; expected targets of shape {tuple(logits.shape[:-1])}")
    counted = ids != ignore_index
    bad = counted & ((ids < 0) | (ids >= C))
    if bad.any():
        raise IndexError(f"cross_entropy_loss: target {int(ids[bad][0])} is out of range for {C} classes")
    one_hot = np.eye(C)[np.where(counted, ids, 0)] * counted[..., None]
    picked = (log_softmax(logits) * tt.Tensor(one_hot, dtype=logits.dtype)).sum()
    return picked * -1.0 / float(counted.sum())      # every position ignored: 0 / 0 = nan
    ### END SOLUTION


# %%
lg = tt.Tensor(logits, dtype=tt.float64, requires_grad=True)
ce = cross_entropy_loss(lg, np.array([0, 0]))
print("your cross-entropy:", ce.item(), " engine:", CrossEntropyLoss()(tt.Tensor(logits, dtype=tt.float64), np.array([0, 0])).item())
np.testing.assert_allclose(ce.item(), CrossEntropyLoss()(tt.Tensor(logits, dtype=tt.float64), np.array([0, 0])).item(),
                           rtol=1e-12)
ce.backward()
soft = np.exp(np.asarray(tt.log_softmax(tt.Tensor(logits, dtype=tt.float64), -1)))
np.testing.assert_allclose(np.asarray(lg.grad), (soft - np.eye(3)[[0, 0]]) / 2, atol=1e-12)   # (softmax - onehot) / N
# a sequence batch with padding: the ignored positions change nothing
seq = np.random.default_rng(0).standard_normal((2, 4, 5))
tgt = np.array([[1, 4, -100, -100], [0, 2, 3, -100]])
np.testing.assert_allclose(cross_entropy_loss(tt.Tensor(seq, dtype=tt.float64), tgt).item(),
                           CrossEntropyLoss()(tt.Tensor(seq, dtype=tt.float64), tgt).item(), rtol=1e-12)
for bad_targets, error in [(np.array([0, 1, 2]), ValueError), (np.array([0, 3]), IndexError)]:
    try:
        cross_entropy_loss(tt.Tensor(logits), bad_targets)
        raise AssertionError(f"{bad_targets} should raise {error.__name__}")
    except error as e:
        print(f"{error.__name__}:", e)

# %% [markdown]
# ## Exercise 4: `binary_cross_entropy_loss(predictions, targets)`
# `predictions` are probabilities in `[0, 1]` (e.g. a sigmoid's output),
# `targets` are 0/1 (or soft labels in between) of the same shape; raise
# `ValueError` if the shapes differ. A prediction of exactly 0 or 1 would
# make `log` return `-inf`, so clamp first, as the engine does:
# `p = tt.clip(predictions, 1e-7, 1 - 1e-7)`, then
# `-mean(t log p + (1 - t) log(1 - p))`.

# %%
BCE_EPS = 1e-7


def binary_cross_entropy_loss(predictions, targets):
    """-mean(t log p + (1 - t) log(1 - p)) with p clamped to [1e-7, 1 - 1e-7]."""
    ### HINT: p = tt.clip(predictions, BCE_EPS, 1 - BCE_EPS); t as a Tensor; -(t * log p + (1 - t) * log(1 - p)).mean()
    ### BEGIN SOLUTION
    t = _tensor_like(targets, predictions)
    if tuple(t.shape) != tuple(predictions.shape):
        raise ValueError(f"binary_cross_entropy_loss: predictions {tuple(predictions.shape)} and targets "
                         f"{tuple(t.shape)} must have the same shape")
    p = tt.clip(predictions, BCE_EPS, 1 - BCE_EPS)
    return ((t * tt.log(p) + (1 - t) * tt.log(1 - p)).mean()) * -1.0
    ### END SOLUTION


# %%
pb = tt.Tensor([0.9, 0.2, 0.5], dtype=tt.float64, requires_grad=True)
tb = np.array([1.0, 0.0, 1.0])
bce = binary_cross_entropy_loss(pb, tb)
np.testing.assert_allclose(bce.item(), -(np.log(0.9) + np.log(0.8) + np.log(0.5)) / 3, rtol=1e-12)
bce.backward()
np.testing.assert_allclose(np.asarray(pb.grad), (np.array([0.9, 0.2, 0.5]) - tb) / (np.array([0.9, 0.2, 0.5]) * np.array([0.1, 0.8, 0.5])) / 3, rtol=1e-10)
sure = binary_cross_entropy_loss(tt.Tensor([0.0, 1.0]), np.array([1.0, 0.0]))    # confidently wrong
print("confidently wrong BCE:", sure.item(), "(finite, about -log(1e-7) =", -np.log(1e-7), ")")
np.testing.assert_allclose(sure.item(), BinaryCrossEntropyLoss()(tt.Tensor([0.0, 1.0]), np.array([1.0, 0.0])).item(),
                           rtol=1e-5)

# %% [markdown]
# ## Systems: the cost of a loss, and what the engine fuses
#
# Cross-entropy over a vocabulary of `C` classes for `N` tokens reads the
# `N x C` logits a few times (max, exp-sum, pick). Your version also builds an
# `N x C` one-hot matrix and several full-size temporaries, each a separate
# kernel and a separate backward node. The engine computes the loss in one
# fused C++ kernel and its gradient in one backward node. Measured here
# (medians; both include copying the logits into a new Tensor), at a language
# model's scale:

# %%
def median_time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


N, C = 2048, 1000
rng = np.random.default_rng(1)
big_logits = rng.standard_normal((N, C)).astype(np.float32)
big_targets = rng.integers(0, C, N)


def step(loss_fn):
    lg = tt.Tensor(big_logits, requires_grad=True)
    loss_fn(lg, big_targets).backward()


engine_loss = CrossEntropyLoss()
t_mine = median_time(lambda: step(cross_entropy_loss))
t_engine = median_time(lambda: step(engine_loss))
print(f"cross-entropy forward + backward, {N} x {C} logits: yours {t_mine * 1e3:6.1f} ms, "
      f"engine {t_engine * 1e3:6.1f} ms ({t_mine / t_engine:.1f}x)")
print(f"one logits matrix is {N * C * 4 / 2**20:.1f} MiB; your one-hot mask adds {N * C * 4 / 2**20:.1f} MiB more")

# %% [markdown]
# ## Read the engine
# * `csrc/autograd/differentiable.cpp`: `cross_entropy`, `mse_loss` and
#   `bce_loss` (the clamp to `[1e-7, 1 - 1e-7]`).
# * `csrc/ops/nn_kernels.cpp`: the fused cross-entropy kernel (max subtracted,
#   `ignore_index`); `csrc/ops/softmax.cpp`: log-softmax along an axis.
# * `csrc/autograd/backward.h`: `CrossEntropyBackward` (softmax minus one-hot,
#   divided by the number of counted positions), `MSEBackward`, `BCEBackward`.

# %%
print("module 04 checks passed")
