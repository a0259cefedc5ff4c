# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 01 — Tensor: shapes, strides, broadcasting and views
#
# A tensor looks like a grid of numbers, but the machine only has a flat
# block of memory. What turns one into the other is a small description:
#
# * a **shape**: how many entries along each axis, e.g. `(3, 4)`;
# * **strides**: how many elements to skip in memory to move one step along
#   each axis, e.g. `(4, 1)` for a row-major `3 x 4` grid;
# * an **offset**: where in the block entry `[0, 0]` lives.
#
# Entry `[i, j]` sits at `offset + i * stride[0] + j * stride[1]`. Everything
# cheap in a deep-learning framework comes from changing that description
# instead of moving data: a transpose swaps two strides, a slice moves the
# offset, broadcasting sets a stride to 0. Everything expensive (a copy) comes
# from a description that cannot express what you asked for.
#
# In this module you write the three rules the engine applies before any
# kernel runs: the **broadcast shape** of two operands, the **contiguous
# strides** of a fresh tensor, and whether a **reshape can be a view** (and
# with which strides) or must copy.

# %%
import time

import numpy as np

import tinytorch as tt

# %% [markdown]
# ## Worked example: one buffer, several views
# tinytorch shows the description of a tensor as `shape`, `_strides` (in
# elements, not bytes) and `_offset`.

# %%
x = tt.arange(12.0).reshape(3, 4)
print(np.asarray(x))
print("x     shape", x.shape, "strides", x._strides, "offset", x._offset)
xt = x.T
print("x.T   shape", xt.shape, "strides", xt._strides, "contiguous?", xt.is_contiguous())
col = x[:, 2]
print("x[:,2] shape", col.shape, "strides", col._strides, "offset", col._offset)
# No data moved: writing through a view changes x.
xt[0, 1] = 100.0                       # entry (1, 0) of x
assert x[1, 0].item() == 100.0
assert np.shares_memory(np.asarray(xt), np.asarray(x)) and np.shares_memory(np.asarray(col), np.asarray(x))
# the address rule, checked by hand for x[:, 2][1] = x[1, 2] = 6
assert col._offset + 1 * col._strides[0] == 1 * 4 + 2

# %% [markdown]
# ## Broadcasting
# `x + row` with `x` of shape `(3, 4)` and `row` of shape `(4,)` adds `row` to
# every row of `x`. The rule, shared by numpy, PyTorch and tinytorch:
#
# 1. Line the shapes up **from the right** (pad the shorter one with 1s on the
#    left).
# 2. In each position the sizes must be equal, or one of them must be 1.
# 3. The result takes the larger size; a size-1 axis is repeated.
#
# `(3, 4)` with `(4,)` gives `(3, 4)`; `(2, 1, 5)` with `(3, 1)` gives
# `(2, 3, 5)`; `(3, 4)` with `(3,)` fails (4 vs 3). The repeat is free: the
# engine reads the size-1 axis with **stride 0**.

# %%
row = tt.Tensor([10.0, 20.0, 30.0, 40.0])
grid = row.expand(3, 4)
print("row expanded to (3, 4): strides", grid._strides)      # [0, 1]: every row reads the same 4 numbers
assert grid._strides == [0, 1]
try:
    x + tt.Tensor([1.0, 2.0, 3.0])
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 1: `broadcast_shape(*shapes)`
# Take any number of shapes (tuples of ints, possibly `()`) and return the
# broadcast shape as a tuple. If two sizes in one position differ and neither
# is 1, raise `ValueError` naming the shapes. With no shapes, return `()`.

# %%
def broadcast_shape(*shapes):
    """The shape that broadcasting `shapes` against each other gives, as a tuple; ValueError if they cannot."""
    ### HINT: pad every shape with 1s on the left to the longest length, then take the non-1 size per position
    ### BEGIN SOLUTION
    ndim = max((len(s) for s in shapes), default=0)
    result = [1] * ndim
    for s in shapes:
        padded = (1,) * (ndim - len(s)) + tuple(s)
        for i, size in enumerate(padded):
            if size == result[i] or size == 1:
                continue
            if result[i] == 1:
                result[i] = size
            else:
                raise ValueError(f"broadcast_shape: shapes {', '.join(str(tuple(t)) for t in shapes)} cannot be "
                                 f"broadcast (sizes {result[i]} and {size} at position {i} from the left)")
    return tuple(result)
    ### END SOLUTION


# %% [markdown]
# Check: the examples above, then the engine's own result on a few pairs.

# %%
assert broadcast_shape((3, 4), (4,)) == (3, 4)
assert broadcast_shape((2, 1, 5), (3, 1)) == (2, 3, 5)
assert broadcast_shape((), (2, 3)) == (2, 3)
assert broadcast_shape((1,), (1, 1), (5, 1, 1)) == (5, 1, 1)
assert broadcast_shape((2, 3, 1), (1, 4), (2, 1, 1)) == (2, 3, 4)
for a, b in [((3, 4), (4,)), ((4, 1), (1, 5)), ((2, 0, 3), (1, 3))]:
    assert broadcast_shape(a, b) == (tt.zeros(*a) + tt.zeros(*b)).shape
for bad in [((3, 4), (3,)), ((2, 3), (3, 2)), ((2,), (1,), (3,))]:
    try:
        broadcast_shape(*bad)
        raise AssertionError(f"{bad} should raise ValueError")
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `contiguous_strides(shape)`
# A freshly allocated tensor is **row-major** (C order): the last axis is
# adjacent in memory, stride 1; each axis to the left skips a whole block of
# the axes to its right. For shape `(2, 3, 4)` that is `(12, 4, 1)`.
# Return a tuple of ints (in elements). Treat a size-0 axis like size 1 when
# multiplying, as the engine does, so every stride stays at least 1.

# %%
def contiguous_strides(shape):
    """Row-major strides (in elements) of a fresh tensor of `shape`, as a tuple."""
    ### HINT: walk from the last axis to the first, multiplying a running product by each size (0 counts as 1)
    ### BEGIN SOLUTION
    strides = [0] * len(shape)
    step = 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = step
        step *= max(shape[i], 1)
    return tuple(strides)
    ### END SOLUTION


# %% [markdown]
# Check: by hand, then against fresh engine tensors.

# %%
assert contiguous_strides((2, 3, 4)) == (12, 4, 1)
assert contiguous_strides((5,)) == (1,)
assert contiguous_strides(()) == ()
for shape in [(3, 4), (2, 1, 5), (7, 1), (2, 0, 3), (2, 3, 4, 5)]:
    assert list(contiguous_strides(shape)) == tt.zeros(*shape)._strides, shape

# %% [markdown]
# ## Reshape: a view when the layout allows, a copy otherwise
# Reshaping a contiguous tensor never copies: read the same memory with the
# contiguous strides of the new shape. A transposed tensor cannot be
# flattened without jumping around in memory, so `reshape` has to copy.
# Between those two extremes the rule is subtle: `x.T.reshape(2, 2, 3)` of a
# `(3, 4)` tensor *can* be a view (it only splits the axis of length 4).

# %%
x = tt.arange(12.0).reshape(3, 4)
print("contiguous -> (2, 6):", np.shares_memory(np.asarray(x.reshape(2, 6)), np.asarray(x)))
print("x.T -> (12,):        ", np.shares_memory(np.asarray(x.T.reshape(12)), np.asarray(x)))
split = x.T.reshape(2, 2, 3)
print("x.T -> (2, 2, 3):    ", np.shares_memory(np.asarray(split), np.asarray(x)), "strides", split._strides)

# %% [markdown]
# ## Exercise 3: `reshape_view_strides(shape, strides, new_shape)`
# Given a tensor's shape and strides (in elements) and a `new_shape` with the
# same number of entries, return the strides (a tuple) that read the same
# memory in `new_shape`, or `None` if no strides can (then reshape must copy).
#
# The idea:
#
# 1. Size-1 axes never matter for addressing: drop them.
# 2. Group the remaining axes into **chunks**: neighbours `i, i+1` belong to one
#    chunk when `strides[i] == shape[i+1] * strides[i+1]` (the outer axis jumps
#    exactly over the inner one). A chunk behaves like one long axis of size
#    `prod(sizes)` with the stride of its innermost axis.
# 3. Walk the chunks from the right and hand each one consecutive axes of
#    `new_shape`, also from the right, until their product reaches the chunk's
#    size. A new axis gets stride `(product of the new sizes to its right
#    within the chunk) * chunk stride`. If the product overshoots the chunk's
#    size (the new axis would cross a chunk boundary), return `None`.
# 4. Leftover new axes must have size 1 (give them any stride, e.g. the one a
#    contiguous layout would).
#
# If the tensor has no entries, any layout works: return the contiguous
# strides of `new_shape`. Only the strides of axes with size > 1 are checked.

# %%
def reshape_view_strides(shape, strides, new_shape):
    """Strides that view memory laid out as (shape, strides) in new_shape, or None if reshape must copy."""
    ### HINT: merge neighbouring axes with strides[i] == shape[i+1] * strides[i+1] into chunks, then split each chunk
    ### BEGIN SOLUTION
    shape, strides, new_shape = tuple(shape), tuple(strides), tuple(new_shape)
    if 0 in shape:
        return contiguous_strides(new_shape)
    chunks = []                                   # [size, stride of its innermost axis], left to right
    for size, stride in zip(shape, strides):
        if size == 1:
            continue
        if chunks and chunks[-1][1] == size * stride:
            chunks[-1] = [chunks[-1][0] * size, stride]
        else:
            chunks.append([size, stride])
    out = [0] * len(new_shape)
    j = len(new_shape) - 1
    for size, stride in reversed(chunks):
        covered = 1
        while covered < size:
            if j < 0:
                return None
            out[j] = covered * stride
            covered *= new_shape[j]
            j -= 1
        if covered != size:
            return None
    for k in range(j, -1, -1):                    # leftover axes: only size 1 is possible
        if new_shape[k] != 1:
            return None
        out[k] = out[k + 1] * new_shape[k + 1] if k + 1 < len(new_shape) else 1
    return tuple(out)
    ### END SOLUTION


# %% [markdown]
# Check: the cases from the example, then the engine's `reshape` on views made
# by transpose, slicing and expand (`None` exactly when the engine copied).

# %%
def engine_view_strides(t, new_shape):
    """What the engine did: the new strides if reshape returned a view, None if it copied."""
    y = t.reshape(*new_shape)
    return tuple(y._strides) if np.shares_memory(np.asarray(y), np.asarray(t)) else None


def same_layout(mine, engine, new_shape):
    if mine is None or engine is None:
        return mine is engine
    return all(m == e for m, e, n in zip(mine, engine, new_shape) if n != 1)


assert reshape_view_strides((3, 4), (4, 1), (2, 6)) == (6, 1)
assert reshape_view_strides((4, 3), (1, 4), (12,)) is None                 # x.T flattened: copy
assert reshape_view_strides((4, 3), (1, 4), (2, 2, 3)) == (2, 1, 4)        # x.T split along its first axis
assert reshape_view_strides((3, 4), (0, 1), (12,)) is None                 # an expanded row repeats: copy
base = tt.arange(120.0).reshape(2, 3, 4, 5)
for view, new_shape in [(base, (6, 20)), (base.transpose(0, 1), (6, 20)), (base.transpose(2, 3), (6, 5, 4)),
                        (base[:, :, ::2], (6, 2, 5)), (base[:, 1], (2, 20)), (base.permute(3, 0, 1, 2), (5, 6, 4)),
                        (base[:1], (3, 4, 5)), (base.unsqueeze(2), (2, 3, 20))]:
    mine = reshape_view_strides(view.shape, view._strides, new_shape)
    engine = engine_view_strides(view, new_shape)
    assert same_layout(mine, engine, new_shape), (view.shape, view._strides, new_shape, mine, engine)
    print(f"{str(view.shape):14s} strides {str(view._strides):16s} -> {str(new_shape):11s}: {mine}")

# %% [markdown]
# ## Systems: what a view saves
#
# A view costs a few dozen bytes of description, whatever the size of the
# data; a copy costs the whole tensor in memory *and* a pass over it. Measured
# on the engine (medians; your machine's numbers will differ):

# %%
def median_time(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


big = tt.zeros(1024, 1024)
t_view = median_time(lambda: big.reshape(512, 2048))
t_transpose = median_time(lambda: big.T)
t_copy = median_time(lambda: big.T.reshape(1024 * 1024))
print(f"reshape of a contiguous (1024, 1024): {t_view * 1e6:8.1f} us, 0 bytes copied")
print(f"transpose                           : {t_transpose * 1e6:8.1f} us, 0 bytes copied")
print(f"flatten of the transpose (a copy)   : {t_copy * 1e6:8.1f} us, {1024 * 1024 * 4} bytes copied")
expanded = tt.Tensor(np.ones(1024, dtype=np.float32)).expand(1024, 1024)
print(f"a (1024,) row expanded to (1024, 1024): strides {expanded._strides}, still {1024 * 4} bytes of data")

# %% [markdown]
# **Why contiguity matters for speed.** Kernels read memory in order fastest:
# a matmul or a reduction over a transposed (non-contiguous) input either
# copies it first or walks memory with large jumps. `t.is_contiguous()` tells
# you which case you are in; `t.contiguous()` makes the copy explicit.
#
# ## Read the engine
# * `csrc/core/shape.cpp`: `broadcast_shapes`, `contiguous_strides`,
#   `is_contiguous`, `broadcast_strides` (stride 0) and `view_strides`, the
#   engine's version of your Exercise 3.
# * `csrc/core/views.cpp`: transpose, permute, slicing and expand, each a new
#   description over the same storage.
# * `csrc/core/tensor.h`: the `Tensor` itself: storage, shape, strides, offset.

# %%
print("module 01 checks passed")
