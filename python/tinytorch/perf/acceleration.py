"""Module 18: acceleration. The engine's own tricks, made visible and measured.

Three ideas explain almost every speed difference in this engine:

* **The roofline.** An op does `flops` arithmetic and moves `bytes` to and
  from memory; its arithmetic intensity is `flops / bytes`. It cannot run
  faster than the machine's peak FLOP/s, nor faster than memory bandwidth x
  intensity: the bound is `min(peak, intensity * bandwidth)`. A large matmul
  (intensity ~ n/6 FLOP per byte in float32) reaches the compute roof; an
  elementwise add (1 FLOP per 12 bytes) sits far below it whatever the code.
* **Fusion.** Composing LayerNorm or a transformer block from small ops
  writes every intermediate to memory and reads it back, and crosses from
  Python to C++ once per op. The fused kernels (`csrc/ops/`, their ops and
  nodes in `csrc/autograd/fused_*`) do the same math in a few passes and a
  few calls.
* **Threads.** tinytorch splits each product across its own threads
  (`tt.set_num_threads`, `csrc/ops/parallel.cpp`); memory-bound ops gain
  less than compute-bound ones because the cores share one memory bus.

The pure functions (FLOP and byte counts, intensity, roofline bound) are
exact and tested; the measuring helpers return numbers that depend on the
machine and on its load, and are never asserted on.
"""
import math
import os
import time

import numpy as np

from .. import _C
from ..core.tensor import Tensor

__all__ = ["matmul_flops", "matmul_bytes", "elementwise_flops", "elementwise_bytes", "arithmetic_intensity",
           "roofline_bound", "ridge_point", "theoretical_peak_gflops", "simd_flops_per_cycle", "cpu_max_ghz",
           "estimate_peak_gflops", "measured_sgemm_gflops", "measured_matmul_gflops", "measured_peak_gflops",
           "measured_bandwidth_gbs", "interleaved_medians",
           "roofline_row", "roofline_table", "format_table", "composed_layer_norm", "composed_block",
           "fused_vs_unfused", "thread_scaling"]


def _positive_int(value, name, where):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _positive(value, name, where, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{where}: {name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- counting (exact, pure)
def matmul_flops(m, k, n):
    """FLOPs of (m, k) @ (k, n): m * n dot products of length k, a multiply and an add each."""
    return 2 * _positive_int(m, "m", "matmul_flops") * _positive_int(k, "k", "matmul_flops") * \
        _positive_int(n, "n", "matmul_flops")


def matmul_bytes(m, k, n, itemsize=4):
    """Minimum memory traffic of (m, k) @ (k, n): read both inputs once and write the output once."""
    where = "matmul_bytes"
    m, k, n = (_positive_int(v, name, where) for v, name in ((m, "m"), (k, "k"), (n, "n")))
    return _positive_int(itemsize, "itemsize", where) * (m * k + k * n + m * n)


def elementwise_flops(n, flops_per_element=1):
    """FLOPs of an elementwise op on n elements (1 for add or multiply)."""
    return _positive_int(n, "n", "elementwise_flops") * _positive_int(flops_per_element, "flops_per_element",
                                                                      "elementwise_flops")


def elementwise_bytes(n, inputs=2, outputs=1, itemsize=4):
    """Memory traffic of an elementwise op: every input read once, every output written once."""
    where = "elementwise_bytes"
    return _positive_int(n, "n", where) * _positive_int(itemsize, "itemsize", where) * \
        (_positive_int(inputs, "inputs", where) + _positive_int(outputs, "outputs", where))


def arithmetic_intensity(flops, nbytes):
    """FLOPs per byte moved."""
    return _positive(flops, "flops", "arithmetic_intensity", allow_zero=True) / \
        _positive(nbytes, "nbytes", "arithmetic_intensity")


def roofline_bound(intensity, peak_gflops, bandwidth_gbs):
    """The attainable GFLOP/s: min(peak, intensity * bandwidth) (GB/s x FLOP/byte = GFLOP/s)."""
    where = "roofline_bound"
    intensity = _positive(intensity, "intensity", where, allow_zero=True)
    peak = _positive(peak_gflops, "peak_gflops", where)
    return min(peak, intensity * _positive(bandwidth_gbs, "bandwidth_gbs", where))


def ridge_point(peak_gflops, bandwidth_gbs):
    """The intensity (FLOP/byte) where the two roofs meet: below it an op is memory-bound."""
    return _positive(peak_gflops, "peak_gflops", "ridge_point") / _positive(bandwidth_gbs, "bandwidth_gbs",
                                                                             "ridge_point")


# ---------------------------------------------------------------- the machine
def simd_flops_per_cycle(simd):
    """float32 FLOPs per cycle per core for a SIMD level, assuming two FMA units (an FMA = 2 FLOPs):
    AVX-512: 2 x 16 lanes x 2 = 64; AVX2: 32; SSE/NEON (4 lanes): 16."""
    simd = str(simd).upper()
    lanes = 16 if "AVX-512" in simd or "AVX512" in simd else 8 if "AVX" in simd else 4
    return 2 * lanes * 2


def theoretical_peak_gflops(cores, ghz, flops_per_cycle):
    """cores x clock (GHz) x FLOPs per cycle: a ceiling no real kernel reaches."""
    where = "theoretical_peak_gflops"
    return _positive_int(cores, "cores", where) * _positive(ghz, "ghz", where) * \
        _positive(flops_per_cycle, "flops_per_cycle", where)


def cpu_max_ghz():
    """The highest clock /proc/cpuinfo reports now (GHz), or None where it is not readable."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.lower().startswith("cpu mhz")]
        return max(mhz) / 1000 if mhz else None
    except (OSError, ValueError, IndexError):
        return None


def estimate_peak_gflops(cores=None):
    """Theoretical float32 peak of `cores` (default: tinytorch's threads) at the reported clock and the
    build's SIMD level, or None if the clock is unknown. An estimate: turbo and AVX-512 down-clocking
    both move the real figure."""
    ghz = cpu_max_ghz()
    if ghz is None:
        return None
    cores = _C._get_num_threads() if cores is None else cores
    return theoretical_peak_gflops(cores, ghz, simd_flops_per_cycle(_C._build_info()["simd"]))


def measured_sgemm_gflops(n=1024, reps=1, rounds=5):
    """GFLOP/s of OpenBLAS sgemm itself on n x n matrices (with tinytorch's thread count), the best of
    `rounds` timings of `reps` products: the practical compute roof of this machine. The best, not the
    median, because a roof is what the machine can do when nothing else gets in the way."""
    where = "measured_sgemm_gflops"
    n, reps = _positive_int(n, "n", where), _positive_int(reps, "reps", where)
    return max(float(_C._blas_sgemm_gflops(n, reps)) for _ in range(_positive_int(rounds, "rounds", where)))


def measured_matmul_gflops(n=512, rounds=5):
    """GFLOP/s of the engine's own float32 matmul on n x n matrices, the best of `rounds` calls. On a
    shared machine this can beat `measured_sgemm_gflops` (the engine splits each product across its own
    threads; OpenBLAS's threads compete with the neighbours), so the compute roof takes the larger."""
    n = _positive_int(n, "n", "measured_matmul_gflops")
    a, b = _C.randn(n, n), _C.randn(n, n)
    a @ b
    best = math.inf
    for _ in range(_positive_int(rounds, "rounds", "measured_matmul_gflops")):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return matmul_flops(n, n, n) / best / 1e9


def measured_peak_gflops(sizes=(128, 256, 512)):
    """The practical compute roof: the best rate any GEMM reached, OpenBLAS sgemm at 1024 or the engine's
    matmul at `sizes` (mid sizes often win on a shared machine: their operands stay in cache)."""
    return max([measured_sgemm_gflops(1024)] + [measured_matmul_gflops(n) for n in sizes])


def interleaved_medians(fns, rounds=5, warmup=1):
    """Median seconds of each function, timed in interleaved rounds (A, B, A, B, ...) after `warmup`
    calls each, so a load change on the machine hits every candidate alike."""
    fns = list(fns)
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(_positive_int(rounds, "rounds", "interleaved_medians")):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def measured_bandwidth_gbs(n=1 << 23, rounds=5):
    """Effective memory bandwidth (GB/s) of the engine's float32 add on n elements (3 x 4n bytes moved
    per call), from the fastest of `rounds` calls. n = 8M elements (96 MB of traffic) is well beyond
    the caches."""
    n = _positive_int(n, "n", "measured_bandwidth_gbs")
    a, b = _C.ones(n), _C.ones(n)
    a + b  # warm-up: the first call pays for fresh pages
    best = math.inf
    for _ in range(_positive_int(rounds, "rounds", "measured_bandwidth_gbs")):
        t0 = time.perf_counter()
        a + b
        best = min(best, time.perf_counter() - t0)
    return elementwise_bytes(n) / best / 1e9


# ---------------------------------------------------------------- the roofline table
def roofline_row(name, flops, nbytes, seconds, peak_gflops, bandwidth_gbs):
    """One row: intensity, the roofline bound, what was achieved and which roof limits the op."""
    intensity = arithmetic_intensity(flops, nbytes)
    bound = roofline_bound(intensity, peak_gflops, bandwidth_gbs)
    achieved = flops / _positive(seconds, "seconds", "roofline_row") / 1e9
    return {"op": name, "flops": flops, "bytes": nbytes, "intensity": intensity, "bound_gflops": bound,
            "achieved_gflops": achieved, "fraction_of_bound": achieved / bound,
            "limit": "memory" if intensity < ridge_point(peak_gflops, bandwidth_gbs) else "compute"}


def roofline_table(matmul_sizes=(32, 128, 512), add_sizes=(1 << 16, 1 << 22), peak_gflops=None,
                   bandwidth_gbs=None, rounds=5):
    """Measured rows for square float32 matmuls and adds on the engine. The compute roof defaults to
    `measured_peak_gflops()` (the best rate of sgemm and of the engine's matmul), the memory roof
    to the measured bandwidth of a large add."""
    peak = measured_peak_gflops() if peak_gflops is None else peak_gflops
    bw = measured_bandwidth_gbs() if bandwidth_gbs is None else bandwidth_gbs
    rows = []
    for n in matmul_sizes:
        a, b = _C.randn(n, n), _C.randn(n, n)
        (t,) = interleaved_medians([lambda: a @ b], rounds=rounds)
        rows.append(roofline_row(f"matmul {n}x{n}x{n}", matmul_flops(n, n, n), matmul_bytes(n, n, n), t, peak, bw))
    for n in add_sizes:
        a, b = _C.ones(n), _C.ones(n)
        (t,) = interleaved_medians([lambda: a + b], rounds=rounds)
        rows.append(roofline_row(f"add {n}", elementwise_flops(n), elementwise_bytes(n), t, peak, bw))
    return rows


def format_table(rows):
    """The roofline rows as aligned text."""
    head = f"{'op':24s} {'FLOP/byte':>10s} {'bound GF/s':>11s} {'achieved':>9s} {'of bound':>9s}  limit"
    lines = [head]
    for r in rows:
        lines.append(f"{r['op']:24s} {r['intensity']:10.3f} {r['bound_gflops']:11.1f} {r['achieved_gflops']:9.2f} "
                     f"{100 * r['fraction_of_bound']:8.1f}%  {r['limit']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- fused against composed
def composed_layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last axis from separate engine ops (each one a pass over memory)."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / (var + eps).sqrt() * gamma + beta


def composed_block(block, x, causal=False):
    """A stock TransformerBlock's forward (no dropout) from separate engine ops: the path the fused
    `_C._nn_block` replaces. Same values as `block(x, mask)` up to float rounding."""
    attn, mlp = block.attention, block.mlp
    B, T, D = x.shape
    H, hd = attn.num_heads, attn.head_dim

    def heads(t):
        return t.reshape(B, T, H, hd).transpose(1, 2)

    def linear(t, layer):
        return t @ layer.weight + layer.bias

    h = composed_layer_norm(x, block.ln1.gamma, block.ln1.beta, block.ln1.eps)
    q, k, v = heads(linear(h, attn.q_proj)), heads(linear(h, attn.k_proj)), heads(linear(h, attn.v_proj))
    scores = (q @ k.transpose(2, 3)) * (1.0 / math.sqrt(hd))
    if causal:
        scores = scores + Tensor(np.triu(np.full((T, T), -1e9, dtype=np.float32), k=1), dtype=x.dtype)
    ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
    x = x + linear(ctx, attn.out_proj)
    h = composed_layer_norm(x, block.ln2.gamma, block.ln2.beta, block.ln2.eps)
    return x + linear(linear(h, mlp.linear1).gelu(), mlp.linear2)


def fused_vs_unfused(rows=2048, dim=256, batch=4, seq=64, embed=128, heads=4, rounds=5, backward=True):
    """Median seconds of fused and composed versions of LayerNorm, Linear+GELU and a transformer block
    (forward, plus backward when `backward`). Returns [{"op", "fused_s", "composed_s", "speedup"}]."""
    from ..core.autograd import no_grad
    from ..core.attention import causal_mask
    from ..core.transformer import TransformerBlock

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((rows, dim)).astype(np.float32), requires_grad=backward)
    g = Tensor(np.ones(dim, np.float32), requires_grad=backward)
    b = Tensor(np.zeros(dim, np.float32), requires_grad=backward)
    w = Tensor((rng.standard_normal((dim, dim)) / math.sqrt(dim)).astype(np.float32), requires_grad=backward)
    block = TransformerBlock(embed, heads, dropout_prob=0.0)
    xb = Tensor(rng.standard_normal((batch, seq, embed)).astype(np.float32), requires_grad=backward)
    mask = causal_mask(seq)

    def run(fn):
        def go():
            if backward:
                fn().sum().backward()
            else:
                with no_grad():
                    fn()
        return go

    pairs = [
        ("layer_norm", lambda: _C.layer_norm(x, g, b, 1e-5), lambda: composed_layer_norm(x, g, b)),
        ("linear + gelu", lambda: _C._nn_linear_gelu(x, w, b), lambda: (x @ w + b).gelu()),
        ("transformer block", lambda: block(xb, mask), lambda: composed_block(block, xb, causal=True)),
    ]
    out = []
    for name, fused, composed in pairs:
        tf, tc = interleaved_medians([run(fused), run(composed)], rounds=rounds)
        out.append({"op": name + (" fwd+bwd" if backward else " fwd"), "fused_s": tf, "composed_s": tc,
                    "speedup": tc / tf})
    return out


def thread_scaling(n=512, threads=(1, 2), rounds=5):
    """Engine matmul (n x n) and large-add timings for each thread count; the setting is restored.
    Returns [{"threads", "matmul_s", "matmul_gflops", "add_s"}]."""
    from .. import get_num_threads, set_num_threads
    a, b = _C.randn(n, n), _C.randn(n, n)
    big_a, big_b = _C.ones(1 << 22), _C.ones(1 << 22)
    before = get_num_threads()
    out = []
    try:
        for t in threads:
            set_num_threads(_positive_int(t, "threads", "thread_scaling"))
            tm, ta = interleaved_medians([lambda: a @ b, lambda: big_a + big_b], rounds=rounds)
            out.append({"threads": int(t), "matmul_s": tm, "matmul_gflops": matmul_flops(n, n, n) / tm / 1e9,
                        "add_s": ta})
    finally:
        set_num_threads(before)
    return out


def machine_summary():
    """Clock, SIMD, threads, the theoretical peak estimate and the measured sgemm roof, as a dict."""
    info = _C._build_info()
    return {"simd": info["simd"], "blas_core": info["blas_core"], "threads": _C._get_num_threads(),
            "cpu_count": os.cpu_count(), "cpu_ghz": cpu_max_ghz(), "peak_estimate_gflops": estimate_peak_gflops(),
            "sgemm_gflops": measured_sgemm_gflops()}
