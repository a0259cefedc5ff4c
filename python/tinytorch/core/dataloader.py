"""Module 08: data loading. `Dataset`, `TensorDataset` and `DataLoader` (TinyTorch's names and signatures,
also importable as `tinytorch.data.loader`).

A `TensorDataset` batch is gathered in one C++ `index_select` per tensor (no Python loop over samples); any
other dataset goes through `__getitem__` per sample and `collate_fn` (by default `default_collate`, which
stacks each field). Shuffles are reproducible: `seed=` fixes the whole sequence of epochs; without it the
order is drawn from tinytorch's global generator, so `tt.manual_seed` reproduces it too.
"""
import numbers

import numpy as np

from .. import _C
from .tensor import Tensor, _as_tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]


class Dataset:
    """A sized collection of samples: subclasses define `__len__` and `__getitem__(index)`."""

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of samples)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) (one sample)")


def _dataset_tensor(value, where):
    """A dataset's tensor from any array-like: through np.asarray first, so integer labels given as
    a list stay int64 (Tensor([0, 1]) alone would make them float32, the constructor's default)."""
    if isinstance(value, Tensor):
        return value
    return _as_tensor(np.asarray(value), where)


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: `TensorDataset(X, y)[i] == (X[i], y[i])`.

    Every tensor (or numpy array) must have the same first dimension.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: pass at least one tensor, e.g. TensorDataset(X, y)")
        self.tensors = tuple(_dataset_tensor(t, "TensorDataset") for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; each tensor needs a first (sample) dimension")
        sizes = [t.shape[0] for t in self.tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension (the number of samples), "
                             f"got {sizes}")

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"TensorDataset: index must be an integer, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"TensorDataset: index {index} is out of range for {n} samples")
        return tuple(t[int(index)] for t in self.tensors)

    def batch(self, indices):
        """The samples at `indices` (an int64 array), gathered per tensor in one C++ index_select."""
        idx = Tensor(np.asarray(indices, dtype=np.int64))
        return tuple(_C.index_select(t, 0, idx) for t in self.tensors)


def default_collate(samples):
    """Stacks a list of samples into a batch: tuples field by field, Tensors/arrays/numbers into one Tensor."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, Tensor):
        return _C.stack(list(samples), 0)
    if isinstance(first, (numbers.Number, np.ndarray, np.generic)):
        return _dataset_tensor(np.stack([np.asarray(s) for s in samples]), "default_collate")
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    "pass collate_fn= to DataLoader")


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"DataLoader: {what} must be a positive integer, got {value!r}")
    return int(value)


class DataLoader:
    """Iterates over `dataset` in batches.

    DataLoader(dataset, batch_size=32, shuffle=False, drop_last=False, seed=None, collate_fn=None)

    * each epoch (each `for batch in loader`) visits every sample once; with `shuffle=True` in a new random
      order, reproducible from `seed` (or from `tt.manual_seed` when seed is None);
    * the last, smaller batch is kept unless `drop_last=True`; `len(loader)` is the number of batches;
    * a batch of a `TensorDataset` is a tuple of Tensors (one per tensor of the dataset).
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, seed=None, collate_fn=None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = self._rng
        if rng is None:  # follow tinytorch's global generator, so tt.manual_seed reproduces the order
            rng = np.random.default_rng(int(np.asarray(_C.randint(0, 2**31 - 1, [2])).astype(np.int64) @ [2**31, 1]))
        return rng.permutation(n).astype(np.int64)

    def __iter__(self):
        order = self._order()
        stop = len(self) * self.batch_size
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for start in range(0, min(stop, len(order)), self.batch_size):
            idx = order[start:start + self.batch_size]
            if fast:
                yield self.dataset.batch(idx)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in idx])
