"""Module 07: tinytorch.manual_seed accepts what torch.manual_seed accepts and
refuses, with a clear message, what it would otherwise truncate or garble."""
import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip

pytestmark = pytest.mark.module07


def draws(seed):
    tt.manual_seed(seed)
    return np.asarray(tt.rand(5, dtype=np.float64))


@pytest.mark.parametrize("negative", [-1, -2**63, -12345])
def test_negative_seeds_wrap_modulo_2_64_like_torch(negative):
    torch = torch_or_skip()
    wrapped = torch.manual_seed(negative).initial_seed()  # torch's own mapping
    assert wrapped == negative % 2**64
    np.testing.assert_array_equal(draws(negative), draws(wrapped))
    assert not np.array_equal(draws(negative), draws(0))


def test_integer_kinds_and_the_full_unsigned_range():
    np.testing.assert_array_equal(draws(np.int64(7)), draws(7))
    np.testing.assert_array_equal(draws(np.uint64(2**64 - 1)), draws(2**64 - 1))


@pytest.mark.parametrize("seed", [1.5, 2.0, "42", None, True])
def test_non_integers_raise_type_error(seed):
    with pytest.raises(TypeError, match=r"manual_seed: the seed must be an integer, got"):
        tt.manual_seed(seed)


@pytest.mark.parametrize("seed", [2**64, -2**63 - 1, 10**30])
def test_out_of_range_raises_value_error(seed):
    with pytest.raises(ValueError, match=rf"manual_seed: the seed {seed} is out of range; use an integer in "
                                         r"\[-2\*\*63, 2\*\*64\)"):
        tt.manual_seed(seed)
