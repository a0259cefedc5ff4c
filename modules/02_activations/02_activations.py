# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 02 — Activations and their derivatives
#
# Stack two linear layers and you get one linear layer: `W2 (W1 x) = (W2 W1) x`.
# Depth only buys expressive power if something **nonlinear** sits between
# the layers. That something is an activation function, applied to every
# entry on its own.
#
# For training, each activation needs two things: its value, and its
# **derivative**, which the backward pass multiplies into the upstream
# gradient. This module asks for both, for the five activations every model
# in this course uses:
#
# | name | formula | derivative |
# |------|---------|-----------|
# | ReLU | `max(x, 0)` | `1` if `x > 0`, else `0` |
# | Sigmoid | `1 / (1 + e^-x)` | `s (1 - s)` |
# | Tanh | `(e^x - e^-x) / (e^x + e^-x)` | `1 - tanh²` |
# | GELU (tanh form) | `0.5 x (1 + tanh(u))`, `u = √(2/π) (x + 0.044715 x³)` | product and chain rule |
# | Softmax (along an axis) | `e^{x_i} / Σ_j e^{x_j}` | a full Jacobian: see Exercise 5 |
#
# Two of them hide a numerical trap (`e^x` overflows float32 at `x ≈ 89`, float64 at
# `x ≈ 710`), and you will write them so that it cannot spring.
#
# You write each function with **numpy** on `np.asarray(x)` and return a
# tinytorch Tensor of the input's dtype: the lesson is about the math, and
# the engine's kernels are what we compare with.

# %%
import math
import time
import warnings

import numpy as np

import tinytorch as tt

# %% [markdown]
# ## Worked example: the engine's activations, and where the derivative comes from
# The engine has every activation as a C++ kernel with a backward rule. The
# derivative of an elementwise function is what `backward()` of the sum
# leaves in `.grad`, because `d(sum f(x))/dx_i = f'(x_i)`.

# %%
xs = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])


def engine_derivative(fn, values):
    t = tt.Tensor(values, dtype=tt.float64, requires_grad=True)
    fn(t).sum().backward()
    return np.asarray(t.grad)


print("tt.relu(xs)         ", np.asarray(tt.relu(tt.Tensor(xs, dtype=tt.float64))))
print("d relu / dx (engine)", engine_derivative(tt.relu, xs))
print("d tanh / dx (engine)", np.round(engine_derivative(tt.tanh, xs), 4))
# a finite difference says the same for tanh: (f(x + h) - f(x - h)) / 2h
h = 1e-6
np.testing.assert_allclose((np.tanh(xs + h) - np.tanh(xs - h)) / (2 * h), engine_derivative(tt.tanh, xs), rtol=1e-7)


def as_numpy(x):
    """The values of a Tensor (or array-like) as a numpy array, and the tinytorch dtype to return in."""
    if isinstance(x, tt.Tensor):
        return np.asarray(x), x.dtype
    arr = np.asarray(x, dtype=np.float64)
    return arr, tt.float64


# %% [markdown]
# ## Exercise 1: `relu(x)` and `relu_grad(x)`
# `relu` returns `max(x, 0)` entrywise; `relu_grad` returns the derivative at
# each entry: `1.0` where `x > 0`, `0.0` elsewhere (at exactly 0 we pick 0,
# as the engine and PyTorch do). Both return a Tensor of `x`'s shape and dtype,
# built from `as_numpy(x)` like this: `values, dtype = as_numpy(x)`, then
# `tt.Tensor(result, dtype=dtype)`.

# %%
def relu(x):
    """max(x, 0) entrywise, as a Tensor of x's dtype."""
    ### HINT: np.maximum(values, 0)
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    return tt.Tensor(np.maximum(values, 0), dtype=dtype)
    ### END SOLUTION


def relu_grad(x):
    """d relu / dx entrywise: 1 where x > 0, else 0."""
    ### HINT: (values > 0) as a float array
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    return tt.Tensor((values > 0).astype(values.dtype), dtype=dtype)
    ### END SOLUTION


# %%
assert np.asarray(relu(tt.Tensor(xs))).tolist() == [0, 0, 0, 0, 0.5, 1, 3]
assert np.asarray(relu_grad(tt.Tensor(xs))).tolist() == [0, 0, 0, 0, 1, 1, 1]
np.testing.assert_array_equal(np.asarray(relu_grad(tt.Tensor(xs, dtype=tt.float64))), engine_derivative(tt.relu, xs))

# %% [markdown]
# ## Exercise 2: `sigmoid(x)` and `sigmoid_grad(x)`, without overflow
# The textbook formula `1 / (1 + exp(-x))` computes `exp(1000)` for
# `x = -1000`: numpy returns `inf` with an overflow warning (the answer, 0,
# happens to survive; in other formulas it becomes `nan`). Write it so that
# `exp` only ever sees a number `<= 0`:
#
# * for `x >= 0`: `1 / (1 + exp(-x))`,
# * for `x < 0`: `exp(x) / (1 + exp(x))` (the same value, multiplied through by `exp(x)`).
#
# `np.exp(-np.abs(x))` computes the one exponential both branches need; pick
# the branch per entry with `np.where`. Then `sigmoid_grad(x) = s * (1 - s)`
# with `s = sigmoid(x)`. Neither may raise a numpy overflow warning, even for
# `x = ±1000` in float32.

# %%
def sigmoid(x):
    """1 / (1 + e^-x) entrywise, computed without ever overflowing exp."""
    ### HINT: z = np.exp(-np.abs(v)); np.where(v >= 0, 1 / (1 + z), z / (1 + z))
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    z = np.exp(-np.abs(values))
    return tt.Tensor(np.where(values >= 0, 1 / (1 + z), z / (1 + z)), dtype=dtype)
    ### END SOLUTION


def sigmoid_grad(x):
    """d sigmoid / dx = s (1 - s)."""
    ### HINT: s = np.asarray(sigmoid(x)); s * (1 - s)
    ### BEGIN SOLUTION
    _, dtype = as_numpy(x)
    s = np.asarray(sigmoid(x))
    return tt.Tensor(s * (1 - s), dtype=dtype)
    ### END SOLUTION


# %%
np.testing.assert_allclose(np.asarray(sigmoid(tt.Tensor(xs, dtype=tt.float64))), 1 / (1 + np.exp(-xs)), rtol=1e-12)
assert float(np.asarray(sigmoid(tt.Tensor([0.0])))[0]) == 0.5
with warnings.catch_warnings():
    warnings.simplefilter("error")               # an overflow warning would fail this cell
    extreme = np.asarray(sigmoid(tt.Tensor([-1000.0, 1000.0])))
    assert extreme.tolist() == [0.0, 1.0]
    assert np.asarray(sigmoid_grad(tt.Tensor([-1000.0, 0.0, 1000.0]))).tolist() == [0.0, 0.25, 0.0]
np.testing.assert_allclose(np.asarray(sigmoid_grad(tt.Tensor(xs, dtype=tt.float64))),
                           engine_derivative(tt.sigmoid, xs), rtol=1e-12)

# %% [markdown]
# ## Exercise 3: `tanh(x)` and `tanh_grad(x)`
# `np.tanh` is stable; use it. The derivative is `1 - tanh(x)²`. (Why is that
# convenient in a backward pass? It only needs the forward's *output*, so the
# engine saves the output, not the input.)

# %%
def tanh(x):
    """tanh entrywise."""
    ### HINT: np.tanh(values)
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    return tt.Tensor(np.tanh(values), dtype=dtype)
    ### END SOLUTION


def tanh_grad(x):
    """d tanh / dx = 1 - tanh(x)^2."""
    ### HINT: 1 - np.tanh(values) ** 2
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    return tt.Tensor(1 - np.tanh(values) ** 2, dtype=dtype)
    ### END SOLUTION


# %%
np.testing.assert_allclose(np.asarray(tanh(tt.Tensor(xs, dtype=tt.float64))), np.tanh(xs), rtol=1e-14)
np.testing.assert_allclose(np.asarray(tanh_grad(tt.Tensor(xs, dtype=tt.float64))), engine_derivative(tt.tanh, xs),
                           rtol=1e-12)
assert np.asarray(tanh_grad(tt.Tensor([0.0]))).tolist() == [1.0]

# %% [markdown]
# ## Exercise 4: `gelu(x)` and `gelu_grad(x)` (the tanh form)
# GELU weighs `x` by the probability that a standard normal variable is below
# it: `x Φ(x)`. GPT-2 (and the engine's default, `tt.gelu(x)`) uses the tanh
# approximation of `Φ`:
#
# `gelu(x) = 0.5 x (1 + tanh(u))`, `u = c (x + 0.044715 x³)`, `c = √(2/π)`.
#
# Differentiate it yourself: with `t = tanh(u)`,
# `gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t²) c (1 + 3 · 0.044715 x²)`.

# %%
GELU_C = math.sqrt(2.0 / math.pi)


def gelu(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) entrywise."""
    ### HINT: u = GELU_C * (v + 0.044715 * v**3); 0.5 * v * (1 + np.tanh(u))
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    u = GELU_C * (values + 0.044715 * values ** 3)
    return tt.Tensor(0.5 * values * (1 + np.tanh(u)), dtype=dtype)
    ### END SOLUTION


def gelu_grad(x):
    """d gelu / dx of the tanh form."""
    ### HINT: t = tanh(u); 0.5 * (1 + t) + 0.5 * v * (1 - t**2) * GELU_C * (1 + 3 * 0.044715 * v**2)
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    t = np.tanh(GELU_C * (values + 0.044715 * values ** 3))
    grad = 0.5 * (1 + t) + 0.5 * values * (1 - t ** 2) * GELU_C * (1 + 3 * 0.044715 * values ** 2)
    return tt.Tensor(grad, dtype=dtype)
    ### END SOLUTION


# %%
np.testing.assert_allclose(np.asarray(gelu(tt.Tensor(xs, dtype=tt.float64))),
                           np.asarray(tt.gelu(tt.Tensor(xs, dtype=tt.float64))), rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(np.asarray(gelu_grad(tt.Tensor(xs, dtype=tt.float64))), engine_derivative(tt.gelu, xs),
                           rtol=1e-10)
erf = np.vectorize(math.erf)
exact = 0.5 * xs * (1 + erf(xs / math.sqrt(2)))
print("max |tanh form - exact erf form| on xs:", np.abs(np.asarray(gelu(tt.Tensor(xs, dtype=tt.float64))) - exact).max())

# %% [markdown]
# ## Exercise 5: `softmax(x, axis=-1)` and `softmax_grad(x, g, axis=-1)`
# Softmax turns a row of scores into probabilities. Two facts shape the code:
#
# * **Shift invariance.** `softmax(x + c) = softmax(x)` for any constant `c`
#   (the `e^c` cancels). Subtract the maximum along `axis` first: every
#   exponent is then `<= 0`, so logits of 1000 cannot overflow.
# * **Its derivative is not elementwise.** Each output depends on every input
#   of its row. The backward pass never builds that Jacobian; it needs only the
#   *vector-Jacobian product*: given an upstream gradient `g` (same shape as
#   `x`), with `s = softmax(x)`,
#   `dx = s * (g - sum(g * s, axis, keepdims=True))`.
#
# `softmax_grad(x, g, axis)` returns that `dx` as a Tensor. `axis` can be any
# axis, negative or not.

# %%
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed with the max subtracted."""
    ### HINT: e = np.exp(v - v.max(axis, keepdims=True)); e / e.sum(axis, keepdims=True)
    ### BEGIN SOLUTION
    values, dtype = as_numpy(x)
    e = np.exp(values - values.max(axis=axis, keepdims=True))
    return tt.Tensor(e / e.sum(axis=axis, keepdims=True), dtype=dtype)
    ### END SOLUTION


def softmax_grad(x, g, axis=-1):
    """The vector-Jacobian product of softmax: s * (g - sum(g * s, axis, keepdims=True))."""
    ### HINT: s = np.asarray(softmax(x, axis)); gv = np.asarray(g); s * (gv - (gv * s).sum(axis, keepdims=True))
    ### BEGIN SOLUTION
    _, dtype = as_numpy(x)
    s = np.asarray(softmax(x, axis))
    gv = np.asarray(g, dtype=s.dtype)
    return tt.Tensor(s * (gv - (gv * s).sum(axis=axis, keepdims=True)), dtype=dtype)
    ### END SOLUTION


# %%
rng = np.random.default_rng(0)
logits = rng.standard_normal((3, 5))
p = np.asarray(softmax(tt.Tensor(logits, dtype=tt.float64)))
np.testing.assert_allclose(p, np.asarray(tt.softmax(tt.Tensor(logits, dtype=tt.float64), -1)), rtol=1e-12)
np.testing.assert_allclose(p.sum(-1), 1.0)
with warnings.catch_warnings():
    warnings.simplefilter("error")
    np.testing.assert_allclose(np.asarray(softmax(tt.Tensor(logits + 1000.0, dtype=tt.float64))), p, rtol=1e-9)
np.testing.assert_allclose(np.asarray(softmax(tt.Tensor(logits, dtype=tt.float64), axis=0)).sum(0), 1.0)
# the VJP against the engine's backward of sum(softmax(x) * g)
g = rng.standard_normal((3, 5))
t = tt.Tensor(logits, dtype=tt.float64, requires_grad=True)
(tt.softmax(t, 0) * tt.Tensor(g, dtype=tt.float64)).sum().backward()
np.testing.assert_allclose(np.asarray(softmax_grad(tt.Tensor(logits, dtype=tt.float64), g, axis=0)),
                           np.asarray(t.grad), rtol=1e-10, atol=1e-14)
# g = ones: the outputs always sum to 1, so nothing can change the sum: the gradient is 0
np.testing.assert_allclose(np.asarray(softmax_grad(tt.Tensor(logits, dtype=tt.float64), np.ones((3, 5)))), 0,
                           atol=1e-15)

# %% [markdown]
# ## Systems: what an activation costs
#
# An elementwise activation does a handful of FLOPs per entry and reads and
# writes each entry once: it is limited by memory bandwidth, not arithmetic.
# Your numpy version makes several full-size temporaries (`np.abs`, `np.exp`,
# `np.where`, ...); the engine's kernel makes one pass. Measured here (medians):

# %%
def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


n = 1 << 20
big = tt.Tensor(rng.standard_normal(n).astype(np.float32))
for name, mine, engine in [("relu", relu, tt.relu), ("sigmoid", sigmoid, tt.sigmoid), ("gelu", gelu, tt.gelu)]:
    t_mine, t_engine = median_time(lambda: mine(big)), median_time(lambda: engine(big))
    print(f"{name:8s} on {n} floats: yours {t_mine * 1e3:6.2f} ms, engine {t_engine * 1e3:6.2f} ms "
          f"({n * 4 * 2 / t_engine / 1e9:5.1f} GB/s read + write)")
print(f"memory: each temporary of your numpy version is {n * 4 / 2**20:.0f} MiB; the engine's output is one.")

# %% [markdown]
# **Saved for backward.** ReLU's backward needs only the sign of the input
# (one bit per entry, stored as the input here); sigmoid and tanh save their
# *output*, since their derivatives are written in it; GELU saves the input.
#
# ## Read the engine
# * `csrc/ops/elementwise.cpp`: the elementwise kernels, including the stable
#   sigmoid you wrote in Exercise 2.
# * `csrc/ops/softmax.cpp`: softmax and log-softmax along an axis, max
#   subtracted first.
# * `csrc/autograd/backward.h`: `ReLUBackward`, `SigmoidBackward`,
#   `TanhBackward`, `GELUBackward` and `SoftmaxBackward` (your `softmax_grad`).

# %%
print("module 02 checks passed")
