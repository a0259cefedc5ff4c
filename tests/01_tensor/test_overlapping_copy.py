"""Writing a tensor from an overlapping view of itself gives numpy's result (read before write)."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01


def expected_transpose():
    return np.arange(9.0).reshape(3, 3).T.copy()


def test_setitem_from_own_transpose():
    t = tt.arange(9.0).reshape(3, 3)
    t[...] = t.T
    np.testing.assert_array_equal(t.numpy(), expected_transpose())


def test_copy_from_own_transpose():
    t = tt.arange(9.0).reshape(3, 3)
    t.copy_(t.T)
    np.testing.assert_array_equal(t.numpy(), expected_transpose())


def test_add_inplace_from_own_transpose():
    t = tt.arange(9.0).reshape(3, 3)
    t.add_(t.T)
    a = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(t.numpy(), a + a.T)


def test_shifted_and_reversed_overlaps():
    t = tt.arange(6.0)
    t[1:] = t[:-1]
    np.testing.assert_array_equal(t.numpy(), [0, 0, 1, 2, 3, 4])
    t = tt.arange(6.0)
    t[...] = t[::-1]
    np.testing.assert_array_equal(t.numpy(), [5, 4, 3, 2, 1, 0])
    t = tt.arange(8.0)
    t[::2] = t[1::2]  # interleaved, non-overlapping elements: still exact
    np.testing.assert_array_equal(t.numpy(), [1, 1, 3, 3, 5, 5, 7, 7])

