"""DistributedSampler: disjoint, reproducible shards that cover the dataset; DataLoader(sampler=...)."""
import numpy as np
import pytest

from tinytorch.core.dataloader import DataLoader, TensorDataset
from tinytorch.distributed import DistributedSampler

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("n, world", [(12, 2), (12, 3), (10, 4), (7, 2), (1, 3), (100, 7)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_cover_the_dataset_and_overlap_only_in_the_padding(n, world, shuffle):
    shards = [DistributedSampler(range(n), world, r, shuffle=shuffle, seed=3).indices() for r in range(world)]
    size = -(-n // world)
    assert all(len(s) == size for s in shards)                       # every rank takes as many steps
    together = np.concatenate(shards)
    assert set(together.tolist()) == set(range(n))                   # covers
    assert len(together) - n == size * world - n                     # repeats: only the padding
    if n % world == 0:
        assert len(set(together.tolist())) == n                      # disjoint


@pytest.mark.parametrize("n, world", [(10, 4), (7, 2), (100, 7)])
def test_drop_last_shards_are_disjoint(n, world):
    shards = [DistributedSampler(range(n), world, r, seed=1, drop_last=True).indices() for r in range(world)]
    together = np.concatenate(shards)
    assert all(len(s) == n // world for s in shards)
    assert len(set(together.tolist())) == len(together) == (n // world) * world


def test_same_seed_and_epoch_same_order_new_epoch_new_order():
    a = DistributedSampler(range(50), 2, 0, seed=9)
    b = DistributedSampler(range(50), 2, 0, seed=9)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(set(a.indices()) | set(DistributedSampler(range(50), 2, 1, seed=9).indices()))
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(DistributedSampler(range(50), 2, 0, seed=10)) != first
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]


def test_data_loader_takes_the_sampler():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = TensorDataset(X, np.arange(10))
    loaders = [DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, 2, r, seed=4)) for r in range(2)]
    seen = [np.concatenate([np.asarray(y) for _, y in loader]) for loader in loaders]
    assert [len(loader) for loader in loaders] == [3, 3]
    assert sorted(np.concatenate(seen).tolist()) == list(range(10))
    for r, labels in enumerate(seen):
        np.testing.assert_array_equal(labels, DistributedSampler(ds, 2, r, seed=4).indices())
    with pytest.raises(ValueError, match="^DataLoader: shuffle"):
        DataLoader(ds, sampler=DistributedSampler(ds, 2, 0), shuffle=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_replicas=0, rank=0), "num_replicas must be an integer >= 1"),
    (dict(num_replicas=2, rank=2), "rank 2 is not below num_replicas 2"),
    (dict(num_replicas=2, rank=-1), "rank must be an integer >= 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="^DistributedSampler: " + message):
        DistributedSampler(range(4), **kwargs)
