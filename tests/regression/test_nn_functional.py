"""tinytorch.nn.functional against torch.nn.functional: same names, same
keywords, same values; gradients flow through the engine."""
import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from conftest import torch_or_skip
from tinytorch.autograd import gradcheck

pytestmark = pytest.mark.regression

RNG = np.random.default_rng(3)
X = RNG.standard_normal((4, 5)).astype(np.float32)


@pytest.mark.parametrize("name,kwargs", [("relu", {}), ("sigmoid", {}), ("tanh", {}), ("gelu", {}),
                                         ("gelu", {"approximate": "tanh"}), ("softmax", {"dim": 1}),
                                         ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1})])
def test_activations_match_torch(name, kwargs):
    torch = torch_or_skip()
    got = getattr(F, name)(tt.Tensor(X), **kwargs)
    expected = getattr(torch.nn.functional, name)(torch.tensor(X), **kwargs)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_losses_match_torch():
    torch = torch_or_skip()
    targets = np.array([0, 4, 2, 2])
    np.testing.assert_allclose(float(F.cross_entropy(tt.Tensor(X), targets)),
                               torch.nn.functional.cross_entropy(torch.tensor(X), torch.tensor(targets)).item(),
                               rtol=1e-6)
    ignored = np.array([0, -100, 2, -100])
    np.testing.assert_allclose(float(F.cross_entropy(tt.Tensor(X), ignored)),
                               torch.nn.functional.cross_entropy(torch.tensor(X), torch.tensor(ignored)).item(),
                               rtol=1e-6)
    y = RNG.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(float(F.mse_loss(tt.Tensor(X), tt.Tensor(y))),
                               torch.nn.functional.mse_loss(torch.tensor(X), torch.tensor(y)).item(), rtol=1e-6)
    p = 1 / (1 + np.exp(-X))
    t = (RNG.random((4, 5)) > 0.5).astype(np.float32)
    np.testing.assert_allclose(float(F.binary_cross_entropy(tt.Tensor(p), tt.Tensor(t))),
                               torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t)).item(),
                               rtol=1e-5)


def test_layer_norm_embedding_one_hot_match_torch():
    torch = torch_or_skip()
    w, b = RNG.standard_normal(5).astype(np.float32), RNG.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(F.layer_norm(tt.Tensor(X), (5,), tt.Tensor(w), tt.Tensor(b)).numpy(),
                               torch.nn.functional.layer_norm(torch.tensor(X), (5,), torch.tensor(w),
                                                              torch.tensor(b)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.layer_norm(tt.Tensor(X), 5).numpy(),
                               torch.nn.functional.layer_norm(torch.tensor(X), (5,)).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape must be the input's last dimension"):
        F.layer_norm(tt.Tensor(X), (4, 5))
    ids = np.array([[0, 3], [2, 2]])
    np.testing.assert_array_equal(F.embedding(ids, tt.Tensor(X)).numpy(), X[ids])
    got = F.one_hot(tt.Tensor(np.array([2, 0, 1])), 4)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), torch.nn.functional.one_hot(torch.tensor([2, 0, 1]), 4).numpy())


def test_flatten_keeps_the_batch_dimension_and_pooling_matches_torch():
    torch = torch_or_skip()
    img = RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert F.flatten(tt.Tensor(img)).shape == (2, 48)
    assert F.flatten(tt.Tensor(img), start_dim=0).shape == (96,)
    np.testing.assert_allclose(F.max_pool2d(tt.Tensor(img), 2).numpy(),
                               torch.nn.functional.max_pool2d(torch.tensor(img), 2).numpy())
    np.testing.assert_allclose(F.avg_pool2d(tt.Tensor(img), 2).numpy(),
                               torch.nn.functional.avg_pool2d(torch.tensor(img), 2).numpy(), rtol=1e-6)
    w = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(F.conv2d(tt.Tensor(img), tt.Tensor(w), padding=1).numpy(),
                               torch.nn.functional.conv2d(torch.tensor(img), torch.tensor(w), padding=1).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_dropout_is_identity_when_not_training_and_scales_survivors():
    t = tt.Tensor(np.ones((50, 40), np.float32))
    np.testing.assert_array_equal(F.dropout(t, 0.5, training=False).numpy(), np.ones((50, 40)))
    out = F.dropout(t, p=0.25).numpy()
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}


def test_gradients_flow_through_functional():
    x = tt.Tensor(X.astype(np.float64), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda a: F.log_softmax(a, dim=1), (x,))
    assert gradcheck(lambda a: F.gelu(a), (x,))
    assert gradcheck(lambda a: F.cross_entropy(a, np.array([0, 4, 2, 2])), (x,))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(tt.Tensor(X), approximate="fast")
