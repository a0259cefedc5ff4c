"""Module 04: loss functions, each one fused C++ op with its own backward.

`CrossEntropyLoss` computes log-softmax and the negative log-likelihood in
one pass (csrc/ops/nn_kernels.cpp), subtracting each row's max, so large
logits neither overflow nor lose precision.
"""
import numpy as np

from .. import _C
from .module import Module
from .tensor import Tensor, _as_tensor

__all__ = ["NonIntegerIdError", "integer_ids", "MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "BCELoss", "log_softmax", "EPSILON"]

EPSILON = 1e-7  # predictions are clamped to [EPSILON, 1 - EPSILON] inside binary cross-entropy


def log_softmax(x, dim=-1):
    """log(softmax(x)) along dim, computed stably as x - logsumexp(x)."""
    return _C.log_softmax(_as_tensor(x, "log_softmax"), dim)


class NonIntegerIdError(TypeError, ValueError):
    """Ids (class indices, token ids) that are not whole numbers.

    Both a TypeError (the wrong kind of value: probabilities, strings) and a
    ValueError (a float such as 1.9 or NaN), as numpy's AxisError is both a
    ValueError and an IndexError, so `except` clauses for either catch it.
    """


_INT64_LIMIT = 2.0 ** 63  # floats at or beyond this do not fit an int64 id


def integer_ids(values, where, what="ids", noun="ids"):
    """values as an int64 Tensor. Integer and bool inputs pass; floats pass only when
    every value is a finite whole number (2.0 -> 2), because truncating 1.9 to 1 or
    NaN to INT64_MIN would silently pick the wrong row. Anything else raises
    NonIntegerIdError naming the first offending value and its position."""
    if isinstance(values, Tensor) and values.dtype == np.int64:
        return values
    arr = np.asarray(values.data if isinstance(values, Tensor) else values)
    if arr.dtype.kind in "iub":
        return Tensor(arr.astype(np.int64), dtype=np.int64)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) >= _INT64_LIMIT)
        if not bad.any():
            return Tensor(arr.astype(np.int64), dtype=np.int64)
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonIntegerIdError(
            f"{where}: {what} must be integer {noun}, got {arr[position].item()!r} at position {position} "
            f"(dtype {arr.dtype}, shape {arr.shape}); float {noun} are accepted only when they are whole "
            f"numbers, so round or cast them deliberately (e.g. np.int64) instead of passing fractions or NaN")
    raise NonIntegerIdError(f"{where}: {what} must be integer {noun}, got values of dtype {arr.dtype}; "
                            f"pass an integer array (e.g. np.int64)")


def _class_indices(targets, where):
    """Targets as an int64 tensor (class ids; not probabilities or one-hot vectors)."""
    return integer_ids(targets, where, "targets", "class indices")


class MSELoss(Module):
    """mean((predictions - targets)^2) over all elements (targets broadcast to predictions)."""

    def forward(self, predictions, targets):
        return _C.mse_loss(_as_tensor(predictions, "MSELoss"), targets)


class CrossEntropyLoss(Module):
    """Mean negative log-likelihood of the target classes under softmax(logits).

    logits (N, C) with targets (N,), or (N, T, C) with targets (N, T); targets
    equal to ignore_index do not count (neither in the sum nor in the mean).
    """

    def __init__(self, ignore_index=-100):
        super().__init__()
        self.ignore_index = int(ignore_index)

    def forward(self, logits, targets):
        return _C.cross_entropy(_as_tensor(logits, "CrossEntropyLoss"), _class_indices(targets, "CrossEntropyLoss"), self.ignore_index)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}"


class BinaryCrossEntropyLoss(Module):
    """-mean(t log p + (1 - t) log(1 - p)) for probabilities p (clamped to [1e-7, 1 - 1e-7])."""

    def forward(self, predictions, targets):
        return _C.binary_cross_entropy(_as_tensor(predictions, "BinaryCrossEntropyLoss"), targets)


BCELoss = BinaryCrossEntropyLoss
