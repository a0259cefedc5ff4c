"""Running test workers as MPI ranks: `run_ranks(n, "worker.py", args)` starts them with mpiexec on loopback
(tinytorch.distributed.launch.mpiexec_command), bounded by a timeout, and returns the finished process.

Where mpi4py or mpiexec is missing the tests are skipped with the reason; with TINYTORCH_REQUIRE_MPI=1
(set by .ci/run in CI) that is a failure instead, so CI really runs them.
"""
import os
import subprocess

import pytest

import tinytorch
from tinytorch.distributed.launch import mpi_unavailable_reason, mpiexec_command

WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers")
TIMEOUT = 180  # seconds for one mpiexec run; a hang fails the test instead of blocking the suite


def require_mpi():
    reason = mpi_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("TINYTORCH_REQUIRE_MPI") == "1":
        pytest.fail(f"TINYTORCH_REQUIRE_MPI=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def rank_env():
    """The workers import the same tinytorch as this test process, with one BLAS thread per rank."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(tinytorch.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, WORKERS] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["TINYTORCH_TEST_WORKER"] = "1"
    return env


def run_ranks(n, worker, *args, timeout=TIMEOUT, cwd=None):
    """Runs workers/<worker> as n ranks; returns the CompletedProcess (stdout, stderr as text)."""
    require_mpi()
    path = worker if os.path.isabs(worker) else os.path.join(WORKERS, worker)
    cmd = mpiexec_command(n, [path, *map(str, args)])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=rank_env(), cwd=cwd)


def check_ok(proc):
    assert proc.returncode == 0, f"mpiexec exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
