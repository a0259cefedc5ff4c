"""Gradient flow through the operations the course builds on (TinyTorch's
tests/05_autograd/test_gradient_flow.py): arithmetic, subtraction, division,
GELU, reshape and the pieces of a LayerNorm written with tensor ops (mean,
sqrt, division). Each test checks the exact gradient, worked out by hand in
the comments."""
import math

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.autograd import enable_autograd
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module05

enable_autograd()  # the course calls it; a no-op here (autograd is always on)


def test_arithmetic_records_every_backward():
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    y = Tensor(np.array([4.0, 5.0]), requires_grad=True)
    for op, node, value in [(x + y, "AddBackward", [6.0, 8.0]), (x - y, "SubBackward", [-2.0, -2.0]),
                            (x * y, "MulBackward", [8.0, 15.0]), (x / y, "DivBackward", [0.5, 0.6])]:
        assert op.requires_grad and op._grad_fn is not None
        assert type(op._grad_fn).__name__ == node
        np.testing.assert_allclose(op.data, value, rtol=1e-7)
    # d/dx of sum(x*y + x/y) = y + 1/y ; d/dy = x - x/y^2
    ((x * y) + (x / y)).sum().backward()
    np.testing.assert_allclose(x.grad, [4.25, 5.2], rtol=1e-6)
    np.testing.assert_allclose(y.grad, [2.0 - 2.0 / 16.0, 3.0 - 3.0 / 25.0], rtol=1e-6)


def test_subtraction_backward():
    a = Tensor(np.array([5.0, 10.0]), requires_grad=True)
    b = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (a - b).sum().backward()  # d/da = 1, d/db = -1
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [-1.0, -1.0])


def test_subtraction_with_scalars_and_broadcasting():
    a = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    b = Tensor(np.array([10.0, 20.0]), requires_grad=True)
    (1.0 - (a - b)).sum().backward()  # d/da = -1 everywhere; d/db = +1 per row, summed over 2 rows
    np.testing.assert_array_equal(a.grad, [[-1.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


def test_division_backward():
    a = Tensor(np.array([6.0, 12.0]), requires_grad=True)
    b = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (a / b).sum().backward()  # d/da = 1/b = [0.5, 1/3]; d/db = -a/b^2 = [-1.5, -4/3]
    np.testing.assert_allclose(a.grad, [0.5, 1.0 / 3.0], rtol=1e-7)
    np.testing.assert_allclose(b.grad, [-1.5, -4.0 / 3.0], rtol=1e-7)


def test_division_by_scalar_and_of_scalar():
    a = Tensor(np.array([2.0, 4.0]), requires_grad=True)
    (a / 4.0 + 8.0 / a).sum().backward()  # 1/4 - 8/a^2 = [0.25 - 2, 0.25 - 0.5]
    np.testing.assert_allclose(a.grad, [-1.75, -0.25], rtol=1e-7)


def _gelu_tanh_grad(x):
    k = math.sqrt(2 / math.pi)
    u = k * (x + 0.044715 * x ** 3)
    t = math.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)


def test_gelu_gradient_flow():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = tt.gelu(x)
    assert y.requires_grad and type(y._grad_fn).__name__ == "GELUBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [_gelu_tanh_grad(v) for v in (1.0, 2.0, 3.0)], rtol=1e-6)
    # the exact form: d/dx x*Phi(x) = Phi(x) + x*phi(x); at 0 it is exactly 1/2
    z = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    tt.gelu(z, approximate="none").sum().backward()
    phi1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(z.grad, [0.5, 0.5 * (1 + math.erf(1 / math.sqrt(2))) + phi1], rtol=1e-6)


def test_reshape_gradient_flow():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = x.reshape(4)
    assert y.requires_grad and type(y._grad_fn).__name__ == "ReshapeBackward"
    (y * Tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
    assert x.grad.shape == (2, 2)
    np.testing.assert_array_equal(x.grad, [[1.0, 2.0], [3.0, 4.0]])


def test_sqrt_gradient():
    x = Tensor(np.array([4.0, 9.0, 16.0]), requires_grad=True)
    y = x.sqrt()
    assert type(y._grad_fn).__name__ == "SqrtBackward"
    y.sum().backward()  # 1 / (2 sqrt x)
    np.testing.assert_allclose(x.grad, [0.25, 1.0 / 6.0, 0.125], rtol=1e-7)


def test_mean_gradient():
    x = Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    m = x.mean(axis=-1, keepdims=True)
    assert m.shape == (2, 1) and type(m._grad_fn).__name__ == "MeanBackward"
    (m * Tensor(np.array([[1.0], [3.0]]))).sum().backward()  # each element gets w_row / 3
    np.testing.assert_allclose(x.grad, [[1 / 3] * 3, [1.0] * 3], rtol=1e-7)


def test_layernorm_written_with_tensor_ops():
    """(x - mean) / sqrt(var + eps) * gamma + beta, built from mean, sub, mul, sqrt and div."""
    x = Tensor(np.array([[1.0, 2.0, 3.0, 4.0]]), requires_grad=True)
    gamma = Tensor(np.array([1.0, 2.0, 1.0, 2.0]), requires_grad=True)
    beta = Tensor(np.array([0.0, 0.0, 1.0, 1.0]), requires_grad=True)
    eps = 1e-5
    mu = x.mean(axis=-1, keepdims=True)                       # 2.5
    centered = x - mu                                         # [-1.5, -0.5, 0.5, 1.5]
    var = (centered * centered).mean(axis=-1, keepdims=True)  # 1.25
    xhat = centered / (var + eps).sqrt()
    out = xhat * gamma + beta
    w = Tensor(np.array([[1.0, 0.0, 0.0, 0.0]]))  # upstream gradient picks output 0
    (out * w).sum().backward()

    std = math.sqrt(1.25 + eps)
    xh = np.array([-1.5, -0.5, 0.5, 1.5]) / std
    g_xhat = np.array([1.0, 0.0, 0.0, 0.0]) * np.array([1.0, 2.0, 1.0, 2.0])  # w * gamma
    # dx = (g - mean(g) - xhat * mean(g * xhat)) / std
    expected_dx = (g_xhat - g_xhat.mean() - xh * (g_xhat * xh).mean()) / std
    np.testing.assert_allclose(x.grad, [expected_dx], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gamma.grad, [xh[0], 0, 0, 0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(beta.grad, [1.0, 0.0, 0.0, 0.0])

    # the fused op gives the same numbers
    x2 = Tensor(np.array([[1.0, 2.0, 3.0, 4.0]]), requires_grad=True)
    g2 = Tensor(np.array([1.0, 2.0, 1.0, 2.0]), requires_grad=True)
    b2 = Tensor(np.array([0.0, 0.0, 1.0, 1.0]), requires_grad=True)
    fused = tt.layer_norm(x2, g2, b2, eps)
    np.testing.assert_allclose(fused.data, out.data, rtol=1e-6, atol=1e-7)
    (fused * w).sum().backward()
    np.testing.assert_allclose(x2.grad, x.grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g2.grad, gamma.grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(b2.grad, beta.grad)
