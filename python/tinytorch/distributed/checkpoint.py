"""Checkpoints in a distributed run: rank 0 writes, every rank can resume.

Every rank holds the same parameters (DistributedDataParallel keeps them
equal), so one file is enough. Rank 0 writes it atomically (the core
`save_checkpoint` writes a temporary file and renames it); the others wait at
the end of `save_checkpoint` until the file is complete, so any rank may read
it the moment the call returns. If rank 0 fails to write, every rank raises
the same error instead of carrying on (or waiting forever).
"""
from ..core import checkpoint as _core
from . import collectives

__all__ = ["save_checkpoint", "load_checkpoint"]


def _unwrap(model):
    from .ddp import DistributedDataParallel
    return model.module if isinstance(model, DistributedDataParallel) else model


def save_checkpoint(path, model, optimizer=None, **kwargs):
    """Rank 0 writes `path` (same arguments as tinytorch.core.checkpoint.save_checkpoint); every rank returns
    once the file is complete. A DistributedDataParallel model is saved as its wrapped module, so a single
    process can load the file."""
    comm = collectives.communicator("save_checkpoint")
    error = None
    if comm.Get_rank() == 0:
        try:
            _core.save_checkpoint(path, _unwrap(model), optimizer, **kwargs)
        except Exception as err:  # every rank must hear about it, not only rank 0
            error = f"{type(err).__name__}: {err}"
    error = comm.bcast(error, root=0)  # also the barrier: nobody reads before rank 0 has renamed the file
    if error is not None:
        raise RuntimeError(f"save_checkpoint: rank 0 could not write {path}: {error}")


def load_checkpoint(path, model, optimizer=None, **kwargs):
    """Every rank loads `path` (same arguments and result as tinytorch.core.checkpoint.load_checkpoint)."""
    collectives.communicator("load_checkpoint")
    return _core.load_checkpoint(path, _unwrap(model), optimizer, **kwargs)
