"""Gradient flow through the transformer: every parameter of attention,
LayerNorm, MLP and a full GPT trained with cross-entropy gets a gradient.

One exception is mathematical, not a bug, and is tested as such: the KEY
projection's bias gets an exactly-zero gradient. Adding b_k to every key adds
q_i . b_k to every score of query i, the same constant along the softmax
row, and softmax ignores constant shifts. So its gradient is 0 up to
rounding (~1e-9 in float32, ~1e-17 in float64).
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.tensor import Tensor
from tinytorch.models.transformer import GPT, MLP, LayerNorm

pytestmark = pytest.mark.module13


def max_abs(g):
    return float(np.abs(np.asarray(g)).max())


def assert_all_parameters_learn(module):
    """Every parameter has a gradient; all but key biases have max |grad| > 1e-10, key biases ~0."""
    named = list(module.named_parameters())
    assert named, "the module has no parameters"
    reference = max(max_abs(p.grad) for _, p in named if p.grad is not None)
    for name, p in named:
        assert p.grad is not None, f"{name} received no gradient"
        assert p.grad.shape == p.shape, f"{name}: gradient shape {p.grad.shape} != parameter shape {p.shape}"
        if name.endswith("k_proj.bias"):
            assert max_abs(p.grad) <= 1e-5 * reference, f"{name}: the key bias gradient must vanish"
        else:
            assert max_abs(p.grad) > 1e-10, f"{name}: gradient is zero"
    return named


def test_multihead_attention_gradient_flow():
    tt.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 8, 16)), requires_grad=True)
    mha(x).sum().backward()
    assert len(assert_all_parameters_learn(mha)) == 8
    assert max_abs(x.grad) > 1e-10


def test_key_bias_gradient_is_zero_by_softmax_shift_invariance():
    tt.manual_seed(1)
    mha = MultiHeadAttention(8, 2).double()
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5, 8)), requires_grad=True, dtype=np.float64)
    (mha(x) ** 2).sum().backward()
    assert max_abs(mha.k_proj.bias.grad) < 1e-12
    assert max_abs(mha.q_proj.bias.grad) > 1e-3 and max_abs(mha.v_proj.bias.grad) > 1e-3


def test_layernorm_has_exactly_two_parameters_and_both_learn():
    ln = LayerNorm(16)
    params = ln.parameters()
    assert len(params) == 2
    assert params[0] is ln.gamma and params[1] is ln.beta
    x = Tensor(np.random.default_rng(2).standard_normal((2, 8, 16)), requires_grad=True)
    y = ln(x)
    (y * Tensor(np.random.default_rng(3).standard_normal((2, 8, 16)))).sum().backward()
    for p in params:
        assert p.grad is not None and max_abs(p.grad) > 1e-10
    # d/dx of a normalized row sums to zero along the row (mean subtraction).
    np.testing.assert_allclose(np.asarray(x.grad).sum(-1), 0, atol=1e-5)


def test_mlp_gradient_flow():
    tt.manual_seed(4)
    mlp = MLP(16)
    assert mlp.hidden_dim == 64
    x = Tensor(np.random.default_rng(5).standard_normal((2, 8, 16)), requires_grad=True)
    mlp(x).sum().backward()
    named = assert_all_parameters_learn(mlp)
    assert [n for n, _ in named] == ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"]


def test_full_gpt_gradient_flow_with_cross_entropy():
    tt.manual_seed(6)
    vocab, seq = 20, 8
    model = GPT(vocab_size=vocab, embed_dim=16, num_layers=2, num_heads=2, max_seq_len=32)
    rng = np.random.default_rng(7)
    tokens = Tensor(rng.integers(0, vocab, (2, seq)))
    targets = Tensor(rng.integers(0, vocab, (2, seq)))
    logits = model(tokens)
    assert logits.shape == (2, seq, vocab)
    loss = CrossEntropyLoss()(logits.reshape(2 * seq, vocab), targets.reshape(2 * seq))
    assert np.isfinite(loss.item()) and abs(loss.item() - np.log(vocab)) < 1.5  # near uniform at init
    loss.backward()
    named = assert_all_parameters_learn(model)
    assert len(named) == 37  # 2 embeddings + 2 x 16 per block + ln_f (2) + lm_head weight (no bias)


def test_attention_mask_gradient_flow_and_causality():
    tt.manual_seed(8)
    mha = MultiHeadAttention(16, 4)
    T = 4
    mask = Tensor(-1e9 * np.triu(np.ones((T, T)), k=1))
    x = Tensor(np.random.default_rng(9).standard_normal((2, T, 16)), requires_grad=True)
    out = mha(x, mask)
    out.sum().backward()
    assert_all_parameters_learn(mha)
    # Causality: the first position's output depends on the first input position only.
    x.grad = None
    out = mha(x, mask)
    out[:, 0, :].sum().backward()
    g = np.asarray(x.grad)
    assert np.all(g[:, 1:, :] == 0) and max_abs(g[:, 0, :]) > 1e-6


if __name__ == "__main__":  # `python tests/13_transformers/<this file>.py [pytest options]` runs it verbosely
    import sys

    sys.exit(pytest.main([__file__, "-v", *sys.argv[1:]]))
