"""Grader for module 21 (optional): the ring all-reduce over point-to-point messages.

On simulated ranks (threads, tinytorch.distributed.simulated) for 1 to 6 ranks: exact sums, in place,
only messages to the right-hand neighbour, 2 (p - 1) steps and 2 (p - 1) / p of the buffer sent per rank
in total. On real MPI (mpiexec, 3 ranks): bit for bit what tinytorch.distributed.all_reduce gives.
"""
import inspect
import json
import os
import signal
import subprocess
import tempfile

import numpy as np

from tinytorch.course.grading import Grader, GradingError, close, expect_error
from tinytorch.distributed.simulated import run_simulated

grader = Grader("21")


@grader.check(points=1, needs=["chunk_bounds"],
              hint="sizes n // p, with the first n % p chunks one longer; consecutive (start, stop) pairs")
def chunk_bounds_split_like_array_split(ns):
    f = ns["chunk_bounds"]
    for n, p in [(10, 3), (9, 3), (2, 4), (0, 2), (1, 1), (1000, 7), (5, 5)]:
        got = [tuple(int(v) for v in pair) for pair in f(n, p)]
        parts = np.array_split(np.arange(n), p)
        sizes = np.cumsum([0] + [len(q) for q in parts])
        expected = [(int(sizes[i]), int(sizes[i + 1])) for i in range(p)]
        if got != expected:
            raise GradingError(f"chunk_bounds({n}, {p}) = {got}, expected {expected}")
    expect_error(lambda: f(10, 0), (ValueError,), "chunk_bounds(10, 0)")


def _ring_on(ns, p, data):
    """Run the student's ring on p simulated ranks; (results, buffers, comms)."""
    ring = ns["ring_all_reduce"]
    buffers = [d.copy() for d in data]
    results, comms = run_simulated(p, lambda comm: ring(comm, buffers[comm.Get_rank()]), timeout=5.0)
    return results, buffers, comms


@grader.check(points=3, needs=["chunk_bounds", "ring_all_reduce"],
              hint="p - 1 reduce-scatter steps (send chunk (r - s) % p, add the received chunk (r - s - 1) % p) "
                   "then p - 1 all-gather steps (send chunk (r + 1 - s) % p, receive chunk (r - s) % p)")
def ring_sums_on_simulated_ranks(ns):
    rng = np.random.default_rng(21)
    for p in range(1, 7):
        for n in sorted({0, 1, max(1, p - 1), p, 17, 1000}):
            for dtype in (np.int64, np.float64):
                data = [rng.integers(-1000, 1000, n).astype(dtype) for _ in range(p)]
                results, buffers, _ = _ring_on(ns, p, data)
                expected = np.sum(data, axis=0) if n else np.zeros(0, dtype)
                for r in range(p):
                    if results[r] is None or not np.shares_memory(np.asarray(results[r]), buffers[r]) and n:
                        raise GradingError(f"ring_all_reduce on rank {r} of {p}: reduce into `buffer` in place "
                                           f"and return it")
                    if not np.array_equal(buffers[r], expected):
                        i = int(np.flatnonzero(buffers[r] != expected)[0])
                        raise GradingError(f"ring_all_reduce with {p} ranks, {n} {np.dtype(dtype).name} elements: "
                                           f"rank {r} holds {buffers[r][i]} at index {i}, the sum is {expected[i]}")
    data = [rng.standard_normal(333) for _ in range(4)]
    _, buffers, _ = _ring_on(ns, 4, data)
    for r in range(4):
        close(buffers[r], np.sum(data, axis=0), f"ring_all_reduce on rank {r} of 4 (float64)", rtol=1e-12,
              atol=1e-12)


@grader.check(points=2, needs=["chunk_bounds", "ring_all_reduce"],
              hint="every Sendrecv goes to (rank + 1) % p and receives from (rank - 1) % p; 2 (p - 1) of them, "
                   "each carrying one chunk")
def ring_traffic_is_two_chunks_per_step_to_the_right(ns):
    for p, n in [(2, 10), (3, 10), (4, 1000), (5, 23), (6, 6)]:
        data = [np.ones(n, dtype=np.float64) for _ in range(p)]
        _, _, comms = _ring_on(ns, p, data)
        total = 0
        for r, comm in enumerate(comms):
            dests = {d for d, _ in comm.sent}
            if dests != {(r + 1) % p}:
                raise GradingError(f"ring_all_reduce with {p} ranks: rank {r} sent to ranks {sorted(dests)}, "
                                   f"a ring sends only to its right-hand neighbour {(r + 1) % p}")
            if len(comm.sent) != 2 * (p - 1):
                raise GradingError(f"ring_all_reduce with {p} ranks: rank {r} made {len(comm.sent)} Sendrecv "
                                   f"calls, a ring needs {2 * (p - 1)} (p - 1 to reduce-scatter, p - 1 to gather)")
            total += sum(b for _, b in comm.sent)
        if total != 2 * (p - 1) * n * 8:
            raise GradingError(f"ring_all_reduce with {p} ranks on {n} float64: {total} bytes sent in all, a ring "
                               f"sends each chunk p - 1 times in each phase: {2 * (p - 1) * n * 8}")


@grader.check(points=1, needs=["ring_bytes_sent"], hint="each rank sends 2 (p - 1) chunks of nbytes / p")
def ring_bytes_sent_formula(ns):
    f = ns["ring_bytes_sent"]
    for nbytes, p, expected in [(1200, 1, 0), (1200, 2, 1200), (1200, 3, 1600), (4 * 2**20, 4, 6 * 2**20),
                                (800, 8, 1400)]:
        got = f(nbytes, p)
        if got is None or not np.isclose(float(got), expected):
            raise GradingError(f"ring_bytes_sent({nbytes}, {p}) = {got!r}, expected {expected}")


def _student_source(ns):
    """The notebook's own functions, as source text (what the MPI ranks run)."""
    parts = []
    for name, value in ns.items():
        if inspect.isfunction(value) and getattr(value, "__module__", "") == "__main__" and not name.startswith("_"):
            try:
                parts.append(inspect.getsource(value))
            except (OSError, TypeError):
                continue
    return "import numpy as np\n\n" + "\n\n".join(parts)


@grader.check(points=3, needs=["chunk_bounds", "ring_all_reduce"],
              hint="run your ring under `mpiexec -n 3` (see the lesson); it must give all_reduce's bits")
def ring_matches_all_reduce_bit_for_bit_on_mpi(ns):
    from tinytorch.distributed.launch import mpi_unavailable_reason, mpiexec_command
    _ring_on(ns, 2, [np.arange(4.0), np.arange(4.0)])  # an unwritten exercise says so here, MPI or not
    reason = mpi_unavailable_reason()
    if reason:
        raise GradingError(f"this check runs your ring on real MPI ranks, but {reason}")
    with tempfile.TemporaryDirectory(prefix="tinytorch-ring-") as tmp:
        source, result = os.path.join(tmp, "student.py"), os.path.join(tmp, "result.json")
        with open(source, "w", encoding="utf-8") as f:
            f.write(_student_source(ns))
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        proc = subprocess.Popen(mpiexec_command(3, ["-m", "tinytorch.distributed.ring_check", source, result]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # mpiexec and every rank it started
            proc.communicate()
            raise GradingError("ring_all_reduce on 3 MPI ranks did not finish in 20 s (a deadlock?)")
        if proc.returncode != 0 or not os.path.exists(result):
            raise GradingError(f"ring_all_reduce on 3 MPI ranks failed: {err.strip()[-600:]}")
        with open(result, encoding="utf-8") as f:
            report = json.load(f)
    for entry in report:
        if not entry["ok"]:
            raise GradingError(f"ring_all_reduce on MPI ({entry['case']}): {entry['detail']}")
    if len(report) != 5:
        raise GradingError(f"ring_all_reduce on MPI: expected 5 cases, got {len(report)}")
