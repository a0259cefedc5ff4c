"""``tinytorch.nn.functional`` (``import tinytorch.nn.functional as F``): stateless ops.

The names and signatures of ``torch.nn.functional`` (``dim=``, ``training=``,
``ignore_index=``), each a thin call into the C++ engine, so
``F.relu(self.conv1(x))`` in TinyTorch's and PyTorch's examples runs
unchanged. ``flatten`` keeps TinyTorch's default ``start_dim=1`` (the batch
dimension survives). Where the course's layer and PyTorch disagree on a
default, these follow PyTorch: ``gelu`` is exact (erf) unless
``approximate='tanh'``, while ``nn.GELU()`` uses the tanh form as GPT-2 does.
Integer inputs to float-only functions are computed in float32 (docs/compat.md).
"""
import numpy as np

from .. import _C
from ..core.tensor import _as_tensor
from ..core.losses import _class_indices
from ..core.spatial import avg_pool2d, conv2d, max_pool2d

__all__ = ["relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "dropout", "flatten", "conv2d",
           "max_pool2d", "avg_pool2d", "layer_norm", "embedding", "one_hot", "mse_loss", "cross_entropy",
           "binary_cross_entropy"]


def relu(input):
    """max(input, 0) elementwise."""
    return _C.relu(_as_tensor(input, "relu"))


def sigmoid(input):
    """1 / (1 + exp(-input)), overflow-free for large |input|."""
    return _C.sigmoid(_as_tensor(input, "sigmoid"))


def tanh(input):
    return _C.tanh(_as_tensor(input, "tanh"))


def gelu(input, approximate="none"):
    """x * Phi(x); approximate='tanh' for the GPT-2 form (torch.nn.functional.gelu's default is exact)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _C.gelu(_as_tensor(input, "gelu"), approximate)


def softmax(input, dim=-1):
    """exp(x) / sum(exp(x)) along dim (the max is subtracted first, so no overflow)."""
    return _C.softmax(_as_tensor(input, "softmax"), dim)


def log_softmax(input, dim=-1):
    """x - logsumexp(x) along dim."""
    return _C.log_softmax(_as_tensor(input, "log_softmax"), dim)


def dropout(input, p=0.5, training=True):
    """Zeroes each element with probability p and scales survivors by 1 / (1 - p); identity if not training."""
    return _C.dropout(_as_tensor(input, "dropout"), p, training)


def flatten(input, start_dim=1, end_dim=-1):
    """Merges dims start_dim..end_dim; TinyTorch's default start_dim=1 keeps the batch dimension."""
    return _as_tensor(input, "flatten").flatten(start_dim, end_dim)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dimension.

    normalized_shape must be the last dimension, as an int or a 1-tuple (the
    engine normalizes over one trailing axis); weight and bias default to ones and zeros.
    """
    x = _as_tensor(input, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if len(shape) != 1 or x.ndim < 1 or shape[0] != x.shape[-1]:
        raise ValueError(f"layer_norm: normalized_shape must be the input's last dimension ({x.shape[-1:]}), "
                         f"got {normalized_shape!r}; tinytorch normalizes over one trailing axis")
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    gamma = _C.ones(shape, dtype=dtype) if weight is None else _as_tensor(weight, "layer_norm")
    beta = _C.zeros(shape, dtype=dtype) if bias is None else _as_tensor(bias, "layer_norm")
    return _C.layer_norm(x, gamma, beta, eps)


def embedding(input, weight):
    """Rows of weight (num_embeddings, dim) picked by the integer ids in input: shape (*input.shape, dim)."""
    return _C.embedding(_as_tensor(weight, "embedding"), input)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot vectors as torch's (tinytorch.one_hot gives float32); num_classes=-1 means max id + 1."""
    return _C.one_hot(tensor, num_classes).long()


def mse_loss(input, target):
    """mean((input - target)^2)."""
    return _C.mse_loss(_as_tensor(input, "mse_loss"), target)


def cross_entropy(input, target, ignore_index=-100):
    """Mean negative log-likelihood of the target class ids under softmax(input); logits (N, C) or (N, T, C)."""
    return _C.cross_entropy(_as_tensor(input, "cross_entropy"), _class_indices(target, "cross_entropy"),
                            int(ignore_index))


def binary_cross_entropy(input, target):
    """-mean(t log p + (1 - t) log(1 - p)) for probabilities p."""
    return _C.binary_cross_entropy(_as_tensor(input, "binary_cross_entropy"), target)
