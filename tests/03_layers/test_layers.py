"""Module 03: Linear, Dropout, Sequential against numpy, finite differences and their contracts."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Dropout, Linear, Sequential
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module03


def as_layout(v, layout):
    """A float64 tensor equal to v: contiguous, a transposed view, or a stepped slice."""
    if layout == "transposed" and v.ndim >= 2:
        return Tensor(np.ascontiguousarray(np.swapaxes(v, -1, -2)), dtype=np.float64).transpose(-1, -2)
    if layout == "stepped":
        big = np.zeros((2 * v.shape[0],) + v.shape[1:])
        big[::2] = v
        return Tensor(big, dtype=np.float64)[::2]
    return Tensor(v.copy(), dtype=np.float64)


def test_linear_shapes_and_init():
    tt.manual_seed(0)
    layer = Linear(784, 10)
    assert layer.weight.shape == (784, 10) and layer.bias.shape == (10,)
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert layer.weight.dtype == np.float32
    w = np.asarray(layer.weight)
    assert abs(w.std() - np.sqrt(1 / 784)) < 0.05 * np.sqrt(1 / 784)  # N(0, 1/in_features)
    assert abs(w.mean()) < 3 * np.sqrt(1 / 784) / np.sqrt(w.size)
    np.testing.assert_array_equal(np.asarray(layer.bias), 0)
    tt.manual_seed(0)
    np.testing.assert_array_equal(np.asarray(Linear(784, 10).weight), w)  # reproducible
    assert Linear(3, 2, bias=False).bias is None
    assert len(Linear(3, 2, bias=False).parameters()) == 1


@settings(max_examples=40, deadline=None)
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), n_in=st.integers(1, 6), n_out=st.integers(1, 5),
       bias=st.booleans(), layout=st.sampled_from(["contiguous", "transposed", "stepped"]),
       seed=st.integers(0, 2**31))
def test_linear_matches_numpy_and_finite_differences(lead, n_in, n_out, bias, layout, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(n_in, n_out, bias=bias).double()
    layer.weight = Tensor(rng.standard_normal((n_in, n_out)), requires_grad=True, dtype=np.float64)
    if bias:
        layer.bias = Tensor(rng.standard_normal(n_out), requires_grad=True, dtype=np.float64)
    x_np = rng.standard_normal(tuple(lead) + (n_in,))
    x = as_layout(x_np, layout)
    x.requires_grad = True
    expected = x_np @ np.asarray(layer.weight) + (np.asarray(layer.bias) if bias else 0)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-12, atol=1e-12)
    # finite differences perturb the parameters in place, so the module itself is checked
    assert gradcheck(lambda x, *params: layer(x), (x, *layer.parameters()))


def test_linear_float32_matches_numpy():
    rng = np.random.default_rng(1)
    layer = Linear(5, 3)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    expected = x.astype(np.float64) @ np.asarray(layer.weight, dtype=np.float64) + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer(Tensor(x))), expected, rtol=1e-5, atol=1e-6)
    # lists and numpy arrays are accepted as input
    np.testing.assert_allclose(np.asarray(layer(x.tolist())), expected, rtol=1e-5, atol=1e-6)


def test_linear_gradients_in_closed_form():
    layer = Linear(3, 2)
    x = Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    g = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)
    layer(x).backward(g)
    np.testing.assert_allclose(np.asarray(layer.weight.grad), np.asarray(x).T @ g, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.bias.grad), g.sum(0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x.grad), g @ np.asarray(layer.weight).T, rtol=1e-6)
    assert type(layer(x).grad_fn).__name__ == "LinearBackward"


def test_linear_errors():
    layer = Linear(4, 2)
    with pytest.raises(ValueError, match=r"Linear: input of shape \(3, 5\) does not match weight of shape \(4, 2\)"):
        layer(Tensor(np.ones((3, 5))))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="in_features must be a positive integer"):
            Linear(bad, 2)


def test_dropout_training_scales_survivors_and_masks_gradients():
    tt.manual_seed(3)
    drop = Dropout(0.25)
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    y = drop(x)
    out = np.asarray(y)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02  # 10,000 draws: 5 sigma ~ 0.02
    y.backward(np.full((200, 50), 3.0, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(x.grad), np.where(kept, 3 / 0.75, 0), rtol=1e-6)


def test_dropout_modes_and_overrides():
    drop = Dropout(0.5)
    x = Tensor(np.arange(1.0, 9.0))
    drop.eval()
    np.testing.assert_array_equal(np.asarray(drop(x)), np.asarray(x))
    tt.manual_seed(0)
    forced = np.asarray(drop.forward(Tensor(np.ones(1000)), training=True))
    assert 0.3 < (forced == 0).mean() < 0.7
    drop.train()
    np.testing.assert_array_equal(np.asarray(drop.forward(x, training=False)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(Dropout(0.0)(x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(Dropout(1.0)(x)), np.zeros(8))
    for bad in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="Dropout probability must be between 0.0 and 1.0"):
            Dropout(bad)


def test_sequential():
    tt.manual_seed(4)
    model = Sequential(Linear(3, 5), ReLU(), Linear(5, 2))
    x = Tensor(np.random.default_rng(5).standard_normal((4, 3)))
    h = np.maximum(np.asarray(x) @ np.asarray(model[0].weight) + np.asarray(model[0].bias), 0)
    expected = h @ np.asarray(model[2].weight) + np.asarray(model[2].bias)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)
    assert len(model) == 3 and len(model.parameters()) == 4
    assert [n for n, _ in model.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.2.weight",
                                                        "layers.2.bias"]
    same = Sequential([model[0], model[1]])
    assert len(same) == 2 and same[0] is model[0]
    assert isinstance(model[0:2], Sequential) and len(model[0:2]) == 2
    with pytest.raises(TypeError, match="layer 1 .* is not callable"):
        Sequential(Linear(1, 1), 3)
