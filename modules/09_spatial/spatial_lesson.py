# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 09 — Spatial: convolution and pooling
#
# An image is a (channels, height, width) grid, and a batch of them is
# (N, C, H, W). A `Linear` layer would give every pixel its own weight; a
# convolution slides one small filter over the whole image instead, so a
# pattern is recognised wherever it appears, with few weights.
#
# tinytorch computes a convolution in two steps:
# 1. **im2col** copies every kh x kw window of the image into a column
#    (C++: `tinytorch._C.im2col`), giving (N, C*kh*kw, OH*OW);
# 2. one **matrix product** of the flattened filters (O, C*kh*kw) with
#    those columns gives all O output channels at all OH*OW positions.
#
# Both steps are differentiable, so backward (and double backward) come free.

# %%
import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.spatial import Conv2d, Flatten, MaxPool2d, avg_pool2d, conv2d, max_pool2d

# %% [markdown]
# ## Shape arithmetic
# A kernel of size k, moved in steps of s over an input of size H padded by
# p on each side, fits at OH = (H + 2p - k) // s + 1 positions. Rows and
# columns are counted separately, so non-square kernels, strides and
# paddings just work.

# %%
def out_size(h, k, s, p):
    return (h + 2 * p - k) // s + 1


x = tt.randn(2, 3, 11, 8)
for kernel, stride, padding in [((3, 3), (1, 1), (0, 0)), ((3, 3), (1, 1), (1, 1)),  # "same" size
                                ((5, 2), (2, 1), (2, 0)), ((4, 4), (3, 3), (0, 1))]:
    w = tt.randn(6, 3, *kernel)
    y = conv2d(x, w, stride=stride, padding=padding)
    assert y.shape == (2, 6, out_size(11, kernel[0], stride[0], padding[0]),
                       out_size(8, kernel[1], stride[1], padding[1]))
assert conv2d(x, tt.randn(6, 3, 3, 3), padding=1).shape == (2, 6, 11, 8)   # padding 1 keeps a 3x3 conv's size

# %% [markdown]
# ## im2col: windows become columns
# On a single 4x4 image with a 2x2 kernel and stride 2 there are four
# windows; each becomes one column of four values (row i*kw + j holds the
# pixel at offset (i, j) inside the window).

# %%
img = tt.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
cols = _C.im2col(img, (2, 2), (2, 2), (0, 0))
assert cols.shape == (1, 4, 4)
assert np.asarray(cols)[0].T.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]

# With padding, the windows reach outside the image and see pad_value (0 for convolution).
cols = _C.im2col(img, (3, 3), (1, 1), (1, 1))
assert cols.shape == (1, 9, 16)
assert np.asarray(cols)[0, :, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 4, 5]   # the window on pixel (0, 0)

# %% [markdown]
# ## Convolution = im2col + matmul
# Check it against the definition, written as plain loops:
# out[n, o, r, c] = b[o] + sum_{ch, i, j} w[o, ch, i, j] * x_padded[n, ch, r*s + i, c*s + j].

# %%
def conv2d_loops(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = out_size(h, kh, stride, padding), out_size(wd, kw, stride, padding)
    out = np.zeros((n, o, oh, ow))
    for b_ in range(n):
        for oc in range(o):
            for r in range(oh):
                for col in range(ow):
                    window = xp[b_, :, r * stride:r * stride + kh, col * stride:col * stride + kw]
                    out[b_, oc, r, col] = np.sum(window * w[oc]) + b[oc]
    return out


rng = np.random.default_rng(0)
x_np = rng.standard_normal((2, 3, 7, 6))
w_np = rng.standard_normal((4, 3, 3, 2))
b_np = rng.standard_normal(4)
x64, w64, b64 = (tt.Tensor(a, dtype=np.float64) for a in (x_np, w_np, b_np))

cols = _C.im2col(x64, (3, 2), (2, 2), (1, 1))                 # (2, 3*3*2, OH*OW)
by_hand = (w64.reshape(4, -1) @ cols + b64.reshape(1, 4, 1)).reshape(2, 4, 4, 4)
expected = conv2d_loops(x_np, w_np, b_np, stride=2, padding=1)
np.testing.assert_allclose(by_hand, expected, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(conv2d(x64, w64, b64, stride=2, padding=1), expected, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## The Conv2d layer
# `Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)`
# holds weight (out, in, kh, kw) and bias (out,), drawn like PyTorch from
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in * kh * kw.

# %%
tt.manual_seed(0)
conv = Conv2d(3, 16, 5, padding=2)
assert conv.weight.shape == (16, 3, 5, 5) and conv.bias.shape == (16,)
assert conv.num_parameters() == 16 * 3 * 5 * 5 + 16
assert np.abs(np.asarray(conv.weight)).max() <= 1 / np.sqrt(3 * 5 * 5)
assert conv(tt.randn(2, 3, 32, 32)).shape == (2, 16, 32, 32)

# A hand-made filter: this one responds to vertical edges (dark on the left, bright on the right).
edges = np.zeros((1, 1, 5, 6), dtype=np.float32)
edges[..., 3:] = 1.0
sobel = tt.Tensor(np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]], dtype=np.float32))
response = np.asarray(conv2d(tt.Tensor(edges), sobel))[0, 0]
assert response.tolist() == [[0, 4, 4, 0]] * 3             # strong only where the edge is

# %% [markdown]
# ## Pooling
# Pooling summarises each window of every channel on its own: the maximum
# (`MaxPool2d`, padding counts as -inf so it never wins) or the mean
# (`AvgPool2d`, zero padding counts, as PyTorch's default). The stride
# defaults to the kernel size, so 2x2 pooling halves height and width.
# Non-overlapping pooling is just a reshape and a reduction in numpy:

# %%
x_np = rng.standard_normal((2, 3, 6, 8))
blocks = x_np.reshape(2, 3, 3, 2, 4, 2)                    # (N, C, OH, kh, OW, kw)
np.testing.assert_array_equal(max_pool2d(tt.Tensor(x_np, dtype=np.float64), 2), blocks.max(axis=(3, 5)))
np.testing.assert_allclose(avg_pool2d(tt.Tensor(x_np, dtype=np.float64), 2), blocks.mean(axis=(3, 5)),
                           rtol=1e-12)
assert MaxPool2d(2).parameters() == []                     # pooling has nothing to learn

# The gradient of max pooling flows only to the winner of each window.
x = tt.Tensor([[[[1.0, 5.0], [3.0, 2.0]]]], requires_grad=True)
max_pool2d(x, 2).sum().backward()
assert np.asarray(x.grad).tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]
# ...and average pooling shares it equally.
x.grad = None
avg_pool2d(x, 2).sum().backward()
assert np.asarray(x.grad).tolist() == [[[[0.25, 0.25], [0.25, 0.25]]]]

# %% [markdown]
# ## Your turn
# 1. Follow a LeNet-style stack on a 28x28 digit: compute each shape with
#    `out_size`, then check them by running the layers.
# 2. Flatten the result for a Linear layer: how many input features does it need?

# %%
tt.manual_seed(0)
stack = [Conv2d(1, 6, 5, padding=2), MaxPool2d(2), Conv2d(6, 16, 5), MaxPool2d(2), Flatten()]
h = 28
h = out_size(h, 5, 1, 2)          # 28
h = out_size(h, 2, 2, 0)          # 14
h = out_size(h, 5, 1, 0)          # 10
h = out_size(h, 2, 2, 0)          # 5
y = tt.randn(4, 1, 28, 28)
for layer in stack:
    y = layer(y)
assert y.shape == (4, 16 * h * h) == (4, 400)                # LeNet-5's 16 x 5 x 5 features

try:
    MaxPool2d(2, padding=2)
    raise AssertionError("padding larger than half the kernel should be refused")
except ValueError as err:
    assert "at most half" in str(err)
print("module 09 checks passed")
