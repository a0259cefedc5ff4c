"""Cross-entropy's backward is one fused pass per row (ops::cross_entropy_backward: softmax rebuilt
from the forward's saved row max and log-sum, minus the one-hot term, times 1/count and the
incoming gradient). Its gradient must equal PyTorch's on what used to need the composed formula:
ignored targets, logits far from 0, a 3-D (N, T, C) input, a scaled incoming gradient, a
GPT-sized vocabulary, and both dtypes; create_graph still records the composed formula."""
import numpy as np
import pytest
import torch

import tinytorch as tt

pytestmark = pytest.mark.module04

CASES = [
    ("plain", (6, 5), 0.0, None),
    ("ignored targets", (7, 4), 0.0, -100),
    ("logits around 2**20", (5, 9), 2.0 ** 20, None),
    ("a GPT-2-sized vocabulary", (3, 50257), 0.0, None),
]


@pytest.mark.parametrize("name,shape,offset,ignore", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_matches_pytorch(name, shape, offset, ignore, dtype):
    rng = np.random.default_rng(len(name))
    logits = (rng.standard_normal(shape) * 3 + offset).astype(dtype)
    targets = rng.integers(0, shape[1], shape[0])
    if ignore is not None:
        targets[[1, 4]] = ignore
    x = tt.Tensor(logits, dtype=dtype, requires_grad=True)
    loss = tt.cross_entropy(x, tt.Tensor(targets, dtype=tt.int64), ignore_index=-100) * 2.5
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    (torch.nn.functional.cross_entropy(tx, torch.tensor(targets), ignore_index=-100) * 2.5).backward()
    tol = dict(rtol=1e-12, atol=1e-15) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-8)
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), **tol)
    if ignore is not None:
        assert not np.asarray(x.grad)[[1, 4]].any()  # ignored rows get exactly zero


def test_three_dimensional_logits_keep_their_shape():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 3, 7))
    targets = rng.integers(0, 7, (2, 3))
    x = tt.Tensor(logits, dtype=np.float64, requires_grad=True)
    tt.cross_entropy(x, tt.Tensor(targets, dtype=tt.int64)).backward()
    tx = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.cross_entropy(tx.reshape(-1, 7), torch.tensor(targets).reshape(-1)).backward()
    assert x.grad.shape == (2, 3, 7)
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_create_graph_still_gives_the_second_derivative():
    rng = np.random.default_rng(4)
    logits, targets = rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    v = rng.standard_normal((4, 5))
    x = tt.Tensor(logits, dtype=np.float64, requires_grad=True)
    (g,) = tt.autograd.grad(tt.cross_entropy(x, tt.Tensor(targets, dtype=tt.int64)), [x], create_graph=True)
    (g * tt.Tensor(v, dtype=np.float64)).sum().backward()
    tx = torch.tensor(logits, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(tx, torch.tensor(targets)), [tx], create_graph=True)
    (tg * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(np.asarray(g.detach()), tg.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
