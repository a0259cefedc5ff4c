"""Matrix products of the sizes a small transformer trains with: tinytorch
(its own threads, single-threaded OpenBLAS calls: csrc/ops/parallel.h) vs
the same OpenBLAS threading each call itself, numpy and PyTorch.

    python benchmarks/bench_matmul.py

GFLOP/s, best of 7 rounds. The "OpenBLAS threads" column calls cblas_sgemm
of the library tinytorch links, through ctypes, in a child process (its idle
threads spin after each call and would slow the other columns down).
"""
import ctypes
import ctypes.util
import json
import os
import subprocess
import sys

import numpy as np

from timing import best_time

SHAPES = [(128, 128, 128), (256, 256, 256), (2048, 256, 256), (2048, 256, 768), (2048, 256, 1024),
          (2048, 1024, 256), (64, 1024, 1024), (1024, 1024, 1024)]


def operands(m, k, n):
    rng = np.random.default_rng(0)
    return rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)


def openblas_threads_child(lib_path, prefix, threads):
    """GFLOP/s of cblas_sgemm with OpenBLAS threading each call (run in a child process)."""
    lib = ctypes.CDLL(lib_path)
    set_threads = getattr(lib, prefix + "openblas_set_num_threads")
    set_threads.argtypes = [ctypes.c_int]
    set_threads(threads)
    fp = ctypes.POINTER(ctypes.c_float)
    sgemm = getattr(lib, prefix + "cblas_sgemm")
    sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int,
                                                     ctypes.c_float, fp, ctypes.c_int]
    out = {}
    for m, k, n in SHAPES:
        a, b = operands(m, k, n)
        c = np.empty((m, n), np.float32)
        pa, pb, pc = (x.ctypes.data_as(fp) for x in (a, b, c))
        t = best_time(lambda: sgemm(101, 111, 111, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n), 10, 7)
        out[f"{m}x{k}x{n}"] = 2 * m * n * k / t / 1e9
    print(json.dumps(out))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--openblas-child":
        openblas_threads_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    import tinytorch as tt
    info = tt._C._build_info()
    threads = tt.get_num_threads()
    # The library tinytorch links (docs/distribution.md): the scipy-openblas32 wheel's, whose
    # symbols are prefixed `scipy_`, or the system's.
    if tt._BLAS == "scipy-openblas32":
        import scipy_openblas32
        lib_path, prefix = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True)), "scipy_"
    else:
        lib_path, prefix = next((p for p in ("/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
                                             "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
                                             ctypes.util.find_library("openblas")) if p and os.path.exists(p)), None), ""
    own = {}
    if lib_path:
        env = dict(os.environ)
        if prefix == "":  # the system's 0.3.21 needs its core forced, as tinytorch forces it
            env["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", info["blas_core"])
        r = subprocess.run([sys.executable, __file__, "--openblas-child", lib_path, prefix, str(threads)],
                           capture_output=True, text=True, env=env, check=True)
        own = json.loads(r.stdout.strip().splitlines()[-1])
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    print(f"# OpenBLAS core {info['blas_core']}, {threads} threads; numpy {np.__version__}; "
          f"torch {torch.__version__ if torch else 'not installed'}")
    print("| M x K x N | tinytorch | OpenBLAS threads | numpy | PyTorch | tinytorch / OpenBLAS threads |")
    print("|---|---|---|---|---|---|")
    for m, k, n in SHAPES:
        a, b = operands(m, k, n)
        flops = 2 * m * n * k / 1e9
        ta, tb = tt.Tensor(a), tt.Tensor(b)
        g_tt = flops / best_time(lambda: tt.matmul(ta, tb), 10, 7)
        g_np = flops / best_time(lambda: a @ b, 10, 7)
        g_torch = None
        if torch:
            xa, xb = torch.from_numpy(a), torch.from_numpy(b)
            g_torch = flops / best_time(lambda: xa @ xb, 10, 7)
        g_own = own.get(f"{m}x{k}x{n}")
        print(f"| {m}x{k}x{n} | {g_tt:.0f} | {g_own:.0f} | {g_np:.0f} | {g_torch:.0f} | {g_tt / g_own:.2f}x |"
              if g_own and g_torch else f"| {m}x{k}x{n} | {g_tt:.0f} | {g_own or '-'} | {g_np:.0f} | "
              f"{g_torch or '-'} | - |")


if __name__ == "__main__":
    main()
