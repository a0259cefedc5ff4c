"""The packed Linear (Q, K, V projections as one op) at sizes its products are split across
threads: each weight's product is written into its own columns of the output, and the input
gradient is summed weight by weight into one buffer (ops::matmul_into), with no concatenation
of the weights. Checked against PyTorch's separate Linears in float32 and against one thread,
with a transposed (non-contiguous) weight among them and a missing bias."""
import numpy as np
import pytest

import tinytorch as tt

from conftest import torch_or_skip


@pytest.fixture
def threads():
    before = tt.get_num_threads()
    yield
    tt.set_num_threads(before)


def run(x, ws, bs, gy):
    xt = tt.Tensor(x, requires_grad=True)
    wt = []
    for i, w in enumerate(ws):
        if i == 1:  # a transposed view: BLAS reads it with the transpose flag
            base = tt.Tensor(np.ascontiguousarray(w.T))
            t = base.T
            t.requires_grad = True
        else:
            t = tt.Tensor(w, requires_grad=True)
        wt.append(t)
    bt = [None if b is None else tt.Tensor(b, requires_grad=True) for b in bs]
    y = tt._C._nn_linear_packed(xt, wt, bt)
    y.backward(tt.Tensor(gy))
    return (np.asarray(y).copy(), np.asarray(xt.grad).copy(), [np.asarray(w.grad).copy() for w in wt],
            [None if b is None else np.asarray(b.grad).copy() for b in bt])


@pytest.mark.parametrize("rows, n_in, widths", [((4, 64), 96, (96, 96, 96)), ((300,), 40, (33, 700, 5))])
def test_packed_linear_split_matches_torch_and_one_thread(rows, n_in, widths, threads):
    torch = torch_or_skip()
    r = np.random.default_rng(sum(widths))
    x = r.standard_normal(rows + (n_in,)).astype(np.float32)
    ws = [(r.standard_normal((n_in, w)) / np.sqrt(n_in)).astype(np.float32) for w in widths]
    bs = [r.standard_normal(w).astype(np.float32) if i != 1 else None for i, w in enumerate(widths)]
    gy = r.standard_normal(rows + (sum(widths),)).astype(np.float32)
    tt.set_num_threads(2)
    two = run(x, ws, bs, gy)
    tt.set_num_threads(1)
    one = run(x, ws, bs, gy)

    xT = torch.tensor(x, requires_grad=True)
    wT = [torch.tensor(w, requires_grad=True) for w in ws]
    bT = [None if b is None else torch.tensor(b, requires_grad=True) for b in bs]
    yT = torch.cat([xT @ w + (0 if b is None else b) for w, b in zip(wT, bT)], dim=-1)
    yT.backward(torch.tensor(gy))

    tol = dict(rtol=1e-4, atol=1e-4)
    for got in (two, one):
        y, gx, gws, gbs = got
        np.testing.assert_allclose(y, yT.detach().numpy(), **tol)
        np.testing.assert_allclose(gx, xT.grad.numpy(), **tol)
        for g, w in zip(gws, wT):
            np.testing.assert_allclose(g, w.grad.numpy(), **tol)
        for g, b in zip(gbs, bT):
            if b is None:
                assert g is None
            else:
                np.testing.assert_allclose(g, b.grad.numpy(), **tol)
    np.testing.assert_allclose(two[0], one[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(two[1], one[1], rtol=1e-5, atol=1e-5)

