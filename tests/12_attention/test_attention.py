"""Module 12: scaled dot-product attention and multi-head attention, both mask conventions.

The fused C++ attention (one node, BLAS per head) is checked against the
composed scaled_dot_product_attention (differentiable ops), against a numpy reference, and against
finite differences for every mask kind; double backward too.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt
from tinytorch.autograd import gradcheck, gradgradcheck
from tinytorch.core.attention import MASK_VALUE, MultiHeadAttention, causal_mask, mask_kind, \
    scaled_dot_product_attention
from tinytorch.core.layers import Linear
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module12


def f64(a, requires_grad=True):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)


def reference(q, k, v, mask=None, kind="none"):
    """numpy attention; keep masks replace blocked scores by -1e9, additive masks are added."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if kind == "keep":
        s = np.where(mask != 0, s, MASK_VALUE)
    elif kind == "additive":
        s = s + mask
    elif kind == "causal":
        T = s.shape[-1]
        s = np.where(np.tri(T, dtype=bool), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    w /= w.sum(-1, keepdims=True)
    return w @ v, w


# ---- scaled_dot_product_attention ----

def test_sdpa_matches_numpy_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 7, 4)), rng.standard_normal((2, 7, 3))
    out, w = scaled_dot_product_attention(f64(q), f64(k), f64(v))
    ref_out, ref_w = reference(q, k, v)
    np.testing.assert_allclose(np.asarray(out), ref_out, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(w), ref_w, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1, rtol=1e-12)
    assert out.shape == (2, 5, 3) and w.shape == (2, 5, 7)


@pytest.mark.parametrize("convention", ["keep float", "keep bool", "additive -inf", "additive -1e9"])
def test_sdpa_causal_mask_in_both_conventions(convention):
    rng = np.random.default_rng(1)
    T = 5
    q, k, v = (rng.standard_normal((3, T, 4)) for _ in range(3))
    mask = {"keep float": np.tril(np.ones((T, T))), "keep bool": np.tri(T, dtype=bool),
            "additive -inf": np.triu(np.full((T, T), -np.inf), 1),
            "additive -1e9": -1e9 * np.triu(np.ones((T, T)), 1)}[convention]
    out, w = scaled_dot_product_attention(f64(q), f64(k), f64(v), mask=mask)
    ref_out, ref_w = reference(q, k, v, kind="causal")
    np.testing.assert_allclose(np.asarray(out), ref_out, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(w), ref_w, rtol=1e-12, atol=1e-300)
    assert np.all(np.asarray(w)[:, np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)


def test_sdpa_general_masks_and_gradients():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    keep = rng.random((2, 4, 4)) > 0.4
    keep[:, :, 0] = True
    additive = rng.standard_normal((4, 4)) * -2.0
    for mask, kind in ((keep, "keep"), (keep.astype(np.float64), "keep"), (additive, "additive")):
        Q, K, V = f64(q), f64(k), f64(v)
        out, w = scaled_dot_product_attention(Q, K, V, mask=mask)
        ref_out, ref_w = reference(q, k, v, mask, kind)
        np.testing.assert_allclose(np.asarray(out), ref_out, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(w), ref_w, rtol=1e-12)
        assert gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask)[0], (Q, K, V))


def test_sdpa_fully_blocked_row_keep_convention_is_uniform():
    T = 3
    mask = np.tril(np.ones((T, T)), -1)  # row 0 blocks everything
    q = k = v = np.random.default_rng(3).standard_normal((1, T, 2))
    _, w = scaled_dot_product_attention(f64(q), f64(k), f64(v), mask=mask)
    np.testing.assert_allclose(np.asarray(w)[0, 0], np.full(T, 1 / T), rtol=1e-12)


def test_sdpa_errors():
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: Q of shape \(2, 3, 4\) and K of shape "
                                         r"\(2, 3, 5\) must have the same last dimension"):
        scaled_dot_product_attention(Tensor(np.ones((2, 3, 4))), Tensor(np.ones((2, 3, 5))), Tensor(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"a mask of shape \(4, 4\) does not broadcast to the attention scores of "
                                         r"shape \(2, 3, 3\)"):
        scaled_dot_product_attention(*(Tensor(np.ones((2, 3, 4))) for _ in range(3)), mask=np.ones((4, 4)))


# ---- mask conventions ----

def test_mask_kind_decides_by_content():
    T = 4
    assert mask_kind(None) == (None, "none")
    assert mask_kind(np.tril(np.ones((T, T))), T) == (None, "causal")
    assert mask_kind(np.tri(T, dtype=bool), T) == (None, "causal")
    assert mask_kind(causal_mask(T), T) == (None, "causal")
    assert mask_kind(causal_mask(T, additive=False), T) == (None, "causal")
    assert mask_kind(-1e9 * np.triu(np.ones((T, T)), 1), T) == (None, "causal")
    assert mask_kind(np.tril(np.ones((T, T))))[1] == "keep"  # no seq_len: no causal detection
    assert mask_kind(np.ones((T, T)), T)[1] == "keep"
    assert mask_kind(np.zeros((T, T)), T)[1] == "keep"  # all-zero: keep/block convention (blocks all)
    assert mask_kind(-5.0 * np.triu(np.ones((T, T)), 1), T)[1] == "additive"  # not a hard block
    assert mask_kind(np.tril(np.ones((T, T)), -1), T)[1] == "keep"
    np.testing.assert_array_equal(np.asarray(causal_mask(3)), np.triu(np.full((3, 3), -np.inf), 1))


# ---- the fused attention core ----

MASKS = {
    "none": lambda B, H, T, r: (None, "none"),
    "causal": lambda B, H, T, r: (causal_mask(T), "causal"),
    "keep (T, T)": lambda B, H, T, r: (r.random((T, T)) > 0.3, "keep"),
    "keep (B, T, T) float": lambda B, H, T, r: ((r.random((B, T, T)) > 0.5).astype(np.float64), "keep"),
    "additive (B, H, T, T)": lambda B, H, T, r: (r.standard_normal((B, H, T, T)), "additive"),
    "additive (1, T, T) -inf": lambda B, H, T, r: (np.triu(np.full((1, T, T), -np.inf), 1), "additive"),
}


def composed_attention(qkv, H, mask):
    """The packed attention core from the composed scaled_dot_product_attention (differentiable ops)."""
    B, T, D = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3

    def heads(i):
        return qkv[:, :, i * D:(i + 1) * D].reshape(B, T, H, D // H).permute(0, 2, 1, 3)

    out, _ = scaled_dot_product_attention(heads(0), heads(1), heads(2), mask)
    return out.permute(0, 2, 1, 3).reshape(B, T, D)


def as_mask(mask):
    if mask is None or isinstance(mask, Tensor):
        return mask
    return Tensor(mask, dtype=mask.dtype if mask.dtype == bool else np.float64)


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 19), H=st.sampled_from([1, 2, 3]), hd=st.integers(1, 5),
       mask_name=st.sampled_from(sorted(MASKS)), seed=st.integers(0, 2**31))
def test_fused_attention_matches_composed_ops(B, T, H, hd, mask_name, seed):
    r = np.random.default_rng(seed)
    D = H * hd
    mask, kind = MASKS[mask_name](B, H, T, r)
    m = as_mask(mask)
    x = r.standard_normal((B, T, 3 * D))
    a, b = f64(x), f64(x)
    fused = tt._C._nn_attention_core(a, H, m)
    composed = composed_attention(b, H, m)
    assert type(fused.grad_fn).__name__ == "AttentionBackward"
    np.testing.assert_allclose(np.asarray(fused), np.asarray(composed), rtol=1e-10, atol=1e-12)
    g = r.standard_normal(fused.shape)
    fused.backward(g)
    composed.backward(g)
    np.testing.assert_allclose(np.asarray(a.grad), np.asarray(b.grad), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("mask_name", sorted(MASKS))
def test_fused_attention_gradcheck_and_double_backward(mask_name):
    r = np.random.default_rng(4)
    B, H, T, hd = 2, 2, 4, 2
    mask, kind = MASKS[mask_name](B, H, T, r)
    m = as_mask(mask)
    assert mask_kind(m, T)[1] == kind
    x = f64(r.standard_normal((B, T, 3 * H * hd)))
    fn = lambda t: tt._C._nn_attention_core(t, H, m)  # noqa: E731
    assert gradcheck(fn, (x,))
    if kind != "keep" or mask_name == "keep (T, T)":
        assert gradgradcheck(fn, (x,))


def test_a_mask_that_requires_grad_gets_its_gradient():
    """The fused node gives a mask no gradient, so such a mask takes the composed ops."""
    r = np.random.default_rng(7)
    H = 2
    x = f64(r.standard_normal((2, 3, 3 * H * 2)))
    m = f64(r.standard_normal((2, 3, 3)) - 1.0)  # additive (negative entries), shared by the heads
    fn = lambda a, mask: tt._C._nn_attention_core(a, H, mask)  # noqa: E731
    assert type(fn(x, m).grad_fn).__name__ != "AttentionBackward"
    assert gradcheck(fn, (x, m))
    np.testing.assert_allclose(np.asarray(fn(x, m)), np.asarray(tt._C._nn_attention_core(x, H, m.detach())),
                               rtol=1e-12)


def test_fused_attention_float32_matches_float64():
    r = np.random.default_rng(5)
    x = r.standard_normal((3, 21, 3 * 16))  # T=21: rows of every length mod the SIMD width
    y32 = tt._C._nn_attention_core(Tensor(x.astype(np.float32)), 4, causal_mask(21))
    y64 = tt._C._nn_attention_core(f64(x, False), 4, causal_mask(21))
    np.testing.assert_allclose(np.asarray(y32), np.asarray(y64), rtol=1e-4, atol=1e-5)


def test_fused_attention_non_contiguous_input():
    r = np.random.default_rng(6)
    x = r.standard_normal((2, 5, 12))
    big = np.zeros((4, 5, 12))
    big[::2] = x
    stepped = Tensor(big, dtype=np.float64)[::2]
    stepped.requires_grad = True
    out = tt._C._nn_attention_core(stepped, 2, causal_mask(5))
    np.testing.assert_allclose(np.asarray(out), np.asarray(composed_attention(f64(x), 2, causal_mask(5))), rtol=1e-12)
    out.sum().backward()
    assert stepped.grad.shape == (2, 5, 12)


# ---- MultiHeadAttention ----

def mha_reference(mha, x, mask=None, kind="none"):
    W = {n: np.asarray(p, dtype=np.float64) for n, p in mha.named_parameters()}
    B, T, D = x.shape
    H, hd = mha.num_heads, mha.head_dim

    def proj(n):
        return (x @ W[n + ".weight"] + W[n + ".bias"]).reshape(B, T, H, hd).transpose(0, 2, 1, 3)

    if mask is not None and mask.ndim == 3:
        mask = mask[:, None]
    out, _ = reference(proj("q_proj"), proj("k_proj"), proj("v_proj"), mask, kind)
    return out.transpose(0, 2, 1, 3).reshape(B, T, D) @ W["out_proj.weight"] + W["out_proj.bias"]


@pytest.mark.parametrize("mask_name", ["none", "tril", "bool (B, T, T)", "additive -inf"])
def test_multi_head_attention_matches_numpy(mask_name):
    tt.manual_seed(7)
    mha = MultiHeadAttention(embed_dim=12, num_heads=3).double()
    assert mha.head_dim == 4 and len(mha.parameters()) == 8
    x = np.random.default_rng(8).standard_normal((2, 6, 12))
    T = 6
    mask, kind = {"none": (None, "none"), "tril": (np.tril(np.ones((T, T))), "keep"),
                  "bool (B, T, T)": (np.random.default_rng(9).random((2, T, T)) > 0.2, "keep"),
                  "additive -inf": (np.triu(np.full((T, T), -np.inf), 1), "additive")}[mask_name]
    out = mha(f64(x), mask)
    np.testing.assert_allclose(np.asarray(out), mha_reference(mha, x, mask, kind), rtol=1e-10, atol=1e-12)


def test_multi_head_attention_gradcheck():
    tt.manual_seed(9)
    mha = MultiHeadAttention(6, 2).double()
    x = f64(np.random.default_rng(10).standard_normal((2, 3, 6)))
    mask = np.tril(np.ones((3, 3)))
    assert gradcheck(lambda x, *params: mha(x, mask), (x, *mha.parameters()))


class ScaledLinear(Linear):
    """A user subclass: MultiHeadAttention must call it, not bypass it with the fused path."""

    def forward(self, x):
        return super().forward(x) * 2.0


def test_replaced_projection_is_respected():
    tt.manual_seed(11)
    mha = MultiHeadAttention(8, 2).double()
    x = np.random.default_rng(12).standard_normal((1, 4, 8))
    before = np.asarray(mha(f64(x)))
    custom = ScaledLinear(8, 8)
    custom.weight, custom.bias = mha.v_proj.weight, mha.v_proj.bias
    mha.v_proj = custom
    after = np.asarray(mha(f64(x)))
    # doubling V doubles the attention output; out_proj is affine: out = 2 (before - b) + b
    b = np.asarray(mha.out_proj.bias)
    np.testing.assert_allclose(after, 2 * (before - b) + b, rtol=1e-10)


def test_multi_head_attention_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, seq_len, 8\), got \(2, 3, 6\)"):
        mha(Tensor(np.ones((2, 3, 6))))
    with pytest.raises(ValueError, match=r"mask of shape \(5, 5\) does not broadcast to the attention scores of "
                                         r"shape \(2, 2, 3, 3\)"):
        mha(Tensor(np.ones((2, 3, 8))), np.ones((5, 5)))
