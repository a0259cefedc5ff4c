"""Cost of the subnormal/overflow lane checks in the vectorized log and exp.

    python benchmarks/bench_unary_edges.py

The kernels in csrc/ops/elementwise.cpp redo with libm only the lanes where
xsimd is wrong (subnormal log inputs, exp near underflow/overflow); this
prints 1024x1024 log/exp (and softmax, which shares the exp) timings on ordinary inputs (the fast path) and on
inputs that are all subnormal (every batch takes the libm path) next to
numpy, measured in one run, rounds interleaved (tinytorch, numpy, ...),
medians of the per-round best. Ratios > 1 mean tinytorch is faster.
"""
import statistics

import numpy as np

import tinytorch as tt
from timing import best_time


def np_softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main():
    info = tt._C._build_info()
    print(f"# OpenBLAS core: {info['blas_core']}, build SIMD {info['simd']}; numpy {np.__version__}")
    rng = np.random.default_rng(0)
    cases = []
    for dt in (np.float32, np.float64):
        normal = rng.uniform(0.1, 10.0, (1024, 1024)).astype(dt)
        sub = (normal * np.finfo(dt).tiny / 20).astype(dt)  # all subnormal
        cases += [(f"log  {dt.__name__} normal", "log", normal), (f"log  {dt.__name__} subnormal", "log", sub),
                  (f"exp  {dt.__name__} normal", "exp", normal - 5), (f"exp  {dt.__name__} near underflow", "exp",
                                                                      normal * 0 - (740 if dt == np.float64 else 100)),
                  (f"softmax {dt.__name__} normal", "softmax", normal * 3)]
    print(f"{'case (1024x1024)':34s} {'tinytorch us':>13s} {'numpy us':>10s} {'np/tt':>6s}")
    for label, fn, a in cases:
        t = tt.Tensor(a, dtype=a.dtype)
        f_tt, f_np = (tt.softmax, np_softmax) if fn == "softmax" else (getattr(tt, fn), getattr(np, fn))
        tts, nps = [], []
        for _ in range(5):  # interleaved rounds: A, B, A, B
            tts.append(best_time(lambda: f_tt(t), 10, rounds=3))
            with np.errstate(all="ignore"):
                nps.append(best_time(lambda: f_np(a), 10, rounds=3))
        m_tt, m_np = statistics.median(tts), statistics.median(nps)
        print(f"{label:34s} {m_tt * 1e6:13.0f} {m_np * 1e6:10.0f} {m_np / m_tt:6.2f}")


if __name__ == "__main__":
    main()
