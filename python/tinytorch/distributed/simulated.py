"""A world of N ranks inside one process, for learning and grading point-to-point algorithms without MPI.

`run_simulated(n, fn)` calls fn(comm) on n threads; each `comm` answers `Get_rank()`, `Get_size()` and
`Sendrecv(...)` like an mpi4py communicator (the ring all-reduce of the course's module 21 needs nothing
else), and counts what its rank sent: `comm.sent` is a list of (dest, nbytes), one per call. A rank that
waits for a message that never comes fails after `timeout` seconds (a deadlock, or a rank that gave up),
and an exception on any rank is raised in the caller, naming the rank.
"""
import queue
import threading

import numpy as np

__all__ = ["SimulatedComm", "run_simulated"]


class _World:
    def __init__(self, size, timeout):
        self.size, self.timeout = size, timeout
        self.boxes = {(a, b): queue.Queue() for a in range(size) for b in range(size)}
        self.failed = threading.Event()


class SimulatedComm:
    """One rank's view of a simulated world (see the module docstring)."""

    def __init__(self, world, rank):
        self._world, self._rank = world, rank
        self.sent = []

    def Get_rank(self):  # noqa: N802  (mpi4py's names)
        return self._rank

    def Get_size(self):  # noqa: N802
        return self._world.size

    rank = property(Get_rank)
    size = property(Get_size)

    def _rank_arg(self, value, what):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < self.size:
            raise ValueError(f"Sendrecv: {what} must be a rank in [0, {self.size}), got {value!r}")
        return int(value)

    def Sendrecv(self, sendbuf, dest, sendtag=0, recvbuf=None, source=None, recvtag=None, status=None):  # noqa: N802
        """Sends a copy of sendbuf to `dest` and receives the message from `source` into recvbuf (in place)."""
        dest, source = self._rank_arg(dest, "dest"), self._rank_arg(source, "source")
        send = np.array(np.asarray(sendbuf[0] if isinstance(sendbuf, (list, tuple)) else sendbuf), copy=True)
        recv = np.asarray(recvbuf[0] if isinstance(recvbuf, (list, tuple)) else recvbuf)
        self.sent.append((dest, send.nbytes))
        self._world.boxes[(self._rank, dest)].put(send)
        waited = 0.0
        while True:
            try:
                message = self._world.boxes[(source, self._rank)].get(timeout=0.05)
                break
            except queue.Empty:
                waited += 0.05
                if self._world.failed.is_set():
                    raise RuntimeError(f"Sendrecv: rank {self._rank} stopped waiting for rank {source}, "
                                       f"which failed") from None
                if waited >= self._world.timeout:
                    raise TimeoutError(f"Sendrecv: rank {self._rank} waited {self._world.timeout:g} s for a "
                                       f"message from rank {source} that never came (a deadlock: does rank "
                                       f"{source} send to rank {self._rank} in this step?)") from None
        if message.size != recv.size or message.dtype != recv.dtype:
            raise ValueError(f"Sendrecv: rank {self._rank} received {message.size} {message.dtype} elements from "
                             f"rank {source} into a buffer of {recv.size} {recv.dtype}; both sides of a step "
                             f"must agree on the chunk")
        if not recv.flags.writeable:
            raise ValueError("Sendrecv: recvbuf is read-only")
        recv[...] = message.reshape(recv.shape)


def run_simulated(size, fn, timeout=10.0):
    """[fn(comm) for each rank], run on `size` threads; the comms are returned too: (results, comms)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"run_simulated: size must be a positive int, got {size!r}")
    world = _World(int(size), float(timeout))
    comms = [SimulatedComm(world, r) for r in range(size)]
    results, errors = [None] * size, [None] * size

    def body(r):
        try:
            results[r] = fn(comms[r])
        except BaseException as e:  # noqa: B902  (reported to the caller below)
            errors[r] = e
            world.failed.set()

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the rank that failed first, not the ones that stopped waiting for it
    failed = [r for r in range(size) if errors[r] is not None and "which failed" not in str(errors[r])]
    failed = failed or [r for r in range(size) if errors[r] is not None]
    if failed:
        err = errors[failed[0]]
        try:
            wrapped = type(err)(f"rank {failed[0]} of {size}: {err}")
        except Exception:
            wrapped = RuntimeError(f"rank {failed[0]} of {size}: {type(err).__name__}: {err}")
        raise wrapped from err
    return results, comms
