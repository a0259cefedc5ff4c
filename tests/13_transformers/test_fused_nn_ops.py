"""The fused C++ ops under the layers (csrc/nn): each against its composition
of generic ops, finite differences and double backward, on random shapes and
non-contiguous inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt
from tinytorch.autograd import gradcheck, gradgradcheck
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module13

LAYOUTS = ["contiguous", "transposed", "stepped"]


def leaf(v, layout="contiguous"):
    v = np.asarray(v, dtype=np.float64)
    if layout == "transposed" and v.ndim >= 2:
        t = Tensor(np.ascontiguousarray(np.swapaxes(v, -1, -2)), dtype=np.float64).transpose(-1, -2)
    elif layout == "stepped":
        big = np.zeros((2 * v.shape[0],) + v.shape[1:])
        big[::2] = v
        t = Tensor(big, dtype=np.float64)[::2]
    else:
        t = Tensor(v.copy(), dtype=np.float64)
    t.requires_grad = True
    return t


def gelu_tanh(u):
    return 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.integers(1, 3), min_size=1, max_size=2), n_in=st.integers(1, 5),
       widths=st.lists(st.integers(1, 4), min_size=1, max_size=3), bias_mask=st.integers(0, 7),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**31))
def test_packed_linear(rows, n_in, widths, bias_mask, layout, seed):
    r = np.random.default_rng(seed)
    x = leaf(r.standard_normal(tuple(rows) + (n_in,)), layout)
    ws = [leaf(r.standard_normal((n_in, w))) for w in widths]
    bs = [leaf(r.standard_normal(w)) if bias_mask >> i & 1 else None for i, w in enumerate(widths)]
    y = tt._C._nn_linear_packed(x, ws, bs)
    expected = np.concatenate([np.asarray(x) @ np.asarray(w) + (0 if b is None else np.asarray(b))
                               for w, b in zip(ws, bs)], axis=-1)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-12, atol=1e-12)
    present = [b for b in bs if b is not None]

    def fn(x, *params):
        it = iter(params[len(ws):])
        return tt._C._nn_linear_packed(x, list(params[:len(ws)]), [next(it) if b is not None else None for b in bs])

    assert gradcheck(fn, (x, *ws, *present))
    for w in ws:  # each weight's gradient is its own contiguous tensor
        assert w.grad is None or w.grad.is_contiguous()


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.integers(1, 4), min_size=1, max_size=2), n_in=st.integers(1, 5), n_out=st.integers(1, 20),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**31))
def test_linear_gelu(rows, n_in, n_out, layout, seed):
    r = np.random.default_rng(seed)
    x = leaf(r.standard_normal(tuple(rows) + (n_in,)) * 2, layout)
    w, b = leaf(r.standard_normal((n_in, n_out))), leaf(r.standard_normal(n_out))
    y = tt._C._nn_linear_gelu(x, w, b)
    np.testing.assert_allclose(np.asarray(y), gelu_tanh(np.asarray(x) @ np.asarray(w) + np.asarray(b)),
                               rtol=1e-12, atol=1e-12)
    assert y.grad_fn.name() == "LinearGeluBackward"
    assert gradcheck(lambda *a: tt._C._nn_linear_gelu(*a), (x, w, b))


def test_linear_gelu_float32_matches_tt_gelu():
    r = np.random.default_rng(1)
    x, w = Tensor(r.standard_normal((37, 9)).astype(np.float32)), Tensor(r.standard_normal((9, 40)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(tt._C._nn_linear_gelu(x, w, None)), np.asarray(tt.gelu(x @ w)),
                               rtol=1e-5, atol=1e-6)


def test_double_backward_of_fused_linears():
    r = np.random.default_rng(2)
    x, w, b = leaf(r.standard_normal((2, 3, 4))), leaf(r.standard_normal((4, 5))), leaf(r.standard_normal(5))
    assert gradgradcheck(lambda *a: tt._C._nn_linear(*a), (x, w, b))
    assert gradgradcheck(lambda *a: tt._C._nn_linear_gelu(*a), (x, w, b))
    w2 = leaf(r.standard_normal((4, 2)))
    assert gradgradcheck(lambda x, w, w2, b: tt._C._nn_linear_packed(x, [w, w2], [b, None]), (x, w, w2, b))


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.integers(1, 4), min_size=1, max_size=2), d=st.integers(1, 40),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**31))
def test_layer_norm(rows, d, layout, seed):
    r = np.random.default_rng(seed)
    x = leaf(r.standard_normal(tuple(rows) + (d,)) * 3 + 1, layout)
    g, b = leaf(r.standard_normal(d)), leaf(r.standard_normal(d))
    y = tt.layer_norm(x, g, b, 1e-5)
    xv = np.asarray(x)
    expected = (xv - xv.mean(-1, keepdims=True)) / np.sqrt(xv.var(-1, keepdims=True) + 1e-5) * np.asarray(g) \
        + np.asarray(b)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-10, atol=1e-12)
    assert type(y.grad_fn).__name__ == "LayerNormBackward"
    assert gradcheck(lambda *a: tt.layer_norm(*a, 1e-5), (x, g, b))


def test_layer_norm_double_backward_and_float32():
    r = np.random.default_rng(3)
    x, g, b = leaf(r.standard_normal((3, 6))), leaf(r.standard_normal(6)), leaf(r.standard_normal(6))
    assert gradgradcheck(lambda *a: tt.layer_norm(*a, 1e-5), (x, g, b))
    # The float32 kernels (forward and the one-pass backward) against the same in float64.
    xs, gs, bs = r.standard_normal((50, 33)), r.standard_normal(33), r.standard_normal(33)
    seed = r.standard_normal((50, 33))
    grads = []
    for dt in (np.float32, np.float64):
        ts = [Tensor(a.astype(dt), dtype=dt, requires_grad=True) for a in (xs, gs, bs)]
        y = tt.layer_norm(*ts, 1e-5)
        y.backward(Tensor(seed.astype(dt), dtype=dt))
        grads.append([np.asarray(y)] + [np.asarray(t.grad) for t in ts])
    for a, b64 in zip(*grads):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b64, rtol=1e-4, atol=1e-4)


def test_mixed_dtypes_fall_back_to_generic_ops():
    x = Tensor(np.ones((2, 3)), dtype=np.float64, requires_grad=True)
    w = Tensor(np.ones((3, 4)), requires_grad=True)  # float32
    y = tt._C._nn_linear(x, w, None)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), 3.0)
    y.sum().backward()
    assert w.grad.dtype == np.float32 and x.grad.dtype == np.float64


def test_fused_op_errors():
    with pytest.raises(ValueError, match=r"Linear: bias must have shape \(4,\)"):
        tt._C._nn_linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"weight must be 2-D \(in_features, out_features\)"):
        tt._C._nn_linear(Tensor(np.ones((2, 3))), Tensor(np.ones(3)), None)
    with pytest.raises(ValueError, match=r"layer_norm: gamma and beta must have shape \(3,\)"):
        tt.layer_norm(Tensor(np.ones((2, 3))), tt.ones(4), tt.zeros(4), 1e-5)
    with pytest.raises(ValueError, match=r"packed projections must be \(batch, seq, 3 \* embed_dim\)"):
        tt._C._nn_attention_core(Tensor(np.ones((2, 3, 7))), 1, None)
    with pytest.raises(ValueError, match="embed_dim 4 is not divisible by num_heads 3"):
        tt._C._nn_attention_core(Tensor(np.ones((2, 3, 12))), 3, None)
    with pytest.raises(TypeError, match="attention mask: expected a bool or numeric mask, got dtype <U5"):
        tt._C._nn_attention_core(Tensor(np.ones((2, 3, 12))), 2, np.array([["upper"]]))


def test_graph_is_a_handful_of_nodes():
    """A block's backward graph is nine fused nodes, not dozens of small ones."""
    from collections import Counter

    from tinytorch.core.transformer import TransformerBlock
    blk = TransformerBlock(8, 2, dropout_prob=0.0)
    out = blk(Tensor(np.ones((1, 4, 8)), requires_grad=True), np.tril(np.ones((4, 4))))
    seen, alive, stack, names = set(), [], [out.grad_fn], Counter()
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        alive.append(n)  # keeps the wrapper alive, so ids stay unique
        seen.add(id(n))
        names[n.name()] += 1
        stack.extend(f for f, _ in n.next_functions)
    assert names == Counter({"AccumulateGrad": 17, "LinearBackward": 3, "LayerNormBackward": 2, "AddBackward": 2,
                             "AttentionBackward": 1, "LinearGeluBackward": 1})
