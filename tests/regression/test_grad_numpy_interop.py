"""What TinyTorch code does with `.grad` (a numpy array there, a Tensor here):
copies, numpy arithmetic, comparisons, `.data`, in-place fills."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn

pytestmark = pytest.mark.regression


def _param_with_grad():
    p = tt.Tensor(np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32), requires_grad=True)
    (p * p * 3).sum().backward()  # grad = 6 p
    return p, 6 * np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32)


def test_copy_is_a_detached_snapshot_with_its_own_memory():
    p, g = _param_with_grad()
    before = p.grad.copy()
    assert isinstance(before, tt.Tensor) and before.dtype == np.float32 and not before.requires_grad
    np.testing.assert_array_equal(before.numpy(), g)
    p.grad.fill(0)  # ndarray.fill spelling, in place
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(before.numpy(), g)  # the snapshot did not move
    # copy of a graph tensor leaves the graph, like ndarray.copy
    y = p * 2
    assert y.requires_grad and not y.copy().requires_grad
    np.testing.assert_array_equal(y.copy().numpy(), 2 * p.numpy())
    # a strided view copies to a contiguous tensor with the same values
    v = tt.Tensor(np.arange(12.0).reshape(3, 4)).T
    np.testing.assert_array_equal(v.copy().numpy(), np.arange(12.0).reshape(3, 4).T)
    assert v.copy().is_contiguous()


def test_numpy_arithmetic_and_comparisons_on_grad():
    p, g = _param_with_grad()
    np.testing.assert_array_equal((p.grad * 2).numpy(), g * 2)
    np.testing.assert_array_equal((0.5 * p.grad).numpy(), 0.5 * g)
    np.testing.assert_array_equal((p.grad - np.ones((2, 2))).numpy(), g - 1)
    np.testing.assert_array_equal((np.ones((2, 2)) + p.grad).numpy(), 1 + g)
    assert np.allclose(p.grad, g) and not np.allclose(p.grad, g + 1)
    assert np.array_equal(p.grad, g)
    assert np.linalg.norm(p.grad) == pytest.approx(np.linalg.norm(g))
    assert np.abs(p.grad).max() == pytest.approx(18.0)
    np.testing.assert_array_equal(np.asarray(p.grad), g)
    assert isinstance(p.grad.data, np.ndarray)
    np.testing.assert_array_equal(p.grad.data, g)
    assert p.grad.shape == (2, 2) and p.grad.tolist() == g.tolist()
    assert float(p.grad[1, 0]) == 18.0


def test_sgd_written_the_tinytorch_way_with_grad_data():
    tt.manual_seed(1)
    layer = nn.Linear(2, 1)
    w0 = layer.weight.numpy().copy()
    x = tt.Tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    layer(x).sum().backward()
    # the numpy-style update TinyTorch's module 06 writes
    layer.weight.data = layer.weight.data - 0.1 * layer.weight.grad.data
    np.testing.assert_allclose(layer.weight.numpy(), w0 - 0.1 * np.array([[1.0], [2.0]]), rtol=1e-6)
