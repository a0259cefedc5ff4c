# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 21 (optional) — Distributed: data parallelism and the ring all-reduce
#
# One machine trains the capstone's TinyGPT. A class-wide leaderboard run, or
# a model four times larger, needs more processes. The simplest way to use
# them is **data parallelism**: every process (a *rank*) holds a full copy of
# the model, takes its own share of each batch, and computes gradients on it.
# Before the optimizer step the ranks **average their gradients**, so every
# copy takes the same step and the copies stay identical. With equal shares,
# the average of the ranks' mean-loss gradients is exactly the gradient of the
# mean loss over the whole batch: N ranks train the model one process would,
# on an N times larger batch per unit of time.
#
# Averaging is one collective operation, **all-reduce**: every rank starts
# with a buffer, every rank ends with the elementwise sum of all of them. MPI
# (the standard of supercomputers, `mpi4py` in Python) provides it as
# `Allreduce`, and `tinytorch.distributed.all_reduce` hands it a Tensor's own
# memory. In this module you build it yourself from the only primitive a
# network really offers, sending a message to another rank, and you will see
# why the algorithm everyone uses is a **ring**.
#
# The naive way: every rank sends its buffer to rank 0, which adds them and
# sends the sum back. Rank 0 receives (p - 1) buffers and sends (p - 1):
# its link carries 2 (p - 1) buffers per step, and the time grows with p.
# The ring instead cuts the buffer into p chunks and passes chunks to the
# right-hand neighbour, all ranks at once:
#
# * **reduce-scatter**, p - 1 steps: in step s, rank r sends chunk
#   (r - s) mod p to rank r + 1 and adds the chunk (r - s - 1) mod p it
#   receives from rank r - 1 into its own. After p - 1 steps, rank r holds
#   the complete sum of chunk (r + 1) mod p.
# * **all-gather**, p - 1 steps: in step s, rank r sends chunk
#   (r + 1 - s) mod p (complete) to the right and stores the complete chunk
#   (r - s) mod p it receives from the left.
#
# Each rank sends 2 (p - 1) chunks of 1/p of the buffer: 2 (p - 1) / p of
# the buffer, less than twice the buffer *whatever the number of ranks*. That
# constant is why ring all-reduce (Baidu brought it from HPC to deep learning
# in 2017; NCCL and Horovod use it) scales to thousands of GPUs.
#
# Everything here runs without MPI: `tinytorch.distributed.simulated` runs p
# ranks as threads of this notebook, with a communicator that answers like
# mpi4py's. The grader runs your ring there and, under `mpiexec`, on real MPI
# ranks against `all_reduce`, bit for bit (install with
# `pip install mpi4py mpich`).

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.distributed.simulated import run_simulated

# %% [markdown]
# ## Worked example: a message around the ring
# `run_simulated(p, fn)` calls `fn(comm)` once per rank, each on its own
# thread, and returns what each call returned (and the communicators).
# `comm.Get_rank()` and `comm.Get_size()` say who we are;
# `comm.Sendrecv(sendbuf, dest=..., recvbuf=..., source=...)` sends `sendbuf`
# to rank `dest` and, in the same call, receives the message rank `source`
# sent us into `recvbuf` (a numpy array, written in place). Sending and
# receiving in one call is what makes a ring safe: if every rank first
# *sent* and waited for delivery, and only then received, they could all wait
# for each other forever (a deadlock).

# %%
def pass_right(comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    mine = np.array([rank * 10.0])
    got = np.empty(1)
    comm.Sendrecv(mine, dest=(rank + 1) % size, recvbuf=got, source=(rank - 1) % size)
    return float(got[0])


received, comms = run_simulated(4, pass_right)
print("each rank received:", received)              # rank r gets rank r - 1's value
assert received == [30.0, 0.0, 10.0, 20.0]
print("rank 0 sent (dest, bytes):", comms[0].sent)

# %% [markdown]
# ## Exercise 1: `chunk_bounds(n, p)`
#
# Cut n elements into p chunks as evenly as possible, the way
# `np.array_split` does: the first `n % p` chunks get one element more.
# Return a list of p `(start, stop)` pairs, consecutive, covering 0..n.
# When n < p some chunks are empty (start == stop): the ring must still work.
# Raise `ValueError` when p < 1.

# %%
def chunk_bounds(n, p):
    """[(start, stop)] of p near-equal consecutive chunks of range(n), the longer ones first."""
    ### HINT: base, extra = divmod(n, p); chunk i has base + (1 if i < extra else 0) elements
    ### BEGIN SOLUTION
    if p < 1:
        raise ValueError(f"chunk_bounds: p must be >= 1, got {p}")
    base, extra = divmod(n, p)
    bounds, start = [], 0
    for i in range(p):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
    ### END SOLUTION


# %%
assert chunk_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
assert chunk_bounds(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
assert [b - a for a, b in chunk_bounds(1000, 7)] == [len(c) for c in np.array_split(np.arange(1000), 7)]

# %% [markdown]
# ## Exercise 2: `ring_all_reduce(comm, buffer)`
#
# Sum `buffer` (a 1-D numpy array, the same length on every rank) over all
# ranks, **in place**, and return it. Use only `comm.Get_rank()`,
# `comm.Get_size()` and `comm.Sendrecv`, and follow the two phases above:
#
# * `right = (rank + 1) % p`, `left = (rank - 1) % p`; chunks from
#   `chunk_bounds(len(buffer), p)`.
# * Reduce-scatter: for s in 0 .. p - 2, send chunk `(rank - s) % p`,
#   receive chunk `(rank - s - 1) % p` into a scratch array of the same size
#   (a view of `np.empty_like(buffer)` works), then add it into that chunk of
#   `buffer`.
# * All-gather: for s in 0 .. p - 2, send chunk `(rank + 1 - s) % p` and
#   receive chunk `(rank - s) % p` straight into `buffer`.
#
# With p = 1 there is nothing to do. Picture p = 3, chunks A B C: after
# reduce-scatter rank 0 holds the full sum of B, rank 1 of C, rank 2 of A;
# the all-gather passes each finished chunk twice around.

# %%
def ring_all_reduce(comm, buffer):
    """In-place elementwise sum of `buffer` over every rank of `comm`, by a ring of Sendrecv calls."""
    ### HINT: two loops of p - 1 Sendrecv calls each (to the right, from the left); see the bullet points above
    ### BEGIN SOLUTION
    rank, p = comm.Get_rank(), comm.Get_size()
    if p == 1:
        return buffer
    bounds = chunk_bounds(len(buffer), p)
    right, left = (rank + 1) % p, (rank - 1) % p
    scratch = np.empty_like(buffer)
    for s in range(p - 1):                       # reduce-scatter
        a, b = bounds[(rank - s) % p]
        c, d = bounds[(rank - s - 1) % p]
        comm.Sendrecv(buffer[a:b], dest=right, recvbuf=scratch[c:d], source=left)
        buffer[c:d] += scratch[c:d]
    for s in range(p - 1):                       # all-gather
        a, b = bounds[(rank + 1 - s) % p]
        c, d = bounds[(rank - s) % p]
        comm.Sendrecv(buffer[a:b], dest=right, recvbuf=buffer[c:d], source=left)
    return buffer
    ### END SOLUTION


# %%
rng = np.random.default_rng(0)
for p in range(1, 6):
    data = [rng.integers(-100, 100, 11) for _ in range(p)]
    buffers = [d.copy() for d in data]
    run_simulated(p, lambda comm: ring_all_reduce(comm, buffers[comm.Get_rank()]))
    assert all(np.array_equal(b, np.sum(data, axis=0)) for b in buffers), p
print("the ring sums exactly on 1 to 5 simulated ranks")

# %% [markdown]
# ## Exercise 3: `ring_bytes_sent(nbytes, p)`
#
# The bytes one rank sends during a ring all-reduce of an `nbytes` buffer on
# p ranks, when the chunks divide evenly: 2 (p - 1) chunks of nbytes / p.
# (0 for one rank.)

# %%
def ring_bytes_sent(nbytes, p):
    """Bytes each rank sends in a ring all-reduce of nbytes over p ranks (evenly divisible chunks)."""
    ### HINT: 2 * (p - 1) chunks, each nbytes / p
    ### BEGIN SOLUTION
    return 2 * (p - 1) * nbytes / p
    ### END SOLUTION


# %%
_, comms = run_simulated(4, lambda comm: ring_all_reduce(comm, np.ones(1000)))
sent = [sum(b for _, b in c.sent) for c in comms]
print("bytes sent per rank for 8000 bytes on 4 ranks:", sent)
assert sent == [ring_bytes_sent(8000, 4)] * 4 == [12000.0] * 4

# %% [markdown]
# ## Systems: what the ring costs next to a training step
#
# The naive scheme makes rank 0 send (p - 1) buffers; the ring makes every
# rank send 2 (p - 1) / p of one. For the gradients of the capstone-sized GPT
# (measured below from its parameters), per rank and per step:

# %%
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.transformer import GPT

tt.manual_seed(0)
model = GPT(vocab_size=96, embed_dim=128, num_layers=3, num_heads=4, max_seq_len=64)
grad_bytes = sum(p.size for p in model.parameters()) * 4          # float32 gradients
print(f"gradient buffer: {grad_bytes / 2**20:.2f} MB")
print(f"{'ranks':>5} {'ring, per rank':>15} {'naive, rank 0':>14}")
for p in (2, 4, 8, 64):
    print(f"{p:5d} {ring_bytes_sent(grad_bytes, p) / 2**20:12.2f} MB {(p - 1) * grad_bytes / 2**20:11.2f} MB")

# %% [markdown]
# How long is a step to hide that traffic behind? Measure one forward and
# backward on this machine (batch 8 x 64 characters) and compare with the
# time the ring's bytes take on a link of a given bandwidth. A 1 Gbit/s
# office network moves about 120 MB/s; shared memory between two processes
# on one machine, several GB/s.

# %%
x = tt.randint(0, 96, (8, 64))
y = tt.randint(0, 96, (8, 64))
loss_fn = CrossEntropyLoss()
times = []
for _ in range(5):
    start = time.perf_counter()
    loss_fn(model(x), y).backward()
    times.append(time.perf_counter() - start)
step = float(np.median(times[1:]))
print(f"forward + backward: {1000 * step:.1f} ms (median of 4)")
for name, bandwidth in (("1 Gbit/s Ethernet", 120e6), ("shared memory", 5e9)):
    t = ring_bytes_sent(grad_bytes, 2) / bandwidth
    print(f"  ring on 2 ranks over {name}: {1000 * t:.2f} ms = {100 * t / step:.1f}% of the step")

# %% [markdown]
# `tinytorch.distributed.DistributedDataParallel` does not even wait for the
# whole backward: it groups the gradients in buckets of about 1 MB, in the
# order backward produces them (last layer first), and starts a non-blocking
# all-reduce (`Iallreduce`) of a bucket as soon as all its gradients are
# there, while backward goes on with the earlier layers. Only the last bucket
# is waited for at the end. `benchmarks/bench_distributed.py` measures the
# share of a step spent in communication for the medium GPT.
#
# **Where tinytorch does this.** The engine tells DDP when a gradient is
# ready through tensor hooks: `call_hooks` in `csrc/autograd/engine.cpp` runs a
# leaf's hooks right before its `AccumulateGrad` node (`csrc/autograd/node.cpp`)
# adds the gradient into `.grad`, which DDP has pointed into the bucket's flat
# buffer, so MPI reduces the gradients where they lie, with no copy. The
# Python side is `python/tinytorch/distributed/ddp.py`; `collectives.py` hands
# Tensors to MPI through the buffer protocol.
#
# ## On real MPI
#
# Save your three functions in `ring.py` and run them on three processes:
#
#     mpiexec -n 3 python -m tinytorch.distributed.ring_check ring.py result.json
#
# `result.json` says, case by case, whether your ring gave the very bits of
# `all_reduce`: float32 and float64 random numbers on two ranks (a + b and
# b + a are the same float), integer-valued data on three (exact sums, so any
# order agrees). On three ranks and arbitrary floats the bits may differ:
# floating-point addition is not associative, and MPI's own algorithm adds in
# a different order. A whole training run then drifts apart in the last bits,
# which is why the tests of `tinytorch.distributed` compare losses to a
# tolerance, never bit for bit.
#
# Train the milestone on two processes yourself:
#
#     mpiexec -n 2 python milestones/05_2017_transformer/vaswani_copilot.py --distributed
