"""Rank 1 raises while rank 0 waits in a collective: the excepthook from init() must abort the job."""
import sys

import numpy as np

import tinytorch as tt
import tinytorch.distributed as dist

rank, world = dist.init()
if rank == 1:
    raise ValueError("rank 1 failed on purpose")
dist.all_reduce(tt.Tensor(np.ones(3, np.float32)))  # never completes: rank 1 is gone
print("rank 0 finished the all_reduce (it should have been aborted)", flush=True)
sys.exit(0)
