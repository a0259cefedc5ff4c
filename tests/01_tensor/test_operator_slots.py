"""`+ - * /` go through C number slots installed on the Tensor type (a direct
call, not a method lookup: see operators_bind.cpp). They must behave exactly like
the methods: both operand orders, Python scalars, numpy arrays, errors, and
subclasses that override an operator."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

A = np.array([[1.0, -2.0, 3.5], [0.25, 5.0, -6.0]], dtype=np.float32)
B = np.array([2.0, -4.0, 0.5], dtype=np.float32)


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__mul__", "__truediv__"])
def test_both_orders_with_tensors_scalars_and_arrays(op):
    f = getattr(np.ndarray, op)
    t, u = tt.Tensor(A), tt.Tensor(B)
    np.testing.assert_array_equal(np.asarray(getattr(t, op)(u)), f(A, B))
    np.testing.assert_array_equal(np.asarray(eval(f"t {SYM[op]} u")), f(A, B))
    np.testing.assert_array_equal(np.asarray(eval(f"t {SYM[op]} 3.0")), f(A, np.float32(3.0)))
    np.testing.assert_array_equal(np.asarray(eval(f"3.0 {SYM[op]} t")), f(np.full_like(A, 3.0), A))
    np.testing.assert_array_equal(np.asarray(eval(f"B {SYM[op]} t")), f(np.broadcast_to(B, A.shape), A))
    assert isinstance(eval(f"B {SYM[op]} t"), tt.Tensor)  # numpy defers to the tensor


SYM = {"__add__": "+", "__sub__": "-", "__mul__": "*", "__truediv__": "/"}


def test_gradients_flow_through_the_slots():
    x = tt.Tensor([1.0, 2.0], requires_grad=True)
    y = (2.0 - x) * x / 4.0 + x  # d/dx = (2 - 2x)/4 + 1
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [1.0, 0.5])
    assert type(y.grad_fn).__name__ == "AddBackward"


def test_errors_keep_their_types_and_messages():
    t = tt.Tensor(A)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        t + tt.ones(4)
    with pytest.raises(TypeError, match="unsupported operand type"):
        t * "x"
    with pytest.raises(TypeError, match="unsupported operand type"):
        object() - t


def test_a_subclass_can_override_an_operator():
    class Logged(tt.Tensor):
        def __add__(self, other):
            return "overridden"

    s = Logged(A)
    assert s + 1.0 == "overridden"
    np.testing.assert_array_equal(np.asarray(s * 2.0), A * 2)  # the others still use the slot
