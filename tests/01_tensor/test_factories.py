"""Factories (full, zeros, ones, arange, linspace, eye) against numpy, and the
global random generator: reproducible under tt.manual_seed, correct ranges
and moments, and errors for impossible requests."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt

pytestmark = pytest.mark.module01


# ---- constants --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [tt.float32, tt.float64, tt.int64])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 2, 3, 2)])
def test_full_values_dtypes_shapes(dtype, shape):
    t = tt.full(shape, 7, dtype=dtype)
    assert t.shape == shape and t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.full(shape, 7, dtype))


def test_full_fractional_value_and_default_dtype():
    t = tt.full((2, 2), 2.5)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 2.5, np.float32))
    np.testing.assert_array_equal(tt.full((3,), -1.5, dtype=tt.float64).numpy(), [-1.5] * 3)


def test_zeros_ones_and_likes():
    z, o = tt.zeros(2, 3), tt.ones(4)
    assert z.shape == (2, 3) and z.dtype == np.float32 and o.shape == (4,)
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(o.numpy(), np.ones(4, np.float32))
    np.testing.assert_array_equal(tt.ones(2, 2, dtype=tt.int64).numpy(), np.ones((2, 2), np.int64))
    base = tt.Tensor(np.arange(6, dtype=np.float64).reshape(2, 3), dtype=tt.float64)
    zl, ol = tt.zeros_like(base), tt.ones_like(base)
    assert zl.shape == (2, 3) and zl.dtype == np.float64 and ol.dtype == np.float64
    np.testing.assert_array_equal(zl.numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(ol.numpy(), np.ones((2, 3)))


@pytest.mark.parametrize("make", [lambda: tt.full((2, -1), 0.0), lambda: tt.zeros(-1), lambda: tt.ones(3, -2),
                                  lambda: tt.rand(-1), lambda: tt.randn(2, -3), lambda: tt.randint(0, 5, (-1,))])
def test_negative_sizes_are_value_errors(make):
    with pytest.raises(ValueError, match=r"negative dimension"):
        make()


# ---- ranges ---------------------------------------------------------------------------

@pytest.mark.parametrize("start,stop,step", [(0, 10, 1), (2, 11, 3), (10, 0, -2), (5, 5, 1), (5, 0, 1),
                                             (-3, 4, 2), (0, 1, 7)])
def test_arange_integers_match_numpy(start, stop, step):
    t = tt.arange(start, stop, step, dtype=tt.int64)
    expected = np.arange(start, stop, step, dtype=np.int64)
    assert t.dtype == np.int64
    np.testing.assert_array_equal(t.numpy(), expected)


def test_arange_single_argument_is_stop():
    np.testing.assert_array_equal(tt.arange(5).numpy(), np.arange(5))


@pytest.mark.parametrize("start,stop,step", [(0.0, 1.0, 0.1), (1.0, -1.0, -0.25), (0.5, 3.0, 0.7),
                                             (-1.0, 1.0, 0.3), (0.0, 1e-3, 1e-4)])
@pytest.mark.parametrize("dtype", [tt.float32, tt.float64])
def test_arange_floats_count_is_ceil(start, stop, step, dtype):
    t = tt.arange(start, stop, step, dtype=dtype)
    count = int(np.ceil((stop - start) / step))
    assert t.shape == (count,) and t.dtype == dtype
    expected = (start + np.arange(count) * step).astype(dtype)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6 if dtype == tt.float32 else 1e-12, atol=1e-15)
    np.testing.assert_allclose(t.numpy(), np.arange(start, stop, step, dtype=np.float64).astype(dtype),
                               rtol=1e-6 if dtype == tt.float32 else 1e-12, atol=1e-15)


def test_arange_zero_step_is_value_error():
    with pytest.raises(ValueError, match=r"arange: step must be nonzero"):
        tt.arange(0, 5, 0)


@pytest.mark.parametrize("start,stop,num", [(0.0, 1.0, 5), (-2.0, 3.0, 11), (1.0, -1.0, 4), (3.0, 3.0, 3),
                                            (0.0, 1.0, 2), (0.0, 10.0, 1), (0.0, 10.0, 0), (0.1, 0.7, 13)])
def test_linspace_matches_numpy(start, stop, num):
    t = tt.linspace(start, stop, num)
    assert t.shape == (num,) and t.dtype == np.float32
    np.testing.assert_allclose(t.numpy(), np.linspace(start, stop, num, dtype=np.float32), rtol=1e-6, atol=1e-7)
    if num >= 2:
        assert t.numpy()[0] == np.float32(start) and t.numpy()[-1] == np.float32(stop)
    if num == 1:
        assert t.numpy()[0] == np.float32(start)


def test_linspace_negative_num_is_value_error():
    with pytest.raises(ValueError, match=r"linspace: num must be >= 0"):
        tt.linspace(0.0, 1.0, -1)


@pytest.mark.parametrize("n,m", [(0, None), (1, None), (4, None), (3, 5), (5, 2), (2, 0)])
def test_eye_matches_numpy(n, m):
    t = tt.eye(n, m)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.eye(n, m, dtype=np.float32))


def test_eye_negative_size_is_value_error():
    with pytest.raises(ValueError, match=r"eye: sizes must be >= 0"):
        tt.eye(-1)


# ---- random numbers -------------------------------------------------------------

@pytest.mark.parametrize("draw", [lambda: tt.rand(3, 4), lambda: tt.randn(5, 2), lambda: tt.randint(-3, 9, (7,)),
                                  lambda: tt.randn(7)])  # odd count: the Box-Muller spare must not leak
def test_manual_seed_makes_draws_reproducible(draw):
    tt.manual_seed(1234)
    first = draw().numpy().copy()
    second = draw().numpy().copy()
    tt.manual_seed(1234)
    np.testing.assert_array_equal(draw().numpy(), first)
    np.testing.assert_array_equal(draw().numpy(), second)
    assert not np.array_equal(first, second)  # the stream moves on
    tt.manual_seed(1235)
    assert not np.array_equal(draw().numpy(), first)


def test_rand_range_dtype_and_moments():
    tt.manual_seed(0)
    x = tt.rand(100_000)
    assert x.shape == (100_000,) and x.dtype == np.float32
    v = x.numpy()
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 0.01
    assert abs(v.var() - 1.0 / 12.0) < 0.01
    # no value outside [0, 1) in float64 either, and the two halves are balanced
    w = tt.rand(1000, 100, dtype=tt.float64).numpy()
    assert w.dtype == np.float64 and w.shape == (1000, 100)
    assert w.min() >= 0.0 and w.max() < 1.0 and abs((w < 0.5).mean() - 0.5) < 0.01


@pytest.mark.parametrize("dtype", [tt.float32, tt.float64])
def test_randn_mean_and_std(dtype):
    tt.manual_seed(42)
    v = tt.randn(100_000, dtype=dtype).numpy()
    assert v.dtype == dtype
    assert abs(v.mean()) < 0.01
    assert abs(v.std() - 1.0) < 0.01
    # tails: about 4.55% beyond 2 sigma for a normal distribution
    assert abs((np.abs(v) > 2).mean() - 0.0455) < 0.005


def test_randint_bounds_and_coverage():
    tt.manual_seed(7)
    v = tt.randint(-2, 5, (10_000,)).numpy()
    assert v.dtype == np.int64
    assert v.min() == -2 and v.max() == 4
    counts = np.bincount(v + 2)
    assert len(counts) == 7 and counts.min() > 10_000 / 7 * 0.85
    shaped = tt.randint(0, 2, (3, 4))
    assert shaped.shape == (3, 4) and set(np.unique(shaped.numpy())) <= {0, 1}
    huge = tt.randint(-(2**62), 2**62, (1000,)).numpy()
    assert huge.min() >= -(2**62) and huge.max() < 2**62 and (huge < 0).any() and (huge > 0).any()


def test_randint_empty_range_is_value_error():
    with pytest.raises(ValueError, match=r"randint: low must be < high, got low=5, high=5"):
        tt.randint(5, 5, (3,))
    with pytest.raises(ValueError, match=r"randint"):
        tt.randint(5, 1, (3,))


# bernoulli_mask is reached through dropout: dropout(ones, p) is exactly the mask for keep_prob = 1 - p.

@settings(max_examples=10, deadline=None)
@given(p=st.sampled_from([0.0, 0.2, 0.5, 0.9]), dtype=st.sampled_from([tt.float32, tt.float64]))
def test_dropout_mask_values_and_rate(p, dtype):
    keep = 1.0 - p
    tt.manual_seed(3)
    m = tt.dropout(tt.ones(200, 500, dtype=dtype), p, True).numpy()
    assert m.shape == (200, 500) and m.dtype == dtype
    assert set(np.unique(m)) <= {0.0, dtype.type(1.0) / dtype.type(keep)}
    assert abs((m != 0).mean() - keep) < 0.01
    assert abs(m.mean() - 1.0) < 0.05  # inverted dropout keeps the expectation


def test_dropout_mask_reproducible_and_validated():
    x = tt.ones(64, dtype=tt.float64)
    tt.manual_seed(9)
    a = tt.dropout(x, 0.5, True).numpy().copy()
    b = tt.dropout(x, 0.5, True).numpy().copy()
    tt.manual_seed(9)
    np.testing.assert_array_equal(tt.dropout(x, 0.5, True).numpy(), a)
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"keep_prob must be in \(0, 1\]"):
        tt.dropout(x, float("nan"), True)
