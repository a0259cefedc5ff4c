# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 09 — Spatial: convolution and pooling from im2col
#
# A batch of images is a tensor of shape (N, C, H, W). A `Linear` layer
# would give every pixel of every image its own weight and would have to
# relearn a pattern for every place it can appear. A **convolution** slides
# one small filter of shape (C, kh, kw) over the image instead: the same few
# weights are used at every position, so an edge detector found in the top
# left corner works in the bottom right corner too.
#
# Written as loops, a convolution is six nested `for`s, far too slow in
# Python. The trick every fast library uses is to turn it into one matrix
# product:
#
# 1. **im2col** ("image to columns") copies each kh x kw window of the
#    (padded) image into a column: shape (N, C*kh*kw, OH*OW);
# 2. the filters, flattened to (C_out, C*kh*kw), are multiplied with those
#    columns: (C_out, C*kh*kw) @ (N, C*kh*kw, OH*OW) -> (N, C_out, OH*OW);
# 3. a reshape gives (N, C_out, OH, OW).
#
# A matrix product is what CPUs (and GPUs) do best, so a convolution runs at
# matmul speed, at the price of memory: every pixel is copied once per window
# it belongs to. **Max pooling** reuses the same columns: it takes the max of
# each column instead of multiplying it.
#
# In this module you write `im2col`, `conv2d` and `max_pool2d` and compare them
# with the engine's `tinytorch.core.spatial`.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.spatial import Conv2d, MaxPool2d

# %% [markdown]
# ## Shape arithmetic
# A kernel of size k moved in steps of s over an input of size H padded with
# p zeros on each side fits at OH = (H + 2p - k) // s + 1 positions (the
# same formula for the width, with its own k, s, p). Padding of k // 2 with
# stride 1 keeps the size ("same" convolution) for odd k.
#
# Every function below accepts `kernel_size`, `stride` and `padding` as an
# int (the same for height and width) or a pair (height, width). The helper
# `pair` does that conversion; use it in your exercises.

# %%
def pair(v):
    """An int or a pair -> (height, width) tuple of ints."""
    if isinstance(v, (tuple, list)):
        assert len(v) == 2, f"expected an int or a pair, got {v!r}"
        return int(v[0]), int(v[1])
    return int(v), int(v)


def out_size(h, k, s, p):
    return (h + 2 * p - k) // s + 1


assert out_size(28, 5, 1, 2) == 28 and out_size(28, 2, 2, 0) == 14 and out_size(7, 3, 2, 1) == 4
assert pair(3) == (3, 3) and pair((5, 2)) == (5, 2)

# %% [markdown]
# ## The engine's im2col: where every value goes
# `_C.im2col(x, (kh, kw), (sh, sw), (ph, pw), pad_value=0.0)` takes pairs
# (not ints) and returns (N, C*kh*kw, OH*OW):
#
# * **column** `l = oh*OW + ow` is the output position (row-major over the
#   output grid);
# * **row** `c*kh*kw + i*kw + j` holds the pixel at offset (i, j) inside the
#   window of channel c, i.e. `x_padded[n, c, oh*sh + i, ow*sw + j]`.
#
# Channels are the slowest-moving part of the row index: that matches
# `weight.reshape(C_out, C*kh*kw)`, whose column `c*kh*kw + i*kw + j` is
# `weight[:, c, i, j]`. On a 4x4 image with a 2x2 kernel and stride 2 there
# are four windows:

# %%
img = tt.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
cols = _C.im2col(img, (2, 2), (2, 2), (0, 0))
assert cols.shape == (1, 4, 4)
# column l is window l; transposing shows one window per line
assert np.asarray(cols)[0].T.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]

# With padding 1, the 3x3 window on pixel (0, 0) reaches outside the image and sees zeros.
cols = _C.im2col(img, (3, 3), (1, 1), (1, 1))
assert cols.shape == (1, 9, 16)
assert np.asarray(cols)[0, :, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 4, 5]

# Two channels: rows 0..3 come from channel 0, rows 4..7 from channel 1.
two = tt.Tensor(np.stack([np.arange(4.0).reshape(2, 2), 10 + np.arange(4.0).reshape(2, 2)])[None])
assert np.asarray(_C.im2col(two, (2, 2), (1, 1), (0, 0)))[0, :, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13]

# %% [markdown]
# ## Exercise 1: `im2col(x, kernel_size, stride=1, padding=0)`
# Write im2col yourself, with numpy on `np.asarray(x)`:
#
# * `x`: a tinytorch Tensor (N, C, H, W), float32 or float64 (it may be a
#   non-contiguous view: `np.asarray` handles that);
# * `kernel_size`, `stride`, `padding`: int or pair (use `pair`);
# * return a tinytorch **Tensor of the same dtype as x**, shape
#   (N, C*kh*kw, OH*OW), laid out exactly like `_C.im2col` (see above), with
#   zero padding.
#
# A way that needs only kh*kw slices: pad with `np.pad`; for each kernel
# offset (i, j) the slice `xp[:, :, i : i + sh*OH : sh, j : j + sw*OW : sw]`
# is that offset's pixel for every window at once, shape (N, C, OH, OW).
# Stack the kh*kw slices so the axis order becomes (N, C, kh*kw, OH, OW), then
# reshape. (This version is numpy only, so no gradient flows through it; the
# engine's im2col is differentiable, its backward is `col2im`.)

# %%
def im2col(x, kernel_size, stride=1, padding=0):
    """(N, C, H, W) Tensor -> (N, C*kh*kw, OH*OW) Tensor in _C.im2col's layout (zero padding)."""
    ### HINT: pad with np.pad, take one strided slice per kernel offset (i, j), stack them on axis 2, reshape
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    a = np.asarray(x)
    n, c, h, w = a.shape
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    xp = np.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = [xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw)]
    cols = np.stack(windows, axis=2)                     # (N, C, kh*kw, OH, OW)
    return tt.Tensor(cols.reshape(n, c * kh * kw, oh * ow), dtype=a.dtype)
    ### END SOLUTION


# %%
# the hand-worked cases above
got = im2col(img, 2, stride=2)
assert got.shape == (1, 4, 4)
assert np.asarray(got)[0].T.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
assert np.asarray(im2col(img, 3, padding=1))[0, :, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 4, 5]
assert np.asarray(im2col(two, 2))[0, :, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13]
# random inputs, non-square kernels, strides and paddings, against the engine
rng = np.random.default_rng(0)
for shape, k, s, p in [((2, 3, 7, 6), (3, 2), (2, 1), (1, 0)), ((1, 2, 5, 5), 3, 1, 1), ((3, 1, 8, 9), (4, 4), 3, (0, 2))]:
    x = tt.Tensor(rng.standard_normal(shape), dtype=tt.float64)
    mine = im2col(x, k, s, p)
    assert mine.dtype == x.dtype
    np.testing.assert_array_equal(mine, _C.im2col(x, pair(k), pair(s), pair(p)))

# %% [markdown]
# ## Exercise 2: `conv2d(x, weight, bias=None, stride=1, padding=0)`
# The convolution (strictly, a cross-correlation, as in PyTorch):
#
#     out[n, o, r, q] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * x_padded[n, c, r*sh + i, q*sw + j]
#
# * `x` (N, C, H, W), `weight` (C_out, C, kh, kw), `bias` (C_out,) or None,
#   stride / padding int or pair; return (N, C_out, OH, OW).
# * Build it from **differentiable tinytorch ops** so that `.backward()` gives
#   gradients for x, weight and bias: columns, then
#   `weight.reshape(C_out, -1) @ cols` (a batched matmul: the 2-D weight
#   broadcasts over N), then `+ bias.reshape(1, C_out, 1)`, then `reshape`.
# * For the columns call the engine's **`_C.im2col`** (it takes pairs), not
#   your numpy `im2col`: yours copies values through numpy, so no gradient
#   would reach `x`. The layout is the same, which is why exercise 1 matters:
#   you know exactly what the matmul multiplies.

# %%
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """(N, C, H, W) conv (C_out, C, kh, kw) [+ bias (C_out,)] -> (N, C_out, OH, OW), differentiable."""
    ### HINT: cols = _C.im2col(x, (kh, kw), pair(stride), pair(padding)); then weight.reshape(C_out, -1) @ cols, bias, reshape
    ### BEGIN SOLUTION
    c_out, c_in, kh, kw = weight.shape
    n, _, h, w = x.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    cols = _C.im2col(x, (kh, kw), (sh, sw), (ph, pw))        # (N, C*kh*kw, OH*OW)
    out = weight.reshape(c_out, c_in * kh * kw) @ cols       # (N, C_out, OH*OW)
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1)
    return out.reshape(n, c_out, oh, ow)
    ### END SOLUTION


# %%
# A hand-made filter that responds to vertical edges (dark left, bright right).
edges = np.zeros((1, 1, 5, 6), dtype=np.float32)
edges[..., 3:] = 1.0
sobel = tt.Tensor(np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]], dtype=np.float32))
assert np.asarray(conv2d(tt.Tensor(edges), sobel))[0, 0].tolist() == [[0, 4, 4, 0]] * 3
assert np.asarray(conv2d(tt.Tensor(edges), sobel, tt.Tensor([0.5])))[0, 0, 0].tolist() == [0.5, 4.5, 4.5, 0.5]

# Against the engine's Conv2d layer with the same weights, values and float64 gradients.
tt.manual_seed(0)
layer = Conv2d(3, 4, (3, 2), stride=2, padding=1).double()
x_np = rng.standard_normal((2, 3, 7, 6))
w = tt.Tensor(np.asarray(layer.weight).copy(), dtype=tt.float64, requires_grad=True)
b = tt.Tensor(np.asarray(layer.bias).copy(), dtype=tt.float64, requires_grad=True)
x_mine = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
x_ref = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
mine, ref = conv2d(x_mine, w, b, stride=2, padding=1), layer(x_ref)
assert mine.shape == ref.shape == (2, 4, 4, 4)
np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-12)
g = tt.Tensor(rng.standard_normal(ref.shape), dtype=tt.float64)
(mine * g).sum().backward()
(ref * g).sum().backward()
np.testing.assert_allclose(x_mine.grad, x_ref.grad, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(w.grad, layer.weight.grad, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(b.grad, layer.bias.grad, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## Exercise 3: `max_pool2d(x, kernel_size, stride=None)`
# Max pooling keeps the largest value of each kh x kw window of **each
# channel separately** (no padding here). `stride=None` means stride =
# kernel size, so 2x2 pooling halves height and width.
#
# Use the columns again: reshape x to (N*C, 1, H, W) so every channel is its
# own one-channel image, take `_C.im2col` of that -> (N*C, kh*kw, OH*OW), then
# `.max(axis=1)` -> (N*C, OH*OW), and reshape to (N, C, OH, OW). All of these
# are differentiable: the gradient of max goes to the winner of each window
# (the engine shares it among exact ties; random floats have none).

# %%
def max_pool2d(x, kernel_size, stride=None):
    """(N, C, H, W) -> (N, C, OH, OW): the max of every window of every channel; stride defaults to the kernel."""
    ### HINT: stride None -> kernel; im2col of x.reshape(N*C, 1, H, W), .max(axis=1), reshape to (N, C, OH, OW)
    ### BEGIN SOLUTION
    kh, kw = pair(kernel_size)
    sh, sw = (kh, kw) if stride is None else pair(stride)
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, 0), out_size(w, kw, sw, 0)
    cols = _C.im2col(x.reshape(n * c, 1, h, w), (kh, kw), (sh, sw), (0, 0))   # (N*C, kh*kw, OH*OW)
    return cols.max(axis=1).reshape(n, c, oh, ow)
    ### END SOLUTION


# %%
x = tt.Tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 2.0, 7.0, 1.0]]]], requires_grad=True)
y = max_pool2d(x, 2)
assert y.shape == (1, 1, 1, 2) and np.asarray(y).tolist() == [[[[5.0, 7.0]]]]
y.sum().backward()
assert np.asarray(x.grad).tolist() == [[[[0, 1, 0, 0], [0, 0, 1, 0]]]]   # only the winners get gradient
assert np.asarray(max_pool2d(x, (1, 2), stride=1)).tolist() == [[[[5, 5, 2], [3, 7, 7]]]]

x_np = rng.standard_normal((2, 3, 6, 8))
blocks = x_np.reshape(2, 3, 3, 2, 4, 2)                     # non-overlapping 2x2 windows: (N, C, OH, kh, OW, kw)
np.testing.assert_array_equal(max_pool2d(tt.Tensor(x_np, dtype=tt.float64), 2), blocks.max(axis=(3, 5)))
for k, s in [(2, None), ((3, 2), (2, 1)), (3, 2)]:
    a = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
    r = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
    mine, ref = max_pool2d(a, k, s), MaxPool2d(k, s)(r)
    np.testing.assert_array_equal(mine, ref)
    mine.sum().backward()
    ref.sum().backward()
    np.testing.assert_array_equal(a.grad, r.grad)

# %% [markdown]
# ## Systems: what a convolution costs
# **FLOPs.** Every output value is a dot product of length C*kh*kw (one
# multiply and one add each), and there are N*C_out*OH*OW outputs:
# FLOPs = 2 * N * C_out * OH * OW * C * kh * kw, exactly the FLOPs of the
# matmul (C_out, C*kh*kw) @ (C*kh*kw, OH*OW) done N times.
#
# **Memory.** The im2col matrix holds C*kh*kw*OH*OW values per image against
# C*H*W for the image: with stride 1 and "same" padding that is kh*kw times
# more (9x for 3x3, 25x for 5x5). Below: a 3x3 and a 5x5 layer on a batch
# of 32x32 images, timed on the engine (median of several runs).

# %%
def median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


xb = tt.randn(16, 16, 32, 32)
for k in (3, 5):
    layer = Conv2d(16, 32, k, padding=k // 2)
    cols = _C.im2col(xb, (k, k), (1, 1), (k // 2, k // 2))
    n, c, h, w_ = xb.shape
    oh, ow = out_size(h, k, 1, k // 2), out_size(w_, k, 1, k // 2)
    flops = 2 * n * 32 * oh * ow * c * k * k
    in_bytes = xb.numel() * 4
    col_bytes = cols.numel() * 4
    seconds = median_time(lambda: layer(xb))
    print(f"{k}x{k} conv 16->32 on {tuple(xb.shape)}: {flops / 1e6:.0f} MFLOP, "
          f"{seconds * 1e3:.2f} ms, {flops / seconds / 1e9:.2f} GFLOP/s")
    print(f"   input {in_bytes / 1e6:.2f} MB, im2col matrix {col_bytes / 1e6:.2f} MB "
          f"({col_bytes / in_bytes:.1f}x the input)")
    assert col_bytes == in_bytes * k * k        # stride 1, same padding: every pixel copied k*k times

pool_seconds = median_time(lambda: MaxPool2d(2)(xb))
print(f"2x2 max pool on {tuple(xb.shape)}: {pool_seconds * 1e3:.2f} ms (no FLOPs worth counting: it is memory bound)")

# %% [markdown]
# ## Read the engine
# * `csrc/ops/spatial.cpp`: `im2col_kernel` (the copy you wrote in numpy,
#   with the valid column range computed once per kernel column so the inner
#   loop has no bounds test) and `col2im`, its adjoint, which **sums** the
#   gradients of overlapping windows back into the image (the backward of
#   im2col).
# * `csrc/ops/matmul.cpp`: the batched matrix product that does all the
#   FLOPs of a convolution.
# * `csrc/ops/reduce.cpp`: the max reduction, and `MaxBackward` in
#   `csrc/autograd/backward.h`, which routes the gradient to the winner of
#   each window (split evenly among ties).
# * `python/tinytorch/core/spatial.py`: `conv2d`, `max_pool2d`, `avg_pool2d`
#   and the layers, built exactly as you built them here, plus the argument
#   checks a library needs.

# %%
print("module 09 checks passed")
