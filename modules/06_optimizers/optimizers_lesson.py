# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 06 — Optimizers
#
# `backward()` only tells each parameter which way is uphill; the optimizer
# decides how far to move downhill. `step()` is one C++ call
# (`csrc/nn/optimizers.cpp`), so we hand it a known gradient and redo the
# update rule in numpy to check it.

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.optimizers import SGD, Adam, AdamW

w0, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])


def param_with_grad(values, grad):
    p = tt.Tensor(np.array(values), dtype=tt.float64, requires_grad=True)
    p.grad = tt.Tensor(np.array(grad), dtype=tt.float64)
    return p

# %% [markdown]
# ## SGD: plain, momentum, weight decay
# Plain: `p -= lr * g`. Weight decay adds `wd * p` to the gradient, which
# pulls weights towards 0. Momentum keeps a buffer `buf = momentum * buf + g`
# and steps by `buf`, so a gradient that stays the same speeds up.

# %%
p = param_with_grad(w0, g)
SGD([p], lr=0.1).step()
np.testing.assert_allclose(p.numpy(), w0 - 0.1 * g, rtol=1e-12)

p = param_with_grad(w0, g)
SGD([p], lr=0.1, weight_decay=0.01).step()
np.testing.assert_allclose(p.numpy(), w0 - 0.1 * (g + 0.01 * w0), rtol=1e-12)

p = param_with_grad(w0, g)
opt = SGD([p], lr=0.1, momentum=0.9)
opt.step(); opt.step()          # buf = g, then buf = 0.9 * g + g
np.testing.assert_allclose(p.numpy(), w0 - 0.1 * g - 0.1 * 1.9 * g, rtol=1e-12)
np.testing.assert_allclose(opt.momentum_buffers[0].numpy(), 1.9 * g, rtol=1e-12)

# %% [markdown]
# ## Adam and its bias correction
# `m` and `v` start at 0, so after one step `m = 0.1 g` is far too small.
# Dividing by `1 - beta^t` fixes that. Because of it, Adam's first step is
# about `lr` for every parameter, whatever the size of its gradient.

# %%
lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
p = param_with_grad(w0, g)
opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
w, m, v = w0.copy(), np.zeros(2), np.zeros(2)
for t in (1, 2):
    opt.step()
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    np.testing.assert_allclose(p.numpy(), w, rtol=1e-12)
np.testing.assert_allclose(w0 - p.numpy(), [0.02, 0.02], rtol=1e-6)  # ~lr per step

# %% [markdown]
# AdamW shrinks the weights directly, `p *= 1 - lr * wd`, then takes the
# Adam step: the decay no longer goes through the gradient and `sqrt(v)`.

# %%
p = param_with_grad(w0, g)
AdamW([p], lr=lr, weight_decay=0.1).step()
shrunk = w0 * (1 - lr * 0.1)
np.testing.assert_allclose(p.numpy(), shrunk - lr * g / (np.abs(g) + eps), rtol=1e-12)

# %% [markdown]
# ## zero_grad
# Gradients add up across `backward()` calls, so clear them before each new
# one. By default the gradient becomes `None`, not a tensor of zeros.

# %%
p = param_with_grad(w0, g)
opt = SGD([p], lr=0.1)
opt.zero_grad()
assert p.grad is None
opt.step()                      # no gradient: the parameter is skipped
np.testing.assert_allclose(p.numpy(), w0)

# %% [markdown]
# ## Putting it together: minimise a quadratic
# f(p) = sum((p - target)^2) has its minimum at `target`. Each loop is
# forward, backward, step, zero_grad.

# %%
tt.manual_seed(0)
target = np.array([3.0, -1.0, 0.5])
for opt_class, kwargs in [(SGD, dict(lr=0.1, momentum=0.5)), (Adam, dict(lr=0.1))]:
    p = tt.Tensor(np.zeros(3), dtype=tt.float64, requires_grad=True)
    opt = opt_class([p], **kwargs)
    for _ in range(300):
        loss = ((p - tt.Tensor(target, dtype=tt.float64)) ** 2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
    print(opt_class.__name__, "final loss", loss.item())
    np.testing.assert_allclose(p.numpy(), target, atol=1e-3)
print("module 06 checks passed")
