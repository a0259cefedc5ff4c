"""t[key] = v with integer arrays and boolean masks, outside a graph, is one C++ path
(ops::advanced_positions, then ops::put_): it must do exactly what numpy's assignment does, on
contiguous and strided tensors, with broadcast values, repeated positions (the last write
wins), value dtypes cast into the tensor's, and it must bump the version counter so a graph
that saved the tensor notices."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

BASE = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
KEYS = [
    [1, 0], np.array([-1, 0]), (slice(None), np.array([0, 2])), (slice(None), slice(None), np.array([3, 0])),
    (np.array([[0, 1], [1, 0]]), slice(None), np.array([[0], [3]])),
    (1, slice(None), np.array([0, 3])), (Ellipsis, np.array([1, 2])), (None, np.array([1, 0])),
    BASE > 10, (BASE[:, :, 0] > 3,), (slice(None), BASE[0, :, 0] > 3), True, np.True_,
]


def numpy_assigned(base, key, value):
    out = base.copy()
    out[key] = value
    return out


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_assignment_matches_numpy_with_arrays_and_scalars(key):
    selected_shape = BASE[key].shape
    values = np.arange(np.prod(selected_shape), dtype=np.float64).reshape(selected_shape) * -1.5 - 1
    for value in (values, 7.25):
        t = tt.Tensor(BASE.copy(), dtype=np.float64)
        t[key] = value
        np.testing.assert_array_equal(np.asarray(t), numpy_assigned(BASE, key, value))


@pytest.mark.parametrize("key", KEYS[:8], ids=range(8))
def test_assignment_into_a_strided_view_writes_through_to_its_base(key):
    base = tt.Tensor(np.arange(4 * 3 * 2, dtype=np.float64).reshape(4, 3, 2), dtype=np.float64)
    view = base.permute(2, 1, 0)  # (2, 3, 4), not contiguous
    expected_view = numpy_assigned(np.asarray(view), key, -3.0)
    view[key] = -3.0
    np.testing.assert_array_equal(np.asarray(view), expected_view)
    np.testing.assert_array_equal(np.asarray(base), expected_view.transpose(2, 1, 0))


def test_a_value_broadcasts_over_the_selection():
    t = tt.Tensor(np.zeros((3, 4)), dtype=np.float64)
    t[np.array([0, 2])] = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(t), [[1, 2, 3, 4], [0, 0, 0, 0], [1, 2, 3, 4]])


def test_repeated_positions_take_the_last_value_as_numpy_does():
    t = tt.Tensor(np.zeros(4), dtype=np.float64)
    t[np.array([1, 3, 1])] = np.array([5.0, 6.0, 7.0])
    np.testing.assert_array_equal(np.asarray(t), [0, 7, 0, 6])


def test_values_are_cast_into_the_tensor_dtype():
    t = tt.Tensor(np.zeros(4, dtype=np.int64), dtype=np.int64)
    t[np.array([0, 2])] = np.array([3, -4])
    np.testing.assert_array_equal(np.asarray(t), [3, 0, -4, 0])
    assert t.dtype == np.int64
    f = tt.Tensor(np.zeros(3, dtype=np.float32))
    f[np.array([True, False, True])] = np.array([0.1, 0.2], dtype=np.float64)
    np.testing.assert_array_equal(np.asarray(f), np.array([0.1, 0, 0.2], dtype=np.float32))


def test_a_tensor_value_and_a_tensor_key_work():
    t = tt.Tensor(np.zeros((2, 3)), dtype=np.float64)
    t[tt.Tensor(np.array([1]), dtype=np.int64)] = tt.Tensor(np.array([1.0, 2.0, 3.0]), dtype=np.float64)
    np.testing.assert_array_equal(np.asarray(t), [[0, 0, 0], [1, 2, 3]])


def test_a_value_of_the_wrong_shape_is_refused_and_nothing_is_written():
    t = tt.Tensor(np.zeros(4), dtype=np.float64)
    with pytest.raises(ValueError, match=r"^__setitem__: a value of shape \(3,\) cannot be assigned to a selection "
                                         r"of shape \(2,\)"):
        t[np.array([0, 1])] = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^__setitem__: .* shape \(2, 2\) .* shape \(2,\)"):
        t[np.array([0, 1])] = np.ones((2, 2))  # numpy refuses a value with more dimensions too
    np.testing.assert_array_equal(np.asarray(t), np.zeros(4))


def test_an_out_of_range_index_is_refused_and_nothing_is_written():
    t = tt.Tensor(np.zeros(4), dtype=np.float64)
    with pytest.raises(IndexError, match="out of bounds|out of range"):
        t[np.array([0, 9])] = 1.0
    np.testing.assert_array_equal(np.asarray(t), np.zeros(4))


def test_assignment_bumps_the_version_so_a_saved_tensor_is_checked():
    x = tt.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()  # MulBackward saved h
    with tt.no_grad():
        h[np.array([0, 2])] = 0.0
    with pytest.raises(RuntimeError, match="modified|version|in-place|in place"):
        y.backward()
