"""Indexing kernels against their numpy equivalents: gather (take_along_axis),
index_select / take (np.take), index_add (np.add.at), scatter_add, cat
(np.concatenate), stack (np.stack), one_hot (np.eye[idx]) and nonzero
(np.argwhere); on random shapes, non-contiguous inputs and bad indices.

Index rules (PyTorch's): gather / index_select / index_add / scatter_add
reject negative indices with IndexError; take wraps them like Python.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import hypothesis.extra.numpy as hnp

import tinytorch as tt

pytestmark = pytest.mark.module01


def T(x):
    """A tt.Tensor keeping x's dtype."""
    x = np.asarray(x)
    return tt.Tensor(x, dtype=x.dtype)


def transposed_view(x):
    """A non-contiguous tt view equal to x (stored with reversed axes)."""
    return T(np.ascontiguousarray(x.T)).permute(*reversed(range(x.ndim))) if x.ndim > 1 else T(x)


shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)


# ---- gather -------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data(), contiguous=st.booleans())
def test_gather_matches_take_along_axis(shape, data, contiguous):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = rng.standard_normal(shape)
    # index may be longer along dim and shorter elsewhere (torch.gather rules)
    ishape = tuple(rng.integers(1, 7) if d == dim % len(shape) else rng.integers(1, s + 1)
                   for d, s in enumerate(shape))
    idx = rng.integers(0, shape[dim], size=ishape)
    cropped = a[tuple(slice(0, n) if d != dim % len(shape) else slice(None) for d, n in enumerate(ishape))]
    expected = np.take_along_axis(cropped, idx, axis=dim)
    ta = T(a) if contiguous else transposed_view(a)
    got = tt.gather(ta, dim, T(idx) if contiguous else transposed_view(idx))
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, bool])
def test_gather_keeps_dtype(dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    got = tt.gather(T(a), 1, T(idx))
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(a, idx, 1))


def test_gather_errors():
    a = T(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"gather: index 3 is out of bounds for dimension 1 with size 3"):
        tt.gather(a, 1, T(np.array([[0, 3]])))
    with pytest.raises(IndexError, match=r"gather: index -1 is out of bounds"):
        tt.gather(a, 1, T(np.array([[-1]])))
    with pytest.raises(TypeError, match=r"gather: index must be an int64 tensor, got float32"):
        tt.gather(a, 1, T(np.array([[0.0]], np.float32)))
    with pytest.raises(ValueError, match=r"gather: index must have the same number of dimensions"):
        tt.gather(a, 1, T(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"gather: index shape \(3, 1\) is larger than input shape \(2, 3\)"):
        tt.gather(a, 1, T(np.zeros((3, 1), np.int64)))
    with pytest.raises(IndexError, match=r"gather: axis 2"):
        tt.gather(a, 2, T(np.zeros((2, 1), np.int64)))


# ---- index_select and take --------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data(), contiguous=st.booleans())
def test_index_select_matches_np_take_along_one_axis(shape, data, contiguous):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = rng.integers(-100, 100, size=shape)
    idx = rng.integers(0, shape[dim], size=rng.integers(0, 8))  # repeats and empty allowed
    ta = T(a) if contiguous else transposed_view(a)
    got = tt.index_select(ta, dim, T(idx))
    np.testing.assert_array_equal(got.numpy(), np.take(a, idx, axis=dim))
    assert got.dtype == np.int64


def test_index_select_strided_index_and_zero_dim_index():
    a = np.arange(20.0).reshape(4, 5)
    idx = np.array([4, 9, 0, 9, 2, 9])
    got = tt.index_select(T(a), 1, T(idx)[::2])
    np.testing.assert_array_equal(got.numpy(), a[:, [4, 0, 2]])
    # a 0-D index keeps the dimension with size 1 (torch behaviour)
    got = tt.index_select(T(a), 0, T(np.array(2)))
    np.testing.assert_array_equal(got.numpy(), a[2:3])


def test_index_select_errors():
    a = T(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"index_select: index 3 is out of bounds for dimension 1 with size 3"):
        tt.index_select(a, 1, T(np.array([0, 3])))
    with pytest.raises(IndexError, match=r"index_select: index -1 is out of bounds for dimension 0 with size 2"):
        tt.index_select(a, 0, T(np.array([-1])))
    with pytest.raises(TypeError, match=r"index_select: index must be an int64 tensor"):
        tt.index_select(a, 0, T(np.array([0], np.float64)))
    with pytest.raises(IndexError, match=r"index_select: index must be 0-D or 1-D, got shape \(1, 1\)"):
        tt.index_select(a, 0, T(np.array([[0]])))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, ishape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
       seed=st.integers(0, 2**32 - 1), contiguous=st.booleans())
def test_take_matches_np_take_with_negative_wrap(shape, ishape, seed, contiguous):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    n = a.size
    idx = rng.integers(-n, n, size=ishape)
    ta = T(a) if contiguous else transposed_view(a)
    got = tt.take(ta, T(idx))
    assert got.shape == idx.shape
    np.testing.assert_array_equal(got.numpy(), np.take(a, idx))


def test_take_errors():
    a = T(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"take: index 6 is out of range for a tensor of 6 elements"):
        tt.take(a, T(np.array([6])))
    with pytest.raises(IndexError, match=r"take: index -7 is out of range"):
        tt.take(a, T(np.array([-7])))
    with pytest.raises(TypeError, match=r"take: index must be an int64 tensor"):
        tt.take(a, T(np.array([1.0], np.float32)))


# ---- index_add and scatter_add ----------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_index_add_matches_np_add_at(shape, data, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dim = data.draw(st.integers(0, len(shape) - 1))
    base = rng.integers(-9, 10, size=shape).astype(dtype)
    idx = rng.integers(0, shape[dim], size=rng.integers(0, 9))
    src_shape = shape[:dim] + (len(idx),) + shape[dim + 1:]
    src = rng.integers(-9, 10, size=src_shape).astype(dtype)
    expected = base.copy()
    np.add.at(expected, (slice(None),) * dim + (idx,), src)
    got = tt.index_add(T(base), dim, T(idx), transposed_view(src))
    assert got.dtype == base.dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def test_index_add_repeated_rows_accumulate_like_embedding_backward():
    weight = np.zeros((5, 3), np.float32)
    tokens = np.array([1, 3, 1, 1, 4])
    grads = np.arange(15, dtype=np.float32).reshape(5, 3)
    base = T(weight)
    got = tt.index_add(base, 0, T(tokens), T(grads))
    expected = np.zeros((5, 3), np.float32)
    expected[1] = grads[0] + grads[2] + grads[3]
    expected[3] = grads[1]
    expected[4] = grads[4]
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(base.numpy(), weight)  # out-of-place: self untouched


def test_index_add_errors():
    a = T(np.zeros((4, 3), np.float32))
    with pytest.raises(IndexError, match=r"index_add: index 4 is out of bounds for dimension 0 with size 4"):
        tt.index_add(a, 0, T(np.array([4])), T(np.ones((1, 3), np.float32)))
    with pytest.raises(IndexError, match=r"index_add: index -1 is out of bounds"):
        tt.index_add(a, 0, T(np.array([-1])), T(np.ones((1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"index_add: source shape \(2, 3\) does not match \(1, 3\)"):
        tt.index_add(a, 0, T(np.array([0])), T(np.ones((2, 3), np.float32)))


def scatter_add_reference(base, dim, idx, src):
    out = base.copy()
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[dim] = idx[pos]
        out[tuple(target)] += src[pos]
    return out


@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data())
def test_scatter_add_matches_loop_reference(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dim = data.draw(st.integers(0, len(shape) - 1))
    base = rng.standard_normal(shape)
    src_shape = tuple(rng.integers(1, 6) if d == dim else s for d, s in enumerate(shape))
    ishape = tuple(rng.integers(1, s + 1) for s in src_shape)
    idx = rng.integers(0, shape[dim], size=ishape)
    src = rng.standard_normal(src_shape)
    got = tt.scatter_add(T(base), dim, transposed_view(idx), transposed_view(src))
    np.testing.assert_allclose(got.numpy(), scatter_add_reference(base, dim, idx, src), rtol=1e-12, atol=1e-12)


def test_scatter_add_repeated_indices_and_torch():
    base = np.zeros((2, 4))
    idx = np.array([[0, 0, 3], [1, 1, 1]])
    src = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    got = tt.scatter_add(T(base), 1, T(idx), T(src))
    np.testing.assert_array_equal(got.numpy(), [[3.0, 0, 0, 3.0], [0, 15.0, 0, 0]])
    from conftest import torch_or_skip  # fails, not skips, under TINYTORCH_REQUIRE_TORCH=1
    torch = torch_or_skip()
    expected = torch.zeros(2, 4, dtype=torch.float64).scatter_add(1, torch.from_numpy(idx), torch.from_numpy(src))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_scatter_add_errors():
    a = T(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"scatter_add: index 3 is out of bounds for dimension 1 with size 3"):
        tt.scatter_add(a, 1, T(np.array([[3]])), T(np.ones((1, 1))))
    with pytest.raises(ValueError, match=r"scatter_add: index shape \(1, 2\) is larger than the source \(1, 1\)"):
        tt.scatter_add(a, 1, T(np.array([[0, 1]])), T(np.ones((1, 1))))
    with pytest.raises(TypeError, match=r"scatter_add: index must be an int64 tensor"):
        tt.scatter_add(a, 1, T(np.array([[0.0]])), T(np.ones((1, 1))))


# ---- cat and stack -------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data())
def test_cat_matches_concatenate_with_promotion(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    dtypes = data.draw(st.lists(st.sampled_from([np.int64, np.float32, np.float64]), min_size=1, max_size=4))
    parts = []
    for dt in dtypes:
        s = list(shape)
        s[dim] = int(rng.integers(0, 4))
        parts.append(rng.integers(-50, 50, size=s).astype(dt))
    # tinytorch promotes like PyTorch: int64 < float32 < float64 (int64 with float32 gives float32)
    want_dtype = max((np.dtype(dt) for dt in dtypes), key=[np.dtype(np.int64), np.dtype(np.float32),
                                                          np.dtype(np.float64)].index)
    expected = np.concatenate(parts, axis=dim).astype(want_dtype)
    got = tt.cat([transposed_view(p) for p in parts], axis=dim)
    assert got.dtype == want_dtype
    np.testing.assert_array_equal(got.numpy(), expected)


def test_cat_int64_with_float32_gives_float32():
    got = tt.cat([T(np.array([1, 2])), T(np.array([0.5], np.float32))])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), [1.0, 2.0, 0.5])


def test_cat_errors():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\) but tensor 0 has shape \(3, 4\)"):
        tt.cat([T(np.zeros((3, 4))), T(np.zeros((2, 4)))], axis=1)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(3,\)"):
        tt.cat([T(np.zeros((3, 4))), T(np.zeros(3))])
    with pytest.raises(ValueError, match=r"cat: expected a non-empty list"):
        tt.cat([])
    with pytest.raises(ValueError, match=r"cat: zero-dimensional"):
        tt.cat([T(np.float32(1.0))])
    with pytest.raises(IndexError, match=r"cat: axis 2"):
        tt.cat([T(np.zeros((3, 4)))], axis=2)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), data=st.data())
def test_stack_matches_np_stack(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = len(shape)
    dim = data.draw(st.integers(-(n + 1), n))
    parts = [rng.standard_normal(shape).astype(np.float32) for _ in range(data.draw(st.integers(1, 4)))]
    got = tt.stack([transposed_view(p) for p in parts], axis=dim)
    np.testing.assert_array_equal(got.numpy(), np.stack(parts, axis=dim))


def test_stack_errors():
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(3,\) but tensor 0 has shape \(2,\)"):
        tt.stack([T(np.zeros(2)), T(np.zeros(3))])
    with pytest.raises(ValueError, match=r"stack: expected a non-empty list"):
        tt.stack([])
    with pytest.raises(IndexError, match=r"stack: axis 3"):
        tt.stack([T(np.zeros((2, 2)))], axis=3)
    with pytest.raises(IndexError, match=r"stack: axis -4"):
        tt.stack([T(np.zeros((2, 2)))], axis=-4)


# ---- one_hot and nonzero -------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(ishape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), classes=st.integers(1, 7),
       seed=st.integers(0, 2**32 - 1))
def test_one_hot_matches_eye_rows(ishape, classes, seed):
    idx = np.random.default_rng(seed).integers(0, classes, size=ishape)
    got = tt.one_hot(T(idx), classes)
    assert got.dtype == np.float32 and got.shape == ishape + (classes,)
    np.testing.assert_array_equal(got.numpy(), np.eye(classes, dtype=np.float32)[idx])


def test_one_hot_infers_classes_and_rejects_bad_indices():
    idx = np.array([[2, 0], [4, 1]])
    np.testing.assert_array_equal(tt.one_hot(T(idx), -1).numpy(), np.eye(5, dtype=np.float32)[idx])
    np.testing.assert_array_equal(tt.one_hot(T(idx).T, 6).numpy(), np.eye(6, dtype=np.float32)[idx.T])
    with pytest.raises(IndexError, match=r"one_hot: class index 4 is out of range for num_classes=3"):
        tt.one_hot(T(idx), 3)
    with pytest.raises(IndexError, match=r"one_hot: class index -1 is out of range"):
        tt.one_hot(T(np.array([-1, 0])), 3)
    with pytest.raises(TypeError, match=r"one_hot: index must be an int64 tensor"):
        tt.one_hot(T(np.array([1.0], np.float32)), 3)
    with pytest.raises(ValueError, match=r"one_hot: cannot infer the number of classes from an empty index"):
        tt.one_hot(T(np.zeros(0, np.int64)), -1)


def nonzero_fn():
    fn = getattr(tt, "nonzero", None) or getattr(getattr(tt, "_C", None), "nonzero", None)
    if fn is None:
        pytest.fail("tinytorch exposes no nonzero (expected tt.nonzero or tt._C.nonzero)")
    return fn


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
       dtype=st.sampled_from([bool, np.int64, np.float32, np.float64]), seed=st.integers(0, 2**32 - 1),
       contiguous=st.booleans())
def test_nonzero_matches_argwhere(shape, dtype, seed, contiguous):
    a = (np.random.default_rng(seed).integers(0, 3, size=shape) == 0).astype(dtype)
    got = nonzero_fn()(T(a) if contiguous else transposed_view(a))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), np.argwhere(a))
