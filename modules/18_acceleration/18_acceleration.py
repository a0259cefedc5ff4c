# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 18 — Acceleration: where the engine's speed comes from
#
# The same matrix product can take a second or a millisecond. Nothing about
# the math changes; what changes is how the work meets the hardware:
#
# * **Vectorization.** A Python loop pays an interpreter round trip per
#   multiply-add. A compiled kernel does 16 float32 multiply-adds per
#   instruction (AVX-512) with no interpreter at all.
# * **Caches and tiling.** Memory is far slower than arithmetic. A kernel that
#   reuses each number many times while it sits in cache (by working on
#   tiles) runs near the arithmetic limit; one that streams everything from
#   memory waits on the bus.
# * **The roofline.** Every op has an *arithmetic intensity*, FLOPs per byte
#   moved. The machine can deliver at most `min(peak FLOP/s, intensity x
#   bandwidth)`. A big matmul is compute-bound; an elementwise add is
#   memory-bound and no amount of clever code changes that.
# * **Fusion.** Doing several elementwise steps in one pass over memory (and
#   one call from Python) instead of one pass per op.
# * **Threads.** Two cores, two halves of the output.
#
# You will write the slow versions yourself, compute the limits, and measure
# how close the engine gets to them.

# %%
import math
import time

import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.perf import acceleration as engine

rng = np.random.default_rng(0)

# %% [markdown]
# ## Worked example: what this machine is
# `tt.show_config()` reports the BLAS library, the kernel core it picked,
# the threads and the SIMD level the engine was compiled for. From the SIMD
# width and the clock we can estimate a theoretical peak (two FMA units per
# core, each doing `lanes` multiply-adds per cycle), and measure what
# OpenBLAS's `sgemm` really achieves.

# %%
tt.show_config()
info = engine.machine_summary()
print(f"clock {info['cpu_ghz']} GHz, {info['threads']} threads, "
      f"{engine.simd_flops_per_cycle(info['simd'])} FLOP/cycle/core")
print(f"theoretical peak estimate: {info['peak_estimate_gflops']} GFLOP/s")
print(f"measured sgemm 1024^3    : {info['sgemm_gflops']:.1f} GFLOP/s")

# %% [markdown]
# ## Exercise 1: `naive_matmul(a, b)`
# The textbook triple loop: for every output `(i, j)`, the dot product of
# row `i` of `a` with column `j` of `b`. Take two 2-D numpy arrays, return a
# float64 numpy array of shape `(m, n)`. Raise `ValueError` if the inner
# dimensions differ. Use plain Python loops (three of them), no `@`.

# %%
def naive_matmul(a, b):
    """(m, k) x (k, n) with three Python loops; float64 (m, n) result."""
    ### HINT: for i in range(m): for j in range(n): s = 0; for p in range(k): s += a[i, p] * b[p, j]
    ### BEGIN SOLUTION
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"naive_matmul: cannot multiply {a.shape} by {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n))
    for i in range(m):
        for j in range(n):
            s = 0.0
            for p in range(k):
                s += a[i, p] * b[p, j]
            out[i, j] = s
    return out
    ### END SOLUTION


# %% [markdown]
# Check against the engine's matmul (a non-square case, so swapped indices
# show up), and the error.

# %%
a_small, b_small = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
ref_small = np.asarray(tt.Tensor(a_small, dtype=tt.float64) @ tt.Tensor(b_small, dtype=tt.float64))
np.testing.assert_allclose(naive_matmul(a_small, b_small), ref_small, rtol=1e-12)
try:
    naive_matmul(a_small, a_small)
    raise AssertionError("(5, 7) @ (5, 7) should raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `vectorized_matmul(a, b)`
# Remove the Python loops: build the `(m, k, n)` array of all products
# `a[i, p] * b[p, j]` by broadcasting (`a[:, :, None] * b[None, :, :]`) and
# sum over `p`. Numpy now runs compiled loops, but notice the price: an
# intermediate of `m * k * n` numbers, all written to memory and read back.
# (Do not use `@`, `np.dot`, `np.matmul` or `np.einsum`: that would hand the
# job to BLAS.)

# %%
def vectorized_matmul(a, b):
    """(m, k) x (k, n) by broadcasting the products and summing over k; float64 result."""
    ### HINT: (a[:, :, None] * b[None, :, :]).sum(axis=1)
    ### BEGIN SOLUTION
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"vectorized_matmul: cannot multiply {a.shape} by {b.shape}")
    return (a[:, :, None] * b[None, :, :]).sum(axis=1)
    ### END SOLUTION


# %%
np.testing.assert_allclose(vectorized_matmul(a_small, b_small), ref_small, rtol=1e-12)
sq = rng.standard_normal((6, 6))
np.testing.assert_allclose(vectorized_matmul(sq, sq.T), sq @ sq.T, rtol=1e-12)

# %% [markdown]
# ## Exercise 3: `tiled_matmul(a, b, tile)`
# Cache blocking, the idea inside every fast GEMM: cut `C = A B` into
# `tile x tile` blocks and compute
#
#     C[I, J] += A[I, P] @ B[P, J]     for every block row I, block column J, block P
#
# Each small block product touches `3 * tile^2` numbers that fit in cache and
# reuses each of them `tile` times. Use `@` on the numpy blocks (a small
# product), loop over the blocks in Python, and make it work when the sizes
# are not multiples of `tile` (the last blocks are smaller: numpy slices
# past the end just stop). Return float64 `(m, n)`.

# %%
def tiled_matmul(a, b, tile=32):
    """(m, k) x (k, n) computed block by block (tile x tile), accumulating over the k blocks."""
    ### HINT: three loops over range(0, m, tile), range(0, n, tile), range(0, k, tile); out[i:i+t, j:j+t] += ...
    ### BEGIN SOLUTION
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"tiled_matmul: cannot multiply {a.shape} by {b.shape}")
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n))
    for i in range(0, m, tile):
        for j in range(0, n, tile):
            for p in range(0, k, tile):
                out[i:i + tile, j:j + tile] += a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]
    return out
    ### END SOLUTION


# %%
a_mid, b_mid = rng.standard_normal((37, 50)), rng.standard_normal((50, 29))
ref_mid = np.asarray(tt.Tensor(a_mid, dtype=tt.float64) @ tt.Tensor(b_mid, dtype=tt.float64))
for t in (1, 8, 16, 64):
    np.testing.assert_allclose(tiled_matmul(a_mid, b_mid, t), ref_mid, rtol=1e-10, atol=1e-12)

# %% [markdown]
# ## Exercise 4: arithmetic intensity
# Count the FLOPs and the **minimum** bytes moved (each input read once, each
# output written once, `itemsize` bytes per number):
#
# * `matmul_intensity(m, k, n, itemsize=4)`: `2 m k n` FLOPs (a multiply and
#   an add per term) over `itemsize * (m k + k n + m n)` bytes.
# * `add_intensity(n, itemsize=4)`: `c = a + b` on `n` elements, `n` FLOPs
#   over `itemsize * 3n` bytes (two reads, one write).
#
# For square float32 matrices the matmul's intensity is `n / 6` FLOP per
# byte: it grows with the size. The add's is `1/12` whatever the size.

# %%
def matmul_intensity(m, k, n, itemsize=4):
    """FLOPs per byte of an (m, k) @ (k, n) product: 2mkn / (itemsize (mk + kn + mn))."""
    ### HINT: flops = 2 * m * k * n; bytes = itemsize * (m * k + k * n + m * n)
    ### BEGIN SOLUTION
    return 2 * m * k * n / (itemsize * (m * k + k * n + m * n))
    ### END SOLUTION


def add_intensity(n, itemsize=4):
    """FLOPs per byte of an elementwise add of two n-element arrays into a third."""
    ### HINT: n FLOPs over itemsize * 3 * n bytes
    ### BEGIN SOLUTION
    return n / (itemsize * 3 * n)
    ### END SOLUTION


# %%
assert matmul_intensity(2, 3, 4) == 48 / 104
assert abs(matmul_intensity(1024, 1024, 1024) - 1024 / 6) < 1e-9
assert add_intensity(1000) == 1 / 12 and add_intensity(10, itemsize=8) == 1 / 24
assert matmul_intensity(64, 64, 64) == engine.arithmetic_intensity(engine.matmul_flops(64, 64, 64),
                                                                   engine.matmul_bytes(64, 64, 64))

# %% [markdown]
# ## Exercise 5: `roofline_bound(intensity, peak_gflops, bandwidth_gbs)`
# With bandwidth in GB/s and intensity in FLOP/byte, `intensity x bandwidth`
# is a GFLOP/s figure: the most the memory bus can feed. The attainable rate
# is the smaller of that and the compute peak. The two meet at the *ridge*
# `peak / bandwidth`: ops of lower intensity are memory-bound.

# %%
def roofline_bound(intensity, peak_gflops, bandwidth_gbs):
    """Attainable GFLOP/s: min(peak_gflops, intensity * bandwidth_gbs)."""
    ### HINT: one min()
    ### BEGIN SOLUTION
    return min(peak_gflops, intensity * bandwidth_gbs)
    ### END SOLUTION


# %%
assert roofline_bound(100.0, 200.0, 20.0) == 200.0     # compute-bound
assert roofline_bound(1 / 12, 200.0, 24.0) == 2.0      # an add: memory-bound at 2 GFLOP/s
for i in (0.0, 0.5, 10.0, 1e3):
    assert roofline_bound(i, 300.0, 15.0) == engine.roofline_bound(i, 300.0, 15.0)

# %% [markdown]
# ## Exercise 6: `linear_gelu(x, w, b)`, the composed way
# A transformer's MLP computes `gelu(x @ w + b)`. Write it from separate
# differentiable tinytorch ops with the tanh form of GELU,
#
#     gelu(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
#
# (use `tt.tanh`, `*`, `+`; no `tt.gelu`). Every op is one pass over the
# `(rows, out)` hidden array, reading and writing it: about ten passes. The
# engine's fused `_C._nn_linear_gelu` computes the same numbers with the
# GELU done in one pass, inside the same autograd node as the matmul. You
# will measure the difference in the Systems section.

# %%
def linear_gelu(x, w, b):
    """gelu_tanh(x @ w + b) from separate tinytorch ops (differentiable)."""
    ### HINT: u = x @ w + b; inner = (u + u * u * u * 0.044715) * math.sqrt(2 / math.pi); 0.5 * u * (1 + tt.tanh(inner))
    ### BEGIN SOLUTION
    u = x @ w + b
    inner = (u + u * u * u * 0.044715) * math.sqrt(2.0 / math.pi)
    return u * 0.5 * (tt.tanh(inner) + 1.0)
    ### END SOLUTION


# %% [markdown]
# Check: values and gradients in float64 against the fused kernel.

# %%
xg = tt.Tensor(rng.standard_normal((4, 6)), dtype=tt.float64, requires_grad=True)
wg = tt.Tensor(rng.standard_normal((6, 5)), dtype=tt.float64, requires_grad=True)
bg = tt.Tensor(rng.standard_normal(5), dtype=tt.float64, requires_grad=True)
up = tt.Tensor(rng.standard_normal((4, 5)), dtype=tt.float64)
(linear_gelu(xg, wg, bg) * up).sum().backward()
mine_grads = [np.asarray(t.grad).copy() for t in (xg, wg, bg)]
for t in (xg, wg, bg):
    t.grad = None
(_C._nn_linear_gelu(xg, wg, bg) * up).sum().backward()
np.testing.assert_allclose(np.asarray(linear_gelu(xg, wg, bg)), np.asarray(_C._nn_linear_gelu(xg, wg, bg)),
                           rtol=1e-9, atol=1e-14)
for g_mine, t in zip(mine_grads, (xg, wg, bg)):
    np.testing.assert_allclose(g_mine, np.asarray(t.grad), rtol=1e-9, atol=1e-12)

# %% [markdown]
# ## Systems: measured on this machine
# Every figure below is measured now, on a machine that may be shared:
# medians of interleaved rounds (A, B, A, B, ...) so that load changes hit
# all candidates alike. Expect the numbers to move between runs.
#
# ### Naive, vectorized, tiled, engine

# %%
n = 48
a_t, b_t = rng.standard_normal((n, n)), rng.standard_normal((n, n))
a32, b32 = tt.Tensor(a_t.astype(np.float32)), tt.Tensor(b_t.astype(np.float32))
flops = engine.matmul_flops(n, n, n)
t_naive, t_vec, t_tiled, t_engine = engine.interleaved_medians(
    [lambda: naive_matmul(a_t, b_t), lambda: vectorized_matmul(a_t, b_t), lambda: tiled_matmul(a_t, b_t, 16),
     lambda: a32 @ b32], rounds=3, warmup=0)
for name, t in [("naive triple loop", t_naive), ("vectorized (broadcast)", t_vec), ("tiled 16 (numpy blocks)", t_tiled),
                ("engine (OpenBLAS sgemm)", t_engine)]:
    print(f"{name:24s} {t * 1e3:9.3f} ms  {flops / t / 1e9:8.3f} GFLOP/s  ({t / t_engine:8.0f}x the engine)")

# %% [markdown]
# ### The roofline table
# The compute roof is the best rate any GEMM reached just now (`sgemm` at
# 1024, the engine's matmul at 128, 256 and 512); the memory
# roof is the measured rate of a large add (8M elements, far beyond the
# caches). Both are best-of-a-few: a roof is what the machine can do. Small
# operands live in cache, which is faster than memory: a small add can beat
# the memory roof, and a small matmul spends most of its time in call
# overhead instead. On a shared machine a row above 100 % of its bound means
# the roof was measured at a busier moment: rerun and compare.

# %%
peak = engine.measured_peak_gflops()
bandwidth = engine.measured_bandwidth_gbs()
print(f"roofs: compute {peak:.1f} GFLOP/s, memory {bandwidth:.1f} GB/s (large add); "
      f"ridge at {engine.ridge_point(peak, bandwidth):.1f} FLOP/byte")
rows = engine.roofline_table(matmul_sizes=(16, 64, 256, 512), add_sizes=(1 << 12, 1 << 22),
                             peak_gflops=peak, bandwidth_gbs=bandwidth)
print(engine.format_table(rows))

# %% [markdown]
# ### Fused against composed
# Forward and backward of the same math: LayerNorm (fused: one C++ kernel;
# composed: mean, subtract, square, mean, add, sqrt, divide, scale, shift),
# Linear + GELU (your composed `linear_gelu` against `_C._nn_linear_gelu`),
# and a whole transformer block (`_C._nn_block` against the same block made of
# engine ops).

# %%
for r in engine.fused_vs_unfused(rows=1024, dim=256, batch=2, seq=64, embed=128, heads=4, rounds=3):
    print(f"{r['op']:28s} fused {r['fused_s'] * 1e3:8.2f} ms   composed {r['composed_s'] * 1e3:8.2f} ms   "
          f"({r['speedup']:.1f}x)")
xl = tt.Tensor(rng.standard_normal((1024, 256)).astype(np.float32), requires_grad=True)
wl = tt.Tensor((rng.standard_normal((256, 1024)) / 16).astype(np.float32), requires_grad=True)
bl = tt.Tensor(np.zeros(1024, np.float32), requires_grad=True)
t_f, t_c = engine.interleaved_medians([lambda: _C._nn_linear_gelu(xl, wl, bl).sum().backward(),
                                       lambda: linear_gelu(xl, wl, bl).sum().backward()], rounds=3)
print(f"{'your linear_gelu fwd+bwd':28s} fused {t_f * 1e3:8.2f} ms   composed {t_c * 1e3:8.2f} ms   ({t_c / t_f:.1f}x)")

# %% [markdown]
# ### One thread or two
# `tt.set_num_threads` sets how many threads split each product. A matmul
# is compute-bound and can nearly halve its time on two free cores; a
# large add is memory-bound and gains less, the two cores share one bus.
# On a busy machine the second thread may have no free core at all.

# %%
for r in engine.thread_scaling(n=512, threads=(1, 2), rounds=3):
    print(f"{r['threads']} thread(s): matmul 512^3 {r['matmul_s'] * 1e3:7.2f} ms ({r['matmul_gflops']:6.1f} GFLOP/s), "
          f"add 4M {r['add_s'] * 1e3:6.2f} ms")

# %% [markdown]
# ## Read the engine
# * `csrc/ops/matmul.cpp`: the matmul calls `cblas_sgemm` directly (OpenBLAS's
#   tiled, vectorized kernel), passing a transposed view with the transpose
#   flag instead of copying it.
# * `csrc/ops/parallel.cpp`: how tinytorch splits a product across its own
#   threads while OpenBLAS stays single-threaded.
# * `csrc/ops/linear_kernels.cpp`: the bias added inside the Linear's output;
#   `csrc/ops/gelu.h`: GELU and its derivative, one vectorized pass each, which
#   the Linear applies right after its GEMM; `csrc/autograd/fused_ops.cpp`
#   (`linear_gelu`) and `fused_backward.cpp` (`LinearGeluBackward`): the one node.
# * `csrc/ops/nn_kernels.cpp` (LayerNorm's kernels) and `csrc/nn/transformer.cpp`:
#   the fused LayerNorm and the whole block in a few calls.

# %%
print("module 18 checks passed")
