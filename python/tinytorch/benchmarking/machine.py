"""What a measurement ran on, and how much memory it took.

A timing without its machine is not a result: the same matmul is 9x apart
between OpenBLAS's generic kernels and its AVX-512 ones on this CPU
(docs/design.md), so every report carries the CPU model, the cores this
process may use, the BLAS core and thread count the engine actually loaded,
and the library versions.
"""
import gc
import os
import platform
import resource
import sys

__all__ = ["machine_info", "peak_memory_delta", "peak_rss_bytes"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """A flat dict of strings and ints: cpu, cores, cores_usable, blas_core, blas_threads, simd, python,
    numpy, tinytorch, platform."""
    import numpy as np
    import tinytorch
    info = {"cpu": _cpu_model(), "cores": os.cpu_count() or 1,
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
            "python": platform.python_version(), "numpy": np.__version__,
            "tinytorch": getattr(tinytorch, "__version__", "unknown"), "platform": platform.platform()}
    try:
        build = tinytorch._C._build_info()
    except Exception:  # a build without the helper still gets a report
        build = {}
    for key in ("blas_core", "blas_threads", "blas_config", "simd", "compiler"):
        if key in build:
            info[key] = build[key]
    return info


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def peak_rss_bytes():
    """The process's peak resident set size so far (bytes; ru_maxrss is in KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kib) * (1 if sys.platform == "darwin" else 1024)


def _reset_peak():
    # Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS, so the next peak is
    # this run's own, not the largest thing the process ever did.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_delta(fn):
    """(bytes, method): how far the resident set rose above its starting level while fn() ran.

    method "vmhwm-reset": the peak was reset before the run, so this is fn's own peak.
    method "ru_maxrss": the peak cannot be reset here, so only growth beyond the process's
    earlier high-water mark shows up (0 if fn fits under it): a lower bound."""
    gc.collect()
    if _reset_peak():
        base = _status_kb("VmRSS")
        fn()
        return max(0, _status_kb("VmHWM") - base) * 1024, "vmhwm-reset"
    base = peak_rss_bytes()
    fn()
    return max(0, peak_rss_bytes() - base), "ru_maxrss"
