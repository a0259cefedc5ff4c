"""The one helper that builds mpiexec command lines (tests, benchmark and docs use it)."""
import sys

import pytest

from tinytorch.distributed import launch

pytestmark = pytest.mark.integration


def test_command_runs_this_python_with_the_flags_of_the_mpi_found(monkeypatch):
    monkeypatch.setattr(launch, "find_mpiexec", lambda: "/opt/mpi/bin/mpiexec")
    monkeypatch.setattr(launch, "_flavour", lambda path: "mpich")
    assert launch.mpiexec_command(2, ["x.py", "--a"]) == [
        "/opt/mpi/bin/mpiexec", "-launcher", "fork", "-iface", "lo", "-n", "2", sys.executable, "x.py", "--a"]
    monkeypatch.setattr(launch, "_flavour", lambda path: "openmpi")
    assert launch.mpiexec_command(3, ["-m", "m"])[1:4] == ["--oversubscribe", "-n", "3"]


def test_missing_mpiexec_and_bad_counts_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="^mpiexec_command: n must be a positive int"):
        launch.mpiexec_command(0, [])
    monkeypatch.setattr(launch, "find_mpiexec", lambda: None)
    with pytest.raises(RuntimeError, match="pip install mpi4py mpich"):
        launch.mpiexec_command(2, [])
    assert "mpiexec was not found" in launch.mpi_unavailable_reason() or "mpi4py is not installed" in \
        launch.mpi_unavailable_reason()
