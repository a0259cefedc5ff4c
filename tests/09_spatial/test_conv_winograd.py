"""The Winograd F(2x2, 3x3) kernel of the fused convolution (csrc/ops/conv_winograd.cpp).

`_C.conv2d` takes it for a 3x3 window, stride 1, padding 1, with at least 8 channels in and
out; every other layer stays on the column GEMM (test_conv_fused.py). Checked here: which
layers take it (the engine profiler names its kernels); forward and every gradient against
PyTorch in float64 and float32 on shapes that take each of its branches (odd heights and
widths whose last tiles hang past the edge, images narrower than 16 whose transforms run a
tile at a time and wider ones that run along rows of tiles, several images per GEMM and one
image over 256 tiles, a 1x1 image, batch 1, channels in != out); non-contiguous inputs;
gradients of only some inputs; the split of the weight gradient across threads; agreement with
the composed im2col path; finite differences.
"""
import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch.autograd import gradcheck
from tinytorch.core import overrides as _overrides
from tinytorch.core.spatial import conv2d
from tinytorch.profiling.profiler import Profiler

pytestmark = pytest.mark.module09

# (N, C, H, W, O, what it exercises): all 3x3, stride 1, padding 1
SHAPES = [
    (64, 8, 8, 8, 16, "8x8 maps: 16 images per GEMM, tile at a time"),
    (3, 8, 7, 9, 8, "odd height and width, narrow"),
    (2, 16, 32, 32, 12, "rows of 16 tiles: vector transforms, one image per GEMM"),
    (3, 9, 17, 19, 10, "odd sizes past 16 wide: vector transforms with ragged edges"),
    (2, 10, 16, 15, 8, "width 15: the narrow path at its edge"),
    (1, 8, 40, 36, 8, "batch 1, 360 tiles in one image"),
    (2, 8, 1, 1, 9, "1x1 images: every tile mostly padding"),
    (5, 8, 2, 3, 11, "2x3 images, last chunk short"),
    (3, 12, 6, 33, 8, "wide and short: 17 tiles a row, one row of 3"),
]


def _as(a, dtype, grad=True):
    return tt.Tensor(np.asarray(a, dtype=dtype), dtype=dtype, requires_grad=grad)


def _case(shape, seed=0):
    n, c, h, w, o, _ = shape
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)


def _run(x, weight, bias, dtype, g):
    xt, wt, bt = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    y = conv2d(xt, wt, bt, stride=1, padding=1)
    (y * _as(g, dtype, grad=False)).sum().backward()
    return y, [np.asarray(t) for t in (y, xt.grad, wt.grad, bt.grad)]


def _torch_reference(x, weight, bias, g_seed):
    torch = torch_or_skip()
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    g = np.random.default_rng(g_seed).standard_normal(tuple(ty.shape))
    (ty * torch.tensor(g)).sum().backward()
    return g, [t.detach().numpy() for t in (ty, tx.grad, tw.grad, tb.grad)]


def _kernels_run(fn):
    with Profiler() as prof:
        fn()
    return {r["name"] for r in prof.summary()}


@pytest.mark.parametrize(
    "n, c, h, w, o, k, s, p, winograd",
    [
        (2, 8, 8, 8, 8, 3, 1, 1, True),
        (2, 64, 5, 6, 64, 3, 1, 1, True),
        (2, 7, 8, 8, 16, 3, 1, 1, False),  # too few input channels
        (2, 16, 8, 8, 7, 3, 1, 1, False),  # too few output channels
        (2, 1, 16, 16, 8, 3, 1, 1, False),  # a CNN's first layer
        (2, 8, 8, 8, 8, 3, 2, 1, False),  # stride 2
        (2, 8, 8, 8, 8, 3, 1, 0, False),  # no padding
        (2, 8, 8, 8, 8, 5, 1, 2, False),  # 5x5
    ],
)
def test_which_layers_take_the_winograd_kernel(n, c, h, w, o, k, s, p, winograd):
    rng = np.random.default_rng(0)
    x = _as(rng.standard_normal((n, c, h, w)), np.float32)
    wt = _as(rng.standard_normal((o, c, k, k)), np.float32)

    def step():
        conv2d(x, wt, None, stride=s, padding=p).sum().backward()

    names = _kernels_run(step)
    assert "conv2d" in names
    assert ("conv2d_winograd" in names) == winograd
    assert ("conv2d_winograd_backward" in names) == winograd


@pytest.mark.parametrize("shape", SHAPES, ids=[s[-1] for s in SHAPES])
def test_forward_and_gradients_match_torch_float64(shape):
    x, weight, bias = _case(shape)
    g, ref = _torch_reference(x, weight, bias, g_seed=1)
    y, got = _run(x, weight, bias, np.float64, g)
    assert type(y.grad_fn).__name__ == "Conv2dBackward"
    for name, ours, want in zip(("y", "x.grad", "w.grad", "b.grad"), got, ref):
        np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-11 * (1 + np.abs(want).max()), err_msg=name)


@pytest.mark.parametrize("shape", SHAPES, ids=[s[-1] for s in SHAPES])
def test_float32_matches_torch_float64(shape):
    x, weight, bias = _case(shape, seed=3)
    g, ref = _torch_reference(x, weight, bias, g_seed=4)
    y, got = _run(x, weight, bias, np.float32, g)
    assert y.dtype == np.float32
    for name, ours, want in zip(("y", "x.grad", "w.grad", "b.grad"), got, ref):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-5 * (1 + np.abs(want).max()), err_msg=name)


@pytest.mark.parametrize("shape", SHAPES[:4], ids=[s[-1] for s in SHAPES[:4]])
def test_winograd_and_composed_paths_agree(shape, monkeypatch):
    x, weight, bias = _case(shape, seed=5)
    g = np.random.default_rng(6).standard_normal((shape[0], shape[4], shape[2], shape[3]))
    y, fused = _run(x, weight, bias, np.float64, g)
    monkeypatch.setattr(_overrides, "active", lambda: True)  # im2col + matmul, as under a course override
    y2, composed = _run(x, weight, bias, np.float64, g)
    assert type(y.grad_fn).__name__ == "Conv2dBackward" and type(y2.grad_fn).__name__ != "Conv2dBackward"
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * (1 + np.abs(b).max()))


def test_non_contiguous_input_and_weight():
    torch = torch_or_skip()
    rng = np.random.default_rng(9)
    base = rng.standard_normal((3, 9, 8, 11))            # transposed to (3, 8, 9, 11) below
    wbase = rng.standard_normal((10, 8, 3, 3 * 2))       # every other column: (10, 8, 3, 3)
    x = tt.Tensor(base, dtype=tt.float64).transpose(1, 2)
    w = tt.Tensor(wbase, dtype=tt.float64)[:, :, :, ::2]
    assert not x.is_contiguous() and not w.is_contiguous()
    x.requires_grad = True
    w.requires_grad = True
    names = _kernels_run(lambda: conv2d(x, w, None, stride=1, padding=1).sum().backward())
    assert "conv2d_winograd" in names
    x.grad = None
    w.grad = None
    y = conv2d(x, w, None, stride=1, padding=1)
    (y * y).sum().backward()
    tx = torch.tensor(np.ascontiguousarray(np.swapaxes(base, 1, 2)), requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(wbase[:, :, :, ::2]), requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, None, padding=1)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(w.grad), tw.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert x.grad.shape == (3, 8, 9, 11) and w.grad.shape == (10, 8, 3, 3)


def test_gradients_of_only_some_inputs():
    shape = SHAPES[3]
    x, weight, bias = _case(shape, seed=10)
    g = np.ones((shape[0], shape[4], shape[2], shape[3]))
    full = _run(x, weight, bias, np.float64, g)[1]
    xt, wt, bt = _as(x, np.float64), _as(weight, np.float64, grad=False), _as(bias, np.float64, grad=False)
    conv2d(xt, wt, bt, stride=1, padding=1).sum().backward()
    assert wt.grad is None and bt.grad is None
    np.testing.assert_allclose(np.asarray(xt.grad), full[1], rtol=1e-12, atol=1e-12)
    xt, wt, bt = _as(x, np.float64, grad=False), _as(weight, np.float64), _as(bias, np.float64)
    conv2d(xt, wt, bt, stride=1, padding=1).sum().backward()
    assert xt.grad is None
    np.testing.assert_allclose(np.asarray(wt.grad), full[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(bt.grad), full[3], rtol=1e-12, atol=1e-12)
    xt, wt = _as(x, np.float64, grad=False), _as(weight, np.float64)  # no bias at all
    conv2d(xt, wt, None, stride=1, padding=1).sum().backward()
    np.testing.assert_allclose(np.asarray(wt.grad), full[2], rtol=1e-12, atol=1e-12)


def test_thread_counts_agree():
    """Each thread accumulates its own images' weight and bias gradients: the sum must not depend on the split."""
    x, weight, bias = _case((37, 8, 8, 8, 8, ""), seed=7)  # 16 images a chunk: 3 chunks, the last short
    g = np.random.default_rng(8).standard_normal((37, 8, 8, 8))
    before = tt.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            tt.set_num_threads(threads)
            results.append(_run(x, weight, bias, np.float64, g)[1])
    finally:
        tt.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_gradcheck_through_the_winograd_kernel():
    rng = np.random.default_rng(11)
    x = _as(rng.standard_normal((2, 8, 3, 5)), np.float64)
    w = _as(rng.standard_normal((8, 8, 3, 3)), np.float64)
    b = _as(rng.standard_normal(8), np.float64)
    fn = lambda a, c, d: conv2d(a, c, d, stride=1, padding=1)  # noqa: E731
    assert "conv2d_winograd" in _kernels_run(lambda: fn(x, w, b))
    assert gradcheck(fn, (x, w, b))
