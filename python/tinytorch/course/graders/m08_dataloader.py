"""Grader for module 08: the student's TensorDataset, collate and DataLoader against the engine's
(`tinytorch.core.dataloader`): exact rows and batches, dtypes, batch counts with and without drop_last,
shuffles that are permutations, new every epoch and reproducible from the seed, datasets served sample by
sample, and the errors a user meets."""
import numpy as np

import tinytorch as tt
from tinytorch.core import dataloader as engine
from tinytorch.course.grading import Grader, GradingError, as_array, close, expect_error

grader = Grader("08")


def _labels(batch, what):
    if not isinstance(batch, tuple):
        raise GradingError(f"{what} yielded {type(batch).__name__}, expected a tuple of Tensors (one per field)")
    return as_array(batch[-1], what).tolist()


def _epoch(loader, what):
    return [_labels(b, what) for b in loader]


class _Counting(engine.Dataset):
    """A dataset served one sample at a time: (features, label), counting __getitem__ calls."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.array([i, 2 * i, -i], dtype=np.float32), i


@grader.check(points=2, needs=["TensorDataset"],
              hint="store tuple(tt.Tensor(t) ...) in self.tensors; __len__ is shape[0]; __getitem__ returns a tuple "
                   "with row i of every tensor")
def tensor_dataset_rows(ns):
    TD = ns["TensorDataset"]
    rng = np.random.default_rng(8)
    X = rng.standard_normal((7, 3, 2))
    y = rng.integers(0, 10, size=7)
    w = np.arange(7.0)
    ds, ref = TD(X, y, w), engine.TensorDataset(X, y, w)
    if len(ds) != 7:
        raise GradingError(f"len(TensorDataset(X with 7 rows, ...)) is {len(ds)}, expected 7")
    if not isinstance(ds.tensors, tuple) or len(ds.tensors) != 3:
        raise GradingError("TensorDataset(X, y, w).tensors must be a tuple of the 3 tensors")
    for t, want in zip(ds.tensors, (np.float32, np.int64, np.float32)):
        if not isinstance(t, tt.Tensor) or np.dtype(t.dtype) != want:
            raise GradingError(f"TensorDataset.tensors holds {type(t).__name__} of dtype "
                               f"{getattr(t, 'dtype', None)}; expected Tensors: float arrays -> float32, "
                               "integer labels -> int64 (tt.Tensor(array) does this)")
    for i in (0, 3, 6, -1, -7):
        got, want = ds[i], ref[i]
        if not isinstance(got, tuple) or len(got) != 3:
            raise GradingError(f"TensorDataset[{i}] returned {type(got).__name__}, expected a tuple of 3 rows")
        for g, r, name in zip(got, want, ("X", "y", "w")):
            close(g, r, f"TensorDataset(X, y, w)[{i}] field {name}", rtol=0, atol=0)
    t = tt.randn(4, 2)
    if TD(t, np.arange(4)).tensors[0] is not t:
        raise GradingError("TensorDataset(tensor, ...) copied a Tensor it was given; keep Tensors as they are")
    expect_error(lambda: ds[7], IndexError, "TensorDataset with 7 samples, [7]")


@grader.check(points=1, needs=["TensorDataset"],
              hint="raise ValueError when no tensors are given or when their first dimensions differ")
def tensor_dataset_rejects_mismatch(ns):
    TD = ns["TensorDataset"]
    expect_error(lambda: TD(), ValueError, "TensorDataset()")
    expect_error(lambda: TD(np.zeros((6, 2)), np.arange(5)), ValueError,
                  "TensorDataset(6 samples of X, 5 labels)")
    expect_error(lambda: TD(np.zeros((3, 2)), np.arange(3), np.zeros(4)), ValueError,
                  "TensorDataset(3, 3 and 4 samples)")


@grader.check(points=2, needs=["TensorDataset"],
              hint="idx = tt.Tensor(np.asarray(indices, dtype=np.int64)); return a tuple with "
                   "tt.index_select(t, 0, idx) for each tensor")
def tensor_dataset_batch_gathers(ns):
    TD = ns["TensorDataset"]
    rng = np.random.default_rng(80)
    X = rng.standard_normal((50, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=50)
    ds, ref = TD(X, y), engine.TensorDataset(X, y)
    for idx in (np.array([5, 0, 5, 49]), rng.permutation(50)[:17], np.arange(50), np.array([], dtype=np.int64)):
        got, want = ds.batch(idx), ref.batch(idx)
        if not isinstance(got, tuple) or len(got) != 2:
            raise GradingError(f"TensorDataset.batch({idx.tolist()[:5]}...) returned {type(got).__name__}, "
                               "expected a tuple of 2 Tensors")
        for g, r, name in zip(got, want, ("X", "y")):
            if not isinstance(g, tt.Tensor):
                raise GradingError(f"TensorDataset.batch: field {name} is {type(g).__name__}, expected a Tensor")
            if tuple(g.shape) != tuple(r.shape) or np.dtype(g.dtype) != np.dtype(r.dtype):
                raise GradingError(f"TensorDataset.batch({len(idx)} indices) field {name}: shape {tuple(g.shape)} "
                                   f"{g.dtype}, expected {tuple(r.shape)} {r.dtype}")
            close(g, r, f"TensorDataset.batch(indices of length {len(idx)}) field {name}", rtol=0, atol=0)
    # a batch gathered from a tensor that needs gradients keeps the graph (index_select is differentiable)
    W = tt.Tensor(np.arange(8.0).reshape(4, 2), dtype=tt.float64, requires_grad=True)
    (xb,) = TD(W).batch(np.array([3, 3, 0]))
    xb.sum().backward()
    close(W.grad, [[1, 1], [0, 0], [0, 0], [2, 2]], "d/dW of TensorDataset(W).batch([3, 3, 0]).sum()")


@grader.check(points=2, needs=["collate"],
              hint="tuples/lists: collate each field; Tensors: tt.stack(samples, 0); numbers and arrays: "
                   "tt.Tensor(np.stack(...))")
def collate_stacks_fields(ns):
    collate = ns["collate"]
    rng = np.random.default_rng(81)
    cases = [
        [(rng.standard_normal(3).astype(np.float32), int(k)) for k in rng.integers(0, 9, size=5)],
        [[tt.Tensor(rng.standard_normal((2, 2)).astype(np.float32)), float(v)] for v in rng.standard_normal(4)],
        [tt.Tensor(rng.standard_normal(6).astype(np.float32)) for _ in range(3)],
        [int(v) for v in rng.integers(0, 100, size=6)],
        [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2)],
        [(np.float32(1.5), (np.arange(2), 7))],
    ]
    for samples in cases:
        got, want = collate(samples), engine.default_collate(samples)
        _same_structure(got, want, f"collate({_describe(samples)})")


def _describe(samples):
    first = samples[0]
    kind = type(first).__name__
    if isinstance(first, (tuple, list)):
        kind += "(" + ", ".join(type(f).__name__ for f in first) + ")"
    return f"{len(samples)} samples of {kind}"


def _same_structure(got, want, what):
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            raise GradingError(f"{what} returned {type(got).__name__}, expected a tuple of {len(want)} fields")
        for i, (g, w) in enumerate(zip(got, want)):
            _same_structure(g, w, f"{what} field {i}")
        return
    if not isinstance(got, tt.Tensor):
        raise GradingError(f"{what} returned {type(got).__name__}, expected a Tensor")
    if tuple(got.shape) != tuple(want.shape) or np.dtype(got.dtype) != np.dtype(want.dtype):
        raise GradingError(f"{what}: shape {tuple(got.shape)} {got.dtype}, expected {tuple(want.shape)} {want.dtype}")
    close(got, want, what, rtol=0, atol=0)


@grader.check(points=2, needs=["DataLoader", "TensorDataset"],
              hint="order = np.arange(n); yield len(self) batches of consecutive indices; len is ceil(n / batch_size), "
                   "floor with drop_last")
def loader_batches_in_order(ns):
    DL, TD = ns["DataLoader"], ns["TensorDataset"]
    for n, bs in [(10, 4), (12, 4), (1, 5), (7, 1), (9, 9), (0, 3)]:
        ds = TD(np.arange(2.0 * n).reshape(n, 2), np.arange(n))
        for drop in (False, True):
            loader = DL(ds, batch_size=bs, drop_last=drop)
            want = _epoch(engine.DataLoader(engine.TensorDataset(np.arange(2.0 * n).reshape(n, 2), np.arange(n)),
                                            batch_size=bs, drop_last=drop), "engine")
            if len(loader) != len(want):
                raise GradingError(f"len(DataLoader({n} samples, batch_size={bs}, drop_last={drop})) is "
                                   f"{len(loader)}, expected {len(want)}")
            got = _epoch(loader, f"DataLoader({n} samples, batch_size={bs}, drop_last={drop})")
            if got != want:
                raise GradingError(f"DataLoader({n} samples, batch_size={bs}, drop_last={drop}) gave label batches "
                                   f"{got}, expected {want}")
    xb, yb = next(iter(DL(TD(np.arange(6.0).reshape(3, 2), np.arange(3)), batch_size=2)))
    close(xb, [[0, 1], [2, 3]], "the first batch of DataLoader(TensorDataset(arange(6).reshape(3, 2), ...), 2)")
    if np.dtype(yb.dtype) != np.int64:
        raise GradingError(f"label batches must stay int64, got {yb.dtype}")


@grader.check(points=3, needs=["DataLoader", "TensorDataset"],
              hint="create self.rng = np.random.default_rng(seed) once in __init__ and draw rng.permutation(n) at the "
                   "start of every epoch")
def loader_shuffles_reproducibly(ns):
    DL, TD = ns["DataLoader"], ns["TensorDataset"]
    n = 23
    ds = TD(np.arange(3.0 * n).reshape(n, 3), np.arange(n))
    loader = DL(ds, batch_size=5, shuffle=True, seed=3)
    epochs = [sum(_epoch(loader, "DataLoader(shuffle=True)"), []) for _ in range(3)]
    for e in epochs:
        if sorted(e) != list(range(n)):
            raise GradingError(f"a shuffled epoch must visit every sample once: got {e}")
    if epochs[0] == epochs[1] or epochs[1] == epochs[2]:
        raise GradingError("two epochs of DataLoader(shuffle=True, seed=3) came in the same order: draw a new "
                           "permutation every epoch from one generator created in __init__")
    if epochs[0] == list(range(n)):
        raise GradingError("shuffle=True gave the samples in order 0..n-1")
    replay = DL(ds, batch_size=5, shuffle=True, seed=3)
    again = [sum(_epoch(replay, "DataLoader(shuffle=True)"), []) for _ in range(3)]
    if again != epochs:
        raise GradingError("a second DataLoader with the same seed gave other epochs: the same seed must repeat "
                           "the whole sequence of epochs")
    other = sum(_epoch(DL(ds, batch_size=5, shuffle=True, seed=4), "DataLoader(seed=4)"), [])
    if other == epochs[0]:
        raise GradingError("seeds 3 and 4 gave the same order")
    x_rows = [as_array(b[0], "x batch") for b in DL(ds, batch_size=5, shuffle=True, seed=9)]
    y_rows = [as_array(b[1], "y batch") for b in DL(ds, batch_size=5, shuffle=True, seed=9)]
    for xb, yb in zip(x_rows, y_rows):
        close(xb, np.arange(3.0 * n).reshape(n, 3)[yb.astype(np.int64)], "a shuffled batch's rows must match its labels", rtol=0,
              atol=0)


@grader.check(points=2, needs=["DataLoader"],
              hint="a dataset that is not your TensorDataset: collate([dataset[int(i)] for i in batch_indices])")
def loader_serves_any_dataset(ns):
    DL = ns["DataLoader"]
    ds = _Counting(11)
    batches = list(DL(ds, batch_size=4))
    if ds.calls != 11:
        raise GradingError(f"one epoch over a dataset of 11 samples called __getitem__ {ds.calls} times, expected 11")
    want = list(engine.DataLoader(_Counting(11), batch_size=4))
    if len(batches) != len(want):
        raise GradingError(f"DataLoader(11 samples, batch_size=4) gave {len(batches)} batches, expected {len(want)}")
    for i, (g, w) in enumerate(zip(batches, want)):
        _same_structure(g, w, f"batch {i} of a DataLoader over a per-sample dataset")


@grader.check(points=1, needs=["DataLoader", "TensorDataset"],
              hint="batch_size must be an int (or numpy integer), not a bool, and >= 1: raise ValueError otherwise")
def loader_rejects_bad_batch_size(ns):
    DL, TD = ns["DataLoader"], ns["TensorDataset"]
    ds = TD(np.zeros((4, 2)), np.arange(4))
    for bad in (0, -3, 2.5, True, "8"):
        expect_error(lambda: DL(ds, batch_size=bad), ValueError, f"DataLoader(ds, batch_size={bad!r})")
    if len(DL(ds, batch_size=np.int64(3))) != 2:
        raise GradingError("DataLoader(4 samples, batch_size=np.int64(3)) must give 2 batches (numpy integers count)")
