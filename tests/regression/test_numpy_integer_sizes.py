"""Layer sizes given as numpy integers are accepted everywhere, as in PyTorch
(`Linear(np.prod(image.shape), 10)`), stored as Python ints, and give the
same layer as the Python int; floats and bools are still refused."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.core.embeddings import EmbeddingLayer, create_sinusoidal_embeddings
from tinytorch.core.transformer import GPT, MLP

pytestmark = pytest.mark.regression

NUMPY_INTS = (np.int64, np.int32, np.int16, np.uint8, np.intp)


def _same_weights(make, py_args, np_args):
    tt.manual_seed(7)
    a = make(*py_args)
    tt.manual_seed(7)
    b = make(*np_args)
    pa, pb = list(a.parameters()), list(b.parameters())
    assert [p.shape for p in pa] == [p.shape for p in pb]
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    return b


@pytest.mark.parametrize("np_int", NUMPY_INTS)
def test_linear_takes_numpy_integers(np_int):
    layer = _same_weights(nn.Linear, (6, 2), (np_int(6), np_int(2)))
    assert type(layer.in_features) is int and layer.in_features == 6
    assert type(layer.out_features) is int and layer.weight.shape == (6, 2)
    # np.prod of a shape is an np.int64: the case students hit
    assert nn.Linear(np.prod((2, 3)), 4).weight.shape == (6, 4)
    x = tt.Tensor(np.ones((3, 6), np.float32))
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ layer.weight.numpy() + layer.bias.numpy(), rtol=1e-6)


@pytest.mark.parametrize("make,py_args,np_args,shapes", [
    (nn.Conv2d, (3, 4, 3), (np.int64(3), np.int32(4), np.int64(3)), [(4, 3, 3, 3), (4,)]),
    (nn.Embedding, (10, 4), (np.int64(10), np.int64(4)), [(10, 4)]),
    (nn.PositionalEncoding, (16, 4), (np.int64(16), np.int64(4)), [(16, 4)]),
    (nn.LayerNorm, (8,), (np.int64(8),), [(8,), (8,)]),
    (MLP, (8, 16), (np.int64(8), np.int64(16)), [(8, 16), (16,), (16, 8), (8,)]),
    (EmbeddingLayer, (10, 4, 6), (np.int64(10), np.int64(4), np.int64(6)), [(10, 4), (6, 4)]),
])
def test_layers_take_numpy_integers(make, py_args, np_args, shapes):
    layer = _same_weights(make, py_args, np_args)
    assert [p.shape for p in layer.parameters()] == shapes


def test_attention_and_blocks_take_numpy_integers():
    mha = _same_weights(nn.MultiHeadAttention, (8, 2), (np.int64(8), np.int64(2)))
    assert (type(mha.embed_dim), type(mha.num_heads), mha.head_dim) == (int, int, 4)
    block = _same_weights(nn.TransformerBlock, (8, 2), (np.int64(8), np.int64(2)))
    x = tt.Tensor(np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32))
    assert block(x).shape == (1, 3, 8)
    gpt = _same_weights(GPT, (11, 8, 1, 2, 5), (np.int64(11), np.int64(8), np.int64(1), np.int64(2), np.int64(5)))
    assert gpt(tt.Tensor(np.array([[1, 2, 3]]))).shape == (1, 3, 11)


def test_sinusoidal_table_takes_numpy_integers():
    np.testing.assert_array_equal(create_sinusoidal_embeddings(np.int64(5), np.int64(4)).numpy(),
                                  create_sinusoidal_embeddings(5, 4).numpy())


@pytest.mark.parametrize("bad", [2.0, 2.5, np.float32(3.0), True, np.bool_(True), 0, np.int64(0), -1, "3", None])
def test_non_integer_or_non_positive_sizes_still_raise(bad):
    for make, what in ((lambda v: nn.Linear(v, 2), "Linear: in_features"),
                       (lambda v: nn.Conv2d(3, v, 3), "Conv2d: out_channels"),
                       (lambda v: nn.Embedding(v, 4), "Embedding: vocab_size"),
                       (lambda v: nn.PositionalEncoding(8, v), "PositionalEncoding: embed_dim"),
                       (lambda v: nn.MultiHeadAttention(8, v), "MultiHeadAttention: num_heads")):
        with pytest.raises(ValueError, match=f"{what} must be a positive integer, got"):
            make(bad)


def test_other_counts_and_probabilities_take_numpy_scalars():
    from tinytorch.core.tokenization import BPETokenizer
    tok = BPETokenizer(np.int64(300), np.int64(3))
    assert (tok.target_vocab_size, tok.min_frequency) == (300, 3) and type(tok.min_frequency) is int
    drop = nn.Dropout(np.float32(0.25))
    assert type(drop.p) is float and drop.p == 0.25
    for bad in (True, 1.5, -0.1, "0.5"):
        with pytest.raises(ValueError, match="Dropout probability must be between 0.0 and 1.0"):
            nn.Dropout(bad)
