# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 01 — Tensor
#
# A tensor is a block of memory plus a *view* of it: a shape, strides (how many
# elements to skip to move one step along each axis) and an offset. In
# tinytorch that description lives in C++ (`csrc/core/tensor.h`); this lesson
# pokes at it from Python so you can see why `transpose` is free and why
# `reshape` sometimes has to copy.

# %%
import numpy as np

import tinytorch as tt

x = tt.arange(12.0).reshape(3, 4)
print(x)
print("shape", x.shape, "strides (elements)", x._strides)

# %% [markdown]
# ## Views share memory
# `x.T` swaps the shape *and* the strides; no element moves. Writing through
# the view changes `x`.

# %%
xt = x.T
print("x.T strides", xt._strides, "contiguous?", xt.is_contiguous())
xt[0, 1] = 100.0           # element (1, 0) of x
assert x[1, 0].item() == 100.0
assert np.shares_memory(np.asarray(xt), np.asarray(x))

# %% [markdown]
# ## Reshape: a view when the layout allows, a copy otherwise
# A contiguous tensor can be read in any shape with the same element count.
# A transposed one cannot be flattened without visiting memory out of order,
# so `reshape` copies (exactly like numpy).

# %%
flat = x.reshape(-1)
assert np.shares_memory(np.asarray(flat), np.asarray(x))
flat_t = x.T.reshape(-1)
assert not np.shares_memory(np.asarray(flat_t), np.asarray(x))

# %% [markdown]
# ## Broadcasting is stride 0
# `expand` repeats a size-1 axis by giving it stride 0: every step along that
# axis reads the same memory again.

# %%
row = tt.Tensor([1.0, 2.0, 3.0, 4.0])
grid = row.expand(3, 4)
print("expanded strides", grid._strides)
assert grid._strides == [0, 1]
print(x + row)             # the same rule, applied inside the add kernel

# %% [markdown]
# ## Your turn
# 1. Predict the strides of `tt.zeros(2, 3, 4).permute(2, 0, 1)` and check.
# 2. Which of `x[:, ::2]`, `x[1:]`, `x[:, 1]` are contiguous? Why?

# %%
assert tt.zeros(2, 3, 4).permute(2, 0, 1)._strides == [1, 12, 4]
assert [x[:, ::2].is_contiguous(), x[1:].is_contiguous(), x[:, 1].is_contiguous()] == [False, True, False]
print("module 01 checks passed")
