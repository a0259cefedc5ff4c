"""Every differentiable op against PyTorch (torch==2.13.0 CPU) on identical
float64 inputs: the forward value, the gradient for a random output
gradient, and the double backward (create_graph=True, then the gradient of
<first gradients, random weights> with respect to the inputs again).

Each case is written once, against a small namespace (`T` for tinytorch,
`P` for torch) so both sides compute the same expression. tinytorch's
inputs come in random memory layouts (transposed views, stepped slices);
torch gets contiguous copies. Locally these tests skip when torch is not
installed; CI sets TINYTORCH_REQUIRE_TORCH=1 and fails instead.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt

from autograd_testing import LAYOUTS, SEEDS, leaf, values
from conftest import torch_or_skip

pytestmark = pytest.mark.module05


def _all_axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


class T:
    """The tinytorch side."""

    exp, log, sqrt, abs, sin, cos, tanh = tt.exp, tt.log, tt.sqrt, tt.abs, tt.sin, tt.cos, tt.tanh
    sigmoid, relu, erf, maximum, minimum, matmul = tt.sigmoid, tt.relu, tt.erf, tt.maximum, tt.minimum, tt.matmul
    gelu = staticmethod(lambda x, approximate: tt.gelu(x, approximate=approximate))
    clip = staticmethod(lambda x, lo, hi: tt.clip(x, lo, hi))
    sum = staticmethod(lambda x, axis=None, keepdims=False: x.sum(axis=axis, keepdims=keepdims))
    mean = staticmethod(lambda x, axis=None, keepdims=False: x.mean(axis=axis, keepdims=keepdims))
    max = staticmethod(lambda x, axis=None, keepdims=False: x.max(axis=axis, keepdims=keepdims))
    min = staticmethod(lambda x, axis=None, keepdims=False: x.min(axis=axis, keepdims=keepdims))
    prod = staticmethod(lambda x, axis=None, keepdims=False: x.prod(axis=axis, keepdims=keepdims))
    var = staticmethod(lambda x, axis, ddof, keepdims=False: x.var(axis=axis, ddof=ddof, keepdims=keepdims))
    std = staticmethod(lambda x, axis, ddof, keepdims=False: x.std(axis=axis, ddof=ddof, keepdims=keepdims))
    logsumexp = staticmethod(lambda x, axis=None, keepdims=False: tt.logsumexp(x, axis=axis, keepdims=keepdims))
    softmax = staticmethod(lambda x, axis: tt.softmax(x, axis=axis))
    log_softmax = staticmethod(lambda x, axis: tt.log_softmax(x, axis=axis))
    transpose = staticmethod(lambda x, a, b: x.transpose(a, b))
    permute = staticmethod(lambda x, dims: x.permute(*dims))
    reshape = staticmethod(lambda x, shape: x.reshape(*shape))
    squeeze = staticmethod(lambda x, dim: x.squeeze(dim))
    unsqueeze = staticmethod(lambda x, dim: x.unsqueeze(dim))
    flatten = staticmethod(lambda x, start: x.flatten(start))
    expand = staticmethod(lambda x, shape: x.expand(*shape))
    cat = staticmethod(lambda ts, axis: tt.cat(ts, axis=axis))
    stack = staticmethod(lambda ts, axis: tt.stack(ts, axis=axis))
    contiguous = staticmethod(lambda x: x.contiguous())
    where = staticmethod(lambda c, a, b: tt.where(tt.Tensor(c), a, b))
    masked_fill = staticmethod(lambda x, m, v: tt.masked_fill(x, tt.Tensor(m), v))
    index = staticmethod(lambda i: tt.Tensor(np.asarray(i), dtype=tt.int64))
    mask = staticmethod(lambda m: tt.Tensor(np.asarray(m)))
    gather = staticmethod(lambda x, d, i: tt.gather(x, d, T.index(i)))
    index_select = staticmethod(lambda x, d, i: tt.index_select(x, d, T.index(i)))
    take = staticmethod(lambda x, i: tt.take(x, T.index(i)))
    scatter_add = staticmethod(lambda x, d, i, s: tt.scatter_add(x, d, T.index(i), s))
    index_add = staticmethod(lambda x, d, i, s: tt.index_add(x, d, T.index(i), s))
    embedding = staticmethod(lambda w, i: tt.embedding(w, T.index(i)))
    layer_norm = staticmethod(lambda x, g, b, eps: tt.layer_norm(x, g, b, eps))
    cross_entropy = staticmethod(lambda x, t, ignore=-100: tt.cross_entropy(x, T.index(t), ignore_index=ignore))
    mse_loss = staticmethod(lambda p, t: tt.mse_loss(p, t))
    bce = staticmethod(lambda p, t: tt.binary_cross_entropy(p, tt.Tensor(t, dtype=tt.float64)))
    to_float32 = staticmethod(lambda x: x.astype(tt.float32))
    dropout_like = staticmethod(lambda x, args: (tt.manual_seed(args[1]), tt.dropout(x, args[0], True))[1])
    rev = staticmethod(lambda x: x[::-1])


class P:
    """The torch side (filled in lazily: torch is optional)."""


def _torch_namespace(torch):
    F = torch.nn.functional
    ns = P
    ns.exp, ns.log, ns.sqrt, ns.abs, ns.sin, ns.cos, ns.tanh = (torch.exp, torch.log, torch.sqrt, torch.abs,
                                                                torch.sin, torch.cos, torch.tanh)
    ns.sigmoid, ns.relu, ns.erf = torch.sigmoid, torch.relu, torch.erf
    ns.maximum, ns.minimum, ns.matmul = torch.maximum, torch.minimum, torch.matmul
    ns.gelu = staticmethod(lambda x, approximate: F.gelu(x, approximate=approximate))
    ns.clip = staticmethod(lambda x, lo, hi: torch.clamp(x, lo, hi))
    ns.sum = staticmethod(lambda x, axis=None, keepdims=False: x.sum(dim=_all_axes(x, axis), keepdim=keepdims))
    ns.mean = staticmethod(lambda x, axis=None, keepdims=False: x.mean(dim=_all_axes(x, axis), keepdim=keepdims))
    ns.max = staticmethod(lambda x, axis=None, keepdims=False: torch.amax(x, dim=_all_axes(x, axis), keepdim=keepdims))
    ns.min = staticmethod(lambda x, axis=None, keepdims=False: torch.amin(x, dim=_all_axes(x, axis), keepdim=keepdims))
    ns.prod = staticmethod(lambda x, axis=None, keepdims=False: x.prod() if axis is None
                           else x.prod(dim=axis, keepdim=keepdims))
    ns.var = staticmethod(lambda x, axis, ddof, keepdims=False: x.var(dim=_all_axes(x, axis), correction=ddof,
                                                                      keepdim=keepdims))
    ns.std = staticmethod(lambda x, axis, ddof, keepdims=False: x.std(dim=_all_axes(x, axis), correction=ddof,
                                                                      keepdim=keepdims))
    ns.logsumexp = staticmethod(lambda x, axis=None, keepdims=False: torch.logsumexp(x, dim=_all_axes(x, axis),
                                                                                     keepdim=keepdims))
    ns.softmax = staticmethod(lambda x, axis: torch.softmax(x, dim=axis))
    ns.log_softmax = staticmethod(lambda x, axis: torch.log_softmax(x, dim=axis))
    ns.transpose = staticmethod(lambda x, a, b: x.transpose(a, b))
    ns.permute = staticmethod(lambda x, dims: x.permute(*dims))
    ns.reshape = staticmethod(lambda x, shape: x.reshape(*shape))
    ns.squeeze = staticmethod(lambda x, dim: x.squeeze() if dim is None else x.squeeze(dim))
    ns.unsqueeze = staticmethod(lambda x, dim: x.unsqueeze(dim))
    ns.flatten = staticmethod(lambda x, start: x.flatten(start))
    ns.expand = staticmethod(lambda x, shape: x.expand(*shape))
    ns.cat = staticmethod(lambda ts, axis: torch.cat(ts, dim=axis))
    ns.stack = staticmethod(lambda ts, axis: torch.stack(ts, dim=axis))
    ns.contiguous = staticmethod(lambda x: x.contiguous())
    ns.where = staticmethod(lambda c, a, b: torch.where(torch.from_numpy(np.asarray(c)), a, b))
    ns.masked_fill = staticmethod(lambda x, m, v: x.masked_fill(torch.from_numpy(np.asarray(m)), v))
    ns.index = staticmethod(lambda i: torch.from_numpy(np.asarray(i, dtype=np.int64)))
    ns.mask = staticmethod(lambda m: torch.from_numpy(np.asarray(m)))
    ns.gather = staticmethod(lambda x, d, i: torch.gather(x, d, P.index(i)))
    ns.index_select = staticmethod(lambda x, d, i: torch.index_select(x, d, P.index(i)))
    ns.take = staticmethod(lambda x, i: torch.take(x, P.index(i)))
    ns.scatter_add = staticmethod(lambda x, d, i, s: torch.scatter_add(x, d, P.index(i), s))
    ns.index_add = staticmethod(lambda x, d, i, s: torch.index_add(x, d, P.index(i), s))
    ns.embedding = staticmethod(lambda w, i: F.embedding(P.index(i), w))
    ns.layer_norm = staticmethod(lambda x, g, b, eps: F.layer_norm(x, (x.shape[-1],), g, b, eps))
    ns.cross_entropy = staticmethod(lambda x, t, ignore=-100: F.cross_entropy(
        x.reshape(-1, x.shape[-1]), P.index(t).reshape(-1), ignore_index=ignore))
    ns.mse_loss = staticmethod(lambda p, t: F.mse_loss(p, t))
    ns.bce = staticmethod(lambda p, t: F.binary_cross_entropy(p, torch.from_numpy(np.asarray(t, dtype=np.float64))))
    ns.to_float32 = staticmethod(lambda x: x.float())
    # tinytorch draws the dropout mask; torch multiplies by the same mask.
    ns.dropout_like = staticmethod(lambda x, args: x * torch.from_numpy(args[2]))
    ns.rev = staticmethod(lambda x: x.flip(0))
    return ns


RNG = np.random.default_rng


def pos(shape, seed):
    return values(seed, shape, 0.5, 2.0)


def sym(shape, seed):
    return values(seed, shape, -2.0, 2.0)


def nonzero(shape, seed):
    return values(seed, shape, -2.0, 2.0, away_from_zero=0.2)


def dropout_args(shape, p, seed):
    """(p, seed, the mask tinytorch draws with that seed) so torch can multiply by the same mask."""
    tt.manual_seed(seed)
    mask = tt.dropout(tt.Tensor(np.ones(shape), dtype=tt.float64), p, True).numpy().copy()
    return (p, seed, mask)


# name -> (function of (L, *inputs), list of input makers (shape -> values given a seed))
CASES = {
    "add_broadcast": (lambda L, a, b: a + b, [(sym, (3, 4)), (sym, (4,))]),
    "sub_broadcast": (lambda L, a, b: a - b, [(sym, (2, 1, 3)), (sym, (4, 3))]),
    "mul_broadcast": (lambda L, a, b: a * b, [(sym, (3, 1)), (sym, (1, 4))]),
    "div_broadcast": (lambda L, a, b: a / b, [(sym, (3, 4)), (nonzero, (3, 1))]),
    "pow_tensor": (lambda L, a, b: a ** b, [(pos, (3, 4)), (sym, (4,))]),
    "pow_scalar_exponent": (lambda L, a: a ** 3.0, [(sym, (3, 4))]),
    "pow_scalar_base": (lambda L, a: 2.0 ** a, [(sym, (3, 4))]),
    "rsub_rdiv": (lambda L, a: (1.0 - a) / (2.0 + a * a), [(sym, (5,))]),
    "neg": (lambda L, a: -a, [(sym, (3, 4))]),
    "maximum": (lambda L, a, b: L.maximum(a, b), [(sym, (3, 4)), (sym, (4,))]),
    "minimum": (lambda L, a, b: L.minimum(a, b), [(sym, (3, 4)), (sym, (3, 1))]),
    "exp": (lambda L, a: L.exp(a), [(sym, (3, 4))]),
    "log": (lambda L, a: L.log(a), [(pos, (3, 4))]),
    "sqrt": (lambda L, a: L.sqrt(a), [(pos, (3, 4))]),
    "abs": (lambda L, a: L.abs(a) * a, [(nonzero, (3, 4))]),
    "sin": (lambda L, a: L.sin(a), [(sym, (3, 4))]),
    "cos": (lambda L, a: L.cos(a), [(sym, (3, 4))]),
    "tanh": (lambda L, a: L.tanh(a), [(sym, (3, 4))]),
    "sigmoid": (lambda L, a: L.sigmoid(a), [(sym, (3, 4))]),
    "relu": (lambda L, a: L.relu(a) * a, [(nonzero, (3, 4))]),
    "gelu_tanh": (lambda L, a: L.gelu(a, "tanh"), [(sym, (3, 4))]),
    "gelu_erf": (lambda L, a: L.gelu(a, "none"), [(sym, (3, 4))]),
    "erf": (lambda L, a: L.erf(a), [(sym, (3, 4))]),
    "clip": (lambda L, a: L.clip(a, -0.5, 0.7) * a, [(sym, (3, 4))]),
    "sum_axis": (lambda L, a: L.sum(a * a, 1), [(sym, (2, 3, 4))]),
    "sum_all": (lambda L, a: L.sum(a * a), [(sym, (2, 3))]),
    "mean_axes_keepdims": (lambda L, a: L.mean(a * a, (0, 2), True), [(sym, (2, 3, 4))]),
    "max_axis": (lambda L, a: L.max(a * a, 1), [(sym, (3, 5))]),
    "max_all": (lambda L, a: L.max(L.exp(a)), [(sym, (3, 5))]),
    "min_axis_keepdims": (lambda L, a: L.min(a, -1, True) * L.sum(a), [(sym, (3, 5))]),
    "prod_axis": (lambda L, a: L.prod(a, 1), [(sym, (3, 4))]),
    "prod_all": (lambda L, a: L.prod(a), [(pos, (2, 3))]),
    "var_ddof0": (lambda L, a: L.var(a, 1, 0), [(sym, (3, 5))]),
    "var_ddof1_all": (lambda L, a: L.var(a, None, 1), [(sym, (3, 5))]),
    "std_axes": (lambda L, a: L.std(a, (0, 2), 1, True), [(sym, (2, 3, 4))]),
    "logsumexp": (lambda L, a: L.logsumexp(a, -1), [(sym, (3, 5))]),
    "logsumexp_all": (lambda L, a: L.logsumexp(a), [(sym, (3, 5))]),
    "softmax": (lambda L, a: L.softmax(a, -1), [(sym, (3, 5))]),
    "softmax_axis0": (lambda L, a: L.softmax(a, 0), [(sym, (3, 5))]),
    "log_softmax": (lambda L, a: L.log_softmax(a, 1), [(sym, (2, 4, 3))]),
    "matmul_2d": (lambda L, a, b: L.matmul(a, b), [(sym, (3, 4)), (sym, (4, 5))]),
    "matmul_3d": (lambda L, a, b: L.matmul(a, b), [(sym, (2, 3, 4)), (sym, (2, 4, 5))]),
    "matmul_4d": (lambda L, a, b: L.matmul(a, b), [(sym, (2, 2, 3, 4)), (sym, (2, 2, 4, 2))]),
    "matmul_broadcast_batch": (lambda L, a, b: L.matmul(a, b), [(sym, (2, 1, 3, 4)), (sym, (3, 4, 2))]),
    "matmul_batch_matrix": (lambda L, a, b: L.matmul(a, b), [(sym, (2, 3, 4)), (sym, (4, 2))]),
    "matmul_vec_mat": (lambda L, a, b: L.matmul(a, b), [(sym, (4,)), (sym, (4, 3))]),
    "matmul_mat_vec": (lambda L, a, b: L.matmul(a, b), [(sym, (3, 4)), (sym, (4,))]),
    "matmul_vec_vec": (lambda L, a, b: L.matmul(a, b), [(sym, (4,)), (sym, (4,))]),
    "matmul_vec_batch": (lambda L, a, b: L.matmul(a, b), [(sym, (4,)), (sym, (2, 4, 3))]),
    "matmul_squared": (lambda L, a, b: L.matmul(a * a, b) * a[:, :1], [(sym, (3, 4)), (sym, (4, 2))]),
    "transpose": (lambda L, a: L.transpose(a, 0, 2) * a.sum(), [(sym, (2, 3, 4))]),
    "permute": (lambda L, a: L.permute(a, (2, 0, 1)) ** 2, [(sym, (2, 3, 4))]),
    "reshape": (lambda L, a: L.reshape(a, (4, 6)) ** 2, [(sym, (2, 3, 4))]),
    "squeeze": (lambda L, a: L.squeeze(a, 1) ** 2, [(sym, (3, 1, 2))]),
    "squeeze_all": (lambda L, a: L.squeeze(a, None) ** 2, [(sym, (1, 3, 1))]),
    "unsqueeze": (lambda L, a: L.unsqueeze(a, -1) ** 2, [(sym, (3, 2))]),
    "flatten": (lambda L, a: L.flatten(a, 1) ** 2, [(sym, (2, 3, 4))]),
    "slice_steps": (lambda L, a: a[::2, 1:] ** 2, [(sym, (5, 4))]),
    "slice_negative": (lambda L, a: L.rev(a[-1]) * a[0], [(sym, (3, 4))]),
    "slice_none_ellipsis": (lambda L, a: a[None, ..., 1] ** 2, [(sym, (2, 3, 4))]),
    "expand": (lambda L, a: L.expand(a, (2, 3, 4)) ** 2, [(sym, (3, 1))]),
    "cat": (lambda L, a, b: L.cat([a, b * b, a], 1), [(sym, (2, 3)), (sym, (2, 2))]),
    "stack": (lambda L, a, b: L.stack([a, a * b], -1), [(sym, (2, 3)), (sym, (2, 3))]),
    "contiguous": (lambda L, a: L.contiguous(L.transpose(a, 0, 1)) ** 2, [(sym, (3, 4))]),
    "where": (lambda L, a, b: L.where(np.array([[True, False, True]]), a * a, b), [(sym, (2, 3)), (sym, (3,))]),
    "masked_fill": (lambda L, a: L.masked_fill(a * a, np.array([False, True, True, False]), -1.5),
                    [(sym, (3, 4))]),
    "gather": (lambda L, a: L.gather(a * a, 1, np.array([[0, 0, 3], [2, 1, 1], [3, 3, 3]])), [(sym, (3, 4))]),
    "index_select": (lambda L, a: L.index_select(a ** 2, 0, np.array([2, 0, 2, 1])), [(sym, (3, 4))]),
    "take": (lambda L, a: L.take(a ** 3, np.array([[0, 5], [5, 11]])), [(sym, (3, 4))]),
    "fancy_rows": (lambda L, a: (a ** 2)[[0, 0, 2]], [(sym, (3, 4))]),
    "fancy_bool_mask": (lambda L, a: (a ** 2)[L.mask(np.array([True, False, True]))], [(sym, (3, 4))]),
    "scatter_add": (lambda L, a, s: L.scatter_add(a * a, 0, np.array([[0, 2], [0, 0]]), s * s),
                    [(sym, (3, 2)), (sym, (2, 2))]),
    "index_add": (lambda L, a, s: L.index_add(a * a, 1, np.array([3, 0, 3]), s * s),
                  [(sym, (2, 4)), (sym, (2, 3))]),
    "embedding": (lambda L, w: L.embedding(w, np.array([[1, 3, 1], [0, 1, 1]])) ** 2, [(sym, (4, 3))]),
    "layer_norm": (lambda L, x, g, b: L.layer_norm(x, g, b, 1e-5), [(sym, (2, 3, 5)), (sym, (5,)), (sym, (5,))]),
    "layer_norm_big_eps": (lambda L, x, g, b: L.layer_norm(x, g, b, 0.5), [(sym, (4, 3)), (sym, (3,)), (sym, (3,))]),
    "cross_entropy": (lambda L, x: L.cross_entropy(x, np.array([2, 0, 1, 2])), [(sym, (4, 3))]),
    "cross_entropy_3d_ignore": (lambda L, x: L.cross_entropy(x, np.array([[1, -100, 3], [0, 3, -100]])),
                                [(sym, (2, 3, 4))]),
    "cross_entropy_ignore_class": (lambda L, x: L.cross_entropy(x, np.array([1, 0, 1, 2]), 1), [(sym, (4, 3))]),
    "mse_loss": (lambda L, p, t: L.mse_loss(p, t), [(sym, (3, 4)), (sym, (3, 4))]),
    "bce": (lambda L, p: L.bce(L.sigmoid(p), np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.5]])), [(sym, (2, 3))]),
    "dropout": (lambda L, a: L.dropout_like(a * a, dropout_args((3, 4), 0.3, 7)), [(sym, (3, 4))]),
}


def _assert_close(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs torch {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11, err_msg=what)


def _torch_grads(torch, outputs, inputs, grad_outputs, create_graph):
    if not outputs.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph, allow_unused=True))


def _tt_grads(outputs, inputs, grad_outputs, create_graph):
    if not outputs.requires_grad:
        return [None] * len(inputs)
    return list(tt.autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph, allow_unused=True))


def _dense(g, shape):
    if g is None:
        return np.zeros(shape)
    return np.asarray(g, dtype=np.float64) if isinstance(g, tt.Tensor) else g.detach().numpy()


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8, deadline=None)
@given(seeds=st.lists(SEEDS, min_size=6, max_size=6), layouts=st.lists(st.sampled_from(LAYOUTS), min_size=3,
                                                                      max_size=3))
def test_forward_backward_double_backward_match_torch(name, seeds, layouts):
    torch = torch_or_skip()
    P_ = _torch_namespace(torch)
    fn, makers = CASES[name]
    arrays = [make(shape, seed) for (make, shape), seed in zip(makers, seeds)]
    xs = [leaf(a, lay) for a, lay in zip(arrays, layouts)]
    ps = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]

    out, pout = fn(T, *xs), fn(P_, *ps)
    _assert_close(out, pout.detach().numpy(), f"{name}: forward")

    rng = RNG(seeds[-1])
    w = rng.standard_normal(pout.shape)
    gs = _tt_grads(out, xs, tt.Tensor(w, dtype=tt.float64), True)
    pgs = _torch_grads(torch, pout, ps, torch.tensor(w), True)
    for i, (g, pg) in enumerate(zip(gs, pgs)):
        _assert_close(_dense(g, arrays[i].shape), _dense(pg, arrays[i].shape), f"{name}: gradient of input {i}")

    # double backward: d/dx of sum_i <grad_i, v_i>
    vs = [rng.standard_normal(a.shape) for a in arrays]
    s = None
    ps_terms = None
    for g, v in zip(gs, vs):
        if g is not None and g.requires_grad:
            term = (g * tt.Tensor(v, dtype=tt.float64)).sum()
            s = term if s is None else s + term
    for pg, v in zip(pgs, vs):
        if pg is not None and pg.requires_grad:
            term = (pg * torch.tensor(v)).sum()
            ps_terms = term if ps_terms is None else ps_terms + term
    g2 = _tt_grads(s, xs, None, False) if s is not None else [None] * len(xs)
    pg2 = _torch_grads(torch, ps_terms, ps, None, False) if ps_terms is not None else [None] * len(ps)
    for i, (g, pg) in enumerate(zip(g2, pg2)):
        _assert_close(_dense(g, arrays[i].shape), _dense(pg, arrays[i].shape),
                      f"{name}: second derivative for input {i}")


def test_to_float32_matches_torch():
    torch = torch_or_skip()
    P_ = _torch_namespace(torch)
    a = sym((3, 4), 1)
    x = leaf(a)
    p = torch.tensor(a, requires_grad=True)
    y, py = T.to_float32(x) * 3.0, P_.to_float32(p) * 3.0
    np.testing.assert_allclose(y.numpy(), py.detach().numpy(), rtol=1e-7)
    (y * y).sum().backward()
    (py * py).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), p.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_r1_gradient_penalty_matches_torch(activation):
    """R1-style penalty: ||dD/dx||^2 via autograd.grad(create_graph=True), then
    penalty.backward() gives the discriminator's weight gradients."""
    torch = torch_or_skip()
    rng = RNG(0)
    x0 = rng.standard_normal((8, 5))
    W1, b1, W2, b2 = (rng.standard_normal((5, 16)) * 0.5, rng.standard_normal(16) * 0.1,
                      rng.standard_normal((16, 1)) * 0.5, rng.standard_normal(1) * 0.1)

    def D(L, act, x, w1, c1, w2, c2):
        h = L.matmul(x, w1) + c1
        h = L.tanh(h) if activation == "tanh" else act(h)
        return (L.matmul(h, w2) + c2).sum()

    tparams = [leaf(v) for v in (W1, b1, W2, b2)]
    x = leaf(x0)
    d = D(T, lambda h: tt.gelu(h, approximate="none"), x, *tparams)
    (gx,) = tt.autograd.grad(d, x, create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()

    pparams = [torch.tensor(v, requires_grad=True) for v in (W1, b1, W2, b2)]
    px = torch.tensor(x0, requires_grad=True)
    pd = D(_torch_namespace(torch), lambda h: torch.nn.functional.gelu(h), px, *pparams)
    (pgx,) = torch.autograd.grad(pd, px, create_graph=True)
    ppenalty = (pgx * pgx).sum()
    ppenalty.backward()

    np.testing.assert_allclose(penalty.item(), ppenalty.item(), rtol=1e-12)
    np.testing.assert_allclose(gx.detach().numpy(), pgx.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name, t, p in zip(["W1", "b1", "W2", "b2"], tparams, pparams):
        if p.grad is None:  # b2 does not affect dD/dx
            assert t.grad is None or np.all(t.grad.numpy() == 0), name
            continue
        np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    # the penalty does not flow into x's .grad through autograd.grad's create_graph history only
    assert x.grad is not None  # penalty.backward() reaches x too, as in torch
    np.testing.assert_allclose(x.grad.numpy(), px.grad.numpy(), rtol=1e-10, atol=1e-13)
