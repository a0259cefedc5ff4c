"""float(t), int(t), operator.index(t), bool(t) follow PyTorch; == / != with foreign objects fall back."""
import operator

import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01


def test_float_and_int_of_one_element_tensors():
    assert float(tt.Tensor([2.5])) == 2.5
    assert int(tt.Tensor([2.5])) == 2
    assert int(tt.Tensor([[-2.5]])) == -2
    assert int(tt.Tensor(np.array([7]))) == 7
    assert float(tt.Tensor(np.array(7))) == 7.0
    assert isinstance(int(tt.Tensor(np.array([2**62 + 1]))), int)
    assert int(tt.Tensor(np.array([2**62 + 1]))) == 2**62 + 1  # exact, not through a double


def test_multi_element_conversions_raise():
    with pytest.raises(ValueError, match=r"float\(\): only one-element tensors .* shape \(2,\)"):
        float(tt.ones(2))
    with pytest.raises(ValueError, match=r"int\(\): only one-element"):
        int(tt.ones(2, 2))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tt.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        int(tt.Tensor([float("nan")]))


def test_index_only_for_integer_tensors():
    i = tt.Tensor(np.array([0, 1, 2]))
    assert operator.index(i[1]) == 1
    assert [10, 11, 12][i[2]] == 12
    assert list(range(5))[i[0]:i[2]] == [0, 1]
    with pytest.raises(TypeError, match="only integer tensors of a single element .* float32"):
        operator.index(tt.Tensor(1.0))
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        operator.index(i)


def test_bool_of_one_element():
    assert bool(tt.Tensor([0.0])) is False
    assert bool(tt.Tensor([3.0])) is True


def test_eq_ne_with_unsupported_objects():
    t = tt.ones(3)
    assert (t == None) is False  # noqa: E711
    assert (t != None) is True  # noqa: E711
    assert (t == "a") is False
    assert (t != "a") is True
    assert t not in [None, "x"]
    np.testing.assert_array_equal((t == 1.0).numpy(), [True, True, True])
    with pytest.raises(TypeError, match="unsupported operand type"):
        t < None  # noqa: B015
