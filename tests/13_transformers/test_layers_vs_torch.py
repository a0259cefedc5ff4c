"""Every layer against PyTorch on the same weights: outputs and the gradients
of the input and of every parameter.

The reference (nn_torch_reference.py) is written with torch.nn.functional and
tensor ops from the weights copied out of the tinytorch module. float64 runs
must agree to ~1e-10 (same math, different summation order); float32 runs to
the accuracy of float32 arithmetic through a few layers.
"""
import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from nn_torch_reference import attention, block, gpt, layer_norm, leaves, linear, mlp
from tinytorch.core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.embeddings import Embedding, PositionalEncoding
from tinytorch.core.layers import Linear
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from tinytorch.core.transformer import GPT, MLP, LayerNorm, TransformerBlock

pytestmark = pytest.mark.module13

# (numpy dtype, rtol, atol)
PRECISIONS = [pytest.param((np.float64, 1e-9, 1e-11), id="float64"),
              pytest.param((np.float32, 2e-4, 2e-5), id="float32")]


def torch_dtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def run_both(module, x_np, tt_forward, torch_forward, precision, seed=0, x_requires_grad=True):
    """Runs both sides with the same upstream gradient; compares output and all gradients."""
    torch = torch_or_skip()
    dtype, rtol, atol = precision
    module.to(dtype)
    x = tt.Tensor(x_np.astype(dtype), requires_grad=x_requires_grad, dtype=dtype) \
        if np.issubdtype(x_np.dtype, np.floating) else tt.Tensor(x_np, dtype=np.int64)
    out = tt_forward(module, x)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(g)

    td = torch_dtype(torch, dtype)
    p = leaves(torch, module, td)
    xt = torch.tensor(x_np.astype(dtype), dtype=td, requires_grad=x_requires_grad) \
        if np.issubdtype(x_np.dtype, np.floating) else torch.tensor(x_np)
    out_t = torch_forward(p, xt)
    out_t.backward(torch.tensor(g, dtype=td))

    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), rtol=rtol, atol=atol)
    if x_requires_grad and np.issubdtype(x_np.dtype, np.floating):
        np.testing.assert_allclose(np.asarray(x.grad), xt.grad.numpy(), rtol=rtol, atol=atol)
    for name, param in module.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        np.testing.assert_allclose(np.asarray(param.grad), p[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")
    return out


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7,), (4, 7), (2, 3, 7)])
def test_linear(precision, bias, shape):
    tt.manual_seed(1)
    layer = Linear(7, 5, bias=bias)
    run_both(layer, randn(*shape), lambda m, x: m(x), lambda p, x: linear(None, x, p, ""), precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_layer_norm(precision):
    tt.manual_seed(2)
    ln = LayerNorm(16)
    ln.gamma = tt.Tensor(randn(16, seed=5) + 1.0, requires_grad=True)  # non-trivial gamma and beta
    ln.beta = tt.Tensor(randn(16, seed=6), requires_grad=True)
    torch = torch_or_skip()
    run_both(ln, randn(3, 5, 16) * 3 + 1, lambda m, x: m(x), lambda p, x: layer_norm(torch, x, p, ""), precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_mlp(precision):
    tt.manual_seed(3)
    m = MLP(8, 24, dropout_prob=0.1).eval()
    torch = torch_or_skip()
    run_both(m, randn(2, 5, 8), lambda mod, x: mod(x), lambda p, x: mlp(torch, x, p, ""), precision)


def _masks(T):
    rng = np.random.default_rng(9)
    keep_random = rng.random((2, T, T)) > 0.3
    keep_random[:, :, 0] = True  # every query keeps at least one key
    return {
        "none": (None, "none"),
        "causal keep (tril ones)": (np.tril(np.ones((T, T))), "keep"),
        "causal additive (-inf)": (np.triu(np.full((T, T), -np.inf), 1), "additive"),
        "causal additive (-1e9)": (-1e9 * np.triu(np.ones((T, T)), 1), "additive"),
        "bool keep (batch, T, T)": (keep_random, "keep"),
        "additive float (batch, heads, T, T)": (rng.standard_normal((2, 4, T, T)), "additive"),
        "keep with a fully blocked row": (np.tril(np.ones((T, T)), -1), "keep"),
    }


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mask_name", list(_masks(6)))
def test_multi_head_attention(precision, mask_name):
    torch = torch_or_skip()
    mask, kind = _masks(6)[mask_name]
    tt.manual_seed(4)
    mha = MultiHeadAttention(16, 4)
    tt_mask = None if mask is None else tt.Tensor(mask, dtype=mask.dtype if mask.dtype == bool else np.float64)
    run_both(mha, randn(2, 6, 16), lambda m, x: m(x, tt_mask),
             lambda p, x: attention(torch, x, p, "", 4, mask, kind), precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_transformer_block_causal(precision):
    torch = torch_or_skip()
    tt.manual_seed(5)
    blk = TransformerBlock(16, 2, mlp_ratio=2, dropout_prob=0.0)
    T = 7
    mask = tt.Tensor(np.tril(np.ones((T, T))))
    run_both(blk, randn(3, T, 16), lambda m, x: m(x, mask),
             lambda p, x: block(torch, x, p, "", 2, mask_kind="causal"), precision)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_gpt_with_cross_entropy(precision):
    """The whole model and its loss: logits, loss and all 37 parameter gradients."""
    torch = torch_or_skip()
    dtype, rtol, atol = precision
    tt.manual_seed(6)
    model = GPT(vocab_size=11, embed_dim=16, num_layers=2, num_heads=4, max_seq_len=12).to(dtype)
    rng = np.random.default_rng(7)
    tokens, targets = rng.integers(0, 11, (3, 9)), rng.integers(0, 11, (3, 9))
    targets[0, :2] = -100  # ignored positions
    logits = model(tt.Tensor(tokens, dtype=np.int64))
    loss = CrossEntropyLoss()(logits, tt.Tensor(targets, dtype=np.int64))
    loss.backward()

    p = leaves(torch, model, torch_dtype(torch, dtype))
    logits_t = gpt(torch, tokens, p, 2, 4)
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, 11), torch.tensor(targets).reshape(-1),
                                               ignore_index=-100)
    loss_t.backward()
    assert len(model.parameters()) == 37
    np.testing.assert_allclose(np.asarray(logits), logits_t.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=rtol)
    for name, param in model.named_parameters():
        np.testing.assert_allclose(np.asarray(param.grad), p[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_embedding_and_positional_encoding(precision):
    torch = torch_or_skip()
    tt.manual_seed(8)
    emb = Embedding(10, 6)
    tokens = np.array([[1, 3, 3, 9], [0, 1, 2, 3]])
    run_both(emb, tokens, lambda m, x: m(x), lambda p, x: p["weight"][x], precision)
    pe = PositionalEncoding(8, 6)
    run_both(pe, randn(2, 5, 6), lambda m, x: m(x), lambda p, x: x + p["position_embeddings"][:5], precision)


@pytest.mark.parametrize("name, module, reference", [
    ("relu", ReLU(), lambda torch, x: torch.relu(x)),
    ("sigmoid", Sigmoid(), lambda torch, x: torch.sigmoid(x)),
    ("tanh", Tanh(), lambda torch, x: torch.tanh(x)),
    ("gelu tanh", GELU(), lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh")),
    ("gelu erf", GELU("none"), lambda torch, x: torch.nn.functional.gelu(x)),
    ("softmax last", Softmax(), lambda torch, x: torch.softmax(x, -1)),
    ("softmax dim 0", Softmax(dim=0), lambda torch, x: torch.softmax(x, 0)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations(name, module, reference, dtype):
    torch = torch_or_skip()
    # float32: a few ulps of outputs of size ~1 (erf-based GELU loses relative accuracy in its
    # far negative tail, where both libraries return values within ~1e-7 of 0).
    rtol, atol = (2e-6, 1e-6) if dtype == np.float32 else (1e-12, 1e-14)
    x_np = (randn(4, 6, seed=11) * 3).astype(dtype)
    x = tt.Tensor(x_np, requires_grad=True, dtype=dtype)
    y = module(x)
    g = randn(4, 6, seed=12).astype(dtype)
    y.backward(g)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = reference(torch, xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(np.asarray(x.grad), xt.grad.numpy(), rtol=10 * rtol, atol=10 * atol)


def test_losses():
    torch = torch_or_skip()
    rng = np.random.default_rng(13)
    F = torch.nn.functional
    # MSE with broadcasting targets
    p_np, t_np = rng.standard_normal((5, 3)), rng.standard_normal((3,))
    p = tt.Tensor(p_np, requires_grad=True, dtype=np.float64)
    loss = MSELoss()(p, tt.Tensor(t_np, dtype=np.float64))
    loss.backward()
    pt = torch.tensor(p_np, requires_grad=True)
    lt = F.mse_loss(pt, torch.tensor(t_np).expand(5, 3))
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(p.grad), pt.grad.numpy(), rtol=1e-12)
    # cross-entropy (N, T, C) with ignore_index, large logits
    logits_np = rng.standard_normal((2, 4, 7)) * 50
    targets = rng.integers(0, 7, (2, 4))
    targets[1, 3] = 5
    targets[0, 0] = 5
    lg = tt.Tensor(logits_np, requires_grad=True, dtype=np.float64)
    loss = CrossEntropyLoss(ignore_index=5)(lg, targets)
    loss.backward()
    lgt = torch.tensor(logits_np, requires_grad=True)
    lt = F.cross_entropy(lgt.reshape(-1, 7), torch.tensor(targets).reshape(-1), ignore_index=5)
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(lg.grad), lgt.grad.numpy(), rtol=1e-10, atol=1e-14)
    # binary cross-entropy
    pr_np, y_np = rng.uniform(0.05, 0.95, (6,)), (rng.random(6) > 0.5).astype(np.float64)
    pr = tt.Tensor(pr_np, requires_grad=True, dtype=np.float64)
    loss = BinaryCrossEntropyLoss()(pr, tt.Tensor(y_np, dtype=np.float64))
    loss.backward()
    prt = torch.tensor(pr_np, requires_grad=True)
    lt = F.binary_cross_entropy(prt, torch.tensor(y_np))
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(pr.grad), prt.grad.numpy(), rtol=1e-10)
