"""Grader for module 09: im2col, conv2d and max_pool2d, against the engine's _C.im2col, Conv2d and MaxPool2d."""
import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.autograd import gradcheck
from tinytorch.core.spatial import Conv2d, MaxPool2d
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("09")


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


# (input shape, kernel, stride, padding): ints and pairs, non-square everything
_WINDOWS = [
    ((1, 1, 4, 4), 2, 2, 0),
    ((2, 3, 7, 6), (3, 2), (2, 1), (1, 0)),
    ((1, 2, 5, 5), 3, 1, 1),
    ((3, 1, 8, 9), (4, 4), 3, (0, 2)),
    ((2, 2, 6, 5), (1, 1), 1, 0),
    ((1, 3, 5, 7), (5, 7), 1, 0),            # the kernel covers the whole image: one window
    ((2, 4, 9, 8), (2, 3), (3, 2), (1, 1)),
]


@grader.check(points=1, needs=["im2col"],
              hint="column l = oh*OW + ow is the window at output (oh, ow); row c*kh*kw + i*kw + j is offset "
                   "(i, j) of channel c; padding is zeros")
def im2col_fixed_values(ns):
    im2col = ns["im2col"]
    img = tt.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    close(im2col(img, 2, 2), np.array([[[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]]).transpose(0, 2, 1),
          "im2col(arange(16).reshape(1, 1, 4, 4), kernel 2, stride 2)")
    got = as_array(im2col(img, 3, 1, 1), "im2col(4x4 image, kernel 3, padding 1)")
    if got.shape != (1, 9, 16):
        raise GradingError(f"im2col(4x4 image, kernel 3, stride 1, padding 1): shape {got.shape}, expected (1, 9, 16)")
    close(got[0, :, 0], [0, 0, 0, 0, 0, 1, 0, 4, 5], "im2col(4x4, kernel 3, padding 1): the window on pixel (0, 0)")
    close(got[0, :, 15], [10, 11, 0, 14, 15, 0, 0, 0, 0], "im2col(4x4, kernel 3, padding 1): the window on pixel (3, 3)")
    two = tt.Tensor(np.stack([np.arange(4.0).reshape(2, 2), 10 + np.arange(4.0).reshape(2, 2)])[None])
    close(im2col(two, 2), [[[0], [1], [2], [3], [10], [11], [12], [13]]],
          "im2col(2-channel 2x2 image, kernel 2): channel 0's window rows come before channel 1's")


@grader.check(points=3, needs=["im2col"],
              hint="compare with _C.im2col(x, kernel_pair, stride_pair, padding_pair): same shape, same row order "
                   "(channel slowest, then i, then j), same dtype as x")
def im2col_matches_engine(ns):
    im2col = ns["im2col"]
    rng = np.random.default_rng(9)
    for shape, k, s, p in _WINDOWS:
        for dtype in (tt.float32, tt.float64):
            x = tt.Tensor(rng.standard_normal(shape), dtype=dtype)
            got = im2col(x, k, s, p)
            what = f"im2col(x {shape} {np.dtype(dtype).name}, kernel_size={k}, stride={s}, padding={p})"
            expected = _C.im2col(x, _pair(k), _pair(s), _pair(p))
            close(got, expected, what, rtol=0, atol=0)
            if isinstance(got, tt.Tensor) and got.dtype != x.dtype:
                raise GradingError(f"{what}: returned dtype {got.dtype}, expected the input's {x.dtype}")
    # default stride and padding
    x = tt.Tensor(rng.standard_normal((2, 3, 5, 6)))
    close(im2col(x, 3), _C.im2col(x, (3, 3), (1, 1), (0, 0)), "im2col(x (2, 3, 5, 6), 3) with default stride/padding")
    # a non-contiguous input: a transposed view
    base = tt.Tensor(rng.standard_normal((2, 6, 5, 3)), dtype=tt.float64)
    x = base.transpose(1, 3)                                  # (2, 3, 5, 6), not contiguous
    close(im2col(x, (2, 3), (1, 2), 1), _C.im2col(x, (2, 3), (1, 2), (1, 1)),
          "im2col(transposed view of shape (2, 3, 5, 6), kernel (2, 3), stride (1, 2), padding 1)")


def _engine_conv(x_np, w_np, b_np, stride, padding):
    """Engine Conv2d in float64 with the given weights; returns (layer, input, output)."""
    c_out, c_in, kh, kw = w_np.shape
    layer = Conv2d(c_in, c_out, (kh, kw), stride=stride, padding=padding, bias=b_np is not None).double()
    np.asarray(layer.weight)[...] = w_np
    if b_np is not None:
        np.asarray(layer.bias)[...] = b_np
    x = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
    return layer, x, layer(x)


_CONVS = [  # (x shape, C_out, kernel, stride, padding, bias)
    ((2, 3, 7, 6), 4, (3, 2), 2, 1, True),
    ((1, 1, 5, 6), 1, (3, 3), 1, 0, True),
    ((3, 2, 8, 8), 5, (3, 3), 1, 1, True),
    ((2, 4, 9, 7), 3, (2, 4), (2, 1), (0, 2), False),
    ((1, 3, 6, 6), 2, (1, 1), 1, 0, True),
    ((2, 2, 5, 5), 6, (5, 5), 1, 2, True),
]


@grader.check(points=1, needs=["conv2d"],
              hint="out[n, o, r, q] = bias[o] + sum over c, i, j of weight[o, c, i, j] * x_padded[n, c, r*s + i, q*s + j]")
def conv2d_fixed_values(ns):
    conv2d = ns["conv2d"]
    edges = np.zeros((1, 1, 5, 6), dtype=np.float32)
    edges[..., 3:] = 1.0
    sobel = tt.Tensor(np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]], dtype=np.float32))
    close(conv2d(tt.Tensor(edges), sobel), [[[[0, 4, 4, 0]] * 3]], "conv2d(vertical edge, Sobel filter)")
    close(conv2d(tt.Tensor(edges), sobel, tt.Tensor([0.5])), [[[[0.5, 4.5, 4.5, 0.5]] * 3]],
          "conv2d(vertical edge, Sobel filter, bias 0.5)")
    # all-ones 2x2 kernel on a 3x3 image padded by 1: sums of the 2x2 neighbourhoods
    img = tt.Tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3))
    close(conv2d(img, tt.Tensor(np.ones((1, 1, 2, 2))), stride=2, padding=1), [[[[1, 5], [11, 28]]]],
          "conv2d(arange(1, 10) 3x3, ones 2x2 kernel, stride 2, padding 1)")


@grader.check(points=2, needs=["conv2d"],
              hint="shape (N, C_out, OH, OW) with OH = (H + 2*ph - kh) // sh + 1; flatten the weight as "
                   "weight.reshape(C_out, -1) to match im2col's row order")
def conv2d_matches_layer(ns):
    conv2d = ns["conv2d"]
    rng = np.random.default_rng(90)
    for shape, c_out, k, s, p, has_bias in _CONVS:
        x_np = rng.standard_normal(shape)
        w_np = rng.standard_normal((c_out, shape[1]) + k)
        b_np = rng.standard_normal(c_out) if has_bias else None
        _, _, ref = _engine_conv(x_np, w_np, b_np, s, p)
        got = conv2d(tt.Tensor(x_np, dtype=tt.float64), tt.Tensor(w_np, dtype=tt.float64),
                     None if b_np is None else tt.Tensor(b_np, dtype=tt.float64), stride=s, padding=p)
        close(got, ref, f"conv2d(x {shape}, weight {w_np.shape}, bias={has_bias}, stride={s}, padding={p})",
              rtol=1e-10, atol=1e-10)
    # float32, through a non-contiguous input
    base = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    x = tt.Tensor(base).transpose(1, 3)                       # (2, 3, 6, 7)
    w_np = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    _, _, ref = _engine_conv(np.transpose(base, (0, 3, 2, 1)), w_np.astype(np.float64), None, 1, 1)
    close(conv2d(x, tt.Tensor(w_np), padding=1), ref, "conv2d(float32 transposed view (2, 3, 6, 7), 3x3, padding 1)",
          rtol=1e-4, atol=1e-4)


@grader.check(points=3, needs=["conv2d"],
              hint="use differentiable tinytorch ops only: _C.im2col (not a numpy im2col), @, + and reshape, so "
                   "gradients reach x, weight and bias")
def conv2d_gradients(ns):
    conv2d = ns["conv2d"]
    rng = np.random.default_rng(91)
    for shape, c_out, k, s, p, has_bias in _CONVS:
        x_np = rng.standard_normal(shape)
        w_np = rng.standard_normal((c_out, shape[1]) + k)
        b_np = rng.standard_normal(c_out) if has_bias else None
        layer, x_ref, ref = _engine_conv(x_np, w_np, b_np, s, p)
        x = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
        w = tt.Tensor(w_np, dtype=tt.float64, requires_grad=True)
        b = tt.Tensor(b_np, dtype=tt.float64, requires_grad=True) if has_bias else None
        out = conv2d(x, w, b, stride=s, padding=p)
        what = f"conv2d(x {shape}, weight {w_np.shape}, bias={has_bias}, stride={s}, padding={p})"
        if not isinstance(out, tt.Tensor) or out.grad_fn is None:
            raise GradingError(f"{what} returned a result with no autograd graph: build it from tinytorch ops")
        g = tt.Tensor(rng.standard_normal(tuple(ref.shape)), dtype=tt.float64)
        (out * g).sum().backward()
        (ref * g).sum().backward()
        for name, mine, theirs in [("x", x, x_ref), ("weight", w, layer.weight)] + \
                ([("bias", b, layer.bias)] if has_bias else []):
            if mine.grad is None:
                raise GradingError(f"{what}: no gradient reached {name} after backward() (was it copied through "
                                   "numpy? use _C.im2col inside conv2d)")
            close(mine.grad, theirs.grad, f"d/d {name} of sum({what} * G), float64", rtol=1e-10, atol=1e-10)
    # finite differences on a small case
    x = tt.Tensor(rng.standard_normal((1, 2, 4, 5)), dtype=tt.float64, requires_grad=True)
    w = tt.Tensor(rng.standard_normal((3, 2, 2, 3)), dtype=tt.float64, requires_grad=True)
    b = tt.Tensor(rng.standard_normal(3), dtype=tt.float64, requires_grad=True)
    gradcheck(lambda x_, w_, b_: conv2d(x_, w_, b_, stride=(1, 2), padding=1), [x, w, b])


_POOLS = [  # (x shape, kernel, stride)
    ((2, 3, 6, 8), 2, None),
    ((1, 2, 7, 7), 3, None),
    ((2, 3, 6, 8), (3, 2), (2, 1)),
    ((1, 4, 9, 5), 3, 2),
    ((3, 1, 5, 6), (1, 2), None),
    ((2, 2, 4, 4), 4, None),
    ((1, 3, 8, 6), (2, 3), 1),
]


@grader.check(points=2, needs=["max_pool2d"],
              hint="each channel pooled on its own; stride=None means stride = kernel_size; "
                   "OH = (H - kh) // sh + 1")
def max_pool2d_matches_engine(ns):
    pool = ns["max_pool2d"]
    x = tt.Tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 2.0, 7.0, 1.0]]]])
    close(pool(x, 2), [[[[5.0, 7.0]]]], "max_pool2d([[1, 5, 2, 0], [3, 2, 7, 1]], 2)")
    close(pool(x, (1, 2), stride=1), [[[[5, 5, 2], [3, 7, 7]]]], "max_pool2d([[1, 5, 2, 0], [3, 2, 7, 1]], (1, 2), stride=1)")
    close(pool(-x, 2), [[[[-1.0, 0.0]]]], "max_pool2d of negative values (the max, not the largest magnitude)")
    rng = np.random.default_rng(92)
    for shape, k, s in _POOLS:
        for dtype in (tt.float32, tt.float64):
            x = tt.Tensor(rng.standard_normal(shape), dtype=dtype)
            close(pool(x, k, s) if s is not None else pool(x, k), MaxPool2d(k, s)(x),
                  f"max_pool2d(x {shape}, kernel_size={k}, stride={s})", rtol=0, atol=0)
    base = tt.Tensor(rng.standard_normal((2, 6, 4, 3)), dtype=tt.float64)
    x = base.transpose(1, 3)                                  # (2, 3, 4, 6), not contiguous
    close(pool(x, 2), MaxPool2d(2)(x), "max_pool2d(transposed view (2, 3, 4, 6), 2)", rtol=0, atol=0)


@grader.check(points=2, needs=["max_pool2d"],
              hint="build it from differentiable ops (x.reshape, _C.im2col, .max(axis=1), reshape): the gradient "
                   "must reach only the winner of each window")
def max_pool2d_gradients(ns):
    pool = ns["max_pool2d"]
    x = tt.Tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 2.0, 7.0, 1.0]]]], dtype=tt.float64, requires_grad=True)
    out = pool(x, 2)
    if not isinstance(out, tt.Tensor) or out.grad_fn is None:
        raise GradingError("max_pool2d(x, 2) with x.requires_grad=True returned a result with no autograd graph")
    out.sum().backward()
    if x.grad is None:
        raise GradingError("max_pool2d: no gradient reached x after backward()")
    close(x.grad, [[[[0, 1, 0, 0], [0, 0, 1, 0]]]], "d/dx sum(max_pool2d([[1, 5, 2, 0], [3, 2, 7, 1]], 2))")
    rng = np.random.default_rng(93)
    for shape, k, s in _POOLS:
        x_np = rng.standard_normal(shape)                     # random floats: no ties
        x = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
        r = tt.Tensor(x_np, dtype=tt.float64, requires_grad=True)
        mine, ref = pool(x, k, s), MaxPool2d(k, s)(r)
        g = tt.Tensor(rng.standard_normal(tuple(ref.shape)), dtype=tt.float64)
        (mine * g).sum().backward()
        (ref * g).sum().backward()
        if x.grad is None:
            raise GradingError(f"max_pool2d(x {shape}, {k}, {s}): no gradient reached x")
        close(x.grad, r.grad, f"d/dx sum(max_pool2d(x {shape}, kernel_size={k}, stride={s}) * G), float64",
              rtol=1e-12, atol=1e-12)
