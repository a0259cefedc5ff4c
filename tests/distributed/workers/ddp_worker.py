"""Rank r trains its half of each global batch under DistributedDataParallel and saves parameters,
gradients and the global losses (out_dir/<case>_rank<r>.npz). Each rank starts from a different random
init (seed = rank): the wrapper must copy rank 0's weights everywhere first."""
import os
import sys

import numpy as np

import tinytorch as tt
import tinytorch.distributed as dist
from tinytorch.core.optimizers import SGD, Adam
from ddp_cases import CASES, as_tensors, shard

out_dir, case = sys.argv[1], sys.argv[2]
rank, world = dist.init()
tt.set_num_threads(1)
make_model, make_data, make_loss = CASES[case]
loss_fn = make_loss()
saved = {}


def params(model):
    return [np.array(p) for p in model.parameters()]


def global_loss(loss):
    value = tt.Tensor(np.array([loss.item()], dtype=np.float64), dtype=np.float64)
    return dist.all_reduce(value, op="mean").item()


# 1. one SGD step on half the batch each
model = make_model(seed=rank)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)  # small buckets: several reductions in flight
saved["n_buckets"] = np.array(len(ddp.bucket_sizes))
saved["init"] = np.concatenate([p.ravel() for p in params(model)])
opt = SGD(model.parameters(), lr=0.1)
x, y = as_tensors(*(shard(a, rank, world) for a in make_data(0)))
loss = loss_fn(ddp(x), y)
opt.zero_grad()
loss.backward()
saved["grads"] = np.concatenate([np.array(p.grad).ravel() for p in model.parameters()])
opt.step()
saved["after_one_step"] = np.concatenate([p.ravel() for p in params(model)])

# 2. twenty Adam steps: the curve of the global loss
model = make_model(seed=rank)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)
opt = Adam(model.parameters(), lr=0.01)
curve = []
for step in range(20):
    x, y = as_tensors(*(shard(a, rank, world) for a in make_data(step)))
    loss = loss_fn(ddp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    curve.append(global_loss(loss))
saved["curve"] = np.array(curve)
saved["after_twenty"] = np.concatenate([p.ravel() for p in params(model)])

# 3. gradient accumulation: two micro-batches per rank, the first under no_sync
model = make_model(seed=rank)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)
x, y = (shard(a, rank, world) for a in make_data(0))
half = len(x) // 2
comm_before = ddp.comm_seconds
with ddp.no_sync():
    xa, ya = as_tensors(x[:half], y[:half])
    (loss_fn(ddp(xa), ya) * 0.5).backward()
saved["no_sync_communicated"] = np.array(ddp.comm_seconds != comm_before)
saved["local_after_no_sync"] = np.concatenate([np.array(p.grad).ravel() for p in model.parameters()])
xb, yb = as_tensors(x[half:], y[half:])
(loss_fn(ddp(xb), yb) * 0.5).backward()
saved["accumulated_grads"] = np.concatenate([np.array(p.grad).ravel() for p in model.parameters()])
np.savez(os.path.join(out_dir, f"{case}_rank{rank}.npz"), **saved)
