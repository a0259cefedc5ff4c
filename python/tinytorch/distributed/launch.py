"""Starting N processes on this machine: the one place that knows how to call `mpiexec`.

Tests, the benchmark and the milestone docs all go through `mpiexec_command`, so
the flags that make MPICH (the `mpich` wheel) or Open MPI work on a laptop or a
CI box with no network live here once:

* MPICH's Hydra launcher: `-launcher fork` starts the ranks as local children
  (no ssh), `-iface lo` keeps its control traffic on the loopback interface.
* Open MPI: `--oversubscribe` lets 2 ranks run on a 1-core runner.

`mpi_unavailable_reason()` says, in one sentence, why MPI cannot run here
(mpi4py missing, no mpiexec) or returns None when it can.
"""
import functools
import os
import shutil
import subprocess
import sys
import sysconfig

__all__ = ["find_mpiexec", "mpiexec_command", "mpi_unavailable_reason", "INSTALL_HINT"]

INSTALL_HINT = "pip install mpi4py mpich  (or: pip install 'tinytorch[distributed]')"


def find_mpiexec():
    """Path of mpiexec: where pip puts this Python's scripts first (the `mpich` wheel installs it there, also
    with `pip install --user`, whose folder is often not on PATH), then $PATH; or None."""
    folders = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    try:
        folders.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:  # no user scheme on this platform
        pass
    for folder in folders:
        path = os.path.join(folder or "", "mpiexec")
        if folder and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return shutil.which("mpiexec")


@functools.lru_cache(maxsize=None)
def _flavour(mpiexec):
    """'mpich', 'openmpi' or 'unknown', from `mpiexec --version`."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if "HYDRA" in out or "MPICH" in out:
        return "mpich"
    if "Open MPI" in out or "OpenRTE" in out or "open-mpi" in out:
        return "openmpi"
    return "unknown"


def mpiexec_command(n, argv, python=None):
    """The command list that runs `python argv...` as `n` ranks on this machine (loopback only).

    mpiexec_command(2, ["-m", "pytest", ...]) -> [".../mpiexec", "-launcher", "fork", "-iface", "lo", "-n", "2",
    sys.executable, "-m", "pytest", ...]. Raises RuntimeError naming the package to install when there is no
    mpiexec.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"mpiexec_command: n must be a positive int (the number of ranks), got {n!r}")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise RuntimeError(f"mpiexec_command: no mpiexec next to {sys.executable} or on PATH; {INSTALL_HINT}")
    flavour = _flavour(mpiexec)
    flags = {"mpich": ["-launcher", "fork", "-iface", "lo"], "openmpi": ["--oversubscribe"]}.get(flavour, [])
    return [mpiexec, *flags, "-n", str(n), python or sys.executable, *argv]


def mpi_unavailable_reason():
    """None when mpi4py imports and mpiexec exists, else why not (with the install line)."""
    try:
        import mpi4py  # noqa: F401  (importing mpi4py alone does not start MPI)
    except ImportError:
        return f"mpi4py is not installed: {INSTALL_HINT}"
    if find_mpiexec() is None:
        return f"mpiexec was not found next to {sys.executable} or on PATH: {INSTALL_HINT}"
    return None
