"""Rank r puts known values through every collective and saves what came back (out_dir/rank<r>.npz)."""
import os
import sys

import numpy as np

import tinytorch as tt
import tinytorch.distributed as dist

out_dir = sys.argv[1]
rank, world = dist.init()
results = {}
for dtype in (np.float32, np.float64, np.int64):
    name = np.dtype(dtype).name
    t = tt.Tensor((np.arange(7) * (rank + 1) + 10 * rank).astype(dtype), dtype=dtype)
    ptr, view = t.data_ptr(), np.asarray(t)       # a numpy view taken before the call
    returned = dist.all_reduce(t)
    results[f"sum_{name}"] = np.array(t)
    # zero copy: the same storage before and after, and the earlier view sees the result
    results[f"sum_{name}_same_storage"] = np.array([returned is t, t.data_ptr() == ptr,
                                                    np.array_equal(view, np.asarray(t))])
    if dtype != np.int64:
        m = tt.Tensor((np.arange(5) + rank * 3).astype(dtype), dtype=dtype)
        dist.all_reduce(m, op="mean")
        results[f"mean_{name}"] = np.array(m)
    b = tt.Tensor(np.full(4, rank + 100, dtype=dtype), dtype=dtype)
    dist.broadcast(b, src=world - 1)
    results[f"bcast_{name}"] = np.array(b)
    g = dist.all_gather(tt.Tensor((np.arange(6).reshape(2, 3) + 100 * rank).astype(dtype), dtype=dtype))
    results[f"gather_{name}"] = np.array(g)
    results[f"gather_{name}_dtype"] = np.array(str(g.dtype))

# a non-contiguous view is reduced in place too; the rest of its base is untouched
base = tt.Tensor((np.arange(12.0).reshape(3, 4) + rank).astype(np.float32))
dist.all_reduce(base[:, ::2])
results["strided_base"] = np.array(base)

errors = []
for call in (lambda: dist.all_reduce(tt.Tensor(np.ones(2, np.float32)), op="max"),
             lambda: dist.all_reduce(tt.Tensor(np.ones(2, np.int64)), op="mean"),
             lambda: dist.broadcast(tt.Tensor(np.ones(2, np.float32)), src=world),
             lambda: dist.all_reduce([1.0, 2.0])):
    try:
        call()
        errors.append("no error")
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
results["errors"] = np.array(errors)
results["rank_world"] = np.array([dist.rank(), dist.world_size()])
dist.barrier()
np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **results)
