"""Data-parallel training on MPI (mpi4py): the same script on N processes, on one machine or a cluster.

    mpiexec -n 2 python train.py

    import tinytorch.distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(model)           # rank 0's weights on every rank
    loader = DataLoader(ds, 32, sampler=dist.DistributedSampler(ds))
    ...                                                    # .grad is averaged over ranks during backward

Importing this package does not need mpi4py; `init()` does, and says how to install it.
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .collectives import (all_gather, all_reduce, barrier, broadcast, comm_seconds, communicator, init,
                          is_initialized, rank, threads_per_rank, world_size)
from .ddp import DistributedDataParallel
from .launch import mpi_unavailable_reason, mpiexec_command
from .sampler import DistributedSampler

__all__ = ["init", "is_initialized", "rank", "world_size", "barrier", "all_reduce", "broadcast", "all_gather",
           "communicator", "comm_seconds", "threads_per_rank", "DistributedDataParallel", "DistributedSampler", "save_checkpoint",
           "load_checkpoint", "mpiexec_command", "mpi_unavailable_reason"]
