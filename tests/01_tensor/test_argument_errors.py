"""Bad arguments raise TypeError/IndexError/ValueError/OverflowError with clear messages
(not pybind11's RuntimeError "Unable to cast"), and good ones work like numpy."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01


def test_bool_index_adds_an_axis_like_numpy():
    a = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    t = tt.Tensor(a)
    assert t[True].shape == a[True].shape == (1, 3, 3)
    assert t[False].shape == a[False].shape == (0, 3, 3)
    np.testing.assert_array_equal(t[True].numpy(), a[True])
    np.testing.assert_array_equal(t[np.True_].numpy(), a[np.True_])
    s = tt.Tensor(5.0)
    assert s[True].shape == (1,) and s[False].shape == (0,)


def test_gelu_method_validates_like_the_function():
    x = tt.ones(2)
    for bad in ("exact", "erf", ""):
        with pytest.raises(ValueError, match=f"gelu: approximate must be 'tanh' or 'none', got '{bad}'"):
            x.gelu(bad)
    np.testing.assert_allclose(x.gelu("none").numpy(), tt.gelu(x, approximate="none").numpy())


def test_axis_arguments():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = tt.Tensor(a)
    np.testing.assert_array_equal(t.sum(axis=np.int64(0)).numpy(), a.sum(axis=0))
    np.testing.assert_array_equal(t.sum(axis=(np.int64(0), 1)).numpy(), a.sum())
    assert t.argmax(axis=np.int64(1)).tolist() == [2, 2]
    with pytest.raises(TypeError, match=r"argmax: axis must be a single int or None, got \(0, 1\)"):
        t.argmax(axis=(0, 1))
    with pytest.raises(TypeError, match="sum: axis must be None, an int or a tuple of ints, got str '0'"):
        t.sum(axis="0")
    with pytest.raises(TypeError, match="mean: axis must be an integer, got float"):
        t.mean(axis=(0.5,))


def test_shape_arguments():
    with pytest.raises(TypeError, match="zeros: the shape must be ints or a tuple/list of ints, got str 'a'"):
        tt.zeros("a")
    with pytest.raises(TypeError, match="reshape: the shape must be ints .* got str 'a'"):
        tt.ones(4).reshape("a")
    with pytest.raises(TypeError, match="ones: a dimension must be an integer, got float 2.5"):
        tt.ones(2.5, 2)
    with pytest.raises(ValueError, match="too large"):
        tt.zeros(2**70)
    assert tt.zeros(np.int64(2), np.int64(3)).shape == (2, 3)
    assert tt.full((np.int64(2),), 1.0).shape == (2,)


def test_integer_and_slice_indices():
    t = tt.arange(5.0)
    with pytest.raises(IndexError, match="index 18446744073709551616 is out of bounds"):
        t[2**64]
    with pytest.raises(IndexError, match="out of bounds"):
        t[-(2**70)]
    a = np.arange(5.0)
    for key in (slice(-10, 2**70), slice(-(2**70), 3), slice(2**70, None, -1), slice(None, -(2**70), -2)):
        np.testing.assert_array_equal(t[key].numpy(), a[key])
    with pytest.raises(TypeError, match="slice indices must be integers or None, got float"):
        t[0.5:2]


def test_randint_signatures():
    tt.manual_seed(0)
    r = tt.randint(10, (3,))  # PyTorch: randint(high, size)
    assert r.shape == (3,) and r.dtype == np.int64 and all(0 <= v < 10 for v in r.tolist())
    r = tt.randint(5, 7, (4, 2))  # PyTorch / numpy: randint(low, high, size)
    assert r.shape == (4, 2) and all(5 <= v < 7 for v in r.numpy().ravel())
    r = tt.randint(3, size=5)  # numpy keywords
    assert r.shape == (5,) and all(0 <= v < 3 for v in r.tolist())
    with pytest.raises(TypeError, match="randint: high must be an integer"):
        tt.randint(0, "9", (2,))


@pytest.mark.parametrize("data, name", [(None, "NoneType"), (["1", "2"], "str_"), ([1 + 2j], "complex128"),
                                        ("abc", "str_"), ([1, None], "NoneType"), (object(), "object")])
def test_unsupported_data_is_refused(data, name):
    with pytest.raises(TypeError, match=f"Tensor: cannot make a tensor from {name} data"):
        tt.Tensor(data)


def test_big_python_ints_become_floats_by_default():
    assert tt.Tensor([2**70]).item() == float(2**70)
    with pytest.raises(OverflowError):
        tt.Tensor([2**70], dtype=np.int64)


def test_integer_overflow_raises_instead_of_wrapping():
    i = tt.Tensor(np.arange(3))
    with pytest.raises(OverflowError, match="Python int 9223372036854775808 is out of bounds for an int64 tensor"):
        i + 2**63
    with pytest.raises(OverflowError, match="out of bounds for an int64 tensor"):
        i[0] = 2**70
    with pytest.raises(OverflowError, match="uint64 value 18446744073709551615 does not fit in int64"):
        i + np.array([2**64 - 1], dtype=np.uint64)
    assert (i + (2**62 + 1)).tolist() == [2**62 + 1, 2**62 + 2, 2**62 + 3]  # exact, not via a double
    # float tensors take big integers as floats
    np.testing.assert_array_equal((tt.zeros(3) + np.uint64(2**64 - 1)).numpy(), np.float32(2.0**64))
    np.testing.assert_array_equal((tt.zeros(2) + 2**63).numpy(), np.float32(2.0**63))


def test_repr_of_empty_shows_the_shape():
    assert repr(tt.zeros(0, 3)) == "Tensor([], shape=(0, 3))"
    assert repr(tt.zeros(2, 0, dtype=np.int64)) == "Tensor([], shape=(2, 0), dtype=int64)"


def test_arange_integer_arguments_give_int64():
    assert tt.arange(3).dtype == np.int64
    assert tt.arange(np.int64(3)).dtype == np.int64
    assert tt.arange(np.int32(1), 4).tolist() == [1, 2, 3]
    assert tt.arange(3.0).dtype == np.float32
    assert tt.arange(np.float64(3)).dtype == np.float32
