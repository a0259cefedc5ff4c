"""Module 04: losses against numpy, closed-form gradients, stability and errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinytorch.autograd import gradcheck
from tinytorch.core.losses import BCELoss, BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss, log_softmax
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module04


def f64(a, requires_grad=True):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)


def ce_reference(logits, targets, ignore_index=-100):
    z = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1)
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    valid = t != ignore_index
    nll = lse[valid] - z[valid, t[valid]]
    p = np.exp(z - lse[:, None])
    grad = p.copy()
    grad[np.arange(len(t))[valid], t[valid]] -= 1
    grad[~valid] = 0
    return nll.mean(), (grad / valid.sum()).reshape(logits.shape)


def test_mse():
    pred, target = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 2.8])
    p = f64(pred)
    loss = MSELoss()(p, Tensor(target, dtype=np.float64))
    np.testing.assert_allclose(loss.item(), np.mean((pred - target) ** 2), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(np.asarray(p.grad), 2 * (pred - target) / 3, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), t=st.integers(0, 3), c=st.integers(1, 6), ignore=st.booleans(), seed=st.integers(0, 2**31))
def test_cross_entropy_matches_reference(n, t, c, ignore, seed):
    r = np.random.default_rng(seed)
    shape = (n, t, c) if t else (n, c)
    logits = r.standard_normal(shape) * 3
    targets = r.integers(0, c, shape[:-1])
    if ignore:
        targets.reshape(-1)[0] = -100
    if not (targets != -100).any():
        targets.reshape(-1)[-1] = 0
    lg = f64(logits)
    loss = CrossEntropyLoss()(lg, targets)
    expected, grad = ce_reference(logits, targets)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(np.asarray(lg.grad), grad, rtol=1e-10, atol=1e-15)


def test_cross_entropy_is_stable_and_accepts_float_targets():
    logits = f64([[1e4, 0.0, -1e4], [0.0, 0.0, 3e4]])
    loss = CrossEntropyLoss()(logits, Tensor([0.0, 1.0]))  # whole-number floats are class ids
    np.testing.assert_allclose(loss.item(), (0.0 + 3e4) / 2, rtol=1e-12)
    loss.backward()
    assert np.all(np.isfinite(np.asarray(logits.grad)))
    with pytest.raises(TypeError, match="targets must be integer class indices"):
        CrossEntropyLoss()(logits, [0.5, 1.0])
    with pytest.raises(IndexError, match="target 3 at position 1 is out of range for 3 classes"):
        CrossEntropyLoss()(logits, [0, 3])
    with pytest.raises(ValueError, match=r"targets of shape \(3,\) do not match logits of shape \(2, 3\)"):
        CrossEntropyLoss()(logits, [0, 1, 2])


def test_cross_entropy_ignore_index_and_gradcheck():
    r = np.random.default_rng(1)
    logits = f64(r.standard_normal((2, 3, 4)))
    targets = np.array([[1, 7, 2], [7, 0, 3]])
    loss = CrossEntropyLoss(ignore_index=7)(logits, targets)
    expected, _ = ce_reference(np.asarray(logits), targets, ignore_index=7)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    assert gradcheck(lambda z: CrossEntropyLoss(ignore_index=7)(z, targets), (logits,))
    assert repr(CrossEntropyLoss(ignore_index=7)) == "CrossEntropyLoss(ignore_index=7)"


def test_binary_cross_entropy():
    p, y = np.array([0.9, 0.1, 0.7, 0.3]), np.array([1.0, 0.0, 1.0, 0.0])
    pt = f64(p)
    loss = BinaryCrossEntropyLoss()(pt, Tensor(y, dtype=np.float64))
    np.testing.assert_allclose(loss.item(), -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(np.asarray(pt.grad), (p - y) / (p * (1 - p)) / 4, rtol=1e-10)
    extreme = BCELoss()(f64([0.0, 1.0]), f64([1.0, 0.0], False))  # clamped to [1e-7, 1 - 1e-7]: finite
    np.testing.assert_allclose(extreme.item(), -np.log(1e-7), rtol=1e-3)


def test_log_softmax_function():
    x = np.array([[1.0, 2.0, 3.0], [0.1, 0.2, 0.9]])
    np.testing.assert_allclose(np.asarray(log_softmax(Tensor(x, dtype=np.float64))),
                               x - np.log(np.exp(x).sum(-1, keepdims=True)), rtol=1e-12)
