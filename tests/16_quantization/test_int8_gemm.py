"""Module 16: the C++ int8 x int8 -> int32 GEMM equals numpy's int32 matmul exactly, on every kernel path."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinytorch import _C

pytestmark = pytest.mark.module16

PATHS = _C.int8_gemm_paths()


def numpy_int32(a, b):
    return a.astype(np.int32) @ b.astype(np.int32)


def test_paths_end_with_the_portable_scalar_kernel():
    assert PATHS[-1] == "scalar" and len(set(PATHS)) == len(PATHS)


def test_fixed_product_by_hand():
    a = np.array([[1, -2, 3], [-128, 127, 0]], dtype=np.int8)
    b = np.array([[1, 0], [2, -1], [-3, 5]], dtype=np.int8)
    # row 0: [1 - 4 - 9, 0 + 2 + 15] ; row 1: [-128 + 254, -127]
    for path in PATHS:
        np.testing.assert_array_equal(_C.int8_matmul(a, b, path), [[-12, 17], [126, -127]])


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 4, 16), (3, 5, 7), (8, 64, 32), (9, 65, 33), (17, 3, 47),
                                   (2, 130, 200), (33, 257, 15), (64, 64, 64), (7, 1000, 17)])
@pytest.mark.parametrize("path", PATHS)
def test_random_shapes_with_edge_tiles_equal_numpy(m, k, n, path):
    rng = np.random.default_rng(m * 10007 + k * 101 + n)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    c = _C.int8_matmul(a, b, path)
    assert c.dtype == np.int32 and c.shape == (m, n)
    np.testing.assert_array_equal(c, numpy_int32(a, b))


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 90), n=st.integers(1, 70), seed=st.integers(0, 2**31))
def test_hypothesis_shapes_all_paths_identical(m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    ref = numpy_int32(a, b)
    packed = _C.PackedInt8Matrix(b)
    for path in PATHS:
        np.testing.assert_array_equal(_C.int8_matmul(a, packed, path), ref)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("av,bv", [(-128, -128), (-128, 127), (127, 127), (127, -128)])
def test_extreme_values(path, av, bv):
    a = np.full((9, 37), av, dtype=np.int8)
    b = np.full((37, 18), bv, dtype=np.int8)
    np.testing.assert_array_equal(_C.int8_matmul(a, b, path), np.full((9, 18), 37 * av * bv, dtype=np.int32))


@pytest.mark.parametrize("path", PATHS)
def test_overflow_wraps_modulo_2_32_like_numpy(path):
    k = 140_000  # 140000 * 16384 > 2**31: the int32 sum wraps, in numpy as here
    a = np.full((2, k), -128, dtype=np.int8)
    b = np.full((k, 3), -128, dtype=np.int8)
    expected = numpy_int32(a, b)
    assert expected[0, 0] == np.int32(np.int64(k * 16384) - 2**32)
    np.testing.assert_array_equal(_C.int8_matmul(a, b, path), expected)


@pytest.mark.parametrize("m,k,n", [(0, 4, 5), (3, 0, 5), (3, 4, 0)])
def test_empty_dimensions(m, k, n):
    a = np.zeros((m, k), dtype=np.int8)
    b = np.ones((k, n), dtype=np.int8)
    for path in PATHS:
        c = _C.int8_matmul(a, b, path)
        assert c.shape == (m, n)
        np.testing.assert_array_equal(c, np.zeros((m, n), dtype=np.int32))


def test_non_contiguous_operands_are_read_correctly():
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (20, 30), dtype=np.int8)[::2, 1::3]  # (10, 10) strided view
    b = rng.integers(-128, 128, (30, 10), dtype=np.int8).T[:, :10]    # (10, 10) transposed view
    np.testing.assert_array_equal(_C.int8_matmul(a, b), numpy_int32(a, b))


def test_packed_matrix_round_trips_and_reports_its_bytes():
    rng = np.random.default_rng(4)
    b = rng.integers(-128, 128, (37, 21), dtype=np.int8)
    p = _C.PackedInt8Matrix(b)
    assert p.shape == (37, 21)
    np.testing.assert_array_equal(p.numpy(), b)
    np.testing.assert_array_equal(p.column_sums(), b.astype(np.int32).sum(0))
    # padded to 40 k (groups of 4) x 32 columns (panels of 16), plus 32 int32 column sums
    assert p.nbytes == 40 * 32 + 32 * 4
    import pickle
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(p)).numpy(), b)


def test_errors_name_the_function_and_do_not_crash():
    a = np.zeros((2, 3), dtype=np.int8)
    with pytest.raises(TypeError, match="int8_matmul: a must have dtype int8, got float64"):
        _C.int8_matmul(np.zeros((2, 3)), a.T.copy())
    with pytest.raises(TypeError, match="int8_matmul: a must be a numpy int8 array, got list"):
        _C.int8_matmul([[1, 2]], a)
    with pytest.raises(ValueError, match=r"int8_matmul: a is \(2, 3\) but b is \(2, 3\)"):
        _C.int8_matmul(a, a)
    with pytest.raises(ValueError, match="must be a 2-D matrix, got 1-D"):
        _C.int8_matmul(np.zeros(3, dtype=np.int8), a.T.copy())
    with pytest.raises(ValueError, match="int8_matmul: unknown or not compiled kernel path 'gpu'"):
        _C.int8_matmul(a, a.T.copy(), "gpu")
    with pytest.raises(TypeError, match="PackedInt8Matrix: the weight must have dtype int8, got int32"):
        _C.PackedInt8Matrix(np.zeros((2, 2), dtype=np.int32))
