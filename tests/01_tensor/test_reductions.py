"""Reductions (sum, mean, max, min, prod, var, std, argmax, argmin, logsumexp),
softmax / log_softmax and sum_to, against numpy.

Inputs are random shapes of 0-4 dims (size-1 dims included) in float32,
float64, int64 and bool, laid out contiguously, transposed, sliced with a step
or expanded (stride 0), reduced over random axis sets (None, an int, a tuple,
negative axes) with and without keepdims. Float references are computed in
float64 from the very same values, so the tolerance measures our rounding only.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt

pytestmark = pytest.mark.module01

SETTINGS = settings(max_examples=40, deadline=None)
LAYOUTS = ["contiguous", "transposed", "stepped", "expanded"]


# ---------------------------------------------------------------- strategies

@st.composite
def shapes(draw, min_dims=0, max_dims=4, min_side=1, max_side=5):
    return tuple(draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)))


def elements(dtype, lo=-10, hi=10):
    if dtype == np.float32:
        return st.floats(lo, hi, width=32)
    if dtype == np.float64:
        return st.floats(lo, hi)
    if dtype == np.int64:
        return st.integers(lo, hi)
    return st.booleans()


@st.composite
def tensors(draw, dtype, shape=None, lo=-10, hi=10, layouts=LAYOUTS):
    """(tinytorch tensor, the numpy array it must equal) in a random memory layout."""
    if shape is None:
        shape = draw(shapes())
    layout = draw(st.sampled_from(layouts)) if len(shape) > 0 else "contiguous"
    el = elements(dtype, lo, hi)
    if layout == "contiguous":
        base = draw(hnp.arrays(dtype, shape, elements=el))
        return tt.Tensor(base, dtype=dtype), base
    if layout == "transposed":  # stored reversed, viewed through a permutation
        base = draw(hnp.arrays(dtype, shape[::-1], elements=el))
        perm = tuple(range(len(shape)))[::-1]
        return tt.Tensor(base, dtype=dtype).permute(*perm), base.transpose(perm)
    if layout == "stepped":  # every other row of a taller array
        base = draw(hnp.arrays(dtype, (2 * shape[0],) + shape[1:], elements=el))
        return tt.Tensor(base, dtype=dtype)[::2], base[::2]
    # expanded: one dim broadcast from size 1 (stride 0)
    d = draw(st.integers(0, len(shape) - 1))
    small = shape[:d] + (1,) + shape[d + 1:]
    base = draw(hnp.arrays(dtype, small, elements=el))
    return tt.Tensor(base, dtype=dtype).expand(*shape), np.broadcast_to(base, shape)


@st.composite
def axes_for(draw, ndim):
    """None, an int or a tuple of distinct axes, each possibly negative."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


def close(got, expected, rtol, scale, atol_factor):
    """|got - expected| <= rtol*|expected| + atol_factor*scale elementwise, where
    scale (e.g. the sum of |x| over each reduced slice) bounds the rounding that
    cancellation makes large relative to the result; equal infs and nans pass."""
    got = np.asarray(got)
    # rounding the result to its own dtype may flush a subnormal to 0
    tiny = np.finfo(got.dtype).smallest_subnormal if got.dtype.kind == "f" else 0.0
    got = got.astype(np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    bound = rtol * np.abs(expected) + atol_factor * np.asarray(scale, dtype=np.float64) + tiny
    with np.errstate(invalid="ignore"):
        ok = (np.abs(got - expected) <= bound) | (got == expected) | (np.isnan(got) & np.isnan(expected))
    assert ok.all(), f"mismatch:\n got      {got[~ok]}\n expected {expected[~ok]}"


FLOAT_TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-14)}  # (rtol, atol per unit of sum|x|)


# ---------------------------------------------------------------- sum, mean, prod

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]), keepdims=st.booleans())
def test_sum_float_matches_numpy(data, dtype, keepdims):
    t, x = data.draw(tensors(dtype))
    axis = data.draw(axes_for(x.ndim))
    got = t.sum(axis=axis, keepdims=keepdims)
    x64 = x.astype(np.float64)
    expected = x64.sum(axis=axis, keepdims=keepdims)
    scale = np.abs(x64).sum(axis=axis, keepdims=keepdims)
    assert got.dtype == dtype and got.shape == expected.shape
    rtol, atol = FLOAT_TOL[dtype]
    close(got.numpy(), expected, rtol, scale, atol)


@SETTINGS
@given(data=st.data(), keepdims=st.booleans())
def test_sum_int_and_bool_give_exact_int64(data, keepdims):
    dtype = data.draw(st.sampled_from([np.int64, np.bool_]))
    t, x = data.draw(tensors(dtype, lo=-1000, hi=1000))
    axis = data.draw(axes_for(x.ndim))
    got = t.sum(axis=axis, keepdims=keepdims)
    expected = x.sum(axis=axis, keepdims=keepdims, dtype=np.int64)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), expected)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]), keepdims=st.booleans())
def test_mean_matches_numpy(data, dtype, keepdims):
    t, x = data.draw(tensors(dtype))
    axis = data.draw(axes_for(x.ndim))
    got = t.mean(axis=axis, keepdims=keepdims)
    x64 = x.astype(np.float64)
    expected = x64.mean(axis=axis, keepdims=keepdims)
    scale = np.abs(x64).mean(axis=axis, keepdims=keepdims)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)  # int mean -> float32
    rtol, atol = FLOAT_TOL[np.float64 if dtype == np.float64 else np.float32]
    close(got.numpy(), expected, rtol, scale, atol)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]), keepdims=st.booleans())
def test_prod_float_matches_numpy(data, dtype, keepdims):
    # at most 81 factors in [0.5, 2]: the product stays a normal float32
    t, x = data.draw(tensors(dtype, shape=data.draw(shapes(max_side=3)), lo=0.5, hi=2.0))
    axis = data.draw(axes_for(x.ndim))
    got = t.prod(axis=axis, keepdims=keepdims)
    expected = x.astype(np.float64).prod(axis=axis, keepdims=keepdims)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), expected, rtol=FLOAT_TOL[dtype][0])


@SETTINGS
@given(data=st.data(), keepdims=st.booleans())
def test_prod_int_is_exact(data, keepdims):
    t, x = data.draw(tensors(np.int64, lo=-1, hi=1))
    axis = data.draw(axes_for(x.ndim))
    got = t.prod(axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), x.prod(axis=axis, keepdims=keepdims))


def test_sum_examples_and_aliases():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = tt.Tensor(x)
    np.testing.assert_array_equal(t.sum().numpy(), 276.0)
    np.testing.assert_array_equal(t.sum(axis=(0, -1)).numpy(), [60.0, 92.0, 124.0])
    np.testing.assert_array_equal(t.sum(dim=1, keepdim=True).numpy(), x.sum(axis=1, keepdims=True))
    assert t.sum(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    # a 0-d tensor reduces to itself
    np.testing.assert_array_equal(tt.Tensor(np.float32(2.5)).sum().numpy(), 2.5)
    np.testing.assert_array_equal((t > 10).sum().numpy(), 13)


def test_float32_sum_accumulates_accurately():
    # Naive float32 accumulation of 100000 copies of 0.1 drifts by ~1e-4
    # relative; the exact sum of the stored value is the reference.
    x = np.full((100000, 10), 0.1, dtype=np.float32)
    exact = 100000 * np.float64(np.float32(0.1))
    t = tt.Tensor(x)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), np.full(10, exact), rtol=1e-6)
    np.testing.assert_allclose(t.T.sum(axis=1).numpy(), np.full(10, exact), rtol=1e-6)
    np.testing.assert_allclose(t.sum().numpy(), 10 * exact, rtol=1e-6)
    np.testing.assert_allclose(t.reshape(10, 100000).sum(axis=1).numpy(), np.full(10, exact), rtol=1e-6)


def test_large_float32_sums_match_float64_reference():
    x = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    x64 = x.astype(np.float64)
    t = tt.Tensor(x)
    for axis in (0, 1, None):
        scale = np.abs(x64).sum(axis=axis)
        close(t.sum(axis=axis).numpy(), x64.sum(axis=axis), 1e-5, scale, 1e-6)
        close(t.mean(axis=axis).numpy(), x64.mean(axis=axis), 1e-5, scale / 1024, 1e-6)


def test_empty_reductions_follow_numpy():
    e = tt.Tensor(np.zeros((0, 3), dtype=np.float32))
    np.testing.assert_array_equal(e.sum(axis=0).numpy(), np.zeros(3))
    np.testing.assert_array_equal(e.sum().numpy(), 0.0)
    np.testing.assert_array_equal(e.prod(axis=0).numpy(), np.ones(3))
    assert np.isnan(e.mean(axis=0).numpy()).all()
    assert e.sum(axis=1).shape == (0,)
    assert e.max(axis=1).shape == (0,)  # nothing reduced over an empty axis: fine, as in numpy
    np.testing.assert_array_equal(tt.Tensor(np.zeros((0,), dtype=np.int64)).sum().numpy(), 0)


# ---------------------------------------------------------------- max, min

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
       keepdims=st.booleans(), op=st.sampled_from(["max", "min"]))
def test_max_min_match_numpy_exactly(data, dtype, keepdims, op):
    t, x = data.draw(tensors(dtype, lo=-100, hi=100))
    axis = data.draw(axes_for(x.ndim))
    got = getattr(t, op)(axis=axis, keepdims=keepdims)
    expected = getattr(x, op)(axis=axis, keepdims=keepdims)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def test_max_min_propagate_nan_and_handle_inf():
    x = np.array([[1.0, np.nan, 3.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 2.0]], dtype=np.float32)
    t = tt.Tensor(x)
    for op in ("max", "min"):
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(getattr(t, op)(axis=axis).numpy(), getattr(x, op)(axis=axis))
    long = np.arange(100, dtype=np.float64)
    long[77] = np.nan  # NaN past the first block of lanes
    assert np.isnan(tt.Tensor(long, dtype=tt.float64).max().numpy())
    assert np.isnan(tt.Tensor(long, dtype=tt.float64).min().numpy())


# ---------------------------------------------------------------- var, std

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       keepdims=st.booleans(), ddof=st.sampled_from([0, 1]))
def test_var_and_std_match_numpy(data, dtype, keepdims, ddof):
    t, x = data.draw(tensors(dtype, shape=data.draw(shapes(min_dims=1))))
    axis = data.draw(axes_for(x.ndim))
    x64 = x.astype(np.float64)
    count = x64.size // max(x64.sum(axis=axis, keepdims=True).size, 1)
    if count <= ddof:
        return  # numpy divides by zero there; tested separately
    out_dtype = np.float64 if dtype == np.float64 else np.float32
    rtol = FLOAT_TOL[out_dtype][0]
    scale = (np.abs(x64).max() + 1) ** 2
    got = t.var(axis=axis, ddof=ddof, keepdims=keepdims)
    assert got.dtype == out_dtype
    close(got.numpy(), x64.var(axis=axis, ddof=ddof, keepdims=keepdims), rtol, scale, 1e-14)
    got_std = t.std(axis=axis, ddof=ddof, keepdims=keepdims)
    close(got_std.numpy(), x64.std(axis=axis, ddof=ddof, keepdims=keepdims), rtol, np.sqrt(scale), 1e-7)


def test_var_is_two_pass_accurate():
    # E[x^2] - E[x]^2 would lose every digit here (mean 1e8, variance 2/3 * 1e-2)
    x = 1e8 + np.array([0.0, 0.1, 0.2] * 100, dtype=np.float64)
    t = tt.Tensor(x, dtype=tt.float64)
    np.testing.assert_allclose(t.var().numpy(), x.var(), rtol=1e-6)
    x32 = np.float32(1000) + np.array([0.0, 0.125, 0.25] * 100, dtype=np.float32)
    np.testing.assert_allclose(tt.Tensor(x32).var().numpy(), x32.astype(np.float64).var(), rtol=1e-5)


def test_var_with_too_few_elements_divides_by_zero_like_numpy():
    t = tt.Tensor(np.array([[5.0], [7.0]]), dtype=tt.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.array([[5.0], [7.0]]).var(axis=1, ddof=1)
    np.testing.assert_array_equal(t.var(axis=1, ddof=1).numpy(), expected)  # nan, nan


# ---------------------------------------------------------------- argmax, argmin

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       keepdims=st.booleans(), op=st.sampled_from(["argmax", "argmin"]))
def test_argmax_argmin_match_numpy_with_ties(data, dtype, keepdims, op):
    # values in {0, 1, 2}: ties are the rule, so "first occurrence" is exercised
    t, x = data.draw(tensors(dtype, lo=0, hi=2))
    axis = None if x.ndim == 0 else data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    got = getattr(t, op)(axis=axis, keepdims=keepdims)
    expected = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), expected)


def test_argmax_ties_nan_and_long_rows():
    t = tt.Tensor(np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]], dtype=np.float32))
    np.testing.assert_array_equal(t.argmax(axis=1).numpy(), [1, 0])
    np.testing.assert_array_equal(t.argmin(axis=1).numpy(), [3, 0])
    np.testing.assert_array_equal(t.argmax(axis=0).numpy(), [1, 0, 0, 1])
    assert t.argmax().numpy() == 1 and t.argmin().numpy() == 3
    # NaN counts as the maximum and the minimum, first one wins (numpy)
    x = np.array([1.0, np.nan, 5.0, np.nan], dtype=np.float64)
    assert tt.Tensor(x, dtype=tt.float64).argmax().numpy() == 1
    assert tt.Tensor(x, dtype=tt.float64).argmin().numpy() == 1
    col = np.array([[1.0, 2.0], [np.nan, 0.0], [np.nan, 9.0]], dtype=np.float32)
    np.testing.assert_array_equal(tt.Tensor(col).argmax(axis=0).numpy(), np.argmax(col, axis=0))
    # rows longer than one block, max repeated late and early
    row = np.zeros(1000, dtype=np.float32)
    row[[700, 900]] = 5.0
    row[[3, 600]] = -5.0
    assert tt.Tensor(row).argmax().numpy() == 700 and tt.Tensor(row).argmin().numpy() == 3
    b = tt.Tensor(np.array([False, True, True]))
    assert b.argmax().numpy() == 1


# ---------------------------------------------------------------- logsumexp

def logsumexp_ref(x, axis=None, keepdims=False):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.array(-np.inf)
    shift = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]), keepdims=st.booleans())
def test_logsumexp_matches_reference(data, dtype, keepdims):
    t, x = data.draw(tensors(dtype, lo=-30, hi=30))
    axis = data.draw(axes_for(x.ndim))
    got = tt.logsumexp(t, axis=axis, keepdims=keepdims)
    expected = logsumexp_ref(x, axis, keepdims)
    assert got.dtype == dtype
    rtol = FLOAT_TOL[dtype][0]
    np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=rtol * 30)


def test_logsumexp_is_stable_and_handles_inf():
    x = np.array([[1000.0, 1001.0], [-1000.0, 0.0], [-np.inf, -np.inf], [-np.inf, 2.0], [np.inf, 1.0]],
                 dtype=np.float32)
    got = tt.logsumexp(tt.Tensor(x), axis=1).numpy()
    np.testing.assert_allclose(got[:2], [1001.0 + np.log1p(np.exp(-1.0)), 0.0], rtol=1e-6)
    assert got[2] == -np.inf  # not nan
    assert got[3] == 2.0
    assert got[4] == np.inf
    # over a non-trailing axis and over non-adjacent axes (permuted copy path)
    y = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float64)
    ty = tt.Tensor(y, dtype=tt.float64)
    for axis in (0, 1, (0, 2), (0, 1), (-1, 0)):
        np.testing.assert_allclose(tt.logsumexp(ty, axis=axis).numpy(), logsumexp_ref(y, axis), rtol=1e-12)
    # all -inf along a column
    z = np.full((3, 2), -np.inf, dtype=np.float64)
    z[:, 1] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(tt.logsumexp(tt.Tensor(z, dtype=tt.float64), axis=0).numpy()[0], -np.inf)
    # integers are promoted to float32
    li = tt.logsumexp(tt.Tensor(np.array([0, 0])))
    assert li.dtype == np.float32
    np.testing.assert_allclose(li.numpy(), np.log(2.0), rtol=1e-6)


# ---------------------------------------------------------------- softmax, log_softmax

def softmax_ref(x, axis):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x, axis):
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_softmax_and_log_softmax_match_float64_reference(data, dtype):
    t, x = data.draw(tensors(dtype, shape=data.draw(shapes(min_dims=1)), lo=-20, hi=20))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    rtol = FLOAT_TOL[dtype][0]
    sm = tt.softmax(t, axis=axis)
    assert sm.dtype == dtype and sm.shape == x.shape
    np.testing.assert_allclose(sm.numpy(), softmax_ref(x, axis), rtol=rtol, atol=0)
    lsm = tt.log_softmax(t, axis=axis)
    assert lsm.dtype == dtype
    np.testing.assert_allclose(lsm.numpy(), log_softmax_ref(x, axis), rtol=rtol, atol=rtol)


def test_softmax_extreme_inputs():
    x = np.array([[1000.0, 1001.0], [-1000.0, 0.0]], dtype=np.float32)
    t = tt.Tensor(x)
    np.testing.assert_allclose(tt.softmax(t, axis=-1).numpy(), softmax_ref(x, -1), rtol=1e-6)
    np.testing.assert_allclose(tt.log_softmax(t, axis=-1).numpy(), log_softmax_ref(x, -1), rtol=1e-6)
    np.testing.assert_allclose(tt.softmax(t, axis=0).numpy(), softmax_ref(x, 0), rtol=1e-6)
    np.testing.assert_allclose(tt.log_softmax(t, axis=0).numpy(), log_softmax_ref(x, 0), rtol=1e-6)
    assert np.isfinite(tt.softmax(t, axis=-1).numpy()).all()
    # a masked (-inf) entry gets probability 0, as attention masks need
    m = np.array([[0.0, -np.inf, 1.0]], dtype=np.float64)
    np.testing.assert_allclose(tt.softmax(tt.Tensor(m, dtype=tt.float64), axis=1).numpy(), softmax_ref(m, 1),
                               rtol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 16, 33, 1000, 3000])
def test_softmax_rows_of_every_length_sum_to_one(n):
    # lengths around the SIMD width and the accumulation block
    x = np.random.default_rng(n).standard_normal((3, n)) * 5
    for dtype, rtol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        xd = x.astype(dtype)
        t = tt.Tensor(xd, dtype=dtype)
        np.testing.assert_allclose(tt.softmax(t, axis=1).numpy(), softmax_ref(xd, 1), rtol=rtol)
        np.testing.assert_allclose(tt.softmax(t.T, axis=0).numpy(), softmax_ref(xd.T, 0), rtol=rtol)
        np.testing.assert_allclose(tt.log_softmax(t, axis=1).numpy(), log_softmax_ref(xd, 1), rtol=rtol,
                                   atol=rtol)


# ---------------------------------------------------------------- sum_to

sum_to = getattr(getattr(tt, "_C", None), "_sum_to", None)
needs_sum_to = pytest.mark.skipif(sum_to is None, reason="tinytorch._C._sum_to binding is not exposed")


@st.composite
def broadcast_pairs(draw):
    """(target shape, the larger shape it broadcasts to)."""
    target = draw(shapes(max_dims=3, max_side=4))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    grown = tuple(draw(st.integers(1, 4)) if d == 1 else d for d in target)
    return target, lead + grown


@needs_sum_to
@SETTINGS
@given(pair=broadcast_pairs(), dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_sum_to_undoes_broadcasting(pair, dtype, data):
    target, big = pair
    t, g = data.draw(tensors(dtype, shape=big))
    got = sum_to(t, list(target))
    lead = len(big) - len(target)
    keep = tuple(i for i, d in enumerate(target) if d == 1 and big[lead + i] != 1)

    def undo_broadcast(a):
        a = a.sum(axis=tuple(range(lead))) if lead else a
        return a.sum(axis=keep, keepdims=True) if keep else a

    g64 = g.astype(np.float64)
    assert got.shape == tuple(target) and got.dtype == dtype
    rtol, atol = FLOAT_TOL[dtype]
    close(got.numpy(), undo_broadcast(g64), rtol, undo_broadcast(np.abs(g64)), atol)


@needs_sum_to
def test_sum_to_examples_and_identity():
    g = tt.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.testing.assert_array_equal(sum_to(g, [3, 4]).numpy(), np.arange(24).reshape(2, 3, 4).sum(0))
    np.testing.assert_array_equal(sum_to(g, [1, 4]).numpy(), np.arange(24).reshape(2, 3, 4).sum((0, 1))[None])
    np.testing.assert_array_equal(sum_to(g, [2, 1, 1]).numpy(), np.arange(24).reshape(2, 3, 4).sum((1, 2))[:, None, None])
    np.testing.assert_array_equal(sum_to(g, []).numpy(), 276.0)
    same = sum_to(g, [2, 3, 4])
    assert np.shares_memory(same.data, g.data)  # no copy when nothing to sum


@needs_sum_to
def test_sum_to_rejects_shapes_that_do_not_broadcast():
    g = tt.Tensor(np.zeros((2, 3, 4), dtype=np.float32))
    for bad in ([3, 3], [2, 3, 5], [1, 2, 3, 4], [5]):
        with pytest.raises(ValueError, match=r"sum_to: .*\(2, 3, 4\)"):
            sum_to(g, bad)


# ---------------------------------------------------------------- errors

def test_bad_axis_raises_index_error_naming_the_op():
    t = tt.Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(IndexError, match=r"sum: axis 2 is out of range for a 2-D tensor"):
        t.sum(axis=2)
    with pytest.raises(IndexError, match=r"mean: axis -3 is out of range"):
        t.mean(axis=(0, -3))
    with pytest.raises(IndexError, match=r"max: axis 5"):
        t.max(axis=5)
    with pytest.raises(IndexError, match=r"var: axis 2"):
        t.var(axis=2)
    with pytest.raises(IndexError, match=r"argmax: axis 2"):
        t.argmax(axis=2)
    with pytest.raises(IndexError, match=r"logsumexp: axis -3"):
        tt.logsumexp(t, axis=-3)
    with pytest.raises(IndexError, match=r"softmax: axis 2"):
        tt.softmax(t, axis=2)
    with pytest.raises(IndexError, match=r"log_softmax: axis -3"):
        tt.log_softmax(t, axis=-3)
    with pytest.raises(ValueError, match=r"sum: an axis is repeated"):
        t.sum(axis=(1, -1))


def test_max_min_argmax_of_empty_raise_value_error():
    e = tt.Tensor(np.zeros((0, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor .*\(0, 3\)"):
        e.max()
    with pytest.raises(ValueError, match=r"min: cannot reduce an empty tensor"):
        e.min(axis=0)
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor"):
        tt.Tensor(np.zeros((0, 0), dtype=np.float32)).max(axis=0)
    with pytest.raises(ValueError, match=r"argmax: .*empty"):
        e.argmax()
    with pytest.raises(ValueError, match=r"argmin: .*empty.*\(0, 3\)"):
        e.argmin(axis=0)


def test_softmax_of_integers_is_computed_in_float32():
    # Like numpy's ufuncs, but in tinytorch's default float (docs/compat.md).
    t = tt.Tensor(np.array([1, 2, 3]))
    x = np.array([1.0, 2.0, 3.0])
    e = np.exp(x - 3.0)
    for got, expected in ((tt.softmax(t, axis=0), e / e.sum()), (tt.log_softmax(t, axis=0), np.log(e / e.sum()))):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
