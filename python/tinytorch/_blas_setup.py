"""Get the process ready for tinytorch._C: check the CPU, load the BLAS it links.

Runs before the first import of `_C` (tinytorch/__init__.py). Which BLAS
and which SIMD level the extension was built for are recorded by CMake in
`_build_config.py` (docs/distribution.md):

- scipy-openblas32 (the default build and the wheel): the OpenBLAS wheel NumPy
  and SciPy ship. Importing `scipy_openblas32` loads its library, so `_C`
  finds it even when its rpath (`$ORIGIN/../scipy_openblas32/lib`) does not
  point at it (the BLAS wheel installed in another site-packages). It picks
  the right kernels for the CPU by itself.
- system (a build with -DTT_BLAS=system): Debian's OpenBLAS 0.3.21 does not
  recognise recent CPUs and falls back to its oldest ("Prescott") kernels,
  sgemm ~9x slower. OPENBLAS_CORETYPE forces the right kernel family, but is
  read only when libopenblas loads, so it is set here. A value the user set wins.

A wheel's kernels are compiled for x86-64-v3 (AVX2 + FMA): on an older CPU
they would kill the interpreter with an illegal instruction, so the import
stops first with a message saying what to do.
"""
import os

# What each -march level needs, as /proc/cpuinfo names the flags (x86-64 psABI levels).
_MARCH_FLAGS = {
    "x86-64-v2": {"sse4_1", "sse4_2", "ssse3", "popcnt"},
    "x86-64-v3": {"sse4_1", "sse4_2", "ssse3", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"},
    "x86-64-v4": {"sse4_1", "sse4_2", "ssse3", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe",
                  "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"},
}


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def build_config():
    """(BLAS, MARCH) of the installed extension; (None, "") when _C was copied in by hand (no record)."""
    try:
        from . import _build_config
    except ImportError:
        return None, ""
    return _build_config.BLAS, _build_config.MARCH


def missing_cpu_flags(march, flags):
    """The instructions a build for `march` uses that a CPU with `flags` lacks (empty: it runs)."""
    need = _MARCH_FLAGS.get(march)
    if need is None or not flags:  # native/empty: built for this machine; no cpuinfo flags: cannot tell
        return set()
    return need - flags


def choose_coretype(flags):
    """The OpenBLAS core for a set of /proc/cpuinfo flags, or None to let OpenBLAS decide."""
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def configure_openblas():
    """Set OPENBLAS_CORETYPE for the system OpenBLAS (0.3.21 misdetects recent CPUs), unless the user did."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return os.environ["OPENBLAS_CORETYPE"]
    core = choose_coretype(_cpu_flags())
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    return core


def prepare():
    """Check the CPU can run the build, then load or configure its BLAS. Returns build_config()."""
    blas, march = build_config()
    lacking = missing_cpu_flags(march, _cpu_flags())
    if lacking:
        raise ImportError(f"tinytorch: this build was compiled for {march} and this CPU lacks "
                          f"{', '.join(sorted(lacking))}; build it for this machine from the source "
                          f"checkout instead: pip install . (docs/distribution.md)")
    if blas == "scipy-openblas32":
        import scipy_openblas32  # noqa: F401  (loads libscipy_openblas.so before _C needs it)
    elif blas == "system" or blas is None:
        # None: an extension copied into the tree by hand, of either kind. Forcing the core is what a
        # system build needs and what the BLAS wheel would pick by itself on this machine anyway.
        configure_openblas()
        try:
            import scipy_openblas32  # noqa: F401
        except ImportError:
            pass
    return blas, march
