"""In-place ops and autograd: writes autograd cannot account for are refused (they used to give
silently wrong gradients); +=, -=, *=, /= modify the same tensor and are recorded inside a graph."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

INPLACE = {
    "fill_": lambda t, w: t.fill_(1.0),
    "zero_": lambda t, w: t.zero_(),
    "copy_": lambda t, w: t.copy_(np.ones(2, dtype=np.float32)),
    "add_": lambda t, w: t.add_(1.0),
}


@pytest.mark.parametrize("op", sorted(INPLACE))
def test_inplace_on_a_leaf_requiring_grad_is_refused(op):
    x = tt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"{op}: a leaf tensor that requires grad .*no_grad"):
        INPLACE[op](x, None)
    with tt.no_grad():
        INPLACE[op](x, None)  # allowed for optimizers and initialisation


@pytest.mark.parametrize("op", sorted(INPLACE))
def test_inplace_on_a_non_leaf_is_refused(op):
    x = tt.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=f"{op}: in-place ops are not recorded .* out-of-place"):
        INPLACE[op](y, None)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])  # graph untouched by the refused write


def test_inplace_with_a_source_requiring_grad_is_refused():
    w = tt.ones(2, requires_grad=True)
    t = tt.zeros(2)
    with pytest.raises(RuntimeError, match="add_: .* source is part of a graph"):
        t.add_(w)
    with pytest.raises(RuntimeError, match="copy_: .* source is part of a graph"):
        t.copy_(w)


def test_iops_keep_the_same_object_and_storage():
    w = tt.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    w.grad = tt.Tensor(np.array([10.0, 20.0], dtype=np.float32))
    ident, ptr, version = id(w), w.data_ptr(), w._version
    with tt.no_grad():
        w -= 0.1 * w.grad
    assert id(w) == ident and w.data_ptr() == ptr and w._version == version + 1
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0], atol=1e-7)
    assert w.requires_grad and w.is_leaf


def test_iops_values_broadcasting_and_dtypes():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = tt.Tensor(a.copy())
    t += tt.Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    t *= 2
    t /= 4
    t -= 1
    np.testing.assert_allclose(t.numpy(), (a + [1, 2, 3]) * 2 / 4 - 1)
    with pytest.raises(ValueError, match=r"\+=: operand of shape \(2, 2, 3\) cannot be broadcast into .*\(2, 3\)"):
        t += tt.ones(2, 2, 3)
    i = tt.Tensor(np.arange(3))
    i += 2
    i *= np.int64(3)
    assert i.dtype == np.int64 and i.tolist() == [6, 9, 12]
    with pytest.raises(TypeError, match=r"/=: the result has dtype float32.*int64"):
        i /= 2
    with pytest.raises(TypeError, match=r"\+=: the result has dtype float32.*int64"):
        i += 0.5
    f64 = tt.Tensor(np.ones(2), dtype=np.float64)
    f64 += tt.ones(2)  # float32 into float64: same kind
    assert f64.dtype == np.float64 and f64.tolist() == [2.0, 2.0]


def test_iop_on_a_leaf_requiring_grad_is_refused():
    w = tt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"-=: a leaf tensor that requires grad .*no_grad"):
        w -= 1.0


def test_iop_inside_a_graph_is_recorded_like_pytorch():
    from conftest import torch_or_skip
    torch = torch_or_skip()
    xs = np.array([1.0, 2.0, 3.0])
    ws = np.array([0.5, -1.0, 2.0])

    x = tt.Tensor(xs, requires_grad=True, dtype=np.float64)
    w = tt.Tensor(ws, requires_grad=True, dtype=np.float64)
    y = x * 2
    y *= w
    y += x
    (y * y).sum().backward()

    tx = torch.tensor(xs, requires_grad=True)
    tw = torch.tensor(ws, requires_grad=True)
    ty = tx * 2
    ty *= tw
    ty += tx
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())


def test_iop_into_a_plain_tensor_from_a_graph_is_recorded():
    w = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True, dtype=np.float64)
    acc = tt.zeros(2, dtype=np.float64)
    acc += w * 3
    acc.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_iop_on_a_view_inside_a_graph_is_refused():
    # only the view's history could be rebased; its base would keep a stale one
    x = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True, dtype=np.float64)
    y = x * 2
    v = y[0:1]
    with pytest.raises(RuntimeError, match=r"\*=: this tensor shares memory with another tensor"):
        v *= 3
    with pytest.raises(RuntimeError, match="shares memory"):
        y += 1  # v is a view of y
