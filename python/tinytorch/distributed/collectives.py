"""The MPI world and the collectives, on tinytorch Tensors without copies.

`mpiexec -n N python train.py` starts N copies of a script; `init()` joins
them into one world through mpi4py. A Tensor exposes its memory through the
buffer protocol, so mpi4py hands MPI the tensor's own storage: `all_reduce(t)`
sums into `t` itself, with no copy in or out. (A non-contiguous view, such as
`x[:, ::2]`, has no single buffer: it is reduced through a contiguous copy that
is written back into the view, so the call still works in place.)

A rank that dies while the others wait in a collective would leave them waiting
forever. `init()` installs an excepthook that prints the traceback and calls
MPI Abort, which stops every rank of the job with an error.
"""
import sys
import time

import numpy as np

from ..core.tensor import Tensor
from .launch import INSTALL_HINT

__all__ = ["init", "is_initialized", "rank", "world_size", "barrier", "all_reduce", "broadcast", "all_gather",
           "communicator", "comm_seconds", "threads_per_rank"]

_state = {"comm": None, "MPI": None, "hook_installed": False, "seconds": 0.0}
_OPS = ("sum", "mean")


def init(comm=None):
    """Joins the MPI world this process was started in; returns (rank, world_size). Safe to call again.

    Run the script with `mpiexec -n N python script.py`; run alone, it is a world of one. `comm` picks a
    sub-communicator of mpi4py (default COMM_WORLD).
    """
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"init: tinytorch.distributed needs the mpi4py package and an MPI library; "
                          f"{INSTALL_HINT}") from None
    _state["MPI"] = MPI
    _state["comm"] = comm if comm is not None else MPI.COMM_WORLD
    if not _state["hook_installed"]:
        _install_abort_hook()
    return _state["comm"].Get_rank(), _state["comm"].Get_size()


def _install_abort_hook():
    """An uncaught exception on any rank aborts the whole job (instead of leaving the others in a collective)."""
    previous = sys.excepthook

    def abort_every_rank(kind, value, tb):
        previous(kind, value, tb)  # the traceback first, so the user sees why
        try:
            sys.stderr.flush()
            sys.stdout.flush()
            # mpiexec forwards output asynchronously and Abort tears the job down at once: give it a moment
            # to pass the traceback on, or the user sees only its first line.
            time.sleep(0.5)
        finally:
            comm = _state["comm"]
            if comm is not None and comm.Get_size() > 1:
                comm.Abort(1)

    sys.excepthook = abort_every_rank
    _state["hook_installed"] = True


def is_initialized():
    return _state["comm"] is not None


def communicator(caller="communicator"):
    """The mpi4py communicator of the world (for point-to-point calls such as Sendrecv)."""
    if _state["comm"] is None:
        raise RuntimeError(f"{caller}: call tinytorch.distributed.init() first (and start the script with "
                           f"`mpiexec -n N python ...`)")
    return _state["comm"]


def rank():
    """This process's rank, 0 .. world_size() - 1."""
    return communicator("rank").Get_rank()


def world_size():
    """The number of processes in the world."""
    return communicator("world_size").Get_size()


def barrier():
    """Returns on every rank once every rank has called it."""
    comm = communicator("barrier")
    with _timed():
        comm.Barrier()


def threads_per_rank():
    """BLAS/kernel threads each rank should use: this machine's cores shared by the ranks running on it
    (at least 1), so N ranks on one machine do not oversubscribe it. Pass it to tt.set_num_threads."""
    import os
    comm = communicator("threads_per_rank")
    local = comm.Split_type(_state["MPI"].COMM_TYPE_SHARED)
    try:
        on_this_machine = local.Get_size()
    finally:
        local.Free()
    return max(1, (os.cpu_count() or 1) // on_this_machine)


def comm_seconds(reset=False):
    """Seconds this process has spent inside MPI calls made by tinytorch.distributed (collectives and the
    DistributedDataParallel gradient reduction); reset=True starts the count again."""
    value = _state["seconds"]
    if reset:
        _state["seconds"] = 0.0
    return value


class _timed:
    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        _state["seconds"] += time.perf_counter() - self.start
        return False


def _check_tensor(tensor, caller):
    if not isinstance(tensor, (Tensor, np.ndarray)):
        raise TypeError(f"{caller}: expected a tinytorch Tensor (or numpy array), got {type(tensor).__name__}")


def _writable(tensor, caller):
    """(buffer MPI writes into, write_back or None). A contiguous tensor is its own buffer: no copy."""
    _check_tensor(tensor, caller)
    view = np.asarray(tensor)  # shares the tensor's memory (buffer protocol), strided when the tensor is a view
    if isinstance(tensor, np.ndarray) and not view.flags.writeable:
        raise ValueError(f"{caller}: the numpy array is read-only")
    if view.flags.c_contiguous:
        return view, None
    copy = np.ascontiguousarray(view)

    def write_back():
        view[...] = copy
    return copy, write_back


def _finish(tensor, write_back):
    if write_back is not None:
        write_back()
    if isinstance(tensor, Tensor):
        tensor._bump_version()  # an in-place change: autograd must notice if this tensor was saved for backward


def all_reduce(tensor, op="sum"):
    """Replaces `tensor` on every rank by the elementwise sum (op="sum") or mean (op="mean") over all ranks.

    In place and without a copy for a contiguous tensor (MPI reduces into its storage); returns `tensor`.
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
    comm = communicator("all_reduce")
    buf, write_back = _writable(tensor, "all_reduce")
    if op == "mean" and not np.issubdtype(buf.dtype, np.floating):
        raise TypeError(f"all_reduce: op='mean' needs a floating-point tensor, got {buf.dtype}; use op='sum' "
                        f"and divide, or convert with .float() first")
    with _timed():
        comm.Allreduce(_state["MPI"].IN_PLACE, buf, op=_state["MPI"].SUM)
    if op == "mean":
        buf /= comm.Get_size()
    _finish(tensor, write_back)
    return tensor


def broadcast(tensor, src=0):
    """Copies rank `src`'s `tensor` into `tensor` on every other rank, in place; returns `tensor`.

    Every rank must pass a tensor of the same shape and dtype.
    """
    comm = communicator("broadcast")
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src must be a rank in [0, {comm.Get_size()}), got {src!r}")
    buf, write_back = _writable(tensor, "broadcast")
    with _timed():
        comm.Bcast(buf, root=int(src))
    _finish(tensor, write_back)
    return tensor


def all_gather(tensor):
    """A new Tensor of shape (world_size, *tensor.shape): row r is rank r's `tensor`.

    MPI receives straight into the new tensor's storage. Every rank must pass the same shape and dtype.
    """
    comm = communicator("all_gather")
    _check_tensor(tensor, "all_gather")
    send = np.ascontiguousarray(np.asarray(tensor))  # no copy when already contiguous
    out = Tensor(np.empty((comm.Get_size(),) + send.shape, dtype=send.dtype), dtype=send.dtype)
    recv = np.asarray(out)
    with _timed():
        comm.Allgather(send, recv)
    out._bump_version()
    return out
