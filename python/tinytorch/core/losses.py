"""Module 04: loss functions, each one fused C++ op with its own backward.

`CrossEntropyLoss` computes log-softmax and the negative log-likelihood in
one pass (csrc/ops/nn_kernels.cpp), subtracting each row's max, so large
logits neither overflow nor lose precision.
"""
import numpy as np

from .. import _C
from .module import Module
from .tensor import Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "BCELoss", "log_softmax", "EPSILON"]

EPSILON = 1e-7  # predictions are clamped to [EPSILON, 1 - EPSILON] inside binary cross-entropy


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def log_softmax(x, dim=-1):
    """log(softmax(x)) along dim, computed stably as x - logsumexp(x)."""
    return _C.log_softmax(_as_tensor(x), dim)


def _class_indices(targets, where):
    """Targets as an int64 tensor; float targets are accepted when they hold whole numbers."""
    if isinstance(targets, Tensor) and targets.dtype == np.int64:
        return targets
    arr = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if arr.dtype.kind in "iub":
        return Tensor(arr.astype(np.int64), dtype=np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return Tensor(arr.astype(np.int64), dtype=np.int64)
    raise TypeError(f"{where}: targets must be integer class indices, got values of dtype {arr.dtype}; "
                    "pass class ids (e.g. np.int64), not probabilities or one-hot vectors")


class MSELoss(Module):
    """mean((predictions - targets)^2) over all elements (targets broadcast to predictions)."""

    def forward(self, predictions, targets):
        return _C.mse_loss(_as_tensor(predictions), targets)


class CrossEntropyLoss(Module):
    """Mean negative log-likelihood of the target classes under softmax(logits).

    logits (N, C) with targets (N,), or (N, T, C) with targets (N, T); targets
    equal to ignore_index do not count (neither in the sum nor in the mean).
    """

    def __init__(self, ignore_index=-100):
        super().__init__()
        self.ignore_index = int(ignore_index)

    def forward(self, logits, targets):
        return _C.cross_entropy(_as_tensor(logits), _class_indices(targets, "CrossEntropyLoss"), self.ignore_index)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}"


class BinaryCrossEntropyLoss(Module):
    """-mean(t log p + (1 - t) log(1 - p)) for probabilities p (clamped to [1e-7, 1 - 1e-7])."""

    def forward(self, predictions, targets):
        return _C.binary_cross_entropy(_as_tensor(predictions), targets)


BCELoss = BinaryCrossEntropyLoss
