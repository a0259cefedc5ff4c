# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 03 — Layers: Linear, Dropout, Sequential
#
# A network is a function with **parameters**: numbers that training will
# adjust. A *layer* packages a piece of that function with the parameters it
# owns, so that a model is just layers composed, and "all the parameters of
# the model" can be found by walking the layers.
#
# You write the three layers every model in this course is built from:
#
# * `Linear(in_features, out_features)`: `y = x @ W + b`. `W` has shape
#   `(in_features, out_features)` (TinyTorch's layout, the transpose of
#   PyTorch's), so the forward is one matrix product over all leading axes.
# * `Dropout(p)`: while training, zero each entry with probability `p` and
#   scale the survivors by `1 / (1 - p)`; in evaluation, do nothing.
# * `Sequential(*layers)`: call layers in order.
#
# All three subclass the engine's `Module`, which finds parameters by
# looking at attributes: a Tensor with `requires_grad=True`, a sub-module, or
# a list of them. Build the forward passes from tinytorch ops (`@`, `+`, `*`)
# so `backward()` reaches the parameters.

# %%
import math
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.module import Module, Parameter

# %% [markdown]
# ## Worked example: a layer is a Module with parameters
# A minimal layer that scales its input by one learnable number. Assigning a
# `Parameter` (a Tensor with `requires_grad=True`) to an attribute is all it
# takes for `parameters()` and `named_parameters()` to find it.

# %%
class Scale(Module):
    def __init__(self, value):
        super().__init__()
        self.factor = Parameter(np.array([value], dtype=np.float32))

    def forward(self, x):
        return x * self.factor


s = Scale(3.0)
print([name for name, _ in s.named_parameters()])        # ['factor']
y = s(tt.Tensor([1.0, 2.0]))
y.sum().backward()
print("y =", np.asarray(y), " d sum(y) / d factor =", np.asarray(s.factor.grad))   # 1 + 2 = 3
assert np.asarray(s.factor.grad).tolist() == [3.0]

# %% [markdown]
# ## Exercise 1: `Linear(in_features, out_features, bias=True)`
#
# * `__init__`: raise `ValueError` (naming `Linear` and the bad value) unless
#   both sizes are positive Python ints (a `bool` is not a size). Store
#   `self.in_features`, `self.out_features`. The weight is a
#   `Parameter` of shape `(in_features, out_features)` drawn from
#   `N(0, 1 / in_features)`: `tt.randn(in_features, out_features) * math.sqrt(1 / in_features)`.
#   That scale keeps the output's variance near the input's, however wide
#   the layer. The bias is a zero `Parameter` of shape `(out_features,)`, or
#   `None` when `bias=False`. Assign `self.weight` first, then `self.bias`.
# * `forward(x)`: `x` has shape `(..., in_features)` (any number of leading
#   axes); return `x @ self.weight + self.bias` (no bias term if it is `None`).
#   Accept a numpy array too (wrap it in `tt.Tensor`).

# %%
class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        ### HINT: check the sizes, then self.weight = Parameter(tt.randn(i, o) * math.sqrt(1 / i)) and a zero bias
        ### BEGIN SOLUTION
        for what, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Linear: {what} must be a positive integer, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(tt.randn(in_features, out_features) * math.sqrt(1.0 / in_features))
        self.bias = Parameter(np.zeros(out_features, dtype=np.float32)) if bias else None
        ### END SOLUTION

    def forward(self, x):
        ### HINT: wrap numpy input in tt.Tensor; y = x @ self.weight, plus self.bias if there is one
        ### BEGIN SOLUTION
        if not isinstance(x, tt.Tensor):
            x = tt.Tensor(x)
        y = x @ self.weight
        return y if self.bias is None else y + self.bias
        ### END SOLUTION


# %% [markdown]
# Check: shapes, the initial scale, the values and gradients of the engine's
# `Linear` with the same weights.

# %%
from tinytorch.core.layers import Linear as EngineLinear

tt.manual_seed(0)
lin = Linear(3, 2)
assert lin.weight.shape == (3, 2) and lin.bias.shape == (2,) and np.asarray(lin.bias).tolist() == [0, 0]
assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
assert Linear(3, 2, bias=False).bias is None and len(Linear(3, 2, bias=False).parameters()) == 1
wide = Linear(400, 300)
print("std of a Linear(400, 300) weight:", float(np.asarray(wide.weight).std()), "(1/sqrt(400) = 0.05)")
assert abs(float(np.asarray(wide.weight).std()) - 0.05) < 0.005

ref = EngineLinear(3, 2)
np.asarray(ref.weight)[...] = np.asarray(lin.weight)
lin.bias = Parameter(np.array([0.5, -1.0], dtype=np.float32))
np.asarray(ref.bias)[...] = [0.5, -1.0]
x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
np.testing.assert_allclose(np.asarray(lin(x)), np.asarray(ref(tt.Tensor(x))), rtol=1e-6)
lin(x).sum().backward()
ref(tt.Tensor(x)).sum().backward()
np.testing.assert_allclose(np.asarray(lin.weight.grad), np.asarray(ref.weight.grad), rtol=1e-5)
np.testing.assert_allclose(np.asarray(lin.bias.grad), [8.0, 8.0])      # 2 * 4 rows each add 1
for bad in (0, -3, 2.0, True):
    try:
        Linear(bad, 2)
        raise AssertionError(f"Linear({bad!r}, 2) should raise ValueError")
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `Dropout(p=0.5)`
#
# Dropout fights overfitting by making every unit unreliable: each forward
# pass in training zeroes a random fraction `p` of the entries. Scaling the
# survivors by `1 / (1 - p)` keeps the *expected* value of every entry equal
# to its input, so nothing needs to change at evaluation time, where dropout
# is the identity.
#
# * `__init__(p)`: raise `ValueError` unless `p` is a number (not a bool)
#   with `0 <= p <= 1`; store it as `self.p` (a float).
# * `forward(x, training=None)`: `training=None` means "follow the module's
#   mode" (`self.training`, switched by `.train()` / `.eval()`). When not
#   training, or when `p == 0`, return `x` itself. When `p == 1`, return
#   zeros (do not divide by zero). Otherwise draw `tt.rand(*x.shape)` (so
#   `tt.manual_seed` makes it reproducible), keep the entries where that draw
#   is `>= p`, and return `x * mask` where `mask` holds `1 / (1 - p)` for kept
#   entries and `0` for dropped ones, in `x`'s dtype. The product records the
#   backward: the gradient is the same mask.

# %%
class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        ### HINT: validate 0 <= p <= 1 (a number, not a bool), store self.p = float(p)
        ### BEGIN SOLUTION
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability between 0 and 1, got {p!r}")
        self.p = float(p)
        ### END SOLUTION

    def forward(self, x, training=None):
        ### HINT: identity unless training; keep = np.asarray(tt.rand(*x.shape)) >= p; x * Tensor(keep / (1 - p))
        ### BEGIN SOLUTION
        if not isinstance(x, tt.Tensor):
            x = tt.Tensor(x)
        if training is None:
            training = self.training
        if not training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * tt.Tensor(np.zeros(x.shape), dtype=x.dtype)
        keep = np.asarray(tt.rand(*x.shape)) >= self.p
        return x * tt.Tensor(keep / (1.0 - self.p), dtype=x.dtype)
        ### END SOLUTION


# %% [markdown]
# Check: about `p` of the entries are zero, the others are scaled, the mean
# is kept, evaluation mode and the two edge cases.

# %%
tt.manual_seed(0)
drop = Dropout(0.25)
ones = tt.ones(100_000)
out = np.asarray(drop(ones))
print(f"fraction zeroed: {np.mean(out == 0):.4f} (p = 0.25); mean kept: {out.mean():.4f}")
assert abs(np.mean(out == 0) - 0.25) < 0.01
np.testing.assert_allclose(out[out != 0], 1 / 0.75, rtol=1e-6)     # survivors scaled by 1 / (1 - p)
assert abs(out.mean() - 1.0) < 0.02
drop.eval()
assert drop(ones) is ones                                   # evaluation: the identity, not even a copy
assert np.asarray(drop(ones, training=True)).min() == 0.0   # the per-call override
drop.train()
assert np.asarray(Dropout(1.0)(tt.ones(5))).tolist() == [0.0] * 5
x = tt.Tensor(np.ones(8), dtype=tt.float64, requires_grad=True)
y = Dropout(0.5)(x)
y.sum().backward()
np.testing.assert_array_equal(np.asarray(x.grad), np.asarray(y))   # d/dx (x * mask) = mask, and x = 1
for bad in (-0.1, 1.5, True, "0.5"):
    try:
        Dropout(bad)
        raise AssertionError(f"Dropout({bad!r}) should raise ValueError")
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## Exercise 3: `Sequential(*layers)`
#
# * `__init__(*layers)`: store the layers **as a list** in `self.layers` (the
#   engine's `Module` finds the parameters of modules inside a list
#   attribute, named `layers.0.weight`, ...). A single list or tuple argument
#   also works: `Sequential([l1, l2])`. Raise `TypeError` for a layer that is
#   not callable.
# * `forward(x)`: feed `x` through each layer in order.
# * `__len__` and `__getitem__(i)`: the number of layers and layer `i`.

# %%
class Sequential(Module):
    def __init__(self, *layers):
        super().__init__()
        ### HINT: unpack a single list argument, check callable(layer), self.layers = list(layers)
        ### BEGIN SOLUTION
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} ({type(layer).__name__}) is not callable")
        self.layers = list(layers)
        ### END SOLUTION

    def forward(self, x):
        ### HINT: for layer in self.layers: x = layer(x)
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

    def __len__(self):
        ### HINT: the number of layers
        ### BEGIN SOLUTION
        return len(self.layers)
        ### END SOLUTION

    def __getitem__(self, i):
        ### HINT: self.layers[i]
        ### BEGIN SOLUTION
        return self.layers[i]
        ### END SOLUTION


# %% [markdown]
# Check: a two-layer network finds its four parameters and computes what the
# layers compute one by one; `train()` / `eval()` reach the Dropout inside.

# %%
tt.manual_seed(1)
net = Sequential(Linear(3, 4), ReLU(), Dropout(0.5), Linear(4, 1))
assert len(net) == 4 and isinstance(net[1], ReLU)
assert [n for n, _ in net.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.3.weight",
                                                   "layers.3.bias"]
net.eval()
xb = tt.Tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
by_hand = net[3](net[1](net[0](xb)))
np.testing.assert_allclose(np.asarray(net(xb)), np.asarray(by_hand), rtol=1e-6)
assert net[2].training is False                       # eval() reached the Dropout inside
assert Sequential([Linear(2, 2), ReLU()]).__len__() == 2
try:
    Sequential(Linear(2, 2), 3)
    raise AssertionError("a non-callable layer should raise TypeError")
except TypeError as e:
    print("TypeError:", e)

# %% [markdown]
# ## Systems: parameters, FLOPs and memory of a Linear layer
#
# `Linear(i, o)` holds `i * o + o` parameters. For a batch of `n` rows its
# forward is one `(n, i) @ (i, o)` product: `2 n i o` FLOPs. Its backward does
# two more products of the same size (for `x` and for `W`), so training
# costs about 3x the forward. Measured on the engine (medians):

# %%
def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


n, i, o = 512, 512, 512
mine_layer, engine_layer = Linear(i, o), EngineLinear(i, o)
xb = tt.Tensor(np.random.default_rng(2).standard_normal((n, i)).astype(np.float32))
flops = 2 * n * i * o
for name, layer in [("your Linear  ", mine_layer), ("engine Linear", engine_layer)]:
    t = median_time(lambda: layer(xb))
    print(f"{name} forward ({n}, {i}) -> ({n}, {o}): {t * 1e3:6.2f} ms, {flops / t / 1e9:5.1f} GFLOP/s")
params = i * o + o
print(f"parameters: {params} = {params * 4 / 2**20:.2f} MiB in float32; Adam adds 2x that, gradients 1x more")
print(f"activations saved for backward: the input, {n * i * 4 / 2**20:.2f} MiB")

# %% [markdown]
# Your `Linear` runs the same GEMM as the engine's, plus a separate add for
# the bias and its own backward node for each op; the engine fuses the bias
# into one node (`LinearBackward`).
#
# ## Read the engine
# * `csrc/autograd/fused_ops.cpp`: `linear`, `Linear`'s forward as one GEMM
#   over all leading axes with the bias added in the same pass
#   (`csrc/ops/linear_kernels.cpp`), recording one node.
# * `csrc/autograd/fused_backward.cpp`: `LinearBackward`, its fused backward.
# * `csrc/ops/matmul.cpp`: the batched matrix product underneath.
# * `python/tinytorch/core/layers.py` and `python/tinytorch/core/module.py`:
#   the engine's `Linear`, `Dropout`, `Sequential` and the `Module` base
#   (parameter discovery, `train()` / `eval()`, state dicts).

# %%
print("module 03 checks passed")
