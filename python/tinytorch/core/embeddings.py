"""Module 11: embeddings. Token lookup tables and positional encodings.

`Embedding` is a (vocab_size, embed_dim) table read by the C++ `embedding`
op; its backward scatter-adds each output row's gradient into the row of
the token it came from, so only the rows of tokens that were used receive
a gradient.
"""
import math

import numpy as np

from .. import _C
from . import overrides as _overrides
from ._sizes import positive_int
from .losses import integer_ids
from .module import Module
from .tensor import Tensor, _as_tensor

__all__ = ["Embedding", "PositionalEncoding", "SinusoidalPositionalEncoding", "EmbeddingLayer",
           "create_sinusoidal_embeddings", "BYTES_PER_FLOAT32", "MB_TO_BYTES"]

BYTES_PER_FLOAT32 = 4
MB_TO_BYTES = 1024 * 1024


def _token_ids(indices, where="Embedding"):
    """Token ids as an int64 tensor: Tensors, numpy arrays and lists of integers, or of
    whole-number floats; 1.9 or NaN raise NonIntegerIdError instead of picking a wrong row."""
    return integer_ids(indices, where, "indices", "token ids")


def _uniform(shape, limit):
    t = (_C.rand(*shape) * 2.0 - 1.0) * limit
    t.requires_grad = True
    return t


def _check_size(value, what, layer):
    return positive_int(value, what, layer)  # numpy integers too, like PyTorch


class Embedding(Module):
    """Maps token ids of any shape (...) to vectors (..., embed_dim).

    weight: (vocab_size, embed_dim), uniform in +-sqrt(6 / (vocab_size + embed_dim)).
    An id outside [0, vocab_size) raises IndexError naming the id and the vocab size.
    """

    def __init__(self, vocab_size, embed_dim):
        super().__init__()
        vocab_size = _check_size(vocab_size, "vocab_size", "Embedding")
        embed_dim = _check_size(embed_dim, "embed_dim", "Embedding")
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.weight = _uniform((vocab_size, embed_dim), math.sqrt(6.0 / (vocab_size + embed_dim)))

    def forward(self, indices):
        lookup = _overrides.get("embedding", _C.embedding)  # a student's Embedding under use_student(05)
        try:
            return lookup(self.weight, _token_ids(indices))
        except (IndexError, ValueError, TypeError) as err:  # name the layer the user called, not the op
            message = str(err)
            if message.startswith("embedding:"):
                raise type(err)("Embedding:" + message[len("embedding:"):]) from None
            raise

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}"


def _check_positions(x, max_seq_len, embed_dim, layer):
    if x.ndim not in (2, 3):
        raise ValueError(f"{layer}: expected input of shape (batch, seq_len, embed_dim) or (seq_len, embed_dim), "
                         f"got {x.shape}")
    seq_len, dim = x.shape[-2], x.shape[-1]
    if seq_len > max_seq_len:
        raise ValueError(f"{layer}: sequence length {seq_len} exceeds max_seq_len={max_seq_len}; "
                         f"crop the input or build the layer with a larger max_seq_len")
    if dim != embed_dim:
        raise ValueError(f"{layer}: embedding dimension mismatch: expected {embed_dim}, got {dim} (input {x.shape})")
    return seq_len


class PositionalEncoding(Module):
    """Learned positional encoding: adds position_embeddings[:seq_len] to x of shape (batch, seq_len, embed_dim).

    position_embeddings: (max_seq_len, embed_dim), uniform in +-sqrt(2 / embed_dim).
    Gradients reach both the input and the rows of the positions used.
    """

    def __init__(self, max_seq_len, embed_dim):
        super().__init__()
        max_seq_len = _check_size(max_seq_len, "max_seq_len", "PositionalEncoding")
        embed_dim = _check_size(embed_dim, "embed_dim", "PositionalEncoding")
        self.max_seq_len = max_seq_len
        self.embed_dim = embed_dim
        self.position_embeddings = _uniform((max_seq_len, embed_dim), math.sqrt(2.0 / embed_dim))

    def forward(self, x):
        x = _as_tensor(x, "PositionalEncoding")
        seq_len = _check_positions(x, self.max_seq_len, self.embed_dim, "PositionalEncoding")
        return x + self.position_embeddings[:seq_len]

    def extra_repr(self):
        return f"max_seq_len={self.max_seq_len}, embed_dim={self.embed_dim}"


def create_sinusoidal_embeddings(max_seq_len, embed_dim):
    """The fixed encodings of "Attention Is All You Need", a (max_seq_len, embed_dim) float32 tensor.

    PE[pos, 2i] = sin(pos / 10000^(2i / embed_dim)), PE[pos, 2i + 1] = cos(same angle).
    """
    max_seq_len = _check_size(max_seq_len, "max_seq_len", "create_sinusoidal_embeddings")
    embed_dim = _check_size(embed_dim, "embed_dim", "create_sinusoidal_embeddings")
    pos = np.arange(max_seq_len, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(10000.0) * np.arange(0, embed_dim, 2, dtype=np.float64) / embed_dim)
    pe = np.zeros((max_seq_len, embed_dim), dtype=np.float64)
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq[: embed_dim // 2])
    return Tensor(pe.astype(np.float32))


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal encodings (no parameters) to x of shape (batch, seq_len, embed_dim)."""

    def __init__(self, max_seq_len, embed_dim):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.embed_dim = embed_dim
        self.encodings = create_sinusoidal_embeddings(max_seq_len, embed_dim)  # a buffer, not a parameter

    def forward(self, x):
        x = _as_tensor(x, "SinusoidalPositionalEncoding")
        seq_len = _check_positions(x, self.max_seq_len, self.embed_dim, "SinusoidalPositionalEncoding")
        return x + self.encodings[:seq_len]

    def extra_repr(self):
        return f"max_seq_len={self.max_seq_len}, embed_dim={self.embed_dim}"


class EmbeddingLayer(Module):
    """Token embedding + positional encoding ('learned', 'sinusoidal' or None), TinyTorch's complete front end.

    tokens (batch, seq_len) or (seq_len,) -> (batch, seq_len, embed_dim) or (seq_len, embed_dim).
    scale_embeddings multiplies token vectors by sqrt(embed_dim) (the Transformer paper's convention).
    """

    def __init__(self, vocab_size, embed_dim, max_seq_len=512, pos_encoding="learned", scale_embeddings=False):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.max_seq_len = max_seq_len
        self.pos_encoding_type = pos_encoding
        self.scale_embeddings = scale_embeddings
        self.token_embedding = Embedding(vocab_size, embed_dim)
        if pos_encoding == "learned":
            self.pos_encoding = PositionalEncoding(max_seq_len, embed_dim)
        elif pos_encoding == "sinusoidal":
            self.pos_encoding = SinusoidalPositionalEncoding(max_seq_len, embed_dim)
        elif pos_encoding is None:
            self.pos_encoding = None
        else:
            raise ValueError(f"EmbeddingLayer: unknown pos_encoding {pos_encoding!r}; use 'learned', 'sinusoidal' or None")

    def forward(self, tokens):
        tokens = _token_ids(tokens, "EmbeddingLayer")
        squeeze = tokens.ndim == 1
        if squeeze:
            tokens = tokens.reshape(1, -1)
        x = self.token_embedding(tokens)
        if self.scale_embeddings:
            x = x * math.sqrt(self.embed_dim)
        if self.pos_encoding is not None:
            x = self.pos_encoding(x)
        return x[0] if squeeze else x

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, pos_encoding={self.pos_encoding_type!r}"
