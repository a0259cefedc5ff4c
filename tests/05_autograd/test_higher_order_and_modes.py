"""Second derivatives through piecewise-linear ops (relu, abs, sign), long
create_graph chains, anomaly mode with autograd.grad, and grad modes used
as decorators on generator functions."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd

from conftest import torch_or_skip

pytestmark = pytest.mark.module05


def f64(v, requires_grad=True):
    return tt.Tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad, dtype=tt.float64)


# ---- second derivative of a piecewise-constant first derivative --------------------------------

@pytest.mark.parametrize("op", ["relu", "abs"])
def test_second_derivative_through_relu_and_abs_is_zeros_like_torch(op):
    torch = torch_or_skip()
    v = [-1.5, 2.0, 0.5]
    x = f64(v)
    g1, = autograd.grad(getattr(tt, op)(x * 1.0).sum(), x, create_graph=True)
    assert g1.requires_grad  # linked to x with zero derivative, as in torch
    g2, = autograd.grad(g1.sum(), x, allow_unused=True)

    xt = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    t1, = torch.autograd.grad(getattr(torch, op)(xt * 1.0).sum(), xt, create_graph=True)
    t2, = torch.autograd.grad(t1.sum(), xt, allow_unused=True)
    np.testing.assert_array_equal(g1.numpy(), t1.detach().numpy())
    np.testing.assert_array_equal(g2.numpy(), t2.numpy(force=True))  # torch may give a ZeroTensor
    np.testing.assert_array_equal(g2.numpy(), [0.0, 0.0, 0.0])


def test_second_derivative_through_relu_without_allow_unused():
    x = f64([-1.0, 2.0])
    g1, = autograd.grad(tt.relu(x).sum(), x, create_graph=True)
    g2, = autograd.grad((g1 * x).sum(), x)  # d/dx sum(relu'(x) * x) = relu'(x)
    np.testing.assert_array_equal(g2.numpy(), [0.0, 1.0])


def test_sign_is_differentiable_with_zero_gradient():
    x = f64([-2.0, 3.0])
    s = tt.sign(x)
    assert s.requires_grad and type(s.grad_fn).__name__ == "StepBackward"
    (s * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    with autograd.no_grad():
        assert not tt.relu(x).requires_grad


def test_first_derivative_of_relu_has_no_graph_without_create_graph():
    x = f64([-1.0, 2.0])
    g1, = autograd.grad(tt.relu(x).sum(), x)
    assert not g1.requires_grad


# ---- long chains and anomaly mode ------------------------------------------------------------

def test_100k_op_chain_with_create_graph():
    x = f64([1.5])
    h = x
    for _ in range(100_000):
        h = h + 0.0
    g1, = autograd.grad((h * h * h).sum(), x, create_graph=True)  # 3x^2, through 100k AddBackward
    np.testing.assert_allclose(g1.numpy(), [6.75], rtol=1e-14)
    g2, = autograd.grad(g1.sum(), x)  # 6x, back through the recorded 100k-node backward graph
    np.testing.assert_allclose(g2.numpy(), [9.0], rtol=1e-14)
    del h, g1  # freeing both graphs must not recurse


def test_detect_anomaly_with_grad_and_create_graph():
    x = f64([1.0, 2.0])
    with autograd.detect_anomaly():
        g1, = autograd.grad((x * x * x).sum(), x, create_graph=True)
        g2, = autograd.grad(g1.sum(), x, create_graph=True)
        np.testing.assert_allclose(g2.numpy(), [6.0, 12.0])
        g1b, = autograd.grad((x * x).sum(), x, create_graph=True)  # 2x
        w = tt.log(g1b - 2.0)  # log(0) at x=1: -inf, so LogBackward divides by 0
        with pytest.raises(RuntimeError, match=r"LogBackward' returned nan or inf") as info:
            autograd.grad(w.sum(), x)
    assert "test_detect_anomaly_with_grad_and_create_graph" in str(info.value)  # creation trace
    assert not tt._C._is_anomaly_enabled()


# ---- grad modes on generators -------------------------------------------------------------------

def test_no_grad_decorator_covers_a_generator_body():
    x = f64([1.0])

    @autograd.no_grad()
    def gen(n):
        for _ in range(n):
            got = yield (x * 2.0).requires_grad
        return "done"

    g = gen(3)
    seen = [next(g)]
    assert autograd.is_grad_enabled()  # the caller's mode between yields
    seen.append(g.send(None))
    seen.append(next(g))
    with pytest.raises(StopIteration) as info:
        next(g)
    assert seen == [False, False, False] and info.value.value == "done"
    assert autograd.is_grad_enabled()


def test_enable_grad_decorator_on_a_generator_inside_no_grad():
    x = f64([1.0])

    @autograd.enable_grad
    def gen():
        yield (x * 2.0).requires_grad
        yield autograd.is_grad_enabled()

    with autograd.no_grad():
        assert list(gen()) == [True, True]
        assert not autograd.is_grad_enabled()


def test_generator_close_and_throw_run_under_the_mode():
    modes = []

    @autograd.no_grad()
    def gen():
        try:
            yield 1
        except ValueError:
            modes.append(("throw", autograd.is_grad_enabled()))
            yield 2
        finally:
            modes.append(("finally", autograd.is_grad_enabled()))

    g = gen()
    next(g)
    assert g.throw(ValueError("x")) == 2
    g.close()
    assert modes == [("throw", False), ("finally", False)]
    assert autograd.is_grad_enabled()
