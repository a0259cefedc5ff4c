"""Elementwise ops on arrays large enough to be split across tinytorch's
threads (ops/parallel.h): the same values as numpy, and as one thread,
including sizes that are not a multiple of the chunk or of the SIMD width."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

SIZES = [300_001, 1 << 20]


@pytest.fixture
def two_threads():
    before = tt.get_num_threads()
    tt.set_num_threads(2)
    yield
    tt.set_num_threads(before)


@pytest.mark.parametrize("n", SIZES)
def test_binary_ops_match_numpy(n, two_threads):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    ta, tb = tt.Tensor(a), tt.Tensor(b)
    np.testing.assert_array_equal(np.asarray(ta + tb), a + b)
    np.testing.assert_array_equal(np.asarray(ta * 3.0), a * np.float32(3.0))
    np.testing.assert_array_equal(np.asarray(2.0 - ta), np.float32(2.0) - a)
    np.testing.assert_array_equal(np.asarray(tt.maximum(ta, tb)), np.maximum(a, b))


@pytest.mark.parametrize("n", SIZES)
def test_transcendental_ops_match_numpy_and_one_thread(n, two_threads):
    x = np.random.default_rng(0).uniform(-3, 3, n).astype(np.float32)
    t = tt.Tensor(x)
    two = {name: np.asarray(getattr(tt, name)(t)) for name in ("exp", "tanh", "sigmoid")}
    np.testing.assert_allclose(two["exp"], np.exp(x), rtol=2e-6)
    np.testing.assert_allclose(two["tanh"], np.tanh(x), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(two["sigmoid"], 1 / (1 + np.exp(-x.astype(np.float64))), rtol=2e-6)
    tt.set_num_threads(1)
    for name, values in two.items():  # chunking must not change a single value
        np.testing.assert_array_equal(np.asarray(getattr(tt, name)(t)), values)
