"""Pick OpenBLAS's kernels before the library loads.

Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and falls back to its
oldest ("Prescott") kernels: sgemm runs ~9x slower. OPENBLAS_CORETYPE forces
the right kernel family, but is read only when libopenblas is loaded, so this
must run before `tinytorch._C` is imported. A value the user set wins.
"""
import os


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_coretype(flags):
    """The OpenBLAS core for a set of /proc/cpuinfo flags, or None to let OpenBLAS decide."""
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def configure_openblas():
    if "OPENBLAS_CORETYPE" in os.environ:
        return os.environ["OPENBLAS_CORETYPE"]
    core = choose_coretype(_cpu_flags())
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    return core
