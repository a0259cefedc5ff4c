"""Two OpenBLAS builds side by side: Debian's libopenblas (0.3.21, with
OPENBLAS_CORETYPE forced, as tinytorch used to ship) and the scipy-openblas32
wheel from the package index (the build NumPy and SciPy ship, no CORETYPE).

    python benchmarks/bench_blas_libs.py [--rounds 9] [--threads 1]

Both libraries are loaded into this one process through ctypes (their symbols
do not clash: the wheel's are all prefixed `scipy_`), and every shape is timed
in interleaved rounds (Debian then wheel, wheel then Debian, ...); the table shows the
median GFLOP/s of each and their ratio. `--threads 1` is how tinytorch calls
BLAS (its own threads each run a single-threaded sgemm on a block of rows,
csrc/ops/parallel.h); `--threads 2` lets OpenBLAS thread each call itself.
The result and the decision it led to are in docs/distribution.md.
"""
import argparse
import ctypes
import os
import statistics
import time

import numpy as np

# (m, k, n, transA, transB): square sizes, then the GEMMs a GPT training step runs
# (forward x @ W, and the two backward products dX = dY @ W^T and dW = X^T @ dY).
SHAPES = [
    (256, 256, 256, False, False), (512, 512, 512, False, False),
    (1024, 1024, 1024, False, False), (2048, 2048, 2048, False, False),
    # medium GPT (batch 16 x seq 128 = 2048 rows, embed 256): QKV, MLP up, MLP down and their backward
    (2048, 256, 768, False, False), (2048, 256, 1024, False, False), (2048, 1024, 256, False, False),
    (2048, 768, 256, False, True), (256, 2048, 768, True, False),
    # GPT-2 small shape (batch 4 x seq 64 = 256 rows, embed 768): QKV, MLP, head slice
    (256, 768, 2304, False, False), (256, 768, 3072, False, False), (256, 3072, 768, False, False),
    (768, 256, 2304, True, False), (256, 768, 8192, False, False),
    # one row block as tinytorch's threads see it (16 rows of C at a time)
    (16, 768, 3072, False, False),
]

DEBIAN_PATHS = ("/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib/aarch64-linux-gnu/libopenblas.so.0")


def load(path, prefix):
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
    fp = ctypes.POINTER(ctypes.c_float)
    sgemm = getattr(lib, prefix + "cblas_sgemm")
    sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int,
                                           ctypes.c_float, fp, ctypes.c_int]
    getattr(lib, prefix + "openblas_set_num_threads").argtypes = [ctypes.c_int]
    getattr(lib, prefix + "openblas_get_corename").restype = ctypes.c_char_p
    getattr(lib, prefix + "openblas_get_config").restype = ctypes.c_char_p
    return lib, sgemm, prefix


def libraries():
    debian = next((p for p in DEBIAN_PATHS if os.path.exists(p)), None)
    if debian is None:
        raise SystemExit("bench_blas_libs: Debian's libopenblas is not installed (apt-get install libopenblas0)")
    import scipy_openblas32  # noqa: F401  (pip install scipy-openblas32)
    # Debian's 0.3.21 needs the core forced (it falls back to Prescott kernels on this CPU); the
    # variable is read when a library loads, so it is set for Debian's and removed for the wheel's.
    user = os.environ.get("OPENBLAS_CORETYPE")
    os.environ["OPENBLAS_CORETYPE"] = user or "SkylakeX"
    libs = {"debian": load(debian, "")}
    os.environ.pop("OPENBLAS_CORETYPE")
    libs["wheel"] = load(os.path.join(scipy_openblas32.get_lib_dir(), "lib" + scipy_openblas32.get_library() + ".so"),
                         "scipy_")
    if user is not None:
        os.environ["OPENBLAS_CORETYPE"] = user
    return libs


def time_once(sgemm, shape, ops, reps):
    m, k, n, ta, tb = shape
    a, b, c = ops
    fp = ctypes.POINTER(ctypes.c_float)
    pa, pb, pc = (x.ctypes.data_as(fp) for x in (a, b, c))
    lda, ldb = (m if ta else k), (k if tb else n)
    args = (101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)
    sgemm(*args)  # warm-up (page faults, OpenBLAS buffers)
    t0 = time.perf_counter()
    for _ in range(reps):
        sgemm(*args)
    return (time.perf_counter() - t0) / reps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    libs = libraries()
    for name, (lib, _, p) in libs.items():
        getattr(lib, p + "openblas_set_num_threads")(args.threads)
        print(f"{name:6}: {getattr(lib, p + 'openblas_get_config')().decode().strip()} | "
              f"core {getattr(lib, p + 'openblas_get_corename')().decode()}")
    print(f"threads per call: {args.threads}; {args.rounds} interleaved rounds, medians; "
          f"load: {os.getloadavg()[0]:.2f}")
    print(f"{'m x k x n (op)':28} {'debian GF/s':>12} {'wheel GF/s':>11} {'wheel/debian':>13}")
    rng = np.random.default_rng(0)
    ratios = []
    for shape in SHAPES:
        m, k, n, ta, tb = shape
        a = rng.random((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.random((n, k) if tb else (k, n), dtype=np.float32)
        ops = (a, b, np.empty((m, n), np.float32))
        flop = 2.0 * m * n * k
        reps = max(1, int(1e9 / flop))  # about 1 GFLOP (5-10 ms) per round
        times = {name: [] for name in libs}
        for r in range(args.rounds):
            # ABBA order: neither library always runs right after the other
            order = list(libs.items()) if r % 2 == 0 else list(reversed(libs.items()))
            for name, (_, sgemm, _) in order:
                times[name].append(time_once(sgemm, shape, ops, reps))
        gf = {name: flop / statistics.median(t) / 1e9 for name, t in times.items()}
        ratios.append(gf["wheel"] / gf["debian"])
        label = f"{m}x{k}x{n}" + (" (A^T)" if ta else "") + (" (B^T)" if tb else "")
        print(f"{label:28} {gf['debian']:12.1f} {gf['wheel']:11.1f} {ratios[-1]:12.2f}x")
    print(f"geometric mean wheel/debian: {float(np.exp(np.mean(np.log(ratios)))):.3f}x")


if __name__ == "__main__":
    main()
