"""prod is one differentiable C++ op (ProdBackward in csrc/autograd/backward.h): first and second
derivatives with zeros in the input, against finite differences and against PyTorch."""
import inspect

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import gradcheck, gradgradcheck

from conftest import torch_or_skip

pytestmark = pytest.mark.module05

# Slices with no zero, one zero and two zeros, so each branch of the rule runs.
X = np.array([[1.5, -2.0, 0.5, 3.0],
              [0.0, 2.0, -1.5, 0.5],
              [0.0, 0.0, 2.5, -1.0]])


def leaf(a=X):
    return tt.Tensor(a, requires_grad=True, dtype=tt.float64)


def test_prod_is_the_cpp_method_and_records_prod_backward():
    assert not inspect.isfunction(tt.Tensor.__dict__["prod"])  # bound in C++, not a Python override
    y = leaf().prod(axis=1)
    assert type(y.grad_fn).__name__ == "ProdBackward"
    np.testing.assert_array_equal(y.numpy(), X.prod(axis=1))
    assert type(tt.prod(leaf()).grad_fn).__name__ == "ProdBackward"


def test_first_derivative_with_zeros_is_the_product_of_the_others():
    x = leaf()
    x.prod(axis=1).sum().backward()
    others = np.array([[np.prod(np.delete(row, j)) for j in range(4)] for row in X])
    np.testing.assert_allclose(x.grad.numpy(), others, rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_gradcheck_and_gradgradcheck_with_zeros(axis):
    f = lambda a: a.prod(axis=axis)  # noqa: E731
    assert gradcheck(f, (leaf(),), eps=1e-6, atol=1e-6, rtol=1e-5)
    assert gradgradcheck(f, (leaf(),), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_second_derivative_against_torch():
    torch = torch_or_skip()
    x = leaf()
    (g,) = tt.autograd.grad(x.prod(axis=1).sum(), x, create_graph=True)
    (g * tt.Tensor(np.arange(12.0).reshape(3, 4), dtype=tt.float64)).sum().backward()
    xt = torch.tensor(X, requires_grad=True)
    (gt,) = torch.autograd.grad(xt.prod(dim=1).sum(), xt, create_graph=True)
    (gt * torch.arange(12.0, dtype=torch.float64).reshape(3, 4)).sum().backward()
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
