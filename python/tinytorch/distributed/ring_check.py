"""Runs a student's ring all-reduce on real MPI ranks and compares it, bit for bit, with all_reduce.

    mpiexec -n 3 python -m tinytorch.distributed.ring_check FUNCTIONS.py RESULT.json

FUNCTIONS.py holds the student's functions (the grader of module 21 writes it from the notebook);
it must define ring_all_reduce(comm, buffer). Rank 0 writes RESULT.json: one entry per case with
"ok" and, when not ok, what differed. Cases: random float32 and float64 on a 2-rank sub-world (two
ranks add in either order to the same bits), integer-valued floats and int64 on all ranks (exact sums,
so every order gives the same bits), buffer lengths that do not divide by the number of ranks.
"""
import json
import sys

import numpy as np


def cases(size):
    """(name, ranks taking part, dtype, length, integer-valued?)."""
    two = list(range(min(2, size)))
    everyone = list(range(size))
    return [("float32 random, 2 ranks", two, np.float32, 1001, False),
            ("float64 random, 2 ranks", two, np.float64, 37, False),
            (f"float32 integer-valued, {size} ranks", everyone, np.float32, 1000, True),
            (f"int64, {size} ranks", everyone, np.int64, 29, True),
            (f"float64 shorter than the ranks, {size} ranks", everyone, np.float64, max(1, size - 1), True)]


def main(argv):
    from mpi4py import MPI

    import tinytorch as tt
    import tinytorch.distributed as dist
    functions, out = argv
    dist.init()
    world = MPI.COMM_WORLD
    namespace = {"np": np, "numpy": np}
    with open(functions, encoding="utf-8") as f:
        exec(compile(f.read(), "student_functions.py", "exec"), namespace)  # noqa: S102  (the student's own code)
    ring = namespace["ring_all_reduce"]
    report = []
    for name, members, dtype, n, integral in cases(world.Get_size()):
        inside = world.Get_rank() in members
        sub = world.Split(0 if inside else MPI.UNDEFINED, world.Get_rank())
        entry = {"case": name, "ok": True, "detail": ""}
        if inside:
            rng = np.random.default_rng([2021, sub.Get_rank(), n])
            data = (rng.integers(-50, 50, n) if integral else rng.standard_normal(n) * 10).astype(dtype)
            buffer = data.copy()
            try:
                returned = ring(sub, buffer)
                expected = tt.Tensor(data.copy(), dtype=dtype)
                dist.init(sub)
                dist.all_reduce(expected)
                expected = np.asarray(expected)
                got = np.asarray(returned if returned is not None else buffer)
                if returned is not None and not np.shares_memory(np.asarray(returned), buffer):
                    entry.update(ok=False, detail="ring_all_reduce must reduce in place and return the buffer")
                elif got.dtype != expected.dtype or got.shape != expected.shape:
                    entry.update(ok=False, detail=f"returned {got.dtype} {got.shape}, expected "
                                                  f"{expected.dtype} {expected.shape}")
                elif got.tobytes() != expected.tobytes():
                    differs = (got.view(np.uint8).reshape(n, -1) != expected.view(np.uint8).reshape(n, -1))
                    i = int(np.flatnonzero(differs.any(axis=1))[0])
                    entry.update(ok=False, detail=f"rank {sub.Get_rank()}: element {i} is {got[i]!r}, all_reduce "
                                                  f"gives {expected[i]!r}")
            except Exception as e:  # the student's code raised on this rank
                entry.update(ok=False, detail=f"rank {sub.Get_rank()}: {type(e).__name__}: {e}")
            finally:
                dist.init(world)
            sub.Free()
        entries = world.gather(entry, root=0)
        if world.Get_rank() == 0:
            bad = [e for e in entries if not e["ok"]]
            report.append(bad[0] if bad else entry)
    if world.Get_rank() == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1:])
