"""int8 vs float32 on this CPU: the C++ int8 GEMM (csrc/ops/qgemm.cpp) and QuantizedLinear
against tinytorch's float32 sgemm (OpenBLAS), numpy, PyTorch float32, and PyTorch's own int8
kernels (torch._int_mm, torch.ao.quantization.quantize_dynamic) when this CPU build has them.

    python benchmarks/bench_quant.py [--rounds 9] [--threads N]

--threads N sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS before numpy, torch
and tinytorch load, so every library uses N threads (default: each library's own choice; on a
loaded 2-core machine the idle threads of one library spinning after its calls slow the others,
and --threads 1 gives steadier single-core figures).

Every contestant runs once per round, rounds interleaved (A, B, C, A, B, C, ...) so a slow
moment of the machine hits all of them; the figure is the median over rounds of the time per call.
GOP/s counts 2*M*K*N operations (multiply + add) for float and int8 alike.
"""
import argparse
import os
import statistics
import sys
import timeit
import warnings

if "--threads" in sys.argv[:-1]:  # must be set before the BLAS libraries load
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

import tinytorch as tt  # noqa: E402
from tinytorch import _C  # noqa: E402
from tinytorch.core.layers import Linear  # noqa: E402
from tinytorch.perf.quantization import QuantizedLinear  # noqa: E402

GEMM_SHAPES = [(1, 1024, 1024), (16, 1024, 1024), (128, 784, 256), (256, 1024, 1024), (1024, 1024, 1024)]
LINEAR_SHAPES = [(1, 784, 256), (32, 784, 256), (256, 1024, 1024), (1024, 1024, 4096)]


def interleaved_medians(contestants, rounds):
    """{name: median seconds per call}; each round times every contestant once, in turn."""
    times = {name: [] for name in contestants}
    for fn in contestants.values():  # warm-up, and pick a call count of about 20 ms per timing
        fn()
    numbers = {}
    for name, fn in contestants.items():
        t = timeit.timeit(fn, number=1)
        numbers[name] = max(1, int(0.02 / max(t, 1e-7)))
    for _ in range(rounds):
        for name, fn in contestants.items():
            times[name].append(timeit.timeit(fn, number=numbers[name]) / numbers[name])
    return {name: statistics.median(v) for name, v in times.items()}


def try_torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


def gemm_table(rounds, torch):
    print("\n## int8 GEMM (exact int32) vs float32 GEMM: GOP/s, median of interleaved rounds")
    print(f"{'M x K x N':>18} | {'tt int8':>8} | {'tt sgemm':>8} | {'numpy f32':>9} | {'torch f32':>9} | "
          f"{'torch int8':>10} | int8 / tt sgemm")
    for m, k, n in GEMM_SHAPES:
        rng = np.random.default_rng(0)
        a8 = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b8 = rng.integers(-128, 128, (k, n), dtype=np.int8)
        packed = _C.PackedInt8Matrix(b8)
        a32, b32 = a8.astype(np.float32), b8.astype(np.float32)
        ta, tb = tt.Tensor(a32), tt.Tensor(b32)
        c = {"tt int8": lambda: _C.int8_matmul(a8, packed), "tt sgemm": lambda: tt.matmul(ta, tb),
             "numpy f32": lambda: a32 @ b32}
        if torch is not None:
            pa, pb = torch.from_numpy(a32), torch.from_numpy(b32)
            c["torch f32"] = lambda: torch.mm(pa, pb)
            try:  # torch's int8 GEMM, where this CPU build provides one
                ia, ib = torch.from_numpy(a8), torch.from_numpy(b8)
                assert np.array_equal(torch._int_mm(ia, ib).numpy(), _C.int8_matmul(a8, packed))
                c["torch int8"] = lambda: torch._int_mm(ia, ib)
            except Exception:
                pass
        med = interleaved_medians(c, rounds)
        gops = {name: 2 * m * k * n / t / 1e9 for name, t in med.items()}
        cell = lambda name, w: f"{gops[name]:{w}.1f}" if name in gops else f"{'n/a':>{w}}"
        print(f"{f'{m} x {k} x {n}':>18} | {cell('tt int8', 8)} | {cell('tt sgemm', 8)} | {cell('numpy f32', 9)} | "
              f"{cell('torch f32', 9)} | {cell('torch int8', 10)} | {gops['tt int8'] / gops['tt sgemm']:.2f}x")


def linear_table(rounds, torch):
    print("\n## Linear layer forward (float32 in, float32 out): microseconds per call, median")
    print(f"{'batch x in -> out':>20} | {'tt QLinear':>10} | {'tt Linear':>9} | {'torch f32':>9} | "
          f"{'torch dyn int8':>14} | tt Linear time / QLinear time | max |err| / max |y|")
    for m, k, n in LINEAR_SHAPES:
        tt.manual_seed(0)
        layer = Linear(k, n)
        q = QuantizedLinear(layer)
        x = tt.Tensor(np.random.default_rng(1).standard_normal((m, k)).astype(np.float32))
        c = {"tt QLinear": lambda: q(x), "tt Linear": lambda: layer(x)}
        if torch is not None:
            ref = torch.nn.Linear(k, n)
            with torch.no_grad():
                ref.weight.copy_(torch.from_numpy(np.asarray(layer.weight).T.copy()))
                ref.bias.zero_()
            px = torch.from_numpy(np.asarray(x))
            c["torch f32"] = lambda: ref(px)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    qref = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(ref), {torch.nn.Linear},
                                                                  dtype=torch.qint8)
                    qref(px)
                c["torch dyn int8"] = lambda: qref(px)
            except Exception:
                pass
        with tt.no_grad():
            y, yq = np.asarray(layer(x)), np.asarray(q(x))
            med = interleaved_medians(c, rounds)
        us = {name: t * 1e6 for name, t in med.items()}
        cell = lambda name, w: f"{us[name]:{w}.1f}" if name in us else f"{'n/a':>{w}}"
        print(f"{f'{m} x {k} -> {n}':>20} | {cell('tt QLinear', 10)} | {cell('tt Linear', 9)} | "
              f"{cell('torch f32', 9)} | "
              f"{cell('torch dyn int8', 14)} | {us['tt Linear'] / us['tt QLinear']:>29.2f} | "
              f"{np.abs(yq - y).max() / np.abs(y).max():.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="threads for every library (set before loading)")
    args = parser.parse_args()
    info = _C._build_info()
    torch = try_torch()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"threads requested: {args.threads or 'library defaults'}")
    print(f"tinytorch: SIMD {info['simd']}, OpenBLAS core {info['blas_core']}, {info['blas_threads']} threads; "
          f"int8 kernels compiled: {', '.join(_C.int8_gemm_paths())} (first is used)")
    if torch is not None:
        torch.set_num_threads(info["blas_threads"])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"quantized engine {torch.backends.quantized.engine}")
    gemm_table(args.rounds, torch)
    linear_table(args.rounds, torch)


if __name__ == "__main__":
    main()
