"""The fused max pooling (`_C.max_pool2d`, csrc/ops/pool.cpp, one MaxPool2dBackward node).

`tinytorch.core.spatial.max_pool2d` runs it for 2x2 windows of stride 2 without padding
(where it measured faster) unless a course override is active, and composes im2col + max
otherwise; the other window shapes are tested here through `_C.max_pool2d` directly. Checked: forward and gradient against PyTorch (values without
ties) and against the composed path (with many ties, which both share equally among the tied
elements; overlapping windows; padding; non-contiguous input); second derivatives through the
node; the node's name; and named errors for bad arguments given to `_C.max_pool2d` directly.
"""
import numpy as np
import pytest

import tinytorch as tt
from conftest import assert_raises_naming, torch_or_skip
from tinytorch import _C
from tinytorch.autograd import gradcheck, gradgradcheck
from tinytorch.core import overrides as _overrides
from tinytorch.core.spatial import max_pool2d

pytestmark = pytest.mark.module09

CONFIGS = [  # shape, kernel, stride, padding
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 7, 9), 2, None, 0),          # 2x2 stride 2 on odd sizes: the last row and column in no window
    ((1, 2, 4, 5), 2, 2, 0),
    ((3, 2, 7, 9), 3, 2, 1),             # overlapping windows, padding, odd sizes
    ((1, 4, 6, 5), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 5, 5), 3, 1, 0),             # stride 1: every element in up to 9 windows
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _grads(x, config, g, dtype, fused=True):
    _, k, s, p = config
    xt = tt.Tensor(x, dtype=dtype, requires_grad=True)
    y = _C.max_pool2d(xt, _pair(k), _pair(k if s is None else s), _pair(p)) if fused else max_pool2d(xt, k, s, p)
    (y * tt.Tensor(g, dtype=dtype)).sum().backward()
    return y, np.asarray(y), np.asarray(xt.grad)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_without_ties(config):
    torch = torch_or_skip()
    shape, k, s, p = config
    x = np.random.default_rng(0).standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s, p)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (ty * torch.tensor(g)).sum().backward()
    y, out, gx = _grads(x, config, g, np.float64)
    assert type(y.grad_fn).__name__ == "MaxPool2dBackward"
    np.testing.assert_array_equal(out, ty.detach().numpy())
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_fused_and_composed_paths_agree_with_ties(config, dtype, monkeypatch):
    shape, k, s, p = config
    x = np.random.default_rng(2).integers(-2, 3, shape).astype(dtype)  # many ties
    y, out, gx = _grads(x, config, np.ones(1), dtype)
    g = np.random.default_rng(3).standard_normal(y.shape)
    y, out, gx = _grads(x, config, g, dtype)
    monkeypatch.setattr(_overrides, "active", lambda: True)
    y2, out2, gx2 = _grads(x, config, g, dtype, fused=False)
    assert type(y2.grad_fn).__name__ != "MaxPool2dBackward"
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_allclose(gx, gx2, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert (gx != 0).sum() > 0


def test_the_layer_uses_the_fused_op_for_2x2_stride_2_only():
    x = tt.Tensor(np.random.default_rng(6).standard_normal((2, 3, 6, 6)), dtype=tt.float64, requires_grad=True)
    assert type(max_pool2d(x, 2).grad_fn).__name__ == "MaxPool2dBackward"
    assert type(max_pool2d(x, 3, 2, 1).grad_fn).__name__ != "MaxPool2dBackward"


def test_a_tie_shares_the_gradient_equally():
    x = tt.Tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), dtype=tt.float64, requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert np.asarray(x.grad).tolist() == [[[[0.0, 0.5], [0.5, 0.0]]]]


def test_non_contiguous_input():
    base = np.random.default_rng(4).standard_normal((2, 6, 3, 6))
    x = tt.Tensor(base, dtype=tt.float64).transpose(1, 2)   # (2, 3, 6, 6), not contiguous
    assert not x.is_contiguous()
    x.requires_grad = True
    y = max_pool2d(x, 2)
    y.sum().backward()
    ref = np.swapaxes(base, 1, 2).reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(np.asarray(y), ref)
    assert x.grad.shape == (2, 3, 6, 6) and np.asarray(x.grad).sum() == pytest.approx(2 * 3 * 9)


def test_gradcheck_and_gradgradcheck_through_the_node():
    x = tt.Tensor(np.random.default_rng(5).standard_normal((2, 2, 5, 6)), dtype=tt.float64, requires_grad=True)
    fn = lambda a: _C.max_pool2d(a, (3, 3), (2, 2), (1, 1))  # noqa: E731
    assert type(fn(x).grad_fn).__name__ == "MaxPool2dBackward"
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
    assert gradgradcheck(lambda a: (max_pool2d(a, 2) ** 2).sum(), (x,))


X = tt.Tensor(np.zeros((2, 3, 6, 6), dtype=np.float32))

DIRECT_ERRORS = [
    (lambda: _C.max_pool2d(tt.Tensor(np.zeros((2, 3, 6, 6), dtype=np.int64)), (2, 2), (2, 2)), TypeError,
     ["max_pool2d", "int64"]),
    (lambda: _C.max_pool2d(tt.Tensor(np.zeros((3, 6, 6), dtype=np.float32)), (2, 2), (2, 2)), ValueError,
     ["max_pool2d", "(3, 6, 6)"]),
    (lambda: _C.max_pool2d(X, (3, 3), (1, 1), (2, 2)), ValueError, ["max_pool2d", "at most half"]),
    (lambda: _C.max_pool2d(X, (0, 2), (1, 1)), ValueError, ["max_pool2d", "kernel_size must be >= 1"]),
    (lambda: _C.max_pool2d(X, (2, 2), (0, 1)), ValueError, ["max_pool2d", "stride must be >= 1"]),
    (lambda: _C.max_pool2d(X, (7, 7), (1, 1)), ValueError, ["max_pool2d", "larger than the padded input"]),
]


@pytest.mark.parametrize("call, exc, pieces", DIRECT_ERRORS, ids=[str(i) for i in range(len(DIRECT_ERRORS))])
def test_direct_calls_with_bad_arguments_raise_named_errors(call, exc, pieces):
    assert_raises_naming(call, exc, pieces)
