"""numpy functions on tensors (np.sum(t), np.std(t), ...) call our methods with numpy's keywords."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01

A = np.arange(12.0, dtype=np.float32).reshape(3, 4) - 5.0


@pytest.mark.parametrize("fn", [np.sum, np.mean, np.max, np.min, np.std, np.var, np.prod, np.argmax, np.argmin])
def test_reductions_match_numpy(fn):
    t = tt.Tensor(A)
    np.testing.assert_allclose(np.asarray(fn(t)), fn(A), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fn(t, axis=0)), fn(A, axis=0), rtol=1e-6)


def test_keepdims_ddof_and_dtype_keywords():
    t = tt.Tensor(A)
    np.testing.assert_allclose(np.asarray(np.sum(t, axis=1, keepdims=True)), A.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(np.std(t, ddof=1)), A.std(ddof=1), rtol=1e-6)
    s = np.sum(t, dtype=np.float64)
    assert s.dtype == np.float64 and s.item() == A.astype(np.float64).sum()


def test_out_must_be_none():
    t = tt.Tensor(A)
    with pytest.raises(TypeError, match="sum: out= is not supported"):
        np.sum(t, out=np.zeros(()))
    with pytest.raises(TypeError, match="out= is not supported"):
        t.mean(out=tt.zeros(1))
    with pytest.raises(TypeError, match="argmax: out= is not supported"):
        t.argmax(out=tt.zeros(1))


def test_any_all_transpose_clip_reshape():
    t = tt.Tensor(A)
    assert np.any(t) is np.True_ or np.any(t) is True
    np.testing.assert_array_equal(np.asarray(np.all(t > -10, axis=0)), [True] * 4)
    np.testing.assert_array_equal(np.asarray(np.transpose(tt.arange(3.0))), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(tt.arange(3.0).transpose().numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(np.transpose(t)), A.T)
    np.testing.assert_array_equal(np.asarray(np.clip(t, -1, 1)), np.clip(A, -1, 1))
    np.testing.assert_array_equal(np.asarray(np.reshape(t, (4, 3))), A.reshape(4, 3))
    with pytest.raises(TypeError, match="order='F'"):
        t.reshape(4, 3, order="F")
