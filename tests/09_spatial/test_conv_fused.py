"""The fused convolution (`_C.conv2d`, csrc/ops/conv.cpp, one Conv2dBackward node).

`tinytorch.core.spatial.conv2d` runs it unless a course override is active, when it
composes im2col + matmul instead (so a student's ops run). Checked here: forward and
every gradient against PyTorch in float64 and against the composed path, on shapes that
take each of the kernel's branches (3x3 stride-1 padding-1 layers here have fewer than 8
channels: with more they take the Winograd kernel, test_conv_winograd.py; several images per
GEMM for small maps, one image per GEMM, 1x1 stride-1 convolutions that need no columns, more chunks than threads, batch 1);
non-contiguous inputs and weights; gradients of only some inputs; finite differences
(gradcheck) and second derivatives through the node (create_graph recomputes with the
differentiable ops); the node's name and saved-tensor release; and named errors for bad
arguments given to `_C.conv2d` directly.
"""
import numpy as np
import pytest

import tinytorch as tt
from conftest import assert_raises_naming, torch_or_skip
from tinytorch import _C
from tinytorch.autograd import gradcheck, gradgradcheck
from tinytorch.core import overrides as _overrides
from tinytorch.core.spatial import Conv2d, conv2d

pytestmark = pytest.mark.module09

# (N, C, H, W, O, kernel, stride, padding, what it exercises)
SHAPES = [
    (64, 7, 8, 8, 16, 3, 1, 1, "4 images per GEMM (64 positions each)"),  # 8+ channels would take Winograd
    (5, 3, 6, 5, 4, 3, 1, 1, "several images per GEMM, last chunk short"),
    (3, 4, 17, 16, 5, 3, 1, 1, "one image per GEMM (272 positions)"),
    (7, 6, 16, 16, 3, 1, 1, 0, "1x1 stride 1 without padding: no columns"),
    (40, 6, 4, 4, 3, 1, 1, 0, "1x1 on small maps: batched columns"),
    (4, 3, 9, 11, 2, (3, 2), (2, 3), (1, 0), "strides and padding differ per axis"),
    (1, 2, 6, 6, 3, 2, 1, 1, "batch 1"),
    (2, 1, 5, 5, 2, 5, 1, 2, "kernel as large as the image"),
    (3, 2, 7, 7, 4, 1, 2, 1, "1x1 with stride and padding: columns needed"),
]


def _as(a, dtype, grad=True):
    return tt.Tensor(np.asarray(a, dtype=dtype), dtype=dtype, requires_grad=grad)


def _case(shape, seed=0):
    n, c, h, w, o, k, s, p, _ = shape
    k = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c) + k), rng.standard_normal(o), s, p)


def _run(x, weight, bias, s, p, dtype, g):
    xt, wt, bt = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    y = conv2d(xt, wt, bt, stride=s, padding=p)
    (y * _as(g, dtype, grad=False)).sum().backward()
    return y, [np.asarray(t) for t in (y, xt.grad, wt.grad, bt.grad)]


@pytest.mark.parametrize("shape", SHAPES, ids=[s[-1] for s in SHAPES])
def test_forward_and_gradients_match_torch_float64(shape):
    torch = torch_or_skip()
    x, weight, bias, s, p = _case(shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (ty * torch.tensor(g)).sum().backward()
    y, got = _run(x, weight, bias, s, p, np.float64, g)
    assert type(y.grad_fn).__name__ == "Conv2dBackward"
    for ours, ref in zip(got, (ty, tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(ours, ref.detach().numpy(), rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("shape", SHAPES[:4], ids=[s[-1] for s in SHAPES[:4]])
def test_float32_matches_torch_float64(shape):
    torch = torch_or_skip()
    x, weight, bias, s, p = _case(shape, seed=3)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
    g = np.random.default_rng(4).standard_normal(tuple(ty.shape))
    (ty * torch.tensor(g)).sum().backward()
    y, got = _run(x, weight, bias, s, p, np.float32, g)
    assert y.dtype == np.float32
    for ours, ref in zip(got, (ty, tx.grad, tw.grad, tb.grad)):
        ref = ref.detach().numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * (1 + np.abs(ref).max()))


@pytest.mark.parametrize("shape", SHAPES, ids=[s[-1] for s in SHAPES])
def test_fused_and_composed_paths_agree(shape, monkeypatch):
    x, weight, bias, s, p = _case(shape, seed=5)
    y, _ = _run(x, weight, bias, s, p, np.float64, np.zeros(1))  # for the output shape
    g = np.random.default_rng(6).standard_normal(y.shape)
    y, fused = _run(x, weight, bias, s, p, np.float64, g)
    monkeypatch.setattr(_overrides, "active", lambda: True)  # as under tinytorch.course.use_student
    y2, composed = _run(x, weight, bias, s, p, np.float64, g)
    assert type(y.grad_fn).__name__ == "Conv2dBackward" and type(y2.grad_fn).__name__ != "Conv2dBackward"
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def test_more_chunks_than_threads_and_a_single_thread_agree():
    """The weight/bias gradients are summed over per-thread accumulators: the sum must not depend on the split."""
    x, weight, bias, s, p = _case((33, 3, 8, 8, 5, 3, 1, 1, ""), seed=7)
    g = np.random.default_rng(8).standard_normal((33, 5, 8, 8))
    before = tt.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            tt.set_num_threads(threads)
            results.append(_run(x, weight, bias, s, p, np.float64, g)[1])
    finally:
        tt.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_non_contiguous_input_and_weight():
    torch = torch_or_skip()
    rng = np.random.default_rng(9)
    base = rng.standard_normal((3, 6, 2, 8))             # transposed to (3, 2, 6, 8) below
    wbase = rng.standard_normal((4, 2, 3, 3 * 2))        # every other column: (4, 2, 3, 3)
    x = tt.Tensor(base, dtype=tt.float64).transpose(1, 2)
    w = tt.Tensor(wbase, dtype=tt.float64)[:, :, :, ::2]
    assert not x.is_contiguous() and not w.is_contiguous()
    x.requires_grad = True
    w.requires_grad = True
    y = conv2d(x, w, None, stride=1, padding=1)
    y.sum().backward()
    tx = torch.tensor(np.ascontiguousarray(np.swapaxes(base, 1, 2)), requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(wbase[:, :, :, ::2]), requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, None, padding=1)
    ty.sum().backward()
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(w.grad), tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert x.grad.shape == (3, 2, 6, 8) and w.grad.shape == (4, 2, 3, 3)


def test_gradients_of_only_some_inputs():
    x, weight, bias, s, p = _case(SHAPES[1], seed=10)
    full = _run(x, weight, bias, s, p, np.float64, np.ones((5, 4, 6, 5)))[1]
    # frozen weight and bias: only the input's gradient
    xt, wt, bt = _as(x, np.float64), _as(weight, np.float64, grad=False), _as(bias, np.float64, grad=False)
    conv2d(xt, wt, bt, stride=s, padding=p).sum().backward()
    np.testing.assert_allclose(np.asarray(xt.grad), full[1], rtol=1e-12, atol=1e-12)
    # an input without grad (a first layer): only the parameters'
    xt, wt, bt = _as(x, np.float64, grad=False), _as(weight, np.float64), _as(bias, np.float64)
    conv2d(xt, wt, bt, stride=s, padding=p).sum().backward()
    assert xt.grad is None
    np.testing.assert_allclose(np.asarray(wt.grad), full[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(bt.grad), full[3], rtol=1e-12, atol=1e-12)


def test_no_graph_under_no_grad_or_without_grad():
    x, weight, bias, s, p = _case(SHAPES[0])
    with tt.no_grad():
        y = conv2d(_as(x, np.float32), _as(weight, np.float32), _as(bias, np.float32), stride=s, padding=p)
    assert y.grad_fn is None and not y.requires_grad
    y = conv2d(_as(x, np.float32, False), _as(weight, np.float32, False), None, stride=s, padding=p)
    assert y.grad_fn is None


def test_gradcheck_and_gradgradcheck_through_the_fused_node():
    rng = np.random.default_rng(11)
    x = _as(rng.standard_normal((2, 2, 5, 4)), np.float64)
    w = _as(rng.standard_normal((3, 2, 3, 2)), np.float64)
    b = _as(rng.standard_normal(3), np.float64)
    fn = lambda a, c, d: conv2d(a, c, d, stride=(2, 1), padding=1)  # noqa: E731
    assert type(fn(x, w, b).grad_fn).__name__ == "Conv2dBackward"
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))
    # a nonlinear function of the output: the second derivative is not zero
    assert gradgradcheck(lambda a, c: (conv2d(a, c, None, padding=1) ** 2).sum(), (x, w))


def test_backward_twice_needs_retain_graph():
    x, weight, bias, s, p = _case(SHAPES[1])
    y = conv2d(_as(x, np.float64), _as(weight, np.float64), _as(bias, np.float64), stride=s, padding=p).sum()
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()


def test_in_place_change_of_a_saved_input_is_caught():
    x, weight, bias, s, p = _case(SHAPES[1])
    xt, wt = _as(x, np.float64, grad=False), _as(weight, np.float64)
    y = conv2d(xt, wt, None, stride=s, padding=p).sum()  # the weight's gradient reads x
    with tt.no_grad():
        xt[0] = 1.0
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*Conv2dBackward"):
        y.backward()


def test_layer_uses_the_fused_op_and_trains():
    torch = torch_or_skip()
    tt.manual_seed(0)
    layer = Conv2d(3, 4, 3, padding=1)
    tconv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(np.asarray(layer.weight), dtype=torch.float64))
        tconv.bias.copy_(torch.tensor(np.asarray(layer.bias), dtype=torch.float64))
    x = np.random.default_rng(12).standard_normal((6, 3, 10, 10)).astype(np.float32)
    y = layer(tt.Tensor(x))
    assert type(y.grad_fn).__name__ == "Conv2dBackward"
    (y ** 2).sum().backward()
    ty = tconv(torch.tensor(x, dtype=torch.float64))
    (ty ** 2).sum().backward()
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.weight.grad), tconv.weight.grad.numpy(), rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(np.asarray(layer.bias.grad), tconv.bias.grad.numpy(), rtol=1e-3, atol=1e-2)


X = tt.Tensor(np.zeros((2, 3, 6, 6), dtype=np.float32))
W = tt.Tensor(np.zeros((4, 3, 3, 3), dtype=np.float32))

DIRECT_ERRORS = [
    (lambda: _C.conv2d(X, tt.Tensor(np.zeros((4, 3, 3), dtype=np.float32))), ValueError, ["conv2d", "4-D", "(4, 3, 3)"]),
    (lambda: _C.conv2d(tt.Tensor(np.zeros((3, 6, 6), dtype=np.float32)), W), ValueError, ["conv2d", "(3, 6, 6)"]),
    (lambda: _C.conv2d(tt.Tensor(np.zeros((2, 2, 6, 6), dtype=np.float32)), W), ValueError,
     ["conv2d", "(2, 2, 6, 6)", "(4, 3, 3, 3)"]),
    (lambda: _C.conv2d(X.double(), W), TypeError, ["conv2d", "float64", "float32"]),
    (lambda: _C.conv2d(tt.Tensor(np.zeros((2, 3, 6, 6), dtype=np.int64)), W), TypeError, ["conv2d", "int64"]),
    (lambda: _C.conv2d(X, W, tt.Tensor(np.zeros(5, dtype=np.float32))), ValueError, ["conv2d", "bias", "(4,)", "got (5,)"]),
    (lambda: _C.conv2d(X, W, tt.Tensor(np.zeros(4), dtype=tt.float64)), TypeError, ["conv2d", "bias", "float64"]),
    (lambda: _C.conv2d(X, W, None, (0, 1)), ValueError, ["conv2d", "stride must be >= 1"]),
    (lambda: _C.conv2d(X, W, None, (1, 1), (-1, 0)), ValueError, ["conv2d", "padding must be >= 0"]),
    (lambda: _C.conv2d(X, tt.Tensor(np.zeros((4, 3, 7, 7), dtype=np.float32))), ValueError,
     ["conv2d", "larger than the padded input"]),
    (lambda: _C.conv2d(X, W, None, (1, 1), (2**61, 0)), ValueError, ["conv2d", "padding"]),
]


@pytest.mark.parametrize("call, exc, pieces", DIRECT_ERRORS, ids=[str(i) for i in range(len(DIRECT_ERRORS))])
def test_direct_calls_with_bad_arguments_raise_named_errors(call, exc, pieces):
    assert_raises_naming(call, exc, pieces)
