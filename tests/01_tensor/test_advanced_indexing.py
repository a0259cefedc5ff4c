"""t[key] with integer arrays and boolean masks is computed in C++ (csrc/ops/advanced_index.cpp)
and must match numpy exactly: values, shapes (numpy's placement of the broadcast index dims),
on contiguous and strided tensors, and the gradient (repeated indices accumulate)."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

BASE = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
I = np.array([0, 2, 2])
KEYS = [
    [1, 0], np.array([-1, 0, 1]), (np.array([1, 0, 1]),), (slice(None), I), (slice(None), slice(None), np.array([3, 0])),
    (np.array([[0, 1], [1, 0]]), slice(None), np.array([[0], [3]])),   # broadcast arrays, non-adjacent: B first
    (slice(None), np.array([0, 2]), np.array([1, 3])),                 # adjacent arrays after a slice
    (1, slice(None), np.array([0, 3])),                                # int + array separated by a slice
    (1, np.array([0, 2])), (np.array([1]), 2, slice(1, 3)),
    (Ellipsis, np.array([1, 2])), (None, np.array([1, 0])), (np.array([1, 0]), None, slice(None, None, -1)),
    BASE > 10, (BASE[:, :, 0] > 3,), (slice(None), BASE[0, :, 0] > 3), (1, BASE[0, :, 0] > 1),
    True, False, (True, 0), (np.True_, slice(None), [1]), [], (slice(None), []),
    (np.array([0, 1]), np.array([[0], [2]]), np.array([1, 3])),
]


def ids(key):
    return repr(key).replace("\n", " ")[:50]


@pytest.mark.parametrize("key", KEYS, ids=ids)
@pytest.mark.parametrize("strided", [False, True])
def test_getitem_matches_numpy(key, strided):
    t = tt.Tensor(BASE, dtype=tt.float64)
    if strided:  # a transposed view: positions are logical, not storage order
        t = tt.Tensor(np.ascontiguousarray(BASE.transpose(2, 1, 0)), dtype=tt.float64).permute(2, 1, 0)
        assert not t.is_contiguous()
    expected = BASE[key]
    got = t[key]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("key", KEYS, ids=ids)
def test_index_tensors_work_like_arrays(key):
    def as_tensor(k):
        if isinstance(k, np.ndarray):
            return tt.Tensor(k, dtype=tt.bool if k.dtype == bool else tt.int64)
        return k
    tkey = tuple(as_tensor(k) for k in key) if isinstance(key, tuple) else as_tensor(key)
    np.testing.assert_array_equal(tt.Tensor(BASE)[tkey].numpy(), BASE.astype(np.float32)[key])


def test_gradient_scatters_back_and_repeats_accumulate():
    x = tt.Tensor(BASE, requires_grad=True, dtype=tt.float64)
    y = x[np.array([1, 1, 0]), :, np.array([3, 3, 0])]
    assert type(y.grad_fn).__name__ == "TakeBackward"
    y.sum().backward()
    expected = np.zeros_like(BASE)
    np.add.at(expected, (np.array([1, 1, 0]), slice(None), np.array([3, 3, 0])), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert expected[1, 0, 3] == 2.0  # the repeated index really accumulated


@pytest.mark.parametrize("key,error,match", [
    ((np.array([0, 2]),), IndexError, "index 2 is out of bounds for axis 0 with size 2"),
    ((slice(None), np.array([-4])), IndexError, "index -4 is out of bounds for axis 1 with size 3"),
    ((np.array([0.5]),), IndexError, "only integers, slices"),
    ((0, 0, 0, [0]), IndexError, "too many indices"),
    ((Ellipsis, Ellipsis, [0]), IndexError, "single ellipsis"),
    ((np.array([0, 1]), np.array([0, 1, 2])), ValueError, "broadcast"),
])
def test_bad_keys(key, error, match):
    with pytest.raises(error, match=match):
        tt.Tensor(BASE)[key]


@pytest.mark.parametrize("key", [None, (None, slice(None)), (slice(1, None), None)])
def test_positions_of_a_key_without_index_arrays(key):
    # advanced_positions read items[-1] when the key held no index array (ASan's heap-use-after-free
    # in make sanitize); the positions are then those of the basic key, as numpy's
    t = tt.zeros(2, 3)
    np.testing.assert_array_equal(np.asarray(tt._C._index_positions(t, key)), np.arange(6).reshape(2, 3)[key])
