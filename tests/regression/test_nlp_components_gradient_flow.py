"""Gradient flow through every NLP component, module by module (10 -> 13).

The nine component checks of the TinyTorch regression suite: tokenization
round trip, embedding (sparse gradient rows exactly at the used indices),
positional encoding, scaled dot-product attention with and without a mask,
multi-head attention, LayerNorm, MLP, a transformer block and a full GPT.
Each check asserts values, not just "a gradient exists".
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.attention import MultiHeadAttention, scaled_dot_product_attention
from tinytorch.core.embeddings import Embedding, PositionalEncoding
from tinytorch.core.tensor import Tensor
from tinytorch.core.tokenization import CharTokenizer
from tinytorch.models.transformer import GPT, MLP, LayerNorm, TransformerBlock

pytestmark = pytest.mark.regression


def rng(seed):
    return np.random.default_rng(seed)


def norm(g):
    return float(np.linalg.norm(np.asarray(g)))


def test_tokenization_round_trip():
    tokenizer = CharTokenizer()
    text = "Hello, World"
    tokenizer.build_vocab([text])
    ids = tokenizer.encode(text)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    assert len(ids) == len(text) and min(ids) >= 1  # every character is known (0 is <UNK>)
    assert tokenizer.decode(ids) == text
    # ids feed an Embedding directly
    emb = Embedding(tokenizer.vocab_size, 4)
    assert emb(Tensor([ids])).shape == (1, len(text), 4)


def test_embedding_gradient_rows_only_at_used_indices():
    emb = Embedding(vocab_size=10, embed_dim=8)
    indices = Tensor([[1, 3, 5, 3]])  # 3 used twice
    out = emb(indices)
    assert out.shape == (1, 4, 8) and out.requires_grad
    assert type(out.grad_fn).__name__ == "EmbeddingBackward"
    np.testing.assert_array_equal(np.asarray(out)[0], np.asarray(emb.weight)[[1, 3, 5, 3]])
    out.backward(np.ones((1, 4, 8), dtype=np.float32))
    expected = np.zeros((10, 8), dtype=np.float32)
    expected[1], expected[3], expected[5] = 1, 2, 1  # repeated index: gradients add up
    np.testing.assert_array_equal(np.asarray(emb.weight.grad), expected)


def test_positional_encoding_gradient_flow():
    pe = PositionalEncoding(10, 8)
    x = Tensor(rng(0).standard_normal((2, 5, 8)), requires_grad=True)
    out = pe(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(x) + np.asarray(pe.position_embeddings)[:5], rtol=1e-6)
    out.backward(np.ones((2, 5, 8), dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(x.grad), np.ones((2, 5, 8)))
    g = np.asarray(pe.position_embeddings.grad)
    np.testing.assert_array_equal(g[:5], np.full((5, 8), 2.0))  # summed over the batch
    np.testing.assert_array_equal(g[5:], 0)                     # unused positions


def _attention_reference(q, k, v, keep=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if keep is not None:
        s = np.where(keep, s, -1e9)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ v, w


@pytest.mark.parametrize("masked", [False, True])
def test_scaled_dot_product_attention_gradient_flow(masked):
    B, T, D = 2, 4, 8
    r = rng(1)
    Q, K, V = (Tensor(r.standard_normal((B, T, D)), requires_grad=True, dtype=np.float64) for _ in range(3))
    mask = Tensor(np.tril(np.ones((T, T)))) if masked else None
    out, weights = scaled_dot_product_attention(Q, K, V, mask=mask)
    ref_out, ref_w = _attention_reference(*(np.asarray(t) for t in (Q, K, V)),
                                          keep=np.tril(np.ones((T, T))) > 0 if masked else None)
    np.testing.assert_allclose(np.asarray(out), ref_out, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(weights), ref_w, rtol=1e-12, atol=1e-300)
    out.backward(np.ones((B, T, D)))
    for t in (Q, K, V):
        assert t.grad is not None and norm(t.grad) > 1e-8
    if masked:
        # The last key/value is seen only by the last query: its V gradient is that query's weight.
        np.testing.assert_allclose(np.asarray(V.grad)[:, -1, :],
                                   np.repeat(ref_w[:, -1, -1:], D, axis=1), rtol=1e-12)
    assert tt.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0], (Q, K, V))


def test_multi_head_attention_all_projections_learn():
    mha = MultiHeadAttention(embed_dim=16, num_heads=4)
    x = Tensor(rng(2).standard_normal((2, 6, 16)), requires_grad=True)
    out = mha(x, mask=Tensor(np.tril(np.ones((6, 6)))))
    assert out.shape == (2, 6, 16) and out.requires_grad
    (out * Tensor(rng(3).standard_normal((2, 6, 16)))).sum().backward()
    for proj in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
        assert proj.weight.grad is not None and norm(proj.weight.grad) > 1e-6
        assert proj.bias.grad is not None
    for proj in (mha.q_proj, mha.v_proj, mha.out_proj):
        assert norm(proj.bias.grad) > 1e-6
    assert norm(mha.k_proj.bias.grad) < 1e-5  # softmax ignores a per-query constant shift
    assert norm(x.grad) > 1e-6


def test_layernorm_gradient_flow():
    ln = LayerNorm(8)
    assert ln.gamma.requires_grad and ln.beta.requires_grad
    x = Tensor(rng(4).standard_normal((2, 4, 8)), requires_grad=True)
    out = ln(x)
    assert out.requires_grad and out.grad_fn is not None
    y = np.asarray(out)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-4)
    seed = rng(5).standard_normal((2, 4, 8)).astype(np.float32)
    out.backward(seed)
    np.testing.assert_allclose(np.asarray(ln.beta.grad), seed.sum((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ln.gamma.grad), (seed * y).sum((0, 1)), rtol=1e-4, atol=1e-5)
    assert norm(x.grad) > 1e-6


def test_mlp_gradient_flow():
    mlp = MLP(embed_dim=16, hidden_dim=64)
    x = Tensor(rng(6).standard_normal((2, 4, 16)), requires_grad=True)
    out = mlp(x)
    assert out.shape == x.shape and out.requires_grad
    out.backward(np.ones((2, 4, 16), dtype=np.float32))
    for layer in (mlp.linear1, mlp.linear2):
        assert norm(layer.weight.grad) > 1e-6 and norm(layer.bias.grad) > 1e-6
    # linear2's bias gradient is the upstream gradient summed over all positions
    # (dropout is active in training mode: only the kept positions count, scaled by 1/(1-p))
    mlp.eval()
    mlp.zero_grad()
    mlp(x).backward(np.ones((2, 4, 16), dtype=np.float32))
    np.testing.assert_allclose(np.asarray(mlp.linear2.bias.grad), np.full(16, 8.0))


def test_transformer_block_gradient_flow():
    block = TransformerBlock(embed_dim=16, num_heads=4)
    x = Tensor(rng(7).standard_normal((2, 8, 16)), requires_grad=True)
    out = block(x, mask=Tensor(np.tril(np.ones((8, 8)))))
    assert out.shape == x.shape and out.requires_grad
    out.backward(rng(8).standard_normal((2, 8, 16)).astype(np.float32))
    components = [block.ln1.gamma, block.ln1.beta, block.attention.q_proj.weight, block.attention.k_proj.weight,
                  block.attention.v_proj.weight, block.attention.out_proj.weight, block.ln2.gamma, block.ln2.beta,
                  block.mlp.linear1.weight, block.mlp.linear2.weight]
    for p in components:
        assert p.grad is not None and norm(p.grad) > 1e-6
    assert len(block.parameters()) == 16


def test_full_gpt_model_gradient_flow():
    model = GPT(vocab_size=20, embed_dim=16, num_layers=2, num_heads=4)
    params = model.parameters()
    assert len(params) == 37
    x = Tensor(rng(9).integers(0, 20, (2, 8)))
    logits = model(x)
    assert logits.shape == (2, 8, 20)
    logits.sum().backward()
    assert sum(p.grad is not None for p in params) == 37
    for p in (model.token_embedding.weight, model.position_embedding.weight, model.blocks[0].attention.q_proj.weight,
              model.blocks[0].mlp.linear1.weight, model.ln_f.gamma, model.lm_head.weight):
        assert norm(p.grad) > 1e-6
    # only the 8 positions used get position-embedding gradients
    g = np.asarray(model.position_embedding.weight.grad)
    assert np.all(g[8:] == 0) and np.all(np.abs(g[:8]).sum(-1) > 0)
