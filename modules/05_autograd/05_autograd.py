# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 05 — Autograd: backward rules as Functions
#
# Training a network means asking "if I nudge this weight, how does the loss
# change?" for millions of weights at once. Reverse-mode automatic
# differentiation answers all of them in one backward pass that costs about as
# much as the forward pass. It needs only two things:
#
# * **A graph.** Every op that sees an input with `requires_grad=True`
#   records a *node*: the rule for its backward, and links to the nodes that
#   produced its inputs.
# * **A local rule per op.** Given `g = dLoss/dOut`, the node returns
#   `dLoss/dInput` for each input (a *vector-Jacobian product*). The engine
#   walks the nodes from the loss back to the leaves in reverse topological
#   order and adds up the gradients that reach the same tensor along
#   different paths.
#
# The engine's rules are C++ (`csrc/autograd/backward.h`). In this module you
# write eight of them yourself, as `tinytorch.autograd.Function`s, and check
# each against the engine and against finite differences. Afterwards
# `use_student("05", ...)` can swap your rules into the engine and train a real
# model with them.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.autograd import Function, gradcheck

# %% [markdown]
# ## Worked example: the graph the engine records
# `y = sum(x * x - x / 2)`. Each op left a node behind; `grad_fn` is the last
# one and `next_functions` points at the nodes that made its inputs.

# %%
x = tt.Tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x * x - x / 2).sum()
print(type(y.grad_fn).__name__, "<-", [type(f).__name__ for f, _ in y.grad_fn.next_functions])
y.backward()
# d/dx (x^2 - x/2) = 2x - 1/2: x is reached along three paths (two through Mul, one through Div), summed.
np.testing.assert_allclose(np.asarray(x.grad), 2 * np.array([1.0, 2.0, 3.0]) - 0.5)

# %% [markdown]
# ## A rule of your own: `Function`
# A `Function` has a static `forward(ctx, *inputs)`, which runs **without**
# recording (inside it you compute with ordinary tensor ops), and a static
# `backward(ctx, g)` that returns one gradient per forward input (`None` for
# inputs that are not tensors or need no gradient). `ctx.save_for_backward`
# keeps tensors for the backward; any other attribute (`ctx.shape = ...`) works
# for plain values. Call it with `Cube.apply(t)` (positional arguments only).

# %%
class Cube(Function):
    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t * t * t

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        return g * 3.0 * t * t


a = tt.Tensor(np.array([0.5, -1.0, 2.0]), dtype=tt.float64, requires_grad=True)
out = Cube.apply(a)
print("grad_fn of Cube.apply:", type(out.grad_fn).__name__)
assert gradcheck(lambda t: Cube.apply(t), [a])   # central differences agree with the rule, in float64

# %% [markdown]
# `gradcheck` perturbs each input entry by `±eps`, measures how the output
# moves, and compares with your backward. Always run it in **float64**: in
# float32 the rounding error of the difference quotient is as large as the
# tolerance.
#
# ## Broadcasting has to be undone
# `a + b` with `a` of shape `(2, 3)` and `b` of shape `(3,)` uses each `b[j]`
# twice, once per row. So `b`'s gradient is the upstream gradient **summed**
# over the axes broadcasting created: first the extra leading axes, then every
# axis where `b` had size 1 and the output did not.

# %%
a2 = tt.Tensor(np.ones((2, 3)), requires_grad=True)
b2 = tt.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
((a2 + b2) * tt.Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))).sum().backward()
print("b.grad =", np.asarray(b2.grad))      # column sums [5, 7, 9]
np.testing.assert_array_equal(np.asarray(b2.grad), [5.0, 7.0, 9.0])

# %% [markdown]
# ## Exercise 1: `unbroadcast(grad, shape)`
# Given a gradient Tensor `grad` of the broadcast (output) shape, return it
# summed back to `shape`, the shape of the input it belongs to:
#
# * while `grad` has more dimensions than `shape`, sum away axis 0;
# * then, for every axis `i` where `shape[i] == 1` but `grad.shape[i] != 1`,
#   sum over that axis keeping it (`grad.sum(i, keepdims=True)`).
#
# `shape` may be `()` (a scalar operand): everything is summed. Use tensor
# ops (`.sum`) so the result is still a Tensor. The engine's version is
# `sum_to` in `csrc/autograd/differentiable.cpp`.

# %%
def unbroadcast(grad, shape):
    """Sums `grad` (broadcast shape) back down to `shape`, undoing broadcasting."""
    ### HINT: sum away extra leading axes with grad.sum(0), then sum(i, keepdims=True) where shape[i] == 1
    ### BEGIN SOLUTION
    shape = tuple(shape)
    while grad.ndim > len(shape):
        grad = grad.sum(0)
    for i, size in enumerate(shape):
        if size == 1 and grad.shape[i] != 1:
            grad = grad.sum(i, keepdims=True)
    return grad
    ### END SOLUTION


# %% [markdown]
# Check: the shapes and the sums, worked out by hand.

# %%
g = tt.Tensor(np.arange(24.0).reshape(2, 3, 4))
assert unbroadcast(g, (2, 3, 4)).shape == (2, 3, 4)
np.testing.assert_array_equal(np.asarray(unbroadcast(g, (4,))), np.arange(24.0).reshape(6, 4).sum(0))
np.testing.assert_array_equal(np.asarray(unbroadcast(g, (3, 1))), np.arange(24.0).reshape(2, 3, 4).sum((0, 2))[:, None])
np.testing.assert_array_equal(np.asarray(unbroadcast(g, (1, 3, 1))).ravel(), [6 + 54, 22 + 70, 38 + 86])
assert float(np.asarray(unbroadcast(g, ()))) == 276.0

# %% [markdown]
# ## Exercise 2: `Sub`, `Mul`, `Div`
# Three binary ops whose inputs may broadcast against each other. The local
# rules, for `out = a op b` and upstream `g`:
#
# | op | `d a` | `d b` |
# |----|-------|-------|
# | `a - b` | `g` | `-g` |
# | `a * b` | `g * b` | `g * a` |
# | `a / b` | `g / b` | `-g * a / b²` |
#
# Each result must then be `unbroadcast` to its input's shape. Forward returns
# `a - b` (etc.); remember what backward needs on `ctx`. Both inputs are
# Tensors (a Python number arrives as a 0-d Tensor).

# %%
class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ### HINT: remember both input shapes on ctx, return a - b
        ### BEGIN SOLUTION
        ctx.shapes = (a.shape, b.shape)
        return a - b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: (g, -g), each unbroadcast to its input's shape
        ### BEGIN SOLUTION
        shape_a, shape_b = ctx.shapes
        return unbroadcast(g, shape_a), unbroadcast(g * -1.0, shape_b)
        ### END SOLUTION


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ### HINT: save both inputs for backward, return a * b
        ### BEGIN SOLUTION
        ctx.save_for_backward(a, b)
        return a * b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: (g * b, g * a), each unbroadcast to its input's shape
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        return unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)
        ### END SOLUTION


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ### HINT: save both inputs for backward, return a / b
        ### BEGIN SOLUTION
        ctx.save_for_backward(a, b)
        return a / b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: (g / b, -g * a / b**2), each unbroadcast to its input's shape
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        return unbroadcast(g / b, a.shape), unbroadcast(g * a / (b * b) * -1.0, b.shape)
        ### END SOLUTION


# %% [markdown]
# Check: the engine's gradients on broadcasting inputs, and finite differences.

# %%
def engine_grads(fn, *arrays):
    """Gradients of sum(fn(*inputs) * weights) w.r.t. every input, computed by the engine's own rules."""
    leaves = [tt.Tensor(x, dtype=tt.float64, requires_grad=True) for x in arrays]
    out = fn(*leaves)
    weights = tt.Tensor(np.random.default_rng(5).standard_normal(out.shape), dtype=tt.float64)
    (out * weights).sum().backward()
    return [np.asarray(t.grad) for t in leaves], weights


rng = np.random.default_rng(0)
A, B = rng.standard_normal((2, 3, 4)), rng.uniform(1.0, 2.0, (3, 1))
for mine, engine in [(Sub, lambda p, q: p - q), (Mul, lambda p, q: p * q), (Div, lambda p, q: p / q)]:
    expected, weights = engine_grads(engine, A, B)
    pa, pb = tt.Tensor(A, dtype=tt.float64, requires_grad=True), tt.Tensor(B, dtype=tt.float64, requires_grad=True)
    out = mine.apply(pa, pb)
    np.testing.assert_allclose(np.asarray(out), np.asarray(engine(tt.Tensor(A), tt.Tensor(B))), rtol=1e-6)
    (out * weights).sum().backward()
    np.testing.assert_allclose(np.asarray(pa.grad), expected[0], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(pb.grad), expected[1], rtol=1e-10)
    assert gradcheck(lambda p, q: mine.apply(p, q), [pa, pb])
    print(mine.__name__, "matches the engine; grad shapes", pa.grad.shape, pb.grad.shape)

# %% [markdown]
# ## Exercise 3: `Matmul` (batched)
# `out = a @ b` with `a` of shape `(..., n, k)` and `b` of shape `(..., k, m)`,
# where the leading "batch" dimensions broadcast like elementwise ops. The
# rules are the matrix versions of `d(ab) = da b + a db`:
#
# * `d a = g @ bᵀ`, then `unbroadcast` to `a.shape`,
# * `d b = aᵀ @ g`, then `unbroadcast` to `b.shape`,
#
# where `ᵀ` swaps the **last two** axes (`t.transpose(-1, -2)`), never the
# first two. A 1-D operand is a special case: `a` of shape `(k,)` acts as a
# `(1, k)` row and `b` of shape `(k,)` as a `(k, 1)` column, and `@` drops the
# added axis from the result. In backward, put those axes back (reshape `a`,
# `b` and `g`), apply the rules, and reshape each gradient to its input's
# shape.

# %%
class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ### HINT: save both inputs for backward, return a @ b
        ### BEGIN SOLUTION
        ctx.save_for_backward(a, b)
        return a @ b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: g @ b.transpose(-1, -2) and a.transpose(-1, -2) @ g, unbroadcast; 1-D inputs: reshape first
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
        b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
        if b.ndim == 1:
            g = g.reshape(*g.shape, 1)
        if a.ndim == 1:
            g = g.reshape(*g.shape[:-1], 1, g.shape[-1])
        grad_a = unbroadcast(g @ b2.transpose(-1, -2), a2.shape).reshape(*a.shape)
        grad_b = unbroadcast(a2.transpose(-1, -2) @ g, b2.shape).reshape(*b.shape)
        return grad_a, grad_b
        ### END SOLUTION


# %% [markdown]
# Check: a batch of matrices times one shared matrix (its gradient sums over
# the batch), a broadcast batch, vectors, against the engine and finite
# differences.

# %%
for sa, sb in [((4, 3), (3, 5)), ((2, 4, 3), (3, 5)), ((2, 1, 4, 3), (3, 3, 5)), ((3,), (3, 5)), ((2, 4, 3), (3,)),
               ((3,), (3,))]:
    Xa, Xb = rng.standard_normal(sa), rng.standard_normal(sb)
    expected, weights = engine_grads(lambda p, q: p @ q, Xa, Xb)
    pa, pb = tt.Tensor(Xa, dtype=tt.float64, requires_grad=True), tt.Tensor(Xb, dtype=tt.float64, requires_grad=True)
    (Matmul.apply(pa, pb) * weights).sum().backward()
    np.testing.assert_allclose(np.asarray(pa.grad), expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(pb.grad), expected[1], rtol=1e-10, atol=1e-12)
assert gradcheck(lambda p, q: Matmul.apply(p, q), [tt.Tensor(rng.standard_normal((2, 2, 3)), dtype=tt.float64,
                                                              requires_grad=True),
                                                    tt.Tensor(rng.standard_normal((3, 4)), dtype=tt.float64,
                                                              requires_grad=True)])

# %% [markdown]
# ## Exercise 4: `Transpose`, `Sum`, `Embedding`
#
# * `Transpose.apply(x, dim0, dim1)`: forward is `x.transpose(dim0, dim1)`;
#   the gradient is the upstream gradient swapped back the same way. Return
#   `(grad_x, None, None)`: the two dims are not tensors.
# * `Sum.apply(x, axis, keepdims)`: forward is `x.sum(axis, keepdims)` where
#   `axis` is `None` (everything), an int or a tuple of ints, possibly
#   negative. Every input entry contributed once, so its gradient is the
#   upstream gradient of the output entry it went into: put the reduced axes
#   back as size-1 axes (unless `keepdims` already kept them; take the axes
#   modulo `x.ndim` and insert them in increasing order), then broadcast to
#   `x.shape` (e.g. multiply by `tt.ones(*x.shape, dtype=g.dtype)`). Return
#   `(grad_x, None, None)`.
# * `Embedding.apply(weight, indices)`: `weight` is `(V, D)`, `indices` an
#   int64 Tensor of any shape `S`; forward returns the rows, shape `S + (D,)`
#   (numpy indexing is fine here: a Function's forward is not recorded). The
#   backward is a **scatter-add**: a `(V, D)` zero table where every row of
#   `g` is *added* to the row of its index (`np.add.at`), so a token used
#   twice gets two contributions. Return `(grad_weight, None)`.

# %%
class Transpose(Function):
    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ### HINT: remember the two dims, return x.transpose(dim0, dim1)
        ### BEGIN SOLUTION
        ctx.dims = (dim0, dim1)
        return x.transpose(dim0, dim1)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: transpose g by the same two dims; None for the dims
        ### BEGIN SOLUTION
        return g.transpose(*ctx.dims), None, None
        ### END SOLUTION


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ### HINT: remember x.shape, axis and keepdims; return x.sum(axis, keepdims)
        ### BEGIN SOLUTION
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        return x.sum(axis, keepdims)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: reshape g so the reduced axes are back as 1s, then multiply by ones of the input shape
        ### BEGIN SOLUTION
        shape = ctx.shape
        if ctx.axis is None:
            g = g.reshape(*([1] * len(shape)))
        elif not ctx.keepdims:
            axes = ctx.axis if isinstance(ctx.axis, tuple) else (ctx.axis,)
            kept = list(g.shape)
            for ax in sorted(ax % len(shape) for ax in axes):
                kept.insert(ax, 1)
            g = g.reshape(*kept)
        return g * tt.ones(*shape, dtype=g.dtype), None, None
        ### END SOLUTION


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, indices):
        ### HINT: keep the table shape and a numpy copy of the indices; return Tensor(weight_np[indices_np], dtype=weight.dtype)
        ### BEGIN SOLUTION
        ctx.table_shape = weight.shape
        ctx.indices = np.asarray(indices).astype(np.int64)
        return tt.Tensor(np.asarray(weight)[ctx.indices], dtype=weight.dtype)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        ### HINT: zeros of the table shape, np.add.at(table, indices, g), return (Tensor(table, dtype=g.dtype), None)
        ### BEGIN SOLUTION
        grad_np = np.asarray(g)
        table = np.zeros(ctx.table_shape, dtype=grad_np.dtype)
        np.add.at(table, ctx.indices, grad_np)
        return tt.Tensor(table, dtype=g.dtype), None
        ### END SOLUTION


# %% [markdown]
# Check: every axis form of `Sum`, a transpose of a 3-D tensor, and an
# embedding batch with repeated ids (their gradients add up).

# %%
X = rng.standard_normal((2, 3, 4))
for axis, keep in [(None, False), (None, True), (0, False), (-1, False), ((0, 2), False), ((2, 0), True), (1, True)]:
    expected, weights = engine_grads(lambda p: p.sum(axis, keep), X)
    px = tt.Tensor(X, dtype=tt.float64, requires_grad=True)
    out = Sum.apply(px, axis, keep)
    np.testing.assert_allclose(np.asarray(out), X.sum(axis=axis, keepdims=keep), rtol=1e-12)
    (out * weights).sum().backward()
    np.testing.assert_allclose(np.asarray(px.grad), expected[0], rtol=1e-12)

expected, weights = engine_grads(lambda p: p.transpose(0, 2), X)
px = tt.Tensor(X, dtype=tt.float64, requires_grad=True)
(Transpose.apply(px, 0, 2) * weights).sum().backward()
np.testing.assert_allclose(np.asarray(px.grad), expected[0], rtol=1e-12)

W = rng.standard_normal((6, 3))
ids = np.array([[1, 4, 1], [0, 1, 5]])
pw = tt.Tensor(W, dtype=tt.float64, requires_grad=True)
out = Embedding.apply(pw, tt.Tensor(ids, dtype=tt.int64))
np.testing.assert_array_equal(np.asarray(out), W[ids])
out.sum().backward()
print("rows of d weight for sum(embedding): ", np.asarray(pw.grad)[:, 0])   # uses per token: [1, 3, 0, 0, 1, 1]
np.testing.assert_array_equal(np.asarray(pw.grad)[:, 0], [1, 3, 0, 0, 1, 1])

# %% [markdown]
# ## Your rules compose
# The engine does not care whose rule a node holds. A small two-layer network
# written only with your Functions gets the same gradients as the engine's ops:

# %%
Xin, W1, W2 = rng.standard_normal((8, 5)), rng.standard_normal((5, 4)), rng.standard_normal((4, 1))
def net_mine(x, w1, w2):
    h = Matmul.apply(x, w1)
    return Sum.apply(Mul.apply(Matmul.apply(h, w2), Matmul.apply(h, w2)), None, False)
def net_engine(x, w1, w2):
    h = x @ w1
    return ((h @ w2) * (h @ w2)).sum()
mine = [tt.Tensor(v, dtype=tt.float64, requires_grad=True) for v in (Xin, W1, W2)]
ref = [tt.Tensor(v, dtype=tt.float64, requires_grad=True) for v in (Xin, W1, W2)]
net_mine(*mine).backward()
net_engine(*ref).backward()
for m_, r_ in zip(mine, ref):
    np.testing.assert_allclose(np.asarray(m_.grad), np.asarray(r_.grad), rtol=1e-10)
print("two-layer network: your rules and the engine's agree on all three gradients")

# %% [markdown]
# ## See the graph: `draw_graph` (not graded)
# `tinytorch.viz.draw_graph(loss, params=model)` draws the graph `backward()`
# will walk: a box per node (`type(grad_fn).__name__`), a leaf per parameter
# with its name and shape, and the step at which the engine runs each node.
# In Jupyter the graph shows itself as a picture when Graphviz's `dot` is
# installed (`apt-get install graphviz`); `print(graph)` lists it as text and
# `graph.to_dot()` gives its DOT source anywhere. The order is the engine's
# own: the profiler, which records every node the engine applies, agrees.

# %%
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.perf.profiling import Profiler
from tinytorch.viz import draw_graph

tt.manual_seed(0)
tiny = Sequential(Linear(3, 4), ReLU(), Linear(4, 1))
out = tiny(tt.randn(2, 3))
loss = (out * out).mean()
graph = draw_graph(loss, params=tiny)
print(graph)
with Profiler() as prof:
    loss.backward()
assert [e[0] for e in prof.events() if e[1] == "backward"] == graph.order
graph  # in Jupyter: the picture

# %% [markdown]
# ## Systems: what the backward pass costs
#
# **FLOPs.** A matmul `(n, k) @ (k, m)` costs `2nkm` FLOPs forward. Its
# backward does two matmuls of the same size (`g @ bᵀ` and `aᵀ @ g`), so a
# training step is about 3x the forward's FLOPs.
#
# **Memory.** `save_for_backward` keeps `a` and `b` alive until backward: for
# a deep network every layer's activations stay in memory at once. That, not
# the weights, is usually what limits the batch size.
#
# **Time.** Your Python rules run the same C++ kernels underneath, but each
# call adds Python overhead. Measured here (medians):

# %%
def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


n = 256
Pa = tt.Tensor(rng.standard_normal((n, n)).astype(np.float32), requires_grad=True)
Pb = tt.Tensor(rng.standard_normal((n, n)).astype(np.float32), requires_grad=True)
t_fwd = median_time(lambda: Pa @ Pb)
t_engine = median_time(lambda: (Pa @ Pb).sum().backward())
t_mine = median_time(lambda: Sum.apply(Matmul.apply(Pa, Pb), None, False).backward())
print(f"matmul {n}x{n} forward              : {t_fwd * 1e3:7.2f} ms  ({2 * n ** 3 / 1e6:.0f} MFLOP)")
print(f"forward + backward, engine rules    : {t_engine * 1e3:7.2f} ms  ({t_engine / t_fwd:.1f}x the forward)")
print(f"forward + backward, your Functions  : {t_mine * 1e3:7.2f} ms")
print(f"saved for backward: a and b, {2 * n * n * 4} bytes")

# %% [markdown]
# ## Read the engine
# * `csrc/autograd/backward.h`: `SubBackward`, `MulBackward`, `DivBackward`,
#   `MatmulBackward` (the 1-D cases exactly as above), `TransposeBackward`,
#   `SumBackward` and `EmbeddingBackward`: your eight rules, in C++.
# * `csrc/autograd/differentiable.cpp`: `sum_to`, the engine's `unbroadcast`.
# * `csrc/autograd/engine.cpp` and `csrc/autograd/node.h`: the walk in
#   reverse topological order, and how gradients arriving along two paths are
#   added.
# * `python/tinytorch/autograd.py`: `Function`, `FunctionCtx` and `gradcheck`.
#
# Next: `tinytorch milestone run 03` can train with your rules swapped into the
# engine (`use_student("05", ...)`), and reports the first op whose gradient
# ever departs from the engine's.

# %%
print("module 05 checks passed")
