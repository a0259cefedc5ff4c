"""tt.matmul against numpy: 1-D/2-D/N-D operands, broadcast batch dims,
transposed / sliced / expanded (non-contiguous) operands, dtypes, errors.

float32 results are compared with a tolerance relative to the magnitude of
the terms summed (|a| @ |b|), since BLAS sums in a different order than numpy.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import hypothesis.extra.numpy as hnp

import tinytorch as tt

pytestmark = pytest.mark.module01

def T(x):
    """A tt.Tensor keeping x's dtype (float64 data must stay float64 here)."""
    x = np.asarray(x)
    return tt.Tensor(x, dtype=x.dtype)


TOL = {np.float32: 1e-4, np.float64: 1e-10}


def reference(a, b):
    """numpy matmul in float64 (exact for our small ints) and the magnitude |a| @ |b|."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.matmul(a64, b64), np.matmul(np.abs(a64), np.abs(b64))


def check(result, a, b):
    expected, magnitude = reference(a, b)
    out_dtype = np.result_type(a.dtype, b.dtype)
    assert result.dtype == out_dtype
    got = result.numpy()
    assert got.shape == expected.shape
    if out_dtype == np.int64:
        np.testing.assert_array_equal(got, np.matmul(a, b))
    else:
        tol = TOL[out_dtype.type]
        err = np.abs(got.astype(np.float64) - expected)
        assert np.all(err <= tol * magnitude + 1e-30), f"max error {err.max()} for {a.shape} @ {b.shape}"


def make(rng, shape, dtype):
    if np.dtype(dtype) == np.int64:
        return rng.integers(-5, 6, size=shape).astype(np.int64)
    return rng.standard_normal(shape).astype(dtype)


def as_layout(x, layout):
    """A tt.Tensor equal to x, stored with the given layout (a view, not a copy)."""
    if layout == "transposed" and x.ndim >= 2:
        t = T(np.ascontiguousarray(np.swapaxes(x, -1, -2)))
        return t.transpose(-1, -2)
    if layout == "stepped":
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        wide[..., ::2] = x
        return T(wide)[..., ::2]
    if layout == "expanded" and x.ndim >= 3:
        # leading batch dim shared (stride 0): only valid when all batch slices are equal
        return T(np.ascontiguousarray(x[:1])).expand(*x.shape)
    return T(x)


LAYOUTS = ["contiguous", "transposed", "stepped", "expanded"]


@settings(max_examples=50, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, min_side=1, max_side=5),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
    layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)),
    seed=st.integers(0, 2**32 - 1),
)
def test_matmul_matches_numpy_on_random_shapes_and_layouts(shapes, dtype, layouts, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a, b = make(rng, sa, dtype), make(rng, sb, dtype)
    # An expanded operand repeats its first batch slice: make the data agree.
    if layouts[0] == "expanded" and a.ndim >= 3:
        a[:] = a[:1]
    if layouts[1] == "expanded" and b.ndim >= 3:
        b[:] = b[:1]
    ta, tb = as_layout(a, layouts[0]), as_layout(b, layouts[1])
    check(tt.matmul(ta, tb), a, b)
    check(ta @ tb, a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_all_four_transpose_combinations(dtype, trans_a, trans_b):
    rng = np.random.default_rng(0)
    m, k, n = 37, 129, 21  # big enough for BLAS to block, odd so ld mistakes show
    a = make(rng, (k, m) if trans_a else (m, k), dtype)
    b = make(rng, (n, k) if trans_b else (k, n), dtype)
    ta, tb = T(a), T(b)
    if trans_a:
        ta, a = ta.T, a.T
    if trans_b:
        tb, b = tb.transpose(), b.T
    assert not (trans_a and ta.is_contiguous())
    check(ta @ tb, a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_transposes_via_permute(dtype):
    rng = np.random.default_rng(1)
    q = make(rng, (2, 3, 5, 8), dtype)  # (B, H, T, D)
    k = make(rng, (2, 5, 3, 8), dtype)  # (B, T, H, D) -> permute to (B, H, D, T)
    tq, tk = T(q), T(k).permute(0, 2, 3, 1)
    check(tq @ tk, q, k.transpose(0, 2, 3, 1))
    # both operands permuted, the left one into a layout with unit row stride
    tq2 = T(np.ascontiguousarray(q.transpose(0, 1, 3, 2))).permute(0, 1, 3, 2)
    check(tq2 @ tk, q, k.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_folded_batch_x_at_weight(dtype):
    """x (B, T, D) @ W (D, N) -- the Linear layer case -- with W plain, transposed, and x permuted."""
    rng = np.random.default_rng(2)
    x = make(rng, (4, 7, 16), dtype)
    w = make(rng, (16, 9), dtype)
    check(T(x) @ T(w), x, w)
    check(T(x) @ T(np.ascontiguousarray(w.T)).T, x, w)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, D) memory, viewed as (B, T, D)
    check(T(xt).permute(1, 0, 2) @ T(w), x, w)
    # batch dims of size 1 and a 3-D weight with a size-1 batch
    check(T(x[:, :1]) @ T(w[None]), x[:, :1], w[None])
    check(T(x[None]) @ T(w), x[None], w)


def test_weight_shared_over_batch_by_expand():
    rng = np.random.default_rng(3)
    a = make(rng, (6, 12), np.float32)
    w = make(rng, (12, 5), np.float32)
    tw = T(w).expand(64, 12, 5)
    check(T(a) @ tw, a, np.broadcast_to(w, (64, 12, 5)))
    check(T(np.broadcast_to(a, (64, 6, 12)).copy()) @ tw, np.broadcast_to(a, (64, 6, 12)), w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sliced_inputs_with_steps_and_offsets(dtype):
    rng = np.random.default_rng(4)
    big_a = make(rng, (9, 20), dtype)
    big_b = make(rng, (21, 12), dtype)
    a, b = big_a[1::2, 2:16:3], big_b[3:8, ::2]  # (4, 5) @ (5, 6)
    check(T(big_a)[1::2, 2:16:3] @ T(big_b)[3:8, ::2], a, b)
    check(T(big_a)[1::2, 2:16:3].T.T @ T(big_b)[3:8, 1::2], a, big_b[3:8, 1::2])


def test_negative_strides():
    rng = np.random.default_rng(5)
    a = make(rng, (4, 6), np.float32)
    b = make(rng, (6, 3), np.float32)
    check(T(a)[::-1] @ T(b)[:, ::-1], a[::-1], b[:, ::-1])
    check(T(a)[:, ::-1] @ T(b)[::-1], a[:, ::-1], b[::-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_vector_cases(dtype):
    rng = np.random.default_rng(6)
    v, w = make(rng, (7,), dtype), make(rng, (7,), dtype)
    m = make(rng, (7, 4), dtype)
    s = make(rng, (3, 2, 7, 4), dtype)
    r = tt.matmul(T(v), T(w))
    assert r.shape == ()
    check(r, v, w)
    check(T(v) @ T(m), v, m)
    check(T(m.T.copy()) @ T(v), m.T, v)
    check(T(v) @ T(s), v, s)
    check(T(s.swapaxes(-1, -2).copy()) @ T(v), s.swapaxes(-1, -2), v)
    # strided and expanded (stride 0) vectors
    check(T(np.repeat(v, 2))[::2] @ T(m), np.repeat(v, 2)[::2], m)
    check(T(v[:1]).expand(7) @ T(m), np.broadcast_to(v[:1], (7,)), m)


def test_mixed_dtypes_promote():
    rng = np.random.default_rng(7)
    a32, a64 = make(rng, (3, 4), np.float32), make(rng, (3, 4), np.float64)
    i64 = make(rng, (4, 2), np.int64)
    b64 = make(rng, (4, 2), np.float64)
    r = T(a32) @ T(b64)
    assert r.dtype == np.float64
    check(r, a32, b64)
    r = T(a32) @ T(i64)
    assert r.dtype == np.float32  # float32 with int64 stays float32, as in PyTorch
    np.testing.assert_allclose(r.numpy(), a32.astype(np.float64) @ i64, rtol=1e-5, atol=1e-5)
    check(T(a64) @ T(i64), a64, i64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_empty_and_zero_inner_dims(dtype):
    for sa, sb in [((3, 0), (0, 4)), ((0, 5), (5, 2)), ((3, 5), (5, 0)), ((2, 0, 3), (3, 4)), ((0,), (0,)),
                   ((2, 3, 0), (2, 0, 5))]:
        a, b = np.ones(sa, dtype), np.ones(sb, dtype)
        r = T(a) @ T(b)
        assert r.shape == np.matmul(a, b).shape
        np.testing.assert_array_equal(r.numpy(), np.matmul(a, b))


def test_result_is_contiguous_and_independent():
    a = T(np.ones((2, 3, 4), np.float32)).transpose(0, 1)
    b = T(np.ones((4, 5), np.float32))
    r = a @ b
    assert r.shape == (3, 2, 5) and r.is_contiguous()
    np.testing.assert_array_equal(r.numpy(), np.full((3, 2, 5), 4.0, np.float32))


def test_misaligned_shapes_error_message():
    a, b = T(np.ones((2, 3), np.float32)), T(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned: 3 \(dim 1\) != 4 \(dim 0\)"):
        tt.matmul(a, b)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(4,\) are not aligned: 3 \(dim 0\) != 4 \(dim 0\)"):
        tt.matmul(T(np.ones(3)), T(np.ones(4)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 5, 3\) and \(2, 4, 5\) are not aligned: 3 \(dim 2\) != 4 \(dim 1\)"):
        T(np.ones((2, 5, 3))) @ T(np.ones((2, 4, 5)))


def test_batch_dims_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 2, 3\) and \(3, 3, 5\).*broadcast"):
        T(np.ones((2, 2, 3))) @ T(np.ones((3, 3, 5)))


def test_zero_dim_operand_is_rejected():
    with pytest.raises(ValueError, match=r"matmul: .*at least one dimension"):
        tt.matmul(T(np.float32(2.0)), T(np.ones((2, 2), np.float32)))
    with pytest.raises(ValueError, match=r"matmul"):
        tt.matmul(T(np.ones(2, np.float32)), T(np.float32(2.0)))


def test_bool_operands_are_rejected():
    with pytest.raises(TypeError, match=r"matmul: bool"):
        tt.matmul(T(np.ones((2, 2), bool)), T(np.ones((2, 2), bool)))


def test_matches_torch_when_available():
    from conftest import torch_or_skip  # fails, not skips, under TINYTORCH_REQUIRE_TORCH=1
    torch = torch_or_skip()
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 1, 6, 10))
    b = rng.standard_normal((4, 10, 2))
    expected = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
    np.testing.assert_allclose((T(a) @ T(b)).numpy(), expected, rtol=1e-12, atol=1e-12)
