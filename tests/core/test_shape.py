"""The pure shape/stride helpers of csrc/core/shape.h, tested directly against numpy's rules."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch._C import _shape as S

pytestmark = pytest.mark.core


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=5))
@settings(max_examples=60, deadline=None)
def test_broadcast_shapes_matches_numpy(shapes):
    a, b = shapes.input_shapes
    assert tuple(S.broadcast_shapes(list(a), list(b))) == np.broadcast_shapes(a, b)


def test_broadcast_shapes_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        S.broadcast_shapes([2, 3], [4])


@given(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5))
@settings(max_examples=60, deadline=None)
def test_contiguous_strides_match_numpy(shape):
    arr = np.empty(shape, dtype=np.float32)
    expected = [s // 4 for s in arr.strides] if arr.size else S.contiguous_strides(list(shape))
    assert S.contiguous_strides(list(shape)) == expected
    assert S.is_contiguous(list(shape), S.contiguous_strides(list(shape)))


def test_is_contiguous_detects_transpose_and_ignores_unit_dims():
    assert not S.is_contiguous([3, 4], [1, 3])
    assert S.is_contiguous([1, 4], [99, 1])  # size-1 dims may have any stride
    assert S.is_contiguous([3, 1, 4], [4, 7, 1])


def test_normalize_dim():
    assert S.normalize_dim(-1, 3) == 2
    assert S.normalize_dim(0, 0) == 0  # a 0-d tensor accepts axis 0 / -1, like numpy
    with pytest.raises(IndexError, match="axis 3 is out of range for a 3-D tensor"):
        S.normalize_dim(3, 3)
    with pytest.raises(IndexError, match="out of range"):
        S.normalize_dim(-4, 3)


def test_broadcast_strides_zero_for_expanded_dims():
    assert S.broadcast_strides([3, 1], [1, 1], [2, 3, 4]) == [0, 1, 0]


def test_infer_reshape():
    assert S.infer_reshape([-1, 4], 12) == [3, 4]
    assert S.infer_reshape([2, 3, 2], 12) == [2, 3, 2]
    with pytest.raises(ValueError, match="only one dimension can be -1"):
        S.infer_reshape([-1, -1], 12)
    with pytest.raises(ValueError, match="cannot reshape"):
        S.infer_reshape([5, -1], 12)
    with pytest.raises(ValueError, match="cannot reshape"):
        S.infer_reshape([5, 2], 12)


@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), st.data())
@settings(max_examples=60, deadline=None)
def test_view_strides_agree_with_numpy_nocopy_reshape(shape, data):
    """Where numpy can reshape a transposed array without copying, view_strides must find the same strides."""
    base = np.empty(shape, dtype=np.float32)
    perm = data.draw(st.permutations(range(len(shape))))
    arr = base.transpose(perm)
    n = arr.size
    new_shape = data.draw(st.sampled_from([[n], [1, n], [n, 1]] + ([[2, n // 2]] if n % 2 == 0 else [])))
    strides = [s // 4 for s in arr.strides]
    got = S.view_strides(list(arr.shape), strides, new_shape)
    try:
        view = arr.view()
        view.shape = new_shape  # raises if numpy would need a copy
        expected = [s // 4 for s in view.strides]
    except AttributeError:
        expected = None
    if expected is None:
        assert got is None
    else:
        assert got is not None
        # strides of size-1 dims are irrelevant
        assert [g for g, d in zip(got, new_shape) if d != 1] == [e for e, d in zip(expected, new_shape) if d != 1]


def test_normalize_axes_sorts_and_rejects_repeats():
    assert S.normalize_axes([-1, 0], 3) == [0, 2]
    assert S.normalize_axes([], 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="repeated"):
        S.normalize_axes([1, -2], 3)
