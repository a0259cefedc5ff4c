"""Sequential(Linear, ReLU, Linear) against torch.nn.Sequential holding the same
weights: the output and the gradients of the input and of every parameter.

tinytorch's Linear.weight is (in, out) (y = x W + b); torch's is (out, in)
(y = x W^T + b), so weights are copied transposed and gradients compared transposed.
"""
import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential

pytestmark = pytest.mark.module03


@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-5, 1e-6)])
@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)])
def test_sequential_matches_torch_nn_sequential(dtype, rtol, atol, batch_shape):
    torch = torch_or_skip()
    td = torch.float64 if dtype == np.float64 else torch.float32
    tt.manual_seed(0)
    mine = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    mine.to(dtype)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).to(td)
    with torch.no_grad():
        for tt_layer, torch_layer in ((mine[0], theirs[0]), (mine[2], theirs[2])):
            torch_layer.weight.copy_(torch.tensor(np.asarray(tt_layer.weight).T))
            torch_layer.bias.copy_(torch.tensor(np.asarray(tt_layer.bias)))

    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((*batch_shape, 4)).astype(dtype)
    x = tt.Tensor(x_np, requires_grad=True, dtype=dtype)
    out = mine(x)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(g)
    xt = torch.tensor(x_np, requires_grad=True)
    out_t = theirs(xt)
    out_t.backward(torch.tensor(g))

    hidden = x_np @ np.asarray(mine[0].weight) + np.asarray(mine[0].bias)
    assert 0 < (hidden > 0).mean() < 1  # the ReLU really cuts some units
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(np.asarray(x.grad), xt.grad.numpy(), rtol=rtol, atol=atol)
    for i in (0, 2):
        np.testing.assert_allclose(np.asarray(mine[i].weight.grad), theirs[i].weight.grad.numpy().T,
                                   rtol=rtol, atol=atol, err_msg=f"layer {i} weight gradient")
        np.testing.assert_allclose(np.asarray(mine[i].bias.grad), theirs[i].bias.grad.numpy(),
                                   rtol=rtol, atol=atol, err_msg=f"layer {i} bias gradient")
