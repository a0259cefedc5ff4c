"""DistributedDataParallel: every rank trains a copy of the model on its own
part of the batch, and the gradients are averaged across ranks during backward.

How the averaging overlaps with backward
----------------------------------------
The parameters are grouped into *buckets* of about `bucket_cap_mb` each, in
reverse order of `model.parameters()` (the order backward reaches them: the
last layer's gradients are ready first). Each bucket owns one flat buffer,
and each parameter's `.grad` is made a view into its bucket's buffer, so the
engine's gradient accumulation writes straight into the buffer MPI reduces:
no copy in, no copy out.

A gradient hook on every parameter tells us when backward reaches it. The hook
runs *before* the engine adds the gradient into `.grad` (tinytorch's hooks see
the incoming gradient), so a parameter counts as done when the *next*
parameter's hook runs; the engine runs one node at a time, so by then its
accumulation has finished. When every parameter of a bucket is done, a
non-blocking `Iallreduce` starts on the bucket's buffer while backward goes on
computing the earlier layers. Buckets are started strictly in order, because
MPI matches collectives by the order each rank issues them.

The last parameter of the backward has no "next" hook to mark it done, so its
hook adds the gradient itself, starts the final bucket and waits for every
bucket (then divides by the world size, turning sums into means), and hands
the engine a zero gradient to add. So when `loss.backward()` returns, every
`.grad` holds the mean gradient over all ranks: the optimizer step needs no
change, and the waiting happens before it.

`no_sync()` turns the hooks off: gradients accumulate locally (gradient
accumulation over micro-batches), and the next backward outside it averages
the accumulated sum.
"""
import contextlib
import time

import numpy as np

from ..autograd import no_grad
from ..core.module import Module
from ..core.tensor import Tensor
from . import collectives as _coll

__all__ = ["DistributedDataParallel"]


class _Bucket:
    def __init__(self, index, dtype):
        self.index = index
        self.dtype = dtype
        self.params = []  # parameter indices, in the order they were added
        self.offsets = []
        self.size = 0
        self.flat = None    # the Tensor all its gradients live in
        self.flat_np = None  # numpy view of the same memory (what MPI is handed)
        self.slots = []     # per parameter: a Tensor view of flat, shaped like the parameter
        self.done = 0
        self.request = None


class DistributedDataParallel(Module):
    """Wraps `module` for data-parallel training over the ranks of `tinytorch.distributed.init()`.

    ddp = DistributedDataParallel(model)   # rank 0's parameters are copied to every rank
    loss = loss_fn(ddp(x_local), y_local)  # each rank its own share of the batch
    opt.zero_grad(); loss.backward()       # .grad is now the mean over ranks
    opt.step()

    Every parameter that requires grad must get a gradient in each backward (as PyTorch's default); when
    some may not, call `finish_gradient_sync()` after backward. `ddp.module` is the wrapped model (save it,
    not the wrapper, to get a checkpoint a single process can load).
    """

    def __init__(self, module, bucket_cap_mb=1.0, broadcast_parameters=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a tinytorch Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a number > 0, got {bucket_cap_mb!r}")
        comm = _coll.communicator("DistributedDataParallel")
        self.module = module
        object.__setattr__(self, "_comm", comm)
        object.__setattr__(self, "_world", comm.Get_size())
        params = [p for p in module.parameters() if p.requires_grad]
        names = {id(p): n for n, p in module.named_parameters()}
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_names", [names[id(p)] for p in params])
        if broadcast_parameters and self._world > 1:
            with no_grad():
                for p in params:
                    _coll.broadcast(p, src=0)
        self._build_buckets(float(bucket_cap_mb) * 2**20)
        object.__setattr__(self, "_sync", True)
        object.__setattr__(self, "comm_seconds", 0.0)  # time in MPI calls of the gradient reduction, cumulative
        object.__setattr__(self, "wait_seconds", 0.0)  # the part spent waiting at the end of backward (not hidden)
        self._reset_round()
        for i, p in enumerate(params):
            p.register_hook(self._make_hook(i))

    # ---- the buckets ----
    def _build_buckets(self, cap_bytes):
        buckets, bucket_of, slot_of = [], [None] * len(self._params), [None] * len(self._params)
        current = None
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            dtype = np.dtype(np.asarray(p).dtype)
            nbytes = p.size * dtype.itemsize
            if current is None or current.dtype != dtype or (current.size and
                                                             (current.size * dtype.itemsize + nbytes > cap_bytes)):
                current = _Bucket(len(buckets), dtype)
                buckets.append(current)
            bucket_of[i], slot_of[i] = current.index, len(current.params)
            current.params.append(i)
            current.offsets.append(current.size)
            current.size += p.size
        for b in buckets:
            b.flat = Tensor(np.zeros(b.size, dtype=b.dtype), dtype=b.dtype)
            b.flat_np = np.asarray(b.flat)
            for i, off in zip(b.params, b.offsets):
                p = self._params[i]
                b.slots.append(b.flat[off:off + p.size].reshape(*p.shape) if p.ndim else b.flat[off:off + 1].reshape())
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_bucket_of", bucket_of)
        object.__setattr__(self, "_slot_of", slot_of)

    @property
    def bucket_sizes(self):
        """Number of gradient elements in each bucket, in the order they are reduced."""
        return [b.size for b in self._buckets]

    def _slot(self, i):
        return self._buckets[self._bucket_of[i]].slots[self._slot_of[i]]

    def _adopt_grad(self, i):
        """Make parameter i's .grad its slot in the bucket (keeping any gradient accumulated so far)."""
        p, slot = self._params[i], self._slot(i)
        g = p.grad
        if g is not None and g.data_ptr() == slot.data_ptr():
            return
        if g is None:
            np.asarray(slot)[...] = 0
        else:
            np.copyto(np.asarray(slot), np.asarray(g), casting="same_kind")
        p.grad = slot

    # ---- one backward's round ----
    def _reset_round(self):
        object.__setattr__(self, "_fired", [False] * len(self._params))
        object.__setattr__(self, "_count", 0)
        object.__setattr__(self, "_pending", None)
        object.__setattr__(self, "_next_launch", 0)
        for b in self._buckets:
            b.done, b.request = 0, None

    def _make_hook(self, i):
        def hook(grad):
            return self._on_gradient(i, grad)
        return hook

    def _on_gradient(self, i, grad):
        if not self._sync:
            return None
        if self._fired[i]:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names[i]} received a second gradient "
                               f"before the previous backward finished averaging (some parameters got no gradient "
                               f"in that backward: {self._missing()}); call finish_gradient_sync() after a "
                               f"backward that leaves parameters unused")
        if self._pending is not None:
            self._mark_done(self._pending)  # its accumulation into .grad has finished by now
            object.__setattr__(self, "_pending", None)
        self._fired[i] = True
        object.__setattr__(self, "_count", self._count + 1)
        self._adopt_grad(i)
        if self._count < len(self._params):
            object.__setattr__(self, "_pending", i)
            self._poke()
            return None
        # The last parameter: accumulate it here, finish every bucket, give the engine nothing more to add.
        slot = np.asarray(self._slot(i))
        slot += np.asarray(grad).astype(slot.dtype, copy=False)
        self._mark_done(i)
        self._wait_all()
        return Tensor(np.zeros((), dtype=slot.dtype), dtype=slot.dtype).expand(*grad.shape)

    def _mark_done(self, i):
        b = self._buckets[self._bucket_of[i]]
        b.done += 1
        MPI = _coll._state["MPI"]
        while self._next_launch < len(self._buckets):
            nxt = self._buckets[self._next_launch]
            if nxt.done < len(nxt.params):
                break
            start = time.perf_counter()
            nxt.request = self._comm.Iallreduce(MPI.IN_PLACE, nxt.flat_np, op=MPI.SUM)
            self._add_time(start)
            object.__setattr__(self, "_next_launch", self._next_launch + 1)

    def _poke(self):
        """Let MPI progress the started reductions (MPICH moves data only inside MPI calls)."""
        started = [b.request for b in self._buckets[:self._next_launch] if b.request is not None]
        if started:
            start = time.perf_counter()
            _coll._state["MPI"].Request.Testall(started)
            self._add_time(start)

    def _add_time(self, start):
        spent = time.perf_counter() - start
        object.__setattr__(self, "comm_seconds", self.comm_seconds + spent)
        _coll._state["seconds"] += spent

    def _wait_all(self):
        """Wait for every bucket, turn the sums into means, and start the next round."""
        MPI = _coll._state["MPI"]
        start = time.perf_counter()
        MPI.Request.Waitall([b.request for b in self._buckets if b.request is not None])
        self._add_time(start)
        object.__setattr__(self, "wait_seconds", self.wait_seconds + time.perf_counter() - start)
        for b in self._buckets:
            if self._world > 1:
                b.flat_np /= self._world
            b.flat._bump_version()
        self._reset_round()

    def _missing(self):
        return [n for n, f in zip(self._names, self._fired) if not f]

    def finish_gradient_sync(self):
        """Completes the averaging after a backward in which some parameters got no gradient (they count as
        zero). A no-op when backward already finished it. Every rank must call it."""
        if self._count == 0:
            return
        if self._pending is not None:
            self._mark_done(self._pending)
            object.__setattr__(self, "_pending", None)
        for i, fired in enumerate(self._fired):
            if not fired:
                self._adopt_grad(i)  # no gradient: its slot holds zeros (or what no_sync accumulated)
                self._mark_done(i)
        self._wait_all()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside this block accumulates gradients locally, without communication; the first
        backward after it averages the accumulated gradients."""
        old = self._sync
        object.__setattr__(self, "_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_sync", old)

    # ---- the forward call ----
    def forward(self, *args, **kwargs):
        if self._count:
            raise RuntimeError(f"DistributedDataParallel.forward: the previous backward gave no gradient to "
                               f"{self._missing()}, so its averaging never finished; call "
                               f"ddp.finish_gradient_sync() after such a backward (before the optimizer step)")
        return self.module(*args, **kwargs)

    def extra_repr(self):
        return f"world_size={self._world}, buckets={len(self._buckets)}"
