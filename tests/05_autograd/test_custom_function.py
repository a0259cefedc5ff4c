"""Custom autograd Functions written in Python: the C++ engine calls their
backward in order with its own nodes, passes their errors through
unchanged, checks what they return, and frees them with the graph."""
import weakref

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import autograd
from tinytorch.autograd import Function

pytestmark = pytest.mark.module05


def f64(v, requires_grad=True):
    return tt.Tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad, dtype=tt.float64)


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2.0 * x


class Exp(Function):
    """Saves its own output (the case that needs care to avoid a reference cycle)."""

    @staticmethod
    def forward(ctx, x):
        out = tt.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class ScaledMulAdd(Function):
    """(a * b * k, a + b) with a Python scalar k: two inputs, two outputs, one non-tensor argument."""

    @staticmethod
    def forward(ctx, a, k, b):
        ctx.save_for_backward(a, b)
        ctx.k = k
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * k, a + b

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        a, b = ctx.saved_tensors
        ga = g_prod * b * ctx.k + g_sum if ctx.needs_input_grad[0] else None
        gb = g_prod * a * ctx.k + g_sum if ctx.needs_input_grad[2] else None
        return ga, None, gb


def test_save_for_backward_and_needs_input_grad():
    x = f64([1.0, -2.0, 3.0])
    y = Square.apply(x)
    assert y.requires_grad and y.grad_fn.name() == "SquareBackward"
    np.testing.assert_array_equal(y.numpy(), [1.0, 4.0, 9.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_multiple_inputs_outputs_and_non_tensor_arguments():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, s = ScaledMulAdd.apply(a, 0.5, b)
    np.testing.assert_array_equal(p.numpy(), [1.5, 4.0])
    np.testing.assert_array_equal(s.numpy(), [4.0, 6.0])
    assert p.grad_fn is s.grad_fn
    (p * 2.0 + s * s).sum().backward()
    # d/da = 2 * b * k + 2 * s ; d/db = 2 * a * k + 2 * s
    np.testing.assert_array_equal(a.grad.numpy(), [3.0 + 8.0, 4.0 + 12.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0 + 8.0, 2.0 + 12.0])


def test_needs_input_grad_reflects_the_inputs():
    a, b = f64([1.0]), f64([2.0], requires_grad=False)
    p, s = ScaledMulAdd.apply(a, 3.0, b)
    assert p.grad_fn is not None
    (p + s).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0 * 2.0 + 1.0])
    assert b.grad is None


def test_only_one_output_used():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    p, _ = ScaledMulAdd.apply(a, 1.0, b)
    p.sum().backward()  # the unused output's gradient arrives as zeros
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


def test_function_between_cpp_nodes_on_both_sides():
    x, w, c = f64([0.5, 1.0]), f64([2.0, -1.0]), f64([1.0, 3.0])
    h = tt.tanh(x * w)           # C++ nodes before
    e = Exp.apply(h)             # Python node
    out = ((e + c) * c).sum()    # C++ nodes after
    assert e.grad_fn.name() == "ExpBackward"
    out.backward()
    xv, wv, cv = np.array([0.5, 1.0]), np.array([2.0, -1.0]), np.array([1.0, 3.0])
    hv = np.tanh(xv * wv)
    de = cv * np.exp(hv) * (1 - hv ** 2)
    np.testing.assert_allclose(x.grad.numpy(), de * wv, rtol=1e-14)
    np.testing.assert_allclose(w.grad.numpy(), de * xv, rtol=1e-14)
    np.testing.assert_allclose(c.grad.numpy(), np.exp(hv) + 2 * cv, rtol=1e-14)


def test_gradcheck_and_double_backward_through_a_function():
    x = f64(np.random.default_rng(0).uniform(-1, 1, (2, 3)))
    assert autograd.gradcheck(lambda a: Exp.apply(Square.apply(a)), (x,))
    assert autograd.gradgradcheck(lambda a: Exp.apply(Square.apply(a)), (x,))
    (g,) = autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)  # d2/dx2 exp = exp: needs the saved output re-linked to the graph
    np.testing.assert_allclose(gg.numpy(), np.exp(x.numpy()), rtol=1e-14)


class CustomError(Exception):
    pass


@pytest.mark.parametrize("exc", [CustomError("custom failure in backward"), ValueError("bad value 42"),
                                 ZeroDivisionError("division")])
def test_exception_in_backward_reaches_the_caller_unchanged(exc):
    class Boom(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            raise exc

    x = f64([1.0])
    y = (Boom.apply(x * 1.0) * 3.0).sum()
    with pytest.raises(type(exc)) as info:
        y.backward()
    assert info.value is exc or (type(info.value) is type(exc) and str(info.value) == str(exc))
    assert str(info.value) == str(exc)
    assert tt.is_grad_enabled()  # the engine restored grad mode on the way out


def test_wrong_number_of_gradients_is_a_clear_error():
    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(RuntimeError, match=r"TooManyBackward: backward returned 2 gradients, but forward took 1"):
        TooMany.apply(f64([1.0])).sum().backward()


def test_wrong_gradient_shape_is_a_clear_error():
    class WrongShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # should be expanded to x's shape

    with pytest.raises(RuntimeError, match=r"WrongShapeBackward.*shape \(\).*argument 0.*shape \(2, 2\)"):
        WrongShape.apply(f64([[1.0, 2.0], [3.0, 4.0]])).backward()


def test_numpy_gradient_is_accepted():
    class NumpyGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3.0

        @staticmethod
        def backward(ctx, g):
            return np.asarray(g) * 3.0

    x = f64([1.0, 2.0])
    NumpyGrad.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_forward_must_return_tensors():
    class NotATensor(Function):
        @staticmethod
        def forward(ctx, x):
            return 3

    with pytest.raises(TypeError, match="must return a Tensor"):
        NotATensor.apply(f64([1.0]))


def test_save_for_backward_only_takes_tensors():
    class SavesNumber(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3.0)
            return x

    with pytest.raises(TypeError, match="ctx.value"):
        SavesNumber.apply(f64([1.0]))


def test_no_graph_under_no_grad_or_without_grad_inputs():
    with tt.no_grad():
        y = Square.apply(f64([2.0]))
    assert y.grad_fn is None and not y.requires_grad
    z = Square.apply(f64([2.0], requires_grad=False))
    assert z.grad_fn is None and not z.requires_grad


def test_forward_returning_its_input_keeps_the_inputs_history():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5.0

    x = f64([1.0])
    h = x * 2.0
    y = Identity.apply(h)
    assert y is not h and h.grad_fn.name() == "MulBackward" and y.grad_fn.name() == "IdentityBackward"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [10.0])


def test_integer_outputs_are_not_differentiable():
    class ArgmaxAndValue(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0, x.argmax(keepdims=True)

        @staticmethod
        def backward(ctx, g, g_index):
            return g

    v, i = ArgmaxAndValue.apply(f64([1.0, 5.0, 2.0]))
    assert v.requires_grad and not i.requires_grad and i.dtype == np.int64


def test_modified_saved_tensor_is_detected():
    x = f64([1.0, 2.0])
    y = Square.apply(x)
    with tt.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match=r"SquareBackward is at version 1; expected version 0"):
        y.sum().backward()


def test_second_backward_without_retain_graph():
    x = f64([1.0, 2.0])
    y = Square.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


class _Tracked(Function):
    """Square that records a weak reference to its ctx."""
    refs = []

    @staticmethod
    def forward(ctx, x):
        _Tracked.refs.append(weakref.ref(ctx))
        out = x * x
        ctx.save_for_backward(x, out)  # saves an input and its own output
        ctx.out_attribute = out        # and keeps the output as an attribute too
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return g * 2.0 * x


def test_graph_with_a_function_is_freed_after_backward_and_del():
    _Tracked.refs.clear()
    x = f64([1.0, 2.0])
    y = _Tracked.apply(x)
    z = (y * 3.0).sum()
    z.backward()
    assert _Tracked.refs[0]() is not None  # the graph is still referenced by y and z
    del y, z
    assert _Tracked.refs[0]() is None  # freed without waiting for the cycle collector
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


def test_graph_with_a_function_is_freed_without_backward():
    _Tracked.refs.clear()
    x = f64([1.0, 2.0])
    y = _Tracked.apply(x)
    ref_out = weakref.ref(y)
    del y
    assert _Tracked.refs[0]() is None and ref_out() is None
