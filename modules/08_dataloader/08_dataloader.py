# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 08 — Data loading: datasets, batches, shuffles
#
# The training loop of module 07 took its batches as given. Real training
# needs a component that turns "a pile of samples" into "a stream of
# batches", and does it right:
#
# * **every sample once per epoch**, none twice, none forgotten (the last,
#   smaller batch is kept unless you ask to drop it);
# * **a new random order every epoch**: gradient descent on batches in a fixed
#   order sees the same correlations every time, and a model can learn the
#   order instead of the data;
# * **reproducible**: the same seed gives the same sequence of epochs, so a run
#   can be repeated exactly;
# * **fast**: a batch should be one gather per tensor, not a Python loop over
#   samples.
#
# PyTorch and TinyTorch split this into a `Dataset` (what the samples are:
# `len` and `[i]`) and a `DataLoader` (how to walk them). You write both, plus
# the *collate* step that stacks samples into a batch, and train a classifier
# on **TinyDigits**, 8x8 digit images the package draws itself.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.core import dataloader as engine
from tinytorch.data import load_tiny_digits

# %% [markdown]
# ## Worked example: the engine's loader on TinyDigits
# 1000 training images of 8x8 pixels, 100 per digit. Each batch is a tuple
# `(images, labels)` of Tensors.

# %%
X_train, y_train = load_tiny_digits("train")
X_test, y_test = load_tiny_digits("test")
print("train", X_train.shape, X_train.dtype, "labels", y_train.shape, y_train.dtype, "test", X_test.shape)
for row in X_train[np.argmax(y_train == 3)]:
    print("".join("#" if v > 0.5 else ("+" if v > 0.25 else ".") for v in row))

loader = engine.DataLoader(engine.TensorDataset(X_train.reshape(-1, 64), y_train), batch_size=64, shuffle=True, seed=0)
xb, yb = next(iter(loader))
print(len(loader), "batches per epoch; the first:", xb.shape, yb.shape, "labels", np.asarray(yb)[:10])

# %% [markdown]
# ## Exercise 1: `TensorDataset(*tensors)`
# A dataset whose sample `i` is row `i` of each tensor: `TensorDataset(X, y)[i]`
# is `(X[i], y[i])`.
#
# * Convert each argument with `tt.Tensor(...)` unless it already is a Tensor
#   (numpy integers stay int64, floats become float32), and keep them in
#   `self.tensors` (a tuple).
# * Raise `ValueError` if there are no tensors, or if their first dimensions
#   (the number of samples) differ; say which sizes you got.
# * `__len__`: the number of samples. `__getitem__(i)`: a tuple with row `i` of
#   every tensor (negative `i` counts from the end; out of range raises
#   `IndexError`, which tensor indexing already does).
# * `batch(indices)`: the rows at an int64 array of indices, as a tuple of
#   Tensors, **one gather per tensor**: `tt.index_select(t, 0, tt.Tensor(indices))`.

# %%
class TensorDataset(engine.Dataset):
    def __init__(self, *tensors):
        ### HINT: tuple(t if isinstance(t, tt.Tensor) else tt.Tensor(t) ...); compare the shape[0] of each
        ### BEGIN SOLUTION
        if not tensors:
            raise ValueError("TensorDataset: pass at least one tensor, e.g. TensorDataset(X, y)")
        self.tensors = tuple(t if isinstance(t, tt.Tensor) else tt.Tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else 0 for t in self.tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension, got {sizes}")
        ### END SOLUTION

    def __len__(self):
        ### HINT: the first dimension of the first tensor
        ### BEGIN SOLUTION
        return self.tensors[0].shape[0]
        ### END SOLUTION

    def __getitem__(self, i):
        ### HINT: tuple(t[i] for t in self.tensors)
        ### BEGIN SOLUTION
        return tuple(t[i] for t in self.tensors)
        ### END SOLUTION

    def batch(self, indices):
        ### HINT: idx = tt.Tensor(np.asarray(indices, dtype=np.int64)); tt.index_select(t, 0, idx) per tensor
        ### BEGIN SOLUTION
        idx = tt.Tensor(np.asarray(indices, dtype=np.int64))
        return tuple(tt.index_select(t, 0, idx) for t in self.tensors)
        ### END SOLUTION


# %%
ds = TensorDataset(np.arange(12.0).reshape(6, 2), np.arange(6))
assert len(ds) == 6 and ds.tensors[0].dtype == np.float32 and ds.tensors[1].dtype == np.int64
xi, yi = ds[4]
assert np.asarray(xi).tolist() == [8.0, 9.0] and yi.item() == 4
assert np.asarray(ds[-1][0]).tolist() == [10.0, 11.0]
xb, yb = ds.batch(np.array([5, 0, 5]))
assert np.asarray(xb).tolist() == [[10, 11], [0, 1], [10, 11]] and np.asarray(yb).tolist() == [5, 0, 5]
try:
    TensorDataset(np.zeros((6, 2)), np.arange(5))
    raise AssertionError("different sample counts should raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `collate(samples)`
# A dataset that is not a `TensorDataset` builds each sample in
# `__getitem__`, for instance `(image_array, label_int)`. The loader then has
# a *list* of samples and must stack them into a batch:
#
# * if the samples are tuples (or lists), collate each field separately and
#   return a tuple: `[(x0, y0), (x1, y1)] -> (stack(x0, x1), stack(y0, y1))`;
# * if they are Tensors, stack them along a new first axis (`tt.stack(list, 0)`);
# * numbers and numpy arrays: `tt.Tensor(np.stack([np.asarray(s) for s in samples]))`
#   (so Python ints become an int64 Tensor).

# %%
def collate(samples):
    """Stacks a list of samples into one batch (tuples field by field)."""
    ### HINT: if isinstance(samples[0], (tuple, list)): return tuple(collate([s[i] for s in samples]) for i ...)
    ### BEGIN SOLUTION
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, tt.Tensor):
        return tt.stack(list(samples), 0)
    return tt.Tensor(np.stack([np.asarray(s) for s in samples]))
    ### END SOLUTION


# %%
xb, yb = collate([(np.array([0.0, 1.0]), 0), (np.array([2.0, 3.0]), 1), (np.array([4.0, 5.0]), 2)])
assert xb.shape == (3, 2) and np.asarray(xb).tolist() == [[0, 1], [2, 3], [4, 5]]
assert yb.dtype == np.int64 and np.asarray(yb).tolist() == [0, 1, 2]
stacked = collate([tt.Tensor([1.0, 2.0]), tt.Tensor([3.0, 4.0])])
assert stacked.shape == (2, 2)

# %% [markdown]
# ## Exercise 3: `DataLoader(dataset, batch_size=32, shuffle=False, drop_last=False, seed=None)`
#
# * `__init__`: store the arguments; raise `ValueError` unless `batch_size`
#   is a positive integer (a numpy integer counts, a bool does not). If
#   `seed` is given, create **one** generator `np.random.default_rng(seed)`
#   here and keep it: every epoch draws its order from it, so epoch 2 differs
#   from epoch 1 but the whole sequence repeats for the same seed. Without a
#   seed use `np.random.default_rng()`.
# * `__len__`: the number of batches, `ceil(n / batch_size)`, or
#   `floor(n / batch_size)` with `drop_last=True`.
# * `__iter__`: the order is `0 .. n-1`, or a fresh `rng.permutation(n)` when
#   shuffling. Yield `len(self)` batches of consecutive entries of that order.
#   For a `TensorDataset` use `dataset.batch(indices)`; for any other dataset
#   use `collate([dataset[int(i)] for i in indices])`.

# %%
class DataLoader:
    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, seed=None):
        ### HINT: check isinstance(batch_size, (int, np.integer)) and not bool and >= 1; self.rng = np.random.default_rng(seed)
        ### BEGIN SOLUTION
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.rng = np.random.default_rng(seed)
        ### END SOLUTION

    def __len__(self):
        ### HINT: n // batch_size with drop_last, else -(-n // batch_size)
        ### BEGIN SOLUTION
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        ### END SOLUTION

    def __iter__(self):
        ### HINT: order = self.rng.permutation(n) if self.shuffle else np.arange(n); slice it in steps of batch_size
        ### BEGIN SOLUTION
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                yield self.dataset.batch(idx)
            else:
                yield collate([self.dataset[int(i)] for i in idx])
        ### END SOLUTION


# %% [markdown]
# Check: exact batches in order, the batch count, shuffles that are
# permutations, new each epoch and reproducible from the seed.

# %%
ds = TensorDataset(np.arange(20.0).reshape(10, 2), np.arange(10))
batches = list(DataLoader(ds, batch_size=4))
assert [np.asarray(b[1]).tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
assert [len(np.asarray(b[1])) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
shuffled = DataLoader(ds, batch_size=3, shuffle=True, seed=1)
epoch1 = sum((np.asarray(b[1]).tolist() for b in shuffled), [])
epoch2 = sum((np.asarray(b[1]).tolist() for b in shuffled), [])
assert sorted(epoch1) == list(range(10)) and sorted(epoch2) == list(range(10)) and epoch1 != epoch2
replay = DataLoader(ds, batch_size=3, shuffle=True, seed=1)
assert sum((np.asarray(b[1]).tolist() for b in replay), []) == epoch1
print("epoch 1:", epoch1, "\nepoch 2:", epoch2)


class Squares(engine.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


xs, ys = next(iter(DataLoader(Squares(), batch_size=5)))
assert np.asarray(xs).tolist() == [[0, 0], [1, 1], [2, 4], [3, 9], [4, 16]] and np.asarray(ys).tolist() == [0, 1, 2, 3, 4]
for bad in (0, 2.5, True):
    try:
        DataLoader(ds, batch_size=bad)
        raise AssertionError(f"batch_size={bad!r} should raise ValueError")
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## Your loader trains a digit classifier
# A linear model (64 pixels -> 10 scores) trained for a few epochs by your
# loader; accuracy on the held-out test split (chance is 10%).

# %%
from tinytorch.core.layers import Linear
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam

tt.manual_seed(0)
model, loss_fn = Linear(64, 10), CrossEntropyLoss()
opt = Adam(model.parameters(), lr=0.05)
train_loader = DataLoader(TensorDataset(X_train.reshape(-1, 64), y_train), batch_size=64, shuffle=True, seed=0)
for epoch in range(5):
    total = 0.0
    for xb, yb in train_loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * xb.shape[0]
    accuracy = float((np.asarray(model(tt.Tensor(X_test.reshape(-1, 64)))).argmax(1) == y_test).mean())
    print(f"epoch {epoch + 1}: train loss {total / len(X_train):.3f}, test accuracy {accuracy:.3f}")
assert accuracy > 0.8

# %% [markdown]
# ## Systems: one gather per batch against a loop over samples
#
# A batch of a `TensorDataset` is `batch_size` rows copied in one C++
# `index_select`. Going through `__getitem__` costs a Python call and a small
# Tensor per sample, then a stack. Measured here (medians of one epoch):

# %%
def median_time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


big = TensorDataset(np.random.default_rng(0).standard_normal((20_000, 64)).astype(np.float32), np.arange(20_000))


class RowByRow(engine.Dataset):
    """The same data, served one sample at a time."""

    def __len__(self):
        return len(big)

    def __getitem__(self, i):
        return big[i]


t_gather = median_time(lambda: [None for _ in DataLoader(big, batch_size=256, shuffle=True, seed=0)])
t_rows = median_time(lambda: [None for _ in DataLoader(RowByRow(), batch_size=256, shuffle=True, seed=0)], repeat=3)
t_engine = median_time(lambda: [None for _ in engine.DataLoader(big, batch_size=256, shuffle=True, seed=0)])
print(f"one epoch of 20000 x 64 float32 in batches of 256:")
print(f"  your loader, one gather per batch : {t_gather * 1e3:8.2f} ms")
print(f"  your loader, sample by sample     : {t_rows * 1e3:8.2f} ms ({t_rows / t_gather:.0f}x slower)")
print(f"  the engine's DataLoader           : {t_engine * 1e3:8.2f} ms")
print(f"  bytes copied per epoch: {20_000 * 64 * 4 / 2**20:.1f} MiB of images, whatever the order")

# %% [markdown]
# **Memory.** A `TensorDataset` holds the whole dataset in memory once; each
# batch is a copy of `batch_size` rows (shuffled rows are not contiguous, so a
# view is impossible). A dataset too big for memory keeps files on disk and
# reads them in `__getitem__`, which is why the per-sample path exists.
#
# ## Read the engine
# * `python/tinytorch/core/dataloader.py`: the engine's `TensorDataset`,
#   `default_collate` and `DataLoader` (and how a shuffle without a seed
#   follows `tt.manual_seed`).
# * `csrc/ops/index.cpp`: `index_select`, the gather each batch is made of.
# * `python/tinytorch/data/digits.py`: how TinyDigits draws its images.

# %%
print("module 08 checks passed")
