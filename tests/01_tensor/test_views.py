"""Views never copy: transpose/permute/T/expand/squeeze/unsqueeze/flatten/slicing share storage and match numpy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch import Tensor

pytestmark = pytest.mark.module01


def shares(a, b):
    return np.shares_memory(np.asarray(a), np.asarray(b))


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, max_side=4)))
@settings(max_examples=40, deadline=None)
def test_transpose_without_arguments_swaps_last_two_axes(a):
    t = Tensor(a)
    v = t.transpose()
    np.testing.assert_array_equal(v.data, np.swapaxes(a, -1, -2))
    assert shares(v, t)


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=4)), st.data())
@settings(max_examples=40, deadline=None)
def test_transpose_permute_and_T_match_numpy(a, data):
    t = Tensor(a)
    d0 = data.draw(st.integers(-a.ndim, a.ndim - 1))
    d1 = data.draw(st.integers(-a.ndim, a.ndim - 1))
    np.testing.assert_array_equal(t.transpose(d0, d1).data, np.swapaxes(a, d0, d1))
    perm = data.draw(st.permutations(range(a.ndim)))
    p = t.permute(*perm)
    np.testing.assert_array_equal(p.data, a.transpose(perm))
    np.testing.assert_array_equal(t.permute(perm).data, a.transpose(perm))
    np.testing.assert_array_equal(t.T.data, a.T)
    assert shares(p, t) and shares(t.T, t)
    assert p.is_contiguous() == p.data.flags.c_contiguous or a.size <= 1 or 1 in a.shape


def test_is_contiguous_and_contiguous_copy():
    t = tt.arange(12.0).reshape(3, 4)
    assert t.is_contiguous()
    tv = t.T
    assert not tv.is_contiguous()
    c = tv.contiguous()
    assert c.is_contiguous() and not shares(c, t)
    np.testing.assert_array_equal(c.data, np.arange(12.0).reshape(3, 4).T)
    assert t[:, ::2].is_contiguous() is False
    assert t[1:].is_contiguous() is True


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_expand_matches_broadcast_to_without_copy(data):
    target = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    keep = data.draw(st.integers(0, len(target)))  # source has the last `keep` dims, some set to 1
    src_shape = tuple(d if data.draw(st.booleans()) else 1 for d in target[len(target) - keep:])
    a = np.asarray(np.random.rand(*src_shape), dtype=np.float32)
    t = Tensor(a)
    e = t.expand(*target)
    np.testing.assert_array_equal(e.data, np.broadcast_to(a, target))
    assert shares(e, t)
    np.testing.assert_array_equal(t.broadcast_to(target).data, np.broadcast_to(a, target))


def test_expand_keeps_dims_with_minus_one_and_rejects_bad_sizes():
    t = tt.ones(3, 1)
    assert t.expand(-1, 4).shape == (3, 4)
    assert t.expand(2, 3, 4).shape == (2, 3, 4)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(3, 1\) to \(2, 4\)"):
        t.expand(2, 4)


def test_squeeze_unsqueeze_flatten():
    a = np.arange(6, dtype=np.float32).reshape(1, 2, 1, 3)
    t = Tensor(a)
    assert t.squeeze().shape == (2, 3)
    assert t.squeeze(0).shape == (2, 1, 3)
    assert t.squeeze(1).shape == (1, 2, 1, 3)  # size != 1: unchanged, like PyTorch
    assert t.unsqueeze(0).shape == (1, 1, 2, 1, 3)
    assert t.unsqueeze(-1).shape == (1, 2, 1, 3, 1)
    assert t.flatten().shape == (6,)
    assert t.flatten(1).shape == (1, 6)
    assert t.flatten(1, 2).shape == (1, 2, 3)
    for v in (t.squeeze(), t.unsqueeze(2), t.flatten()):
        assert shares(v, t)
        np.testing.assert_array_equal(np.asarray(v).reshape(-1), a.reshape(-1))
    with pytest.raises(IndexError, match="unsqueeze"):
        t.unsqueeze(6)


def test_writes_through_views_are_seen_by_the_base():
    t = tt.zeros(3, 4)
    t.T[1, 2] = 5.0  # element (2, 1) of t
    t[:, ::2].fill_(1.0)
    expected = np.zeros((3, 4), np.float32)
    expected[2, 1] = 5.0
    expected[:, ::2] = 1.0
    np.testing.assert_array_equal(t.data, expected)


def test_view_bad_axes_messages():
    t = tt.zeros(2, 3)
    with pytest.raises(IndexError, match="transpose: axis 2 is out of range for a 2-D tensor"):
        t.transpose(0, 2)
    with pytest.raises(ValueError, match="permute: got 3 dims for a 2-D tensor"):
        t.permute(0, 1, 2)
    with pytest.raises(ValueError, match="appears twice"):
        t.permute(0, 0)
    with pytest.raises(IndexError, match="sum: axis 5 is out of range"):
        t.sum(5)
