"""Checkpoints in a distributed run. A: six DDP steps in one go. B: three steps, save (rank 0 writes), every
rank loads the file into a fresh model and optimizer and trains three more. B's losses and weights must be
A's."""
import os
import sys

import numpy as np

import tinytorch as tt
import tinytorch.distributed as dist
from tinytorch.core.optimizers import Adam
from ddp_cases import CASES, as_tensors, shard

out_dir = sys.argv[1]
path = os.path.join(out_dir, "run.safetensors")
rank, world = dist.init()
tt.set_num_threads(1)
make_model, make_data, make_loss = CASES["mlp"]
loss_fn = make_loss()


def train(ddp, opt, steps):
    losses = []
    for step in steps:
        x, y = as_tensors(*(shard(a, rank, world) for a in make_data(step)))
        loss = loss_fn(ddp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def fresh(seed):
    model = make_model(seed=seed)
    return model, dist.DistributedDataParallel(model), None


model, ddp, _ = fresh(0)
opt = Adam(model.parameters(), lr=0.01)
straight = train(ddp, opt, range(6))
final_a = np.concatenate([np.array(p).ravel() for p in model.parameters()])

model, ddp, _ = fresh(0)
opt = Adam(model.parameters(), lr=0.01)
first = train(ddp, opt, range(3))
dist.save_checkpoint(path, ddp, opt, step=3, extra={"losses": first})
at_save = np.concatenate([np.array(p).ravel() for p in model.parameters()])

model, ddp, _ = fresh(123 + rank)  # different weights everywhere, replaced by the file's
opt = Adam(model.parameters(), lr=0.01)
info = dist.load_checkpoint(path, ddp, opt)
loaded = np.concatenate([np.array(p).ravel() for p in model.parameters()])
resumed = info["extra"]["losses"] + train(ddp, opt, range(info["step"], 6))
final_b = np.concatenate([np.array(p).ravel() for p in model.parameters()])

failed = ""
try:  # rank 0 cannot write: every rank gets the error
    dist.save_checkpoint(os.path.join(out_dir, "no_such_dir", "x.safetensors"), ddp, opt)
except RuntimeError as e:
    failed = str(e)
np.savez(os.path.join(out_dir, f"rank{rank}.npz"), straight=straight, resumed=resumed, final_a=final_a,
         final_b=final_b, at_save=at_save, loaded=loaded, failed=np.array(failed))
