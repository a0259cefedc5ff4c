"""Module 02: activation modules against numpy formulas and their closed-form derivatives."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import hypothesis.extra.numpy as hnp

from tinytorch.autograd import gradcheck
from tinytorch.core.activations import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.layers import Module
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module02

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
ERF = np.vectorize(math.erf)

FORMULAS = {
    "relu": (ReLU(), lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "sigmoid": (Sigmoid(), lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (Tanh(), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "gelu": (GELU(), lambda x: 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))), None),
    "gelu exact": (GELU("none"), lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))), None),
}


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(FORMULAS)),
       x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                    elements=st.floats(-6, 6).filter(lambda v: abs(v) > 1e-3)))
def test_activation_values_and_gradients(name, x):
    module, f, df = FORMULAS[name]
    t = Tensor(x, requires_grad=True, dtype=np.float64)
    y = module(t)
    # atol: 1 + erf(x) cancels for negative x, in the reference as much as in the kernel
    np.testing.assert_allclose(np.asarray(y), f(x), rtol=1e-12, atol=1e-13)
    y.backward(np.ones_like(x))
    if df is not None:
        np.testing.assert_allclose(np.asarray(t.grad), df(x), rtol=1e-10, atol=1e-14)
    assert gradcheck(lambda a: module(a), (Tensor(x, requires_grad=True, dtype=np.float64),))


def test_float32_stays_float32_and_extremes_are_finite():
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32))
    for module, _, _ in FORMULAS.values():
        y = module(x)
        assert y.dtype == np.float32 and np.all(np.isfinite(np.asarray(y)))
    np.testing.assert_array_equal(np.asarray(Sigmoid()(x))[[0, -1]], [0.0, 1.0])


def test_softmax_along_dims_and_tinytorch_call_style():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = Tensor(x, dtype=np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(Softmax()(t)), e / e.sum(-1, keepdims=True), rtol=1e-12)
    e0 = np.exp(x - x.max(0, keepdims=True))
    np.testing.assert_allclose(np.asarray(Softmax(dim=0)(t)), e0 / e0.sum(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(Softmax().forward(t, 0)), e0 / e0.sum(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(LogSoftmax()(t)), np.log(e / e.sum(-1, keepdims=True)), rtol=1e-12)
    big = Softmax()(Tensor([1000.0, 1001.0, 1002.0]))
    np.testing.assert_allclose(np.asarray(big), [0.09003057, 0.24472847, 0.66524096], rtol=1e-6)
    assert gradcheck(lambda a: Softmax(dim=0)(a), (Tensor(x, requires_grad=True, dtype=np.float64),))


def test_activations_are_modules_and_accept_arrays():
    for module in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax()):
        assert isinstance(module, Module) and module.parameters() == []
    np.testing.assert_array_equal(np.asarray(ReLU()([-1.0, 2.0])), [0.0, 2.0])
    assert repr(Softmax(dim=1)) == "Softmax(dim=1)" and repr(GELU()) == "GELU(approximate='tanh')"
    with pytest.raises(ValueError, match="approximate must be 'tanh' or 'none'"):
        GELU("sigmoid")
