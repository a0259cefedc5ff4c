"""Tensor-core speed vs numpy and raw OpenBLAS, measured side by side in one run.

    python benchmarks/bench_tensor.py          (or: make bench)

Prints one table: matmul GFLOP/s (tinytorch, numpy, OpenBLAS called
directly, and the machine's peak estimate), a batched matmul, the per-call
latency of a small elementwise add, a large elementwise add and reductions.
Ratios > 1 mean tinytorch is faster. Never used by the tests.
"""
import os
import platform

import numpy as np

import tinytorch as tt
from timing import best_time


def peak_gflops():
    """cores x GHz x (FMA units 2 x SIMD float lanes x 2 flops); an estimate, not a measurement."""
    flags, mhz = set(), None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = os.cpu_count() or 1
    return cores * (mhz or 2000) / 1000 * 2 * lanes * 2, cores, mhz, lanes


def main():
    info = tt._C._build_info()
    peak, cores, mhz, lanes = peak_gflops()
    print(f"# tinytorch {tt.__version__} | {platform.processor() or platform.machine()} | {cores} cores @ {mhz:.0f} MHz")
    print(f"# OpenBLAS core: {info['blas_core']} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), "
          f"threads {info['blas_threads']}, build SIMD {info['simd']}; numpy {np.__version__}")
    rows = []

    n = 1024
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    ta, tb = tt.Tensor(a), tt.Tensor(b)
    flops = 2 * n ** 3
    g_tt = flops / best_time(lambda: tt.matmul(ta, tb), 3) / 1e9
    g_np = flops / best_time(lambda: a @ b, 3) / 1e9
    g_blas = max(tt._C._blas_sgemm_gflops(n, 3) for _ in range(5))  # best of 5, as best_time
    g_tt_T = flops / best_time(lambda: tt.matmul(ta.T, tb), 3) / 1e9
    rows.append(("sgemm 1024^3 GFLOP/s", f"{g_tt:.0f}", f"{g_np:.0f}", f"{g_tt / g_np:.2f}",
                 f"OpenBLAS direct {g_blas:.0f} (tinytorch = {100 * g_tt / g_blas:.0f}%), peak est. {peak:.0f}"))
    rows.append(("sgemm A.T @ B GFLOP/s", f"{g_tt_T:.0f}", f"{flops / best_time(lambda: a.T @ b, 3) / 1e9:.0f}",
                 "", "transposed view passed to BLAS with the transpose flag"))

    ba = np.random.rand(64, 128, 64).astype(np.float32)
    bb = np.random.rand(64, 128).astype(np.float32)
    tba, tbb = tt.Tensor(ba), tt.Tensor(bb)
    t_tt = best_time(lambda: tt.matmul(tba, tbb), 50)
    t_np = best_time(lambda: np.matmul(ba, bb), 50)
    rows.append(("batched 64x(128x64)@(64x128) us", f"{t_tt * 1e6:.1f}", f"{t_np * 1e6:.1f}", f"{t_np / t_tt:.2f}",
                 f"{2 * 64 * 128 * 64 * 128 / t_tt / 1e9:.0f} GFLOP/s"))

    sa = np.random.rand(32, 32).astype(np.float32)
    sb = np.random.rand(32, 32).astype(np.float32)
    tsa, tsb = tt.Tensor(sa), tt.Tensor(sb)
    t_tt = best_time(lambda: tsa + tsb, 100000)
    t_np = best_time(lambda: sa + sb, 100000)
    rows.append(("add 32x32, ns per call", f"{t_tt * 1e9:.0f}", f"{t_np * 1e9:.0f}", f"{t_np / t_tt:.2f}",
                 "whole Python call: dispatch + allocation + kernel"))
    t_tt = best_time(lambda: tsa * 2.0, 100000)
    t_np = best_time(lambda: sa * 2.0, 100000)
    rows.append(("mul by scalar 32x32, ns", f"{t_tt * 1e9:.0f}", f"{t_np * 1e9:.0f}", f"{t_np / t_tt:.2f}", ""))

    la = np.random.rand(1024, 1024).astype(np.float32)
    lb = np.random.rand(1024, 1024).astype(np.float32)
    tla, tlb = tt.Tensor(la), tt.Tensor(lb)
    t_tt = best_time(lambda: tla + tlb, 50)
    t_np = best_time(lambda: la + lb, 50)
    rows.append(("add 1024x1024, us", f"{t_tt * 1e6:.0f}", f"{t_np * 1e6:.0f}", f"{t_np / t_tt:.2f}", ""))
    t_tt = best_time(lambda: tla.exp(), 20)
    t_np = best_time(lambda: np.exp(la), 20)
    rows.append(("exp 1024x1024, us", f"{t_tt * 1e6:.0f}", f"{t_np * 1e6:.0f}", f"{t_np / t_tt:.2f}", ""))

    for axis in (0, 1):
        t_tt = best_time(lambda: tla.sum(axis), 50)
        t_np = best_time(lambda: la.sum(axis), 50)
        rows.append((f"sum axis {axis} of 1024x1024, us", f"{t_tt * 1e6:.0f}", f"{t_np * 1e6:.0f}",
                     f"{t_np / t_tt:.2f}", ""))
    t_tt = best_time(lambda: tla.sum(), 50)
    t_np = best_time(lambda: la.sum(), 50)
    rows.append(("sum all of 1024x1024, us", f"{t_tt * 1e6:.0f}", f"{t_np * 1e6:.0f}", f"{t_np / t_tt:.2f}", ""))

    header = ("benchmark", "tinytorch", "numpy", "speedup", "notes")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()
