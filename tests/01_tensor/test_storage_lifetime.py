"""Storage is 64-byte aligned, and numpy/memoryview/DLPack views keep it alive after the tensor is gone."""
import gc

import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01


@pytest.mark.parametrize("n", [1, 3, 7, 16, 100, 1000, 4097, 1 << 20])
def test_storage_is_64_byte_aligned(n):
    for t in (tt.zeros(n), tt.empty(n, dtype=np.float64), tt.ones(n, dtype=np.int64), tt.arange(n), tt.rand(n)):
        assert t.data.ctypes.data % 64 == 0, (n, t.dtype)
        assert t.data_ptr() % 64 == 0


def _fresh(n):
    return tt.arange(float(n)) * 2


def test_numpy_data_outlives_the_tensor():
    a = _fresh(1000).data
    gc.collect()
    _ = [tt.ones(1000) * 5 for _ in range(20)]  # reuse of freed blocks would overwrite
    np.testing.assert_array_equal(a, np.arange(1000.0) * 2)


def test_memoryview_outlives_the_tensor():
    m = memoryview(_fresh(500))
    gc.collect()
    _ = [tt.ones(500) * 5 for _ in range(20)]
    np.testing.assert_array_equal(np.asarray(m), np.arange(500.0) * 2)


def test_dlpack_array_outlives_the_tensor():
    a = np.from_dlpack(_fresh(300))
    gc.collect()
    _ = [tt.ones(300) * 5 for _ in range(20)]
    np.testing.assert_array_equal(a, np.arange(300.0) * 2)
