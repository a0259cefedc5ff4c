"""& | ^ ~ (and &= |= ^=) on bool and int64 tensors: numpy's values, dtypes and
broadcasting; floats refused as numpy refuses them."""
import operator

import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip

pytestmark = pytest.mark.regression

OPS = {"&": operator.and_, "|": operator.or_, "^": operator.xor}
RNG = np.random.default_rng(8)
BOOL_A = RNG.random((3, 4)) > 0.5
BOOL_ROW = np.array([True, False, True, False])
BOOL_COL = np.array([[True], [False], [True]])
INT_A = RNG.integers(-50, 50, (3, 4))
INT_ROW = np.array([3, -1, 0, 12])


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("a,b", [(BOOL_A, BOOL_A[::-1]), (BOOL_A, BOOL_ROW), (BOOL_COL, BOOL_ROW), (INT_A, INT_ROW),
                                 (INT_A, BOOL_COL), (BOOL_ROW, INT_A)],
                         ids=["bool", "bool-row", "col-row", "int-row", "int-boolcol", "boolrow-int"])
def test_tensor_op_tensor_matches_numpy(op, a, b):
    f = OPS[op]
    got = f(tt.Tensor(a), tt.Tensor(b))
    expected = f(a, b)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("op", sorted(OPS))
def test_scalars_and_arrays_on_either_side(op):
    f = OPS[op]
    t = tt.Tensor(BOOL_A)
    for other in (True, False, np.True_, BOOL_ROW):
        for got, expected in ((f(t, other), f(BOOL_A, other)), (f(other, t), f(other, BOOL_A))):
            assert isinstance(got, tt.Tensor)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got.numpy(), expected)
    ti = tt.Tensor(INT_A)
    for other in (5, np.int64(-7), INT_ROW):
        np.testing.assert_array_equal(f(ti, other).numpy(), f(INT_A, other))
        np.testing.assert_array_equal(f(other, ti).numpy(), f(other, INT_A))


def test_masks_from_comparisons_combine():
    x = tt.Tensor(np.arange(-3, 4, dtype=np.float32))
    xn = np.arange(-3, 4, dtype=np.float32)
    np.testing.assert_array_equal(((x > -2) & (x < 2)).numpy(), (xn > -2) & (xn < 2))
    np.testing.assert_array_equal(((x < -2) | (x > 2)).numpy(), (xn < -2) | (xn > 2))
    np.testing.assert_array_equal(((x > 0) ^ (x > -1)).numpy(), [False] * 3 + [True] + [False] * 3)
    np.testing.assert_array_equal(tt.where((x > -2) & (x < 2), x, 0.0).numpy(), np.where((xn > -2) & (xn < 2), xn, 0))


def test_invert_matches_numpy_and_torch():
    torch = torch_or_skip()
    np.testing.assert_array_equal((~tt.Tensor(BOOL_A)).numpy(), ~BOOL_A)
    np.testing.assert_array_equal((~tt.Tensor(INT_A)).numpy(), ~INT_A)
    assert (~tt.Tensor(INT_A)).dtype == np.int64
    np.testing.assert_array_equal((~tt.Tensor(INT_A)).numpy(), (~torch.tensor(INT_A)).numpy())
    np.testing.assert_array_equal((~tt.Tensor(BOOL_A)[:, ::2]).numpy(), ~BOOL_A[:, ::2])  # strided view


def test_int64_results_match_torch():
    torch = torch_or_skip()
    a, b = torch.tensor(INT_A), torch.tensor(INT_ROW)
    for f in OPS.values():
        np.testing.assert_array_equal(f(tt.Tensor(INT_A), tt.Tensor(INT_ROW)).numpy(), f(a, b).numpy())


def test_in_place_forms_follow_numpy():
    m = tt.Tensor(BOOL_A.copy())
    expected = BOOL_A.copy()
    m &= tt.Tensor(BOOL_ROW)
    expected &= BOOL_ROW
    m |= BOOL_COL
    expected |= BOOL_COL
    m ^= True
    expected ^= True
    assert m.dtype == np.bool_
    np.testing.assert_array_equal(m.numpy(), expected)
    with pytest.raises(TypeError, match=r"&=: the result has dtype int64.*bool"):
        m &= tt.Tensor(INT_A)  # numpy's same-kind rule refuses this too


def test_float_operands_raise_type_error():
    f = tt.Tensor(np.ones(3, np.float32))
    b = tt.Tensor(np.array([True, False, True]))
    for op, name in ((operator.and_, "bitwise_and"), (operator.or_, "bitwise_or"), (operator.xor, "bitwise_xor")):
        with pytest.raises(TypeError, match=f"{name}.*bool and int64.*float32"):
            op(f, b)
        with pytest.raises(TypeError, match=name):
            op(b, 1.5)
    with pytest.raises(TypeError, match=r"invert \(~\): defined for bool and int64.*float32"):
        ~f
