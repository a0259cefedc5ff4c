"""Module 11: token embeddings, learned and sinusoidal positional encodings."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.embeddings import (Embedding, EmbeddingLayer, PositionalEncoding, SinusoidalPositionalEncoding,
                                       create_sinusoidal_embeddings)
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module11


def test_embedding_init_and_lookup():
    tt.manual_seed(0)
    emb = Embedding(vocab_size=100, embed_dim=64)
    w = np.asarray(emb.weight)
    assert w.shape == (100, 64) and emb.weight.requires_grad
    limit = math.sqrt(6 / 164)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit  # uniform(-limit, limit)
    tokens = Tensor([[1, 2, 3], [4, 5, 6]])
    out = emb(tokens)
    assert out.shape == (2, 3, 64)
    np.testing.assert_array_equal(np.asarray(out), w[[[1, 2, 3], [4, 5, 6]]])


@pytest.mark.parametrize("indices", [
    [3, 0, 3], np.array([[3, 0], [1, 1]]), np.array([2.0, 5.0]), Tensor([1.0, 4.0]), Tensor(np.array([7]))])
def test_embedding_accepts_any_index_container(indices):
    emb = Embedding(10, 3)
    ids = np.asarray(indices.data if isinstance(indices, Tensor) else indices).astype(np.int64)
    np.testing.assert_array_equal(np.asarray(emb(indices)), np.asarray(emb.weight)[ids])


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), vocab=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_embedding_gradient_is_a_scatter_add(shape, vocab, seed):
    rng = np.random.default_rng(seed)
    emb = Embedding(vocab, 4)
    ids = rng.integers(0, vocab, shape)
    g = rng.standard_normal(tuple(shape) + (4,)).astype(np.float32)
    emb(ids).backward(g)
    expected = np.zeros((vocab, 4), dtype=np.float64)
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, 4))
    np.testing.assert_allclose(np.asarray(emb.weight.grad), expected, rtol=1e-5, atol=1e-6)
    unused = np.setdiff1d(np.arange(vocab), ids)
    assert np.all(np.asarray(emb.weight.grad)[unused] == 0)


def test_embedding_out_of_range_names_index_and_vocab():
    emb = Embedding(10, 4)
    with pytest.raises(IndexError, match="index 10 is out of range for vocab_size 10"):
        emb(Tensor([[1, 10]]))
    with pytest.raises(IndexError, match="index -1 is out of range for vocab_size 10"):
        emb([-1])
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        Embedding(0, 4)


def test_positional_encoding_adds_rows_and_routes_gradients():
    tt.manual_seed(1)
    pe = PositionalEncoding(max_seq_len=8, embed_dim=6)
    table = np.asarray(pe.position_embeddings)
    assert table.shape == (8, 6) and np.abs(table).max() <= math.sqrt(2 / 6)
    x = Tensor(np.random.default_rng(2).standard_normal((3, 5, 6)), requires_grad=True)
    out = pe(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(x) + table[:5], rtol=1e-6)
    g = np.random.default_rng(3).standard_normal((3, 5, 6)).astype(np.float32)
    out.backward(g)
    np.testing.assert_array_equal(np.asarray(x.grad), g)
    expected = np.zeros((8, 6), dtype=np.float32)
    expected[:5] = g.sum(0)
    np.testing.assert_allclose(np.asarray(pe.position_embeddings.grad), expected, rtol=1e-6, atol=1e-6)
    pe64 = PositionalEncoding(4, 3).double()
    assert gradcheck(lambda x, p: pe64(x), (Tensor(np.ones((2, 3, 3)), requires_grad=True, dtype=np.float64),
                                            pe64.position_embeddings))


def test_positional_encoding_errors():
    pe = PositionalEncoding(4, 6)
    with pytest.raises(ValueError, match="sequence length 5 exceeds max_seq_len=4"):
        pe(Tensor(np.zeros((1, 5, 6))))
    with pytest.raises(ValueError, match="embedding dimension mismatch: expected 6, got 5"):
        pe(Tensor(np.zeros((1, 3, 5))))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, seq_len, embed_dim\)"):
        pe(Tensor(np.zeros(6)))


@pytest.mark.parametrize("dim", [1, 6, 7])
def test_sinusoidal_encodings_match_the_formula(dim):
    pe = np.asarray(create_sinusoidal_embeddings(10, dim))
    assert pe.shape == (10, dim) and pe.dtype == np.float32
    for pos in range(10):
        for i in range(dim):
            angle = pos / 10000 ** (2 * (i // 2) / dim)
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert abs(pe[pos, i] - expected) < 1e-6
    layer = SinusoidalPositionalEncoding(10, dim)
    assert layer.parameters() == []
    x = Tensor(np.ones((2, 4, dim)))
    np.testing.assert_allclose(np.asarray(layer(x)), np.broadcast_to(1 + pe[:4], (2, 4, dim)), rtol=1e-6)


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal", None])
def test_embedding_layer(pos_encoding):
    tt.manual_seed(4)
    layer = EmbeddingLayer(vocab_size=20, embed_dim=8, max_seq_len=16, pos_encoding=pos_encoding,
                           scale_embeddings=True)
    tokens = np.array([[1, 2, 3], [4, 5, 6]])
    out = layer(Tensor(tokens))
    expected = np.asarray(layer.token_embedding.weight)[tokens] * math.sqrt(8)
    if pos_encoding == "learned":
        expected = expected + np.asarray(layer.pos_encoding.position_embeddings)[:3]
    elif pos_encoding == "sinusoidal":
        expected = expected + np.asarray(create_sinusoidal_embeddings(16, 8))[:3]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-6)
    assert len(layer.parameters()) == (2 if pos_encoding == "learned" else 1)
    one = layer(Tensor([1, 2, 3]))  # a single sequence keeps its 2-D shape
    assert one.shape == (3, 8)
    np.testing.assert_allclose(np.asarray(one), expected[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown pos_encoding"):
        EmbeddingLayer(5, 4, pos_encoding="rotary")


def test_text_import_paths():
    from tinytorch.text.embeddings import Embedding as TextEmbedding
    assert TextEmbedding is Embedding


# Float ids: whole numbers are ids, anything else is an error (truncating 1.9 to 1,
# -0.5 to 0 or NaN to INT64_MIN would silently read the wrong row).

def test_whole_number_float_ids_are_accepted():
    tt.manual_seed(0)
    emb = Embedding(5, 2)
    w = np.asarray(emb.weight)
    np.testing.assert_array_equal(np.asarray(emb([2.0, 4.0])), w[[2, 4]])
    np.testing.assert_array_equal(np.asarray(emb(Tensor(np.array([[3.0]], dtype=np.float32)))), w[[[3]]])


@pytest.mark.parametrize("ids, shown, position", [
    ([1.9], "1.9", r"\(0,\)"),
    ([-0.5], "-0.5", r"\(0,\)"),
    ([[0.0, 1.0], [2.0, float("nan")]], "nan", r"\(1, 1\)"),
    ([float("inf")], "inf", r"\(0,\)"),
    ([1e19], "1e\\+19", r"\(0,\)"),  # a whole number, but beyond int64
])
def test_non_integer_float_ids_raise_naming_the_value(ids, shown, position):
    emb = Embedding(5, 2)
    for layer in (emb, EmbeddingLayer(5, 2, max_seq_len=4)):
        with pytest.raises(ValueError, match=rf"indices must be integer token ids, got {shown} at position {position}"):
            layer(ids)
        with pytest.raises(TypeError, match="integer token ids"):  # also a TypeError, like the losses' targets
            layer(Tensor(np.array(ids, dtype=np.float32)))


def test_non_numeric_ids_raise():
    with pytest.raises(TypeError, match=r"Embedding: indices must be integer token ids, got values of dtype <U1"):
        Embedding(5, 2)(["a"])
