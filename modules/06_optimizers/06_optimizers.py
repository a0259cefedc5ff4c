# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 06 — Optimizers
#
# After `loss.backward()` every parameter `p` holds `p.grad`, the direction in
# which the loss grows fastest. Training means moving each parameter a small
# step the other way, again and again. *How* that step is taken is the
# optimizer's job, and the choice matters a great deal:
#
# * **SGD** steps by `lr * grad`. Simple, but slow in long narrow valleys,
#   where the gradient points mostly across the valley instead of along it.
# * **Momentum** keeps a running sum of past gradients (a "velocity"). The
#   components that flip sign from step to step cancel out; the ones that keep
#   pointing the same way add up, so the step grows along the valley.
# * **Adam** keeps running averages of the gradient and of its square, and
#   divides one by the root of the other: each parameter gets its own step
#   size, about `lr` whatever the scale of its gradient.
# * **AdamW** is Adam with *decoupled* weight decay: the weights shrink
#   directly, not through the gradient that Adam rescales.
#
# You write all three as classes with the interface of
# `tinytorch.core.optimizers`: `opt = SGD(model.parameters(), lr=...)`,
# then `opt.zero_grad()`, `loss.backward()`, `opt.step()` in a loop. Later,
# `use_student("06", ...)` swaps your classes into the engine and trains real
# models with them, so they must work on any list of parameter Tensors.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.core import optimizers as engine

rng = np.random.default_rng(0)


def param(values, grad=None, dtype=tt.float64):
    """A parameter Tensor with a given gradient (as if backward() had run)."""
    p = tt.Tensor(np.array(values, dtype=np.float64), dtype=dtype, requires_grad=True)
    if grad is not None:
        p.grad = tt.Tensor(np.array(grad, dtype=np.float64), dtype=dtype)
    return p


# %% [markdown]
# ## Worked example: updating a parameter in place
# The optimizer must change the **very Tensor objects** the model holds, not
# build new ones: `model.weight` and the optimizer's `params[0]` are the same
# object, and a new Tensor would never reach the model. tinytorch refuses an
# in-place update of a leaf that requires grad while autograd is recording
# (it would corrupt the graph), so updates run under `tt.no_grad()`:

# %%
w = param([1.0, -2.0], grad=[0.5, 0.25])
same_object = w
with tt.no_grad():
    w -= 0.1 * w.grad          # in place: same object, same memory
assert w is same_object
np.testing.assert_allclose(np.asarray(w), [0.95, -2.025])
try:
    w -= 0.1 * w.grad          # outside no_grad: refused
except RuntimeError as e:
    print("refused:", str(e)[:70], "...")

# %% [markdown]
# The engine's optimizers do the same in one C++ call. Here is its plain SGD
# on the same numbers, and the two rules every optimizer follows:
# a parameter whose `.grad` is `None` (it took no part in the loss) is
# skipped, and `zero_grad()` sets every `.grad` to `None`, because `backward()`
# *adds* into existing gradients.

# %%
w, frozen = param([1.0, -2.0], grad=[0.5, 0.25]), param([7.0])
opt = engine.SGD([w, frozen], lr=0.1)
opt.step()
np.testing.assert_allclose(np.asarray(w), [0.95, -2.025])
np.testing.assert_allclose(np.asarray(frozen), [7.0])       # no grad: untouched
opt.zero_grad()
assert w.grad is None and frozen.grad is None

# %% [markdown]
# ## Exercise 1: `SGD(params, lr=0.01, momentum=0.0, weight_decay=0.0)`
#
# PyTorch's rule, for each parameter `p` whose `.grad` is not `None`:
#
#     g   = p.grad + weight_decay * p        (L2 weight decay: pulls weights towards 0)
#     buf = g                                (first step of this parameter)
#     buf = momentum * buf + g               (later steps)          } only if momentum != 0
#     g   = buf                                                     }
#     p   = p - lr * g                       (in place)
#
# * `__init__` keeps `self.params = list(params)`, `self.lr`, `self.momentum`,
#   `self.weight_decay` and one momentum buffer per parameter (`None` at first).
# * `zero_grad()` sets `p.grad = None` for every parameter.
# * `step()` applies the rule under `tt.no_grad()`, in place (`p -= ...`).
#   Store a **copy** as the first buffer (`g.clone()`): `buf = p.grad` itself
#   would alias the gradient tensor.
# * `self.lr` may be changed between steps (that is what schedules do), so
#   read it in `step()`.

# %%
class SGD:
    """Stochastic gradient descent with PyTorch's momentum and L2 weight decay."""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        ### HINT: self.params = list(params); store lr, momentum, weight_decay; self.buffers = [None] * len(self.params)
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.buffers = [None] * len(self.params)
        ### END SOLUTION

    def zero_grad(self):
        ### HINT: set p.grad = None for every parameter
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION

    def step(self):
        ### HINT: under tt.no_grad(), for each p with a grad: g = grad + wd * p; buf = g.clone() first, else mu * buf + g; p -= lr * buf
        ### BEGIN SOLUTION
        with tt.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay != 0:
                    g = g + self.weight_decay * p
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = g.clone()
                    else:
                        self.buffers[i] = self.momentum * self.buffers[i] + g
                    g = self.buffers[i]
                p -= self.lr * g
        ### END SOLUTION


# %% [markdown]
# Check by hand: with momentum 0.9 and the same gradient twice, the second
# step is `1.9` times the first (`buf = 0.9 * g + g`); then against the engine
# on ten random gradients.

# %%
g0 = np.array([0.5, 0.25])
w = param([1.0, -2.0], grad=g0)
opt = SGD([w], lr=0.1, momentum=0.9)
opt.step()
opt.step()
np.testing.assert_allclose(np.asarray(w), [1.0, -2.0] - 0.1 * g0 - 0.1 * 1.9 * g0, rtol=1e-12)

w = param([1.0, -2.0], grad=g0)
SGD([w], lr=0.1, weight_decay=0.01).step()
np.testing.assert_allclose(np.asarray(w), [1.0, -2.0] - 0.1 * (g0 + 0.01 * np.array([1.0, -2.0])), rtol=1e-12)


def compare_with_engine(mine_cls, engine_cls, steps=10, dtype=tt.float64, **kwargs):
    """Runs both optimizers on identical parameters and gradients; returns the largest difference."""
    r = np.random.default_rng(1)
    init = [r.standard_normal((3, 4)), r.standard_normal(5)]
    mine = [param(x, dtype=dtype) for x in init]
    ref = [param(x, dtype=dtype) for x in init]
    a, b = mine_cls(mine, **kwargs), engine_cls(ref, **kwargs)
    worst = 0.0
    for _ in range(steps):
        for p, q in zip(mine, ref):
            g = r.standard_normal(p.shape)
            p.grad, q.grad = tt.Tensor(g, dtype=dtype), tt.Tensor(g, dtype=dtype)
        a.step()
        b.step()
        worst = max(worst, max(np.abs(np.asarray(p) - np.asarray(q)).max() for p, q in zip(mine, ref)))
    return worst


for kw in (dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.5, weight_decay=0.1)):
    assert compare_with_engine(SGD, engine.SGD, **kw) < 1e-12, kw

# %% [markdown]
# ## Exercise 2: `Adam(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)`
#
# Adam keeps two buffers per parameter, `m` (mean of gradients) and `v` (mean
# of squared gradients), both starting at zero, and a step count `t`:
#
#     t = t + 1                                   (this parameter's own count)
#     g = p.grad + weight_decay * p               (L2, through the gradient)
#     m = beta1 * m + (1 - beta1) * g
#     v = beta2 * v + (1 - beta2) * g * g
#     m_hat = m / (1 - beta1 ** t)                (bias correction)
#     v_hat = v / (1 - beta2 ** t)
#     p = p - lr * m_hat / (sqrt(v_hat) + eps)
#
# Why the correction: after one step `m = 0.1 * g` with `beta1 = 0.9`, ten
# times too small, because `m` started at 0. Dividing by `1 - 0.9 ** 1 = 0.1`
# undoes exactly that. With it, the very first step is `lr * g / |g|`: about
# `lr` for every parameter.
#
# Write the gradient (with the L2 term) in `_gradient(p)`; `step()` calls
# `self._decay(p)` (which does nothing in Adam), then `g = self._gradient(p)`,
# then the update above.
#
# Keep `t` **per parameter** (a list, like the buffers), increased only when
# that parameter is updated: a parameter that had no gradient for a while must
# not get the correction of steps it never took. Same interface as SGD:
# `self.params`, `self.lr`, `step()`, `zero_grad()`; in place under `tt.no_grad()`.

# %%
class Adam:
    """Adam with bias correction and L2 weight decay (added to the gradient)."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        ### HINT: store params (a list), lr, betas, eps, weight_decay; per parameter: m = None, v = None, t = 0
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.m = [None] * len(self.params)
        self.v = [None] * len(self.params)
        self.t = [0] * len(self.params)
        ### END SOLUTION

    def zero_grad(self):
        ### HINT: set p.grad = None for every parameter
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION

    def _gradient(self, p):
        """The gradient Adam uses: p.grad plus the L2 term (AdamW changes this)."""
        ### HINT: p.grad + weight_decay * p (just p.grad when weight_decay is 0)
        ### BEGIN SOLUTION
        if self.weight_decay != 0:
            return p.grad + self.weight_decay * p
        return p.grad
        ### END SOLUTION

    def _decay(self, p):
        """Shrinks p in place before the update: nothing for Adam (AdamW changes this)."""

    def step(self):
        ### HINT: per p with a grad: t += 1; self._decay(p); g = self._gradient(p); m, v running means (zeros at first); p -= lr * m_hat / (sqrt(v_hat) + eps)
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        with tt.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                self.t[i] += 1
                t = self.t[i]
                self._decay(p)
                g = self._gradient(p)
                if self.m[i] is None:
                    self.m[i] = tt.zeros_like(p)
                    self.v[i] = tt.zeros_like(p)
                self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
                self.v[i] = beta2 * self.v[i] + (1 - beta2) * (g * g)
                m_hat = self.m[i] / (1 - beta1 ** t)
                v_hat = self.v[i] / (1 - beta2 ** t)
                p -= self.lr * m_hat / (tt.sqrt(v_hat) + self.eps)
        ### END SOLUTION


# %% [markdown]
# ## Exercise 3: `AdamW(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)`
#
# With Adam's L2 decay, `weight_decay * p` is added to the gradient and then
# divided by `sqrt(v_hat)`: parameters with large gradients barely decay.
# AdamW decouples the two. Before Adam's update (and **without** adding
# anything to the gradient) it shrinks the weights directly:
#
#     p = p - lr * weight_decay * p              (first, in place)
#     ... then Adam's update with g = p.grad (no L2 term)
#
# Note the default `weight_decay=0.01`. Subclass your `Adam`: its `step()`
# calls two small methods per parameter, `self._decay(p)` first and then
# `g = self._gradient(p)`, so AdamW only overrides those two: `_gradient`
# returns the plain `p.grad` and `_decay` shrinks `p` in place.

# %%
class AdamW(Adam):
    """Adam with decoupled weight decay."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        ### HINT: call Adam's __init__ with the same arguments
        ### BEGIN SOLUTION
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        ### END SOLUTION

    def _gradient(self, p):
        ### HINT: no L2 term in AdamW: just the gradient
        ### BEGIN SOLUTION
        return p.grad
        ### END SOLUTION

    def _decay(self, p):
        ### HINT: in place: p -= lr * weight_decay * p
        ### BEGIN SOLUTION
        if self.weight_decay != 0:
            p -= self.lr * self.weight_decay * p
        ### END SOLUTION


# %% [markdown]
# Checks: Adam's first step is `lr` in every coordinate whatever the gradient's
# size; AdamW with `wd = 0.1` first multiplies the weights by `1 - lr * 0.1`;
# both match the engine over ten random steps.

# %%
w = param([1.0, -2.0, 3.0], grad=[1e-3, -50.0, 4.0])
Adam([w], lr=0.01).step()
np.testing.assert_allclose([1.0, -2.0, 3.0] - np.asarray(w), [0.01, -0.01, 0.01], rtol=1e-5)

w = param([1.0, -2.0], grad=[0.5, 0.25])
AdamW([w], lr=0.01, weight_decay=0.1).step()
shrunk = np.array([1.0, -2.0]) * (1 - 0.01 * 0.1)
np.testing.assert_allclose(np.asarray(w), shrunk - 0.01 * np.array([0.5, 0.25]) / (np.array([0.5, 0.25]) + 1e-8),
                           rtol=1e-12)

for mine_cls, ref_cls, kw in [(Adam, engine.Adam, dict(lr=0.01)),
                              (Adam, engine.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
                              (AdamW, engine.AdamW, dict(lr=0.01)),
                              (AdamW, engine.AdamW, dict(lr=0.05, weight_decay=0.3))]:
    assert compare_with_engine(mine_cls, ref_cls, **kw) < 1e-12, (mine_cls.__name__, kw)
    assert compare_with_engine(mine_cls, ref_cls, dtype=tt.float32, **kw) < 1e-5, (mine_cls.__name__, kw)

# %% [markdown]
# ## Putting it together: a narrow valley
# `f(x, y) = x^2 + 25 y^2` is 25 times steeper across (`y`) than along (`x`).
# Plain SGD must keep `lr` small enough not to blow up in `y`, so it crawls in
# `x`; momentum and Adam get much further in the same number of steps (Adam
# with shorter memories, `betas=(0.8, 0.99)`, which suit a tiny deterministic
# problem like this one).

# %%
def valley(opt_cls, steps=60, **kwargs):
    p = param([-5.0, 1.0])
    opt = opt_cls([p], **kwargs)
    scale = tt.Tensor(np.array([1.0, 25.0]), dtype=tt.float64)
    for _ in range(steps):
        opt.zero_grad()
        loss = (scale * p * p).sum()
        loss.backward()
        opt.step()
    return float((scale * p * p).sum().item())


results = {"SGD": valley(SGD, lr=0.035), "SGD+momentum": valley(SGD, lr=0.035, momentum=0.8),
           "Adam": valley(Adam, lr=0.3, betas=(0.8, 0.99)),
           "AdamW": valley(AdamW, lr=0.3, betas=(0.8, 0.99), weight_decay=0.01)}
for name, value in results.items():
    print(f"{name:13s} loss after 60 steps: {value:.2e}")
assert results["SGD+momentum"] < results["SGD"] / 10 and results["Adam"] < results["SGD"]

# %% [markdown]
# ## Systems: memory and time
# **Memory.** The optimizer's state lives as long as the training run: SGD
# with momentum keeps one extra tensor per parameter, Adam two (`m` and `v`).
# For a model with N float32 parameters, weights + gradients + Adam state take
# `4 * 4N` bytes: Adam alone doubles the memory of the weights.
#
# **Time.** Your `step()` loops in Python and runs several tensor ops per
# parameter, each allocating a temporary. The engine's `step()` is a single C++
# call (`_C._adam_step`) that updates every parameter in one fused loop,
# without temporaries. On many small tensors the Python overhead dominates.

# %%
def make_params(n_tensors, size):
    r = np.random.default_rng(2)
    ps = [tt.Tensor(r.standard_normal(size).astype(np.float32), requires_grad=True) for _ in range(n_tensors)]
    for p in ps:
        p.grad = tt.Tensor(r.standard_normal(size).astype(np.float32))
    return ps


def median_step_ms(opt, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


for n_tensors, size in [(100, 64), (4, 250_000)]:
    n = n_tensors * size
    ps = make_params(n_tensors, size)
    ref = engine.Adam(ps, lr=1e-3)
    ref.step()  # creates the buffers
    state = sum(m.numel() * 4 + v.numel() * 4 for m, v in zip(ref.m_buffers, ref.v_buffers))
    print(f"{n_tensors} tensors x {size}: weights {4 * n / 1e6:.2f} MB, Adam state {state / 1e6:.2f} MB; "
          f"step: yours {median_step_ms(Adam(ps, lr=1e-3)):.2f} ms, engine {median_step_ms(ref):.2f} ms")

# %% [markdown]
# ## Read the engine
# * `csrc/nn/optimizers.cpp` — the fused SGD and Adam/AdamW kernels: every
#   parameter checked first, then one loop per parameter (xsimd-vectorized for
#   Adam), with the roundings arranged to match PyTorch bit for bit.
# * `csrc/nn/optimizers.h` — the formulas and options.
# * `csrc/python/optim_bind.cpp` — how `_C._sgd_step` / `_C._adam_step` receive
#   the Python lists of parameters and state buffers.
# * `python/tinytorch/core/optimizers.py` — the Python classes around them
#   (hyper-parameter checks, `state_dict()` for checkpoints).

# %%
print("module 06 checks passed")
