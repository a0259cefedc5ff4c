"""Module 08: Dataset, TensorDataset, DataLoader and the offline TinyDigits set: exact batches, reproducible
shuffles, len() as PyTorch's, collation, error messages, and a model that learns the digits."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.dataloader import DataLoader, Dataset, TensorDataset, default_collate
from tinytorch.data import load_tiny_digits, make_digits

from conftest import torch_or_skip

pytestmark = pytest.mark.module08


def labels_of(loader):
    return [np.asarray(batch[1]).tolist() for batch in loader]


def test_tensor_dataset_rows_and_errors():
    X, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert np.asarray(xi).tolist() == [8.0, 9.0] and yi.item() == 4
    assert np.asarray(ds[-1][0]).tolist() == [10.0, 11.0]
    assert ds.tensors[0].dtype == np.float32 and ds.tensors[1].dtype == np.int64
    with pytest.raises(ValueError, match=r"same first dimension.*\[6, 5\]"):
        TensorDataset(X, np.arange(5))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(3.0))
    with pytest.raises(IndexError, match="index 6 is out of range for 6 samples"):
        ds[6]
    with pytest.raises(TypeError, match="index must be an integer"):
        ds[1.5]


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True),
                                                      (2, 5, False), (2, 5, True), (7, 1, False)])
def test_batches_in_order_exactly(n, batch_size, drop_last):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    loader = DataLoader(TensorDataset(X, np.arange(n)), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    starts = range(0, (n // batch_size) * batch_size if drop_last else n, batch_size)
    assert len(batches) == len(starts)
    for (xb, yb), s in zip(batches, starts):
        np.testing.assert_array_equal(np.asarray(xb), X[s:s + batch_size])
        np.testing.assert_array_equal(np.asarray(yb), np.arange(n)[s:s + batch_size])


def test_len_matches_pytorch():
    torch = torch_or_skip()
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset
    for n in (1, 5, 16, 17, 100):
        for bs in (1, 3, 16, 64):
            for drop in (False, True):
                ours = DataLoader(TensorDataset(np.zeros((n, 1))), batch_size=bs, drop_last=drop)
                theirs = TorchLoader(TorchDataset(torch.zeros(n, 1)), batch_size=bs, drop_last=drop)
                assert len(ours) == len(theirs) == len(list(ours)), (n, bs, drop)


def test_shuffle_is_a_permutation_reproducible_from_seed_and_new_each_epoch():
    ds = TensorDataset(np.zeros((50, 1)), np.arange(50))
    loader = DataLoader(ds, batch_size=8, shuffle=True, seed=7)
    first, second = sum(labels_of(loader), []), sum(labels_of(loader), [])
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != second and first != list(range(50))
    again = DataLoader(ds, batch_size=8, shuffle=True, seed=7)
    assert sum(labels_of(again), []) == first and sum(labels_of(again), []) == second
    assert sum(labels_of(DataLoader(ds, batch_size=8, shuffle=True, seed=8)), []) != first


def test_shuffle_without_seed_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    tt.manual_seed(11)
    a = [np.asarray(b[0]).tolist() for b in DataLoader(ds, batch_size=4, shuffle=True)]
    tt.manual_seed(11)
    b = [np.asarray(b[0]).tolist() for b in DataLoader(ds, batch_size=4, shuffle=True)]
    tt.manual_seed(12)
    c = [np.asarray(b[0]).tolist() for b in DataLoader(ds, batch_size=4, shuffle=True)]
    assert a == b and a != c


class Squares(Dataset):
    """A dataset that is not a TensorDataset: samples built in __getitem__."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


def test_generic_dataset_goes_through_default_collate():
    (xb, yb), (xb2, yb2) = list(DataLoader(Squares(), batch_size=3))
    assert isinstance(xb, tt.Tensor) and xb.shape == (3, 2) and xb.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(xb), [[0, 0], [1, 1], [2, 4]])
    assert yb.dtype == np.int64 and np.asarray(yb).tolist() == [0, 1, 2] and np.asarray(yb2).tolist() == [3, 4]
    assert xb2.shape == (2, 2)


def test_collate_fn_and_default_collate_forms():
    seen = []
    loader = DataLoader(Squares(), batch_size=2, collate_fn=lambda samples: seen.append(len(samples)) or samples)
    assert [len(b) for b in loader] == [2, 2, 1] and seen == [2, 2, 1]
    batch = default_collate([{"x": tt.Tensor([1.0, 2.0]), "n": 3}, {"x": tt.Tensor([3.0, 4.0]), "n": 4}])
    np.testing.assert_array_equal(np.asarray(batch["x"]), [[1, 2], [3, 4]])
    assert np.asarray(batch["n"]).tolist() == [3, 4]
    with pytest.raises(TypeError, match="cannot batch samples of type str"):
        default_collate(["a", "b"])
    with pytest.raises(ValueError, match="different numbers of fields"):
        default_collate([(1, 2), (3,)])


def test_loader_arguments_are_checked():
    ds = TensorDataset(np.zeros((4, 1)))
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive integer"):
            DataLoader(ds, batch_size=bad)
    assert len(DataLoader(ds, batch_size=np.int64(3))) == 2    # numpy integers are sizes too
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        DataLoader(ds, seed=-1)
    with pytest.raises(TypeError, match="must define __len__ and __getitem__"):
        DataLoader([1, 2, 3].__iter__())
    with pytest.raises(NotImplementedError, match="must define __len__"):
        len(Dataset())


def test_tinytorch_import_paths():
    from tinytorch.data.loader import DataLoader as L, Dataset as D, TensorDataset as T
    assert (L, D, T) == (DataLoader, Dataset, TensorDataset)


def test_tiny_digits_are_deterministic_balanced_and_learnable():
    X, y = make_digits(30, seed=3)
    X2, y2 = make_digits(30, seed=3)
    assert X.shape == (300, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert np.bincount(y).tolist() == [30] * 10 and X.min() >= 0 and X.max() <= 1
    assert not np.array_equal(make_digits(30, seed=4)[0], X)
    with pytest.raises(ValueError, match="n_per_class must be a positive integer"):
        make_digits(0)
    # a linear classifier trained by the DataLoader learns the shapes (held-out split, fixed seeds)
    from tinytorch.core.layers import Linear
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    Xtr, ytr = load_tiny_digits("train")
    Xte, yte = load_tiny_digits("test")
    assert Xtr.shape == (1000, 8, 8) and Xte.shape == (200, 8, 8)
    tt.manual_seed(0)
    model, loss_fn = Linear(64, 10), CrossEntropyLoss()
    opt = Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(Xtr.reshape(-1, 64), ytr), batch_size=64, shuffle=True, seed=0)
    for _ in range(5):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    accuracy = float((np.asarray(model(tt.Tensor(Xte.reshape(-1, 64)))).argmax(1) == yte).mean())
    assert accuracy > 0.85, accuracy          # chance is 0.10
