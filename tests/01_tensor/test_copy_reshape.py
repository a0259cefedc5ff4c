"""Copies, conversions and reshape against numpy: reshape returns a view when
the memory layout allows it (sharing memory exactly when numpy's reshape
does) and a copy otherwise; -1 inference and bad sizes; contiguous, clone,
astype (numpy's casting rules: truncation toward zero, nonzero is True),
copy_ into strided views with broadcasting and casting, and fill_.
"""
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import hypothesis.extra.numpy as hnp

import tinytorch as tt

pytestmark = pytest.mark.module01


def T(x, dtype=None):
    """A tt.Tensor keeping x's numpy dtype (or the given one)."""
    x = np.asarray(x)
    return tt.Tensor(x, dtype=x.dtype if dtype is None else dtype)


def factorizations(n, max_dims=4):
    """Every ordered way to write n as a product of 1..max_dims sizes (no 1s except n == 1)."""
    if n == 1:
        return [(1,), (1, 1)]
    out = [(n,)]
    if max_dims > 1:
        for d in range(2, n):
            if n % d == 0:
                out += [(d,) + rest for rest in factorizations(n // d, max_dims - 1)]
    return out


def strided_view(draw, values):
    """A tinytorch view equal to `values` plus the numpy view of the same memory,
    made by transposing, stepping and/or reversing a larger base array."""
    kind = draw(st.sampled_from(["contiguous", "transposed", "stepped", "reversed"]))
    if kind == "transposed" and values.ndim >= 2:
        base = np.ascontiguousarray(np.swapaxes(values, 0, -1))
        t = T(base)
        return t.transpose(0, -1), np.swapaxes(base, 0, -1)
    if kind == "stepped" and values.ndim >= 1:
        base = np.zeros((values.shape[0] * 2,) + values.shape[1:], values.dtype)
        base[::2] = values
        return T(base)[::2], base[::2]
    if kind == "reversed" and values.ndim >= 1:
        base = np.ascontiguousarray(values[::-1])
        return T(base)[::-1], base[::-1]
    base = values.copy()
    return T(base), base


# ---- reshape ---------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_reshape_matches_numpy_and_views_exactly_when_numpy_does(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    values = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    t, np_view = strided_view(data.draw, values)
    target = data.draw(st.sampled_from(factorizations(values.size)))
    got = t.reshape(*target)
    expected = np_view.reshape(target)
    assert got.shape == tuple(target)
    np.testing.assert_array_equal(got.numpy(), expected)
    # tinytorch views exactly when numpy can (both use the no-copy reshape rule)
    assert np.shares_memory(got.data, t.data) == np.shares_memory(expected, np_view)


def test_reshape_contiguous_is_a_view():
    x = np.arange(24, dtype=np.float32)
    t = T(x)
    r = t.reshape(2, 3, 4)
    assert np.shares_memory(t.data, r.data) and np.shares_memory(r.data, x)
    r2 = r.reshape((4, 6))  # a tuple works too
    assert r2.shape == (4, 6) and np.shares_memory(r2.data, x)
    x[5] = 100.0  # writes through the shared memory are seen by every view
    assert r.numpy()[0, 1, 1] == 100.0 and r2.numpy()[0, 5] == 100.0


def test_reshape_transposed_copies():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = T(x).T
    r = t.reshape(12)
    assert not np.shares_memory(r.data, t.data)
    assert r.is_contiguous()
    np.testing.assert_array_equal(r.numpy(), x.T.reshape(12))
    np.testing.assert_array_equal(t.reshape(2, -1).numpy(), x.T.reshape(2, 6))


def test_reshape_minus_one_inference_and_scalars():
    t = T(np.arange(24, dtype=np.int64))
    assert t.reshape(-1, 4).shape == (6, 4)
    assert t.reshape(2, -1, 3).shape == (2, 4, 3)
    assert t.reshape(2, 3, 4).reshape(-1).shape == (24,)
    s = T(np.array([7.0], dtype=np.float32)).reshape()
    assert s.shape == () and s.numpy() == 7.0
    assert s.reshape(1, 1).shape == (1, 1) and s.reshape(-1).shape == (1,)
    e = T(np.zeros((0, 4), dtype=np.float32))
    assert e.reshape(4, 0).shape == (4, 0) and e.reshape(2, 0, 8).shape == (2, 0, 8)


@pytest.mark.parametrize("shape,target", [((2, 3), (4, 2)), ((2, 3), (5, -1)), ((4,), (3,)), ((2, 3), (7,))])
def test_reshape_bad_sizes_name_both_shapes(shape, target):
    t = T(np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match=r"reshape.*" + re.escape(str(shape)) + r".*" + re.escape(str(target))):
        t.reshape(*target)


def test_reshape_invalid_requests():
    t = T(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"reshape.*only one dimension can be -1"):
        t.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"reshape.*invalid size -2"):
        t.reshape(-2, 3)


# ---- contiguous / clone ------------------------------------------------------------------

def test_contiguous_returns_same_tensor_when_already_contiguous():
    t = T(np.arange(6, dtype=np.float32).reshape(2, 3))
    c = t.contiguous()
    assert c is t or (np.shares_memory(c.data, t.data) and c.shape == t.shape)
    assert np.shares_memory(c.data, t.data)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]))
def test_contiguous_and_clone_of_views(data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    values = data.draw(hnp.arrays(dtype, shape))
    t, _ = strided_view(data.draw, values)
    c = t.contiguous()
    assert c.is_contiguous() and c.dtype == dtype
    np.testing.assert_array_equal(c.numpy(), values)
    assert np.shares_memory(c.data, t.data) == t.is_contiguous()
    k = t.clone()
    assert k.is_contiguous() and not np.shares_memory(k.data, t.data)
    np.testing.assert_array_equal(k.numpy(), values)


def test_clone_is_independent():
    t = T(np.arange(4, dtype=np.float32))
    k = t.clone()
    k.fill_(9)
    np.testing.assert_array_equal(t.numpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(k.numpy(), [9, 9, 9, 9])


# ---- astype ------------------------------------------------------------------------------

DT = [np.bool_, np.int64, np.float32, np.float64]


@pytest.mark.parametrize("src", DT)
@pytest.mark.parametrize("dst", DT)
def test_astype_matches_numpy(src, dst):
    raw = np.array([[-2.7, -1.0, -0.5, 0.0], [0.4, 1.0, 2.5, 1e6]])
    x = raw.astype(src)
    t = T(x)
    got = t.astype(dst)
    assert got.dtype == dst
    np.testing.assert_array_equal(got.numpy(), x.astype(dst))
    np.testing.assert_array_equal(t.T.astype(dst).numpy(), x.T.astype(dst))  # from a strided view
    if src == dst:
        assert np.shares_memory(got.data, t.data)
    else:
        assert not np.shares_memory(got.data, t.data)


def test_astype_special_values():
    x = np.array([np.nan, -0.0, 0.0, np.inf, -3.99, 3.99], dtype=np.float32)
    np.testing.assert_array_equal(T(x).astype(np.bool_).numpy(), [True, False, False, True, True, True])
    np.testing.assert_array_equal(T(x[4:]).astype(np.int64).numpy(), [-3, 3])  # truncates toward zero
    np.testing.assert_array_equal(T(x).long().numpy()[4:], [-3, 3])
    assert T(x).double().dtype == np.float64 and T(x).bool().dtype == np.bool_
    big = np.array([2**53 + 1], dtype=np.int64)
    np.testing.assert_array_equal(T(big).double().numpy(), big.astype(np.float64))


# ---- copy_ / fill_ -----------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(data=st.data(), dst_dtype=st.sampled_from(DT[1:]), src_dtype=st.sampled_from(DT))
def test_copy_into_strided_view_broadcasts_and_casts(data, dst_dtype, src_dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    k = data.draw(st.integers(0, len(shape)))  # src: a suffix of shape with some dims set to 1
    src_shape = tuple(1 if data.draw(st.booleans()) else d for d in shape[len(shape) - k:])
    elements = st.booleans() if src_dtype == np.bool_ else st.integers(-20, 20).map(src_dtype)
    src = data.draw(hnp.arrays(src_dtype, src_shape, elements=elements))
    base = np.full((shape[0] * 2,) + shape[1:], -99).astype(dst_dtype)
    tb = T(base.copy())
    start = data.draw(st.integers(0, 1))
    view = tb[start::2]  # strided destination with an offset
    before = tb._version
    view.copy_(T(src))
    assert tb._version > before
    expected = base.copy()
    expected[start::2] = np.broadcast_to(src, shape).astype(dst_dtype)
    np.testing.assert_array_equal(tb.numpy(), expected)


def test_copy_into_transposed_and_from_expanded():
    tb = T(np.zeros((3, 4), dtype=np.float32))
    tb.T.copy_(T(np.arange(3, dtype=np.int64)))  # (3,) broadcast over the 4 rows of the (4, 3) view
    np.testing.assert_array_equal(tb.numpy(), np.repeat(np.arange(3.0)[:, None], 4, axis=1))
    src = T(np.array([[1.0], [2.0], [3.0]], dtype=np.float64)).expand(3, 4)
    tb.copy_(src)
    np.testing.assert_array_equal(tb.numpy(), [[1] * 4, [2] * 4, [3] * 4])
    tb.copy_(5)  # a Python scalar
    np.testing.assert_array_equal(tb.numpy(), np.full((3, 4), 5.0))


def test_copy_shape_errors():
    t = T(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"copy_.*\(3, 1\).*\(2, 3\)"):
        t.copy_(T(np.ones((3, 1), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"copy_.*\(4, 2, 3\).*\(2, 3\)"):  # the source may not be larger
        t.copy_(T(np.ones((4, 2, 3), dtype=np.float32)))
    np.testing.assert_array_equal(t.numpy(), 0)


def test_setitem_uses_copy():
    t = T(np.zeros((3, 4), dtype=np.float32))
    t[1:, ::2] = 5
    t[0] = T(np.arange(4, dtype=np.float32))
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[1:, ::2] = 5
    expected[0] = np.arange(4)
    np.testing.assert_array_equal(t.numpy(), expected)


@pytest.mark.parametrize("dtype", DT)
def test_fill_strided_view_and_versions(dtype):
    base = np.zeros((4, 5)).astype(dtype)
    t = T(base.copy())
    v0 = t._version
    t[:, 1::2].fill_(3.7)
    assert t._version > v0
    expected = base.copy()
    expected[:, 1::2] = np.array(3.7).astype(dtype)
    np.testing.assert_array_equal(t.numpy(), expected)
    t.T.fill_(0)
    np.testing.assert_array_equal(t.numpy(), np.zeros((4, 5)))
