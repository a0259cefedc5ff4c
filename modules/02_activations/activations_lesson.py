# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 02 — Activations
#
# Stack two linear layers and you get... one linear layer. The nonlinearity
# in between is what lets a network bend. Each activation here is a `Module`
# wrapping one C++ elementwise kernel, and each has a backward rule
# (`csrc/autograd/backward.h`). We check every one against its numpy formula.

# %%
import math

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh

xs = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
x = tt.Tensor(xs, dtype=tt.float64)

assert np.asarray(ReLU()(x)).tolist() == np.maximum(xs, 0).tolist()          # exact
np.testing.assert_allclose(Sigmoid()(x), 1 / (1 + np.exp(-xs)), rtol=1e-12)
np.testing.assert_allclose(Tanh()(x), np.tanh(xs), rtol=1e-12)

# %% [markdown]
# ## GELU: two flavours
# GELU is x * Phi(x) (Phi = the normal CDF). The exact form needs erf; GPT-2
# used a cheaper tanh curve. They differ by less than 1e-3 — close, not equal.

# %%
erf = np.vectorize(math.erf)
gelu_exact = 0.5 * xs * (1 + erf(xs / math.sqrt(2)))
gelu_tanh = 0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs**3)))
np.testing.assert_allclose(GELU(approximate="none")(x), gelu_exact, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(GELU()(x), gelu_tanh, rtol=1e-10, atol=1e-12)       # default: tanh
assert 0 < np.abs(gelu_exact - gelu_tanh).max() < 1e-3

# %% [markdown]
# ## Sigmoid must not overflow
# Naively, 1/(1+exp(-x)) at x = -1000 computes exp(1000) = inf. The kernel
# uses exp(x)/(1+exp(x)) for negative x, so only exp of a negative number
# is ever taken: the answer saturates cleanly to 0 or 1, no warnings, no NaN.

# %%
big = Sigmoid()(tt.Tensor([-1000.0, 1000.0]))
assert np.asarray(big).tolist() == [0.0, 1.0]

# %% [markdown]
# ## Softmax ignores a shift
# softmax(x + c) = softmax(x): the factor exp(c) cancels. That is why the
# kernel subtracts the row max first — logits of 1000 don't become inf.

# %%
logits = np.random.default_rng(0).normal(size=(2, 5))
p = Softmax(dim=-1)(tt.Tensor(logits, dtype=tt.float64))
e = np.exp(logits - logits.max(-1, keepdims=True))
np.testing.assert_allclose(p, e / e.sum(-1, keepdims=True), rtol=1e-12)
np.testing.assert_allclose(np.asarray(p).sum(-1), [1.0, 1.0])
shifted = Softmax(dim=-1)(tt.Tensor(logits + 1000.0, dtype=tt.float64))
np.testing.assert_allclose(shifted, p, rtol=1e-9)

# %% [markdown]
# ## Gradients
# `.backward()` on the sum gives each element's own derivative. Compare with
# the calculus: relu' = step (0 at x = 0 here), sigmoid' = s(1 - s),
# tanh' = 1 - tanh².

# %%
def grad_of(act, values):
    t = tt.Tensor(values, dtype=tt.float64, requires_grad=True)
    act(t).sum().backward()
    return np.asarray(t.grad)


assert grad_of(ReLU(), xs).tolist() == (xs > 0).astype(float).tolist()
s = 1 / (1 + np.exp(-xs))
np.testing.assert_allclose(grad_of(Sigmoid(), xs), s * (1 - s), rtol=1e-10)
np.testing.assert_allclose(grad_of(Tanh(), xs), 1 - np.tanh(xs) ** 2, rtol=1e-10)
pdf = np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi)
np.testing.assert_allclose(grad_of(GELU("none"), xs), 0.5 * (1 + erf(xs / math.sqrt(2))) + xs * pdf, rtol=1e-8)

# %% [markdown]
# ## Your turn
# Softmax's outputs sum to 1, so the sum's gradient is 0 for every input.
# Weight the outputs instead: d(sum w*p)/dx = p * (w - sum(w*p)). Check it.

# %%
w = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
t = tt.Tensor(logits[0], dtype=tt.float64, requires_grad=True)
(Softmax()(t) * tt.Tensor(w, dtype=tt.float64)).sum().backward()
p0 = np.asarray(p)[0]
np.testing.assert_allclose(t.grad, p0 * (w - (w * p0).sum()), rtol=1e-9, atol=1e-14)
print("module 02 checks passed")
