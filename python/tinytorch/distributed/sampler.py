"""DistributedSampler: which samples of a dataset this rank trains on.

Every rank draws the same permutation (seeded by seed + epoch, so all ranks
agree without talking) and keeps every world_size-th index starting at its
rank. The shards are disjoint and together cover the dataset. When the
dataset does not divide evenly, the permutation is padded with its own first
indices so every rank gets the same number of samples (ranks that took a
different number of steps would wait for each other forever); with
drop_last=True the tail is dropped instead, and the shards stay disjoint.
"""
import math
import numbers

import numpy as np

__all__ = ["DistributedSampler"]


def _int(value, what, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"DistributedSampler: {what} must be an integer >= {low}, got {value!r}")
    return int(value)


class DistributedSampler:
    """DistributedSampler(dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False)

    Pass it to `DataLoader(dataset, batch_size, sampler=...)`. num_replicas and rank default to the MPI world
    of `tinytorch.distributed.init()`. Call `set_epoch(e)` before each epoch for a new shuffle.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler: dataset must have a length, got {type(dataset).__name__}")
        if num_replicas is None or rank is None:
            from . import collectives
            comm = collectives.communicator("DistributedSampler")
            num_replicas = comm.Get_size() if num_replicas is None else num_replicas
            rank = comm.Get_rank() if rank is None else rank
        self.num_replicas = _int(num_replicas, "num_replicas", 1)
        self.rank = _int(rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not below num_replicas {num_replicas}")
        self.dataset_len = len(dataset)
        self.shuffle = bool(shuffle)
        self.seed = _int(seed, "seed", 0)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = self.dataset_len // self.num_replicas
        else:
            self.num_samples = math.ceil(self.dataset_len / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """The epoch whose shuffle the next iteration uses (every rank must set the same one)."""
        self.epoch = _int(epoch, "epoch", 0)

    def indices(self):
        """This rank's sample indices for the current epoch, an int64 array."""
        n = self.dataset_len
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n:  # pad with the first indices (repeated as often as needed for tiny datasets)
            order = np.concatenate([order, np.resize(order, self.total_size - n)]) if n else order
        order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples
