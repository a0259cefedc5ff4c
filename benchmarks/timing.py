"""Helpers every benchmark shares: timers, the machine's peak FLOP/s, peak RSS and the
configuration header (BLAS core, thread counts) printed above every table."""
import os
import resource
import time
import timeit

import numpy as np


def best_time(fn, number, rounds=5):
    """Seconds per call of fn: the fastest of `rounds` rounds of `number` calls, after one
    warm-up call (timeit: the garbage collector is off while a round runs)."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=rounds)) / number


def interleaved_medians(fns, number, rounds=5):
    """Seconds per call of each fn in the dict `fns`: the median over `rounds` rounds, each
    round timing every fn once in turn (A, B, A, B, ...), so a stretch of load from another
    process on the machine slows all of them alike instead of one. One warm-up call each."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times[k].append((time.perf_counter() - t0) / number)
    return {k: float(np.median(v)) for k, v in times.items()}


def cpu_clock_ghz():
    """(GHz, where it came from): the first `cpu MHz` of /proc/cpuinfo, else an assumed 2.6 GHz."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000, "/proc/cpuinfo"
    except (OSError, ValueError, IndexError):
        pass
    return 2.6, "assumed (no /proc/cpuinfo)"


def peak_gflops(cores=None):
    """(GFLOP/s, formula): the fp32 peak of an AVX-512 core with two FMA units,
    cores x 2 FMA units x 16 fp32 lanes x 2 flops per FMA x clock. The nominal clock:
    turbo can beat it, a shared machine will not reach it."""
    cores = cores or os.cpu_count() or 1
    ghz, source = cpu_clock_ghz()
    peak = cores * 2 * 16 * 2 * ghz
    return peak, (f"{cores} cores x 2 FMA units x 16 fp32 lanes x 2 flops x {ghz:.2f} GHz ({source}) "
                  f"= {peak:.0f} GFLOP/s")


def peak_rss_mb():
    """This process's peak RSS in MB. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec
    from the parent that forked us (which may have imported torch); VmHWM is this program's own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config_header(torch=None):
    """The lines to print above a table: tinytorch's BLAS build and core, both frameworks' threads, load."""
    import io

    import tinytorch as tt
    buf = io.StringIO()
    tt.show_config(file=buf)
    lines = ["# " + line for line in buf.getvalue().rstrip().splitlines()]
    if torch is not None:
        lines.append(f"# PyTorch {torch.__version__}: {torch.get_num_threads()} threads")
    try:
        lines.append(f"# load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    except OSError:
        pass
    return "\n".join(lines)
