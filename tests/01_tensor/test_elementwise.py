"""Elementwise kernels against numpy: every binary op (arithmetic, maximum /
minimum, comparisons) with broadcasting, dtype promotion, Python scalars on
either side and non-contiguous operands (transposed, stepped, reversed and
expanded views); every unary op including the stable sigmoid and both GELU
forms; clip, where, masked_fill and the in-place add_; and the errors a
student meets (shape mismatch naming the op and both shapes, bool misuse).

Promotion rules (PyTorch's): bool < int64 < float32 < float64, so int64 with
float32 stays float32; int / int gives float32; comparisons give bool;
transcendental ops on int or bool tensors compute in float32.
"""
import math
import operator
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import hypothesis.extra.numpy as hnp

import tinytorch as tt

pytestmark = pytest.mark.module01

LAYOUTS = ["contiguous", "transposed", "stepped", "reversed", "expanded"]


def T(x, dtype=None):
    """A tt.Tensor keeping x's numpy dtype (or the given one)."""
    x = np.asarray(x)
    return tt.Tensor(x, dtype=x.dtype if dtype is None else dtype)


def with_layout(values, layout, full_shape=None):
    """A tinytorch tensor equal to `values` stored with the given memory layout.

    "expanded" returns values broadcast to full_shape through stride-0 dims,
    so the caller must compare against np.broadcast_to(values, full_shape).
    """
    values = np.asarray(values)
    if layout == "transposed" and values.ndim >= 2:
        t = T(np.ascontiguousarray(np.swapaxes(values, -1, -2))).transpose(-1, -2)
        assert not t.is_contiguous() or min(values.shape[-2:]) <= 1
        return t
    if layout == "stepped" and values.ndim >= 1:
        big = np.zeros((2 * values.shape[0],) + values.shape[1:], dtype=values.dtype)
        big[::2] = values
        return T(big)[::2]
    if layout == "reversed" and values.ndim >= 1:
        return T(np.ascontiguousarray(values[::-1]))[::-1]
    if layout == "expanded" and full_shape is not None:
        return T(values).expand(*full_shape)
    return T(values)


def operand_pair(draw, dtype, elements):
    """Two numpy arrays of mutually broadcastable shapes and their tinytorch
    tensors in random layouts; returns (a_np, b_np, a_tt, b_tt) with a_np and
    b_np already broadcast like the tensors are."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
    out_shape = shapes.result_shape
    arrays, tensors = [], []
    for shape in shapes.input_shapes:
        v = draw(hnp.arrays(dtype, shape, elements=elements))
        layout = draw(st.sampled_from(LAYOUTS))
        tensors.append(with_layout(v, layout, out_shape))
        arrays.append(np.broadcast_to(v, out_shape) if layout == "expanded" else v)
    return arrays[0], arrays[1], tensors[0], tensors[1]


@st.composite
def shapes_broadcasting_to(draw, shape):
    """A shape that broadcasts *to* `shape`: a suffix of it with some dims set to 1."""
    k = draw(st.integers(0, len(shape)))
    suffix = shape[len(shape) - k:]
    ones = draw(st.lists(st.booleans(), min_size=k, max_size=k))
    return tuple(1 if one else d for one, d in zip(ones, suffix))


FLOATS32 = st.floats(-10, 10, width=32)
FLOATS64 = st.floats(-10, 10)
INTS = st.integers(-50, 50)
DTYPES = {"float32": (np.float32, FLOATS32), "float64": (np.float64, FLOATS64), "int64": (np.int64, INTS)}
TOL = {np.float32: dict(rtol=1e-6, atol=0), np.float64: dict(rtol=1e-12, atol=0), np.int64: dict(rtol=0, atol=0)}

ARITHMETIC = {
    "add": (operator.add, np.add),
    "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply),
    "maximum": (tt.maximum, np.maximum),
    "minimum": (tt.minimum, np.minimum),
}
COMPARISONS = {
    "eq": (operator.eq, np.equal),
    "ne": (operator.ne, np.not_equal),
    "lt": (operator.lt, np.less),
    "le": (operator.le, np.less_equal),
    "gt": (operator.gt, np.greater),
    "ge": (operator.ge, np.greater_equal),
}


# ---- binary arithmetic ------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("op_name", list(ARITHMETIC))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_arithmetic_matches_numpy(op_name, dtype_name, data):
    dtype, elements = DTYPES[dtype_name]
    a, b, ta, tb = operand_pair(data.draw, dtype, elements)
    tt_op, np_op = ARITHMETIC[op_name]
    got = tt_op(ta, tb)
    expected = np_op(a, b)
    assert got.shape == expected.shape and got.dtype == dtype
    assert got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), expected, **TOL[dtype])


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_div_matches_numpy(dtype_name, data):
    dtype, elements = DTYPES[dtype_name]
    a, b, ta, tb = operand_pair(data.draw, dtype, elements)
    got = ta / tb
    with np.errstate(all="ignore"):
        expected = a / b  # 0/0, x/0 and overflow give nan and inf in both
    assert got.shape == expected.shape and got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), expected, **TOL[dtype])


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_integer_division_gives_float32(data):
    a, b, ta, tb = operand_pair(data.draw, np.int64, st.integers(-1000, 1000))
    b = np.where(b == 0, 7, b)
    tb = T(np.ascontiguousarray(b))
    got = ta / tb
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), a.astype(np.float32) / b.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_pow_float_matches_numpy(dtype, data):
    base = st.floats(0.25, 4, width=32 if dtype == np.float32 else 64)
    a, _, ta, _ = operand_pair(data.draw, dtype, base)
    exps = data.draw(hnp.arrays(dtype, a.shape[-1:] if a.ndim else (), elements=st.floats(-3, 3, width=32)))
    got = ta ** T(exps)
    expected = np.power(a, exps)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6 if dtype == np.float32 else 1e-12)


def test_pow_integer_and_negative_integer_exponent():
    a = T(np.array([[-3, -1, 0, 2, 5]], dtype=np.int64))
    e = T(np.array([[3], [0], [2]], dtype=np.int64))
    got = a ** e
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), np.power(a.numpy(), e.numpy()))
    with pytest.raises(ValueError, match="pow.*negative"):
        a ** T(np.array([-1], dtype=np.int64))


def test_pow_square_and_float_exponents_on_special_values():
    x = np.array([-2.5, -0.0, 0.0, 1.5, np.inf, -np.inf, np.nan], dtype=np.float32)
    np.testing.assert_array_equal((T(x) ** 2).numpy(), x * x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal((T(x) ** 0.5).numpy(), np.power(x, np.float32(0.5)))
        np.testing.assert_array_equal((T(x) ** 3.0).numpy(), np.power(x, np.float32(3.0)))


# ---- comparisons ------------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("op_name", list(COMPARISONS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_comparisons_return_bool(op_name, dtype_name, data):
    dtype, _ = DTYPES[dtype_name]
    small = st.integers(-3, 3).map(dtype)  # few distinct values so equality actually happens
    a, b, ta, tb = operand_pair(data.draw, dtype, small)
    tt_op, np_op = COMPARISONS[op_name]
    got = tt_op(ta, tb)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), np_op(a, b))


def test_comparisons_with_scalars_and_nan():
    x = np.array([-1.0, 0.5, np.nan, 2.0], dtype=np.float32)
    t = T(x)
    for got, expected in [(t > 0.5, x > 0.5), (t >= 0.5, x >= 0.5), (t < 0, x < 0), (t <= 2, x <= 2),
                          (t == 0.5, x == 0.5), (t != 0.5, x != 0.5), (t == t, x == x), (t != t, x != x)]:
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), expected)


# ---- scalars on either side ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_scalars_on_either_side_keep_float_dtype(dtype):
    x = np.array([[0.5, -1.25, 3.0], [2.0, 4.5, -0.75]], dtype=dtype)
    t = T(x)
    cases = [
        (2.0 - t, dtype(2.0) - x), (t - 2.0, x - dtype(2.0)), (t ** 2, x ** 2), (2 ** t, dtype(2) ** x),
        (3 / t, dtype(3) / x), (t / 3, x / dtype(3)), (t * 2.5, x * dtype(2.5)), (1 + t, x + 1),
        (-t, -x), (abs(t), np.abs(x)),
    ]
    tol = TOL[dtype]
    for got, expected in cases:
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got.numpy(), expected, **tol)


def test_numpy_float_operands_take_the_float_tensors_dtype_without_rounding():
    # A float64 numpy array next to a float64 tensor used to go through the float32 default first:
    # x64 + np.array([0.1]) gave 0.10000000149 (a silently rounded loss target).
    x64 = T(np.zeros(3, dtype=np.float64))
    b = np.array([0.1, 1 / 3, 1e-12])
    for got in (x64 + b, x64 - b * -1, b + x64):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got.numpy(), b)
    # next to a float32 tensor a float64 array is converted to float32 (the result stays float32)
    got = T(np.zeros(3, dtype=np.float32)) + b
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), b.astype(np.float32))


def test_python_scalars_with_int_tensor():
    x = np.array([[1, -2, 3], [4, 0, -6]], dtype=np.int64)
    t = T(x)
    for got, expected, dtype in [
        (t + 1, x + 1, np.int64), (10 - t, 10 - x, np.int64), (t * 3, x * 3, np.int64), (t ** 2, x ** 2, np.int64),
        (t * 0.5, x.astype(np.float32) * np.float32(0.5), np.float32),  # an int tensor with a float scalar: float32
        (t / 2, x.astype(np.float32) / 2, np.float32),
    ]:
        assert got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7)


def test_scalar_broadcasts_against_any_rank():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    one = T(np.array(3.0, dtype=np.float32))            # 0-d
    single = T(np.array([[[3.0]]], dtype=np.float32))   # 1 element, 3-d
    np.testing.assert_array_equal((T(x) * one).numpy(), x * 3)
    np.testing.assert_array_equal((one - T(x)).numpy(), 3 - x)
    got = T(np.array([[[[2.0]]]], dtype=np.float32)) + T(x[0, 0])  # a 1-element operand with more dims
    assert got.shape == (1, 1, 1, 4)
    np.testing.assert_array_equal(got.numpy(), 2 + x[0, 0].reshape(1, 1, 1, 4))
    np.testing.assert_array_equal((T(x).transpose(0, 2) + single).numpy(), x.transpose(2, 1, 0) + 3)


def test_bias_broadcast_over_rows_and_columns():
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    row = np.array([1, -2, 3, -4, 5], dtype=np.float32)
    col = np.array([[10], [20], [30], [40]], dtype=np.float32)
    np.testing.assert_array_equal((T(x) + T(row)).numpy(), x + row)
    np.testing.assert_array_equal((T(row) - T(x)).numpy(), row - x)
    np.testing.assert_array_equal((T(x) * T(col)).numpy(), x * col)
    np.testing.assert_array_equal((T(row[None, None]) + T(x)).numpy(), row + x)


# ---- dtype promotion ----------------------------------------------------------------

PROMOTION = [
    (np.bool_, np.int64, np.int64), (np.int64, np.float32, np.float32), (np.float32, np.int64, np.float32),
    (np.float32, np.float64, np.float64), (np.int64, np.float64, np.float64), (np.bool_, np.float32, np.float32),
]


@pytest.mark.parametrize("da,db,result", PROMOTION)
def test_mixed_dtypes_promote(da, db, result):
    a = np.array([[0, 1, 3], [2, 0, 5]]).astype(da)
    b = np.array([1, 0, 2]).astype(db)
    for op, np_op in [(operator.add, np.add), (operator.mul, np.multiply), (tt.maximum, np.maximum)]:
        got = op(T(a), T(b))
        assert got.dtype == result, (op, got.dtype)
        np.testing.assert_array_equal(got.numpy(), np_op(a.astype(result), b.astype(result)))
    got = T(a) > T(b)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), a.astype(result) > b.astype(result))


def test_bool_arithmetic_is_logical():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    s = T(a) + T(b)
    p = T(a) * T(b)
    assert s.dtype == np.bool_ and p.dtype == np.bool_
    np.testing.assert_array_equal(s.numpy(), a | b)
    np.testing.assert_array_equal(p.numpy(), a & b)
    with pytest.raises(TypeError, match="sub.*bool"):
        T(a) - T(b)


def test_int64_arithmetic_wraps_like_numpy():
    big = np.array([2**62, -(2**62)], dtype=np.int64)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((T(big) * T(np.array([4, 4]))).numpy(), big * 4)
        np.testing.assert_array_equal((T(big) + T(big)).numpy(), big + big)


# ---- maximum / minimum NaN ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maximum_minimum_propagate_nan(dtype):
    a = np.array([np.nan, 1.0, 2.0, np.nan, -np.inf], dtype=dtype)
    b = np.array([0.0, np.nan, 1.0, np.nan, 3.0], dtype=dtype)
    for tt_op, np_op in [(tt.maximum, np.maximum), (tt.minimum, np.minimum)]:
        np.testing.assert_array_equal(tt_op(T(a), T(b)).numpy(), np_op(a, b))
        np.testing.assert_array_equal(tt_op(T(b), T(a)).numpy(), np_op(b, a))
        np.testing.assert_array_equal(tt_op(T(a), 0.5).numpy(), np_op(a, dtype(0.5)))


# ---- unary ------------------------------------------------------------------------

def sigmoid64(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def gelu_tanh64(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf64(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


# name -> (tinytorch function, float64 reference, input domain, float32 atol)
UNARY = {
    "exp": (tt.exp, np.exp, (-20, 20), 0),
    "log": (tt.log, np.log, (2.0 ** -10, 1e3), 1e-7),
    "sqrt": (tt.sqrt, np.sqrt, (0, 1e3), 0),
    "sin": (tt.sin, np.sin, (-20, 20), 1e-7),
    "cos": (tt.cos, np.cos, (-20, 20), 1e-7),
    "tanh": (tt.tanh, np.tanh, (-12, 12), 1e-7),
    "sigmoid": (tt.sigmoid, sigmoid64, (-40, 40), 1e-7),
    "relu": (tt.relu, lambda x: np.maximum(x, 0), (-10, 10), 0),
    "abs": (tt.abs, np.abs, (-10, 10), 0),
    "neg": (tt.neg, np.negative, (-10, 10), 0),
    "sign": (tt.sign, np.sign, (-3, 3), 0),
    "gelu_tanh": (lambda t: tt.gelu(t, approximate="tanh"), gelu_tanh64, (-12, 12), 1e-6),
    "gelu_erf": (lambda t: tt.gelu(t, approximate="none"), gelu_erf64, (-12, 12), 1e-6),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(UNARY))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_unary_matches_float64_reference(name, dtype, data):
    fn, ref, (lo, hi), atol32 = UNARY[name]
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
    width = 32 if dtype == np.float32 else 64
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=width)))
    layout = data.draw(st.sampled_from(LAYOUTS[:-1]))
    got = fn(with_layout(x, layout))
    assert got.dtype == dtype and got.shape == x.shape
    expected = ref(x.astype(np.float64))
    if dtype == np.float32:
        np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6, atol=atol32)
    else:
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_unary_large_contiguous_and_sliced_inputs():
    # Long enough for the SIMD loop plus a ragged tail, read through a view.
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, size=(37, 29)).astype(np.float32)
    t = T(x)
    for fn, ref in [(tt.exp, np.exp), (tt.tanh, np.tanh), (tt.sigmoid, sigmoid64)]:
        np.testing.assert_allclose(fn(t).numpy(), ref(x.astype(np.float64)), rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(fn(t[1::3, ::-2]).numpy(), ref(x[1::3, ::-2].astype(np.float64)),
                                   rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_extremes(dtype):
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0, np.inf, -np.inf], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = tt.sigmoid(T(x)).numpy()
    assert got[0] == 0.0 and got[-1] == 0.0
    assert got[6] == 1.0 and got[-2] == 1.0 and got[3] == 0.5
    assert np.all(np.isfinite(got))
    # Results below the smallest normal float (sigmoid(-100) in float32) may flush to 0.
    np.testing.assert_allclose(got, sigmoid64(x), rtol=1e-6 if dtype == np.float32 else 1e-12,
                               atol=np.finfo(dtype).tiny)
    assert np.isnan(tt.sigmoid(T(np.array([np.nan], dtype=dtype))).numpy()[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_limits(dtype):
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype=dtype)
    for approximate in ["tanh", "none"]:
        got = tt.gelu(T(x), approximate=approximate).numpy()
        np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, 30.0, 1000.0])


def test_special_values_of_unary_ops():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        for fn, ref in [(tt.exp, np.exp), (tt.log, np.log), (tt.sqrt, np.sqrt), (tt.tanh, np.tanh),
                        (tt.abs, np.abs), (tt.sign, np.sign), (tt.sin, np.sin)]:
            # inf matches inf and nan matches nan exactly; finite values to float32 accuracy
            np.testing.assert_allclose(fn(T(x)).numpy(), ref(x), rtol=2e-7, atol=0, err_msg=str(fn))
    np.testing.assert_array_equal(np.isnan(tt.relu(T(x)).numpy()), np.isnan(x))  # relu keeps NaN


@pytest.mark.parametrize("name", ["relu", "abs", "neg", "sign"])
def test_sign_family_keeps_int64(name):
    fn, ref, _, _ = UNARY[name]
    x = np.array([[-3, 0, 7], [2, -9, 1]], dtype=np.int64)
    got = fn(T(x))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), ref(x))
    np.testing.assert_array_equal(fn(T(x).T).numpy(), ref(x.T))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "sigmoid"])
def test_transcendental_of_int_or_bool_computes_in_float32(name):
    fn, ref, _, _ = UNARY[name]
    for x in [np.array([1, 2, 3, 10], dtype=np.int64), np.array([True, False, True])]:
        got = fn(T(x))
        assert got.dtype == np.float32
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(got.numpy(), ref(x.astype(np.float64)), rtol=2e-6, atol=1e-7)


def test_bool_unary_rules():
    m = np.array([True, False, True])
    np.testing.assert_array_equal((~T(m)).numpy(), ~m)
    assert (~T(m)).dtype == np.bool_
    assert tt.abs(T(m)).dtype == np.bool_ and tt.relu(T(m)).dtype == np.bool_
    np.testing.assert_array_equal(tt.abs(T(m)).numpy(), m)
    with pytest.raises(TypeError, match="neg.*bool"):
        -T(m)


# ---- clip / where / masked_fill ------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), elements=FLOATS32),
       lo=st.one_of(st.none(), st.floats(-5, 5, width=32)), hi=st.one_of(st.none(), st.floats(-5, 5, width=32)),
       layout=st.sampled_from(LAYOUTS[:-1]))
def test_clip_matches_numpy(x, lo, hi, layout):
    got = tt.clip(with_layout(x, layout), lo, hi)
    if lo is None and hi is None:
        expected = x
    else:
        expected = np.clip(x, lo, hi)  # lo > hi gives hi everywhere, in both
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), expected)


def test_clip_special_cases():
    x = np.array([-np.inf, -2.0, np.nan, 0.5, 9.0], dtype=np.float64)
    np.testing.assert_array_equal(tt.clip(T(x), -1, 1).numpy(), np.clip(x, -1, 1))
    i = np.array([-5, 0, 1, 2, 3, 9], dtype=np.int64)
    got = tt.clip(T(i), -1, 3)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), np.clip(i, -1, 3))
    # Fractional bounds on integers round inward: [0.5, 2.5] keeps the integers 1..2.
    np.testing.assert_array_equal(tt.clip(T(i), 0.5, 2.5).numpy(), np.clip(i, 1, 2))
    np.testing.assert_array_equal(tt.clip(T(i), None, 0).numpy(), np.minimum(i, 0))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_where_broadcasts_three_shapes(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4, max_side=4))
    c = data.draw(hnp.arrays(np.bool_, shapes.input_shapes[0]))
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=FLOATS32))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[2], elements=FLOATS32))
    layouts = data.draw(st.lists(st.sampled_from(LAYOUTS[:-1]), min_size=3, max_size=3))
    got = tt.where(with_layout(c, layouts[0]), with_layout(a, layouts[1]), with_layout(b, layouts[2]))
    expected = np.where(c, a, b)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), expected)


def test_where_promotes_and_accepts_numeric_conditions_and_scalars():
    c = np.array([[1.0, 0.0, -2.0]], dtype=np.float32)  # nonzero = true
    a = np.array([[1], [2]], dtype=np.int64)
    b = np.array([0.5, 1.5, 2.5], dtype=np.float64)
    got = tt.where(T(c), T(a), T(b))
    assert got.dtype == np.float64 and got.shape == (2, 3)
    np.testing.assert_array_equal(got.numpy(), np.where(c != 0, a, b))
    x = np.array([-1.0, 2.0, -3.0], dtype=np.float32)
    got = tt.where(T(x) > 0, T(x), 0.0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), np.where(x > 0, x, 0))
    with pytest.raises(ValueError, match=r"where.*\(2,\).*\(3,\)"):
        tt.where(T(np.array([True, False])), T(x), T(x))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_masked_fill_broadcasts_mask(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    mask_shape = data.draw(shapes_broadcasting_to(shape))
    x = data.draw(hnp.arrays(np.float32, shape, elements=FLOATS32))
    m = data.draw(hnp.arrays(np.bool_, mask_shape))
    value = data.draw(st.sampled_from([-np.inf, 0.0, -1e9, 3.5]))
    layout = data.draw(st.sampled_from(LAYOUTS[:-1]))
    tx = with_layout(x, layout)
    got = tt.masked_fill(tx, with_layout(m, data.draw(st.sampled_from(LAYOUTS[:-1]))), value)
    expected = np.where(np.broadcast_to(m, shape), np.float32(value), x)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(tx.numpy(), x)  # the input is untouched


def test_masked_fill_int_and_errors():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    got = tt.masked_fill(T(x), T(np.array([True, False, True])), -7)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), [[-7, 1, -7], [-7, 4, -7]])
    with pytest.raises(ValueError, match=r"masked_fill.*\(2,\).*\(2, 3\)"):
        tt.masked_fill(T(x), T(np.array([True, False])), 0)
    with pytest.raises(ValueError, match=r"masked_fill"):  # a mask may not enlarge the tensor
        tt.masked_fill(T(x), T(np.ones((4, 2, 3), dtype=bool)), 0)


# ---- in-place add_ -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_add_in_place_broadcasts_into_strided_destination(dtype):
    base = np.arange(12).reshape(3, 4).astype(dtype)
    tb = T(base.copy())
    view = tb.T  # (4, 3), non-contiguous
    before = tb._version
    row = np.array([1, 2, 3]).astype(dtype)
    view.add_(T(row))
    assert tb._version > before
    np.testing.assert_array_equal(tb.numpy(), base + row[:, None])
    view.add_(T(row), alpha=2)
    np.testing.assert_array_equal(tb.numpy(), base + 3 * row[:, None])


def test_add_in_place_alpha_and_contiguous_fast_path():
    x = np.linspace(-1, 1, 1000).astype(np.float32)
    y = np.cos(np.arange(1000)).astype(np.float32)
    t = T(x.copy())
    t.add_(T(y), alpha=-0.5)
    np.testing.assert_allclose(t.numpy(), x + np.float32(-0.5) * y, rtol=1e-6)
    t.add_(T(y))
    np.testing.assert_allclose(t.numpy(), x + np.float32(-0.5) * y + y, rtol=1e-6, atol=1e-7)


def test_add_in_place_errors():
    t = T(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"add_.*\(3, 3\).*\(2, 3\)"):
        t.add_(T(np.ones((3, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"add_"):  # b may not enlarge a
        t.add_(T(np.ones((2, 2, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"add_.*float32.*int64"):
        T(np.zeros(3, dtype=np.int64)).add_(T(np.ones(3, dtype=np.float32)))
    np.testing.assert_array_equal(t.numpy(), 0)


# ---- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("op,name", [(operator.add, "add"), (operator.sub, "sub"), (operator.mul, "mul"),
                                     (operator.truediv, "div"), (tt.maximum, "maximum"), (operator.lt, "lt")])
def test_broadcast_mismatch_names_op_and_shapes(op, name):
    a = T(np.ones((2, 3), dtype=np.float32))
    b = T(np.ones((4,), dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape(name) + r".*\(2, 3\).*\(4,\)"):
        op(a, b)


def test_empty_tensors():
    e = T(np.zeros((0, 3), dtype=np.float32))
    assert (e + T(np.ones(3, dtype=np.float32))).shape == (0, 3)
    assert tt.exp(e).shape == (0, 3)
    assert (e.T * 2).shape == (3, 0)
    assert tt.where(e > 0, e, 1.0).shape == (0, 3)
