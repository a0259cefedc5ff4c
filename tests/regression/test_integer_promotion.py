"""Float-only ops on bool/int64 tensors compute in float32 (tinytorch's
default float) instead of raising; values match numpy's float64 results to
float32 precision and torch's float32 results."""
import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from conftest import torch_or_skip
from tinytorch import nn

pytestmark = pytest.mark.regression

INTS = np.array([[1, 2, 3], [4, -5, 7]], dtype=np.int64)
POSITIVE = np.array([[1, 2, 3], [4, 5, 7]], dtype=np.int64)
BOOLS = np.array([[True, False, True], [False, False, True]])

UNARY = {
    "exp": (tt.exp, np.exp, INTS), "log": (tt.log, np.log, POSITIVE), "sqrt": (tt.sqrt, np.sqrt, POSITIVE),
    "sin": (tt.sin, np.sin, INTS), "cos": (tt.cos, np.cos, INTS), "tanh": (tt.tanh, np.tanh, INTS),
    "sigmoid": (tt.sigmoid, lambda x: 1 / (1 + np.exp(-x)), INTS),
    "softmax": (lambda t: tt.softmax(t, -1), lambda x: np.exp(x - x.max(-1, keepdims=True))
                / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True), INTS),
    "log_softmax": (lambda t: tt.log_softmax(t, -1), lambda x: x - x.max(-1, keepdims=True)
                    - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)), INTS),
    "logsumexp": (lambda t: tt.logsumexp(t, 1), lambda x: np.log(np.exp(x).sum(1)), INTS),
    "mean": (lambda t: t.mean(), np.mean, INTS), "mean0": (lambda t: t.mean(axis=0), lambda x: x.mean(0), INTS),
    "var": (tt.var, np.var, INTS), "std": (lambda t: tt.std(t, ddof=1), lambda x: np.std(x, ddof=1), INTS),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("data", ["int64", "bool"])
def test_float_only_ops_promote_to_float32(name, data):
    ours, ref, values = UNARY[name]
    if data == "bool":
        if name in ("log", "sqrt"):
            values = BOOLS.astype(np.int64) + 1  # keep log finite; still an int input
        else:
            values = BOOLS
    got = ours(tt.Tensor(values))
    assert got.dtype == np.float32
    expected = ref(values.astype(np.float64))
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6, atol=1e-6)


def test_softmax_module_and_functional_on_ints_match_torch():
    torch = torch_or_skip()
    expected = torch.softmax(torch.tensor(INTS, dtype=torch.float32), dim=1).numpy()
    for got in (nn.Softmax(dim=1)(tt.Tensor(INTS)), F.softmax(tt.Tensor(INTS), dim=1), tt.Tensor(INTS).softmax(1)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_cross_entropy_with_integer_logits_matches_torch():
    torch = torch_or_skip()
    targets = np.array([2, 0])
    got = nn.CrossEntropyLoss()(tt.Tensor(INTS), targets)
    expected = torch.nn.functional.cross_entropy(torch.tensor(INTS, dtype=torch.float32), torch.tensor(targets))
    assert got.dtype == np.float32
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_layer_norm_of_integers_matches_torch_and_trains_its_parameters():
    torch = torch_or_skip()
    ln = nn.LayerNorm(3)
    out = ln(tt.Tensor(INTS))
    tln = torch.nn.LayerNorm(3)
    expected = tln(torch.tensor(INTS, dtype=torch.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    # gamma and beta still get gradients when the input is an int tensor
    (out * tt.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))).sum().backward()
    (expected * torch.arange(6, dtype=torch.float32).reshape(2, 3)).sum().backward()
    np.testing.assert_allclose(ln.gamma.grad.numpy(), tln.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ln.beta.grad.numpy(), tln.bias.grad.numpy(), rtol=1e-6)


def test_float_inputs_keep_their_dtype():
    x64 = tt.Tensor(INTS.astype(np.float64), dtype=np.float64)
    assert tt.softmax(x64, -1).dtype == np.float64
    assert tt.exp(x64).dtype == np.float64
    assert tt.Tensor(INTS).float().softmax(-1).dtype == np.float32


def test_integer_only_ops_keep_integers():
    t = tt.Tensor(INTS)
    assert tt.relu(t).dtype == np.int64 and tt.abs(t).dtype == np.int64
    np.testing.assert_array_equal(tt.relu(t).numpy(), np.maximum(INTS, 0))
    assert t.sum().dtype == np.int64 and int(t.sum()) == int(INTS.sum())


def test_conv2d_still_requires_float_input_like_pytorch():
    with pytest.raises(TypeError, match="conv2d: input must be float32 or float64, got int64"):
        F.conv2d(tt.Tensor(np.ones((1, 1, 3, 3), np.int64)), tt.ones((1, 1, 2, 2)))
