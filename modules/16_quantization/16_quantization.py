# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 16 — Quantization: int8 weights, int8 arithmetic
#
# A trained network stores every weight as a 32-bit float, but it does not
# need 32 bits of precision: the weights of a layer span a small range, and
# 256 evenly spaced levels over that range are usually enough. **Quantization**
# stores each number as an 8-bit integer code `q` plus one shared float
# `scale` (and an integer `zero_point`):
#
#     q = clip(round(x / scale) + zero_point, -128, 127)        x ~ scale * (q - zero_point)
#
# That buys two things:
#
# * **4x less memory.** One byte per weight instead of four; the scale and
#   zero point are a few bytes per tensor (or per output channel).
# * **Integer arithmetic.** The dot products of a linear layer can run on the
#   codes themselves: int8 x int8 products summed in int32 are *exact*, and
#   CPUs have instructions that do 64 of them at once (AVX-512 VNNI's
#   `vpdpbusd`). The float scales are applied once per output, at the end.
#
# The price is a rounding error of at most `scale / 2` per number. This module
# builds the pieces by hand (scales and zero points, codes, per-channel
# scales, the zero-point algebra of an integer matmul, a quantized linear
# forward) and compares each with the engine, whose int8 GEMM is C++.

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.perf.quantization import (QuantizedLinear, compare_model_sizes, quantization_params, quantize_int8,
                                         quantize_model, quantization_report)

rng = np.random.default_rng(0)

# %% [markdown]
# ## Worked example: the engine quantizes a small tensor
# `quantize_int8` returns the codes (a numpy int8 array inside a
# `QuantizedTensor`), the scale and the zero point. The range `[-1, 2]` is
# spread over the 256 codes: `scale = 3 / 255`, and `-1` must land on code
# `-128`, so `zero_point = round(-128 + 1 / scale) = -43`.

# %%
x = tt.Tensor([[-1.0, 0.0, 2.0], [0.5, 1.5, -0.5]])
q, scale, zero_point = quantize_int8(x)
print("codes\n", q.data, "\nscale", scale, "zero point", zero_point)
assert q.data.dtype == np.int8 and zero_point == -43
np.testing.assert_array_equal(q.data, [[-128, -43, 127], [-1, 85, -85]])
restored = np.asarray(q.dequantize())
print("restored\n", restored)
assert np.max(np.abs(restored - np.asarray(x))) <= scale / 2 * (1 + 1e-5)   # the error bound (0.5 sits on a tie)
assert restored[0, 1] == 0.0                                        # 0 is exactly representable

# %% [markdown]
# ## Exercise 1: `compute_scale_zero_point(x_min, x_max, symmetric=False)`
#
# Return `(scale, zero_point)`, a Python float and int, for values in
# `[x_min, x_max]`:
#
# * First **widen the range to include 0**: `lo = min(x_min, 0)`,
#   `hi = max(x_max, 0)`. Zero padding, ReLU zeros and sparse weights must
#   decode to exactly 0.
# * **Asymmetric** (activations): all 256 codes cover `[lo, hi]`:
#   `scale = (hi - lo) / 255` and `zero_point = round(-128 - lo / scale)`,
#   clipped to `[-128, 127]`.
# * **Symmetric** (weights, centred on zero): `zero_point = 0` and
#   `scale = max(-lo, hi) / 127`, so `-127 .. 127` are used (and `-128` never).
# * A range of zero width (`lo == hi == 0`) has no scale: return `(1.0, 0)`.

# %%
def compute_scale_zero_point(x_min, x_max, symmetric=False):
    """(scale, zero_point) mapping [min(x_min, 0), max(x_max, 0)] onto the int8 codes."""
    ### HINT: widen to lo = min(x_min, 0), hi = max(x_max, 0); symmetric: max(-lo, hi) / 127, zero point 0
    ### BEGIN SOLUTION
    lo, hi = min(float(x_min), 0.0), max(float(x_max), 0.0)
    if symmetric:
        scale, zero_point = max(-lo, hi) / 127.0, 0
    else:
        scale = (hi - lo) / 255.0
        zero_point = int(np.clip(np.round(-128.0 - lo / scale), -128, 127)) if scale > 0 else 0
    if scale == 0:
        return 1.0, 0
    return scale, zero_point
    ### END SOLUTION


# %% [markdown]
# Check by hand, then against the engine's `quantization_params`.

# %%
s, z = compute_scale_zero_point(-1.0, 2.0)
assert abs(s - 3 / 255) < 1e-9 and z == -43
s, z = compute_scale_zero_point(-3.0, 1.27, symmetric=True)
assert abs(s - 3 / 127) < 1e-9 and z == 0
assert compute_scale_zero_point(0.5, 2.0) == compute_scale_zero_point(0.0, 2.0)   # widened to include 0
assert compute_scale_zero_point(0.0, 0.0) == (1.0, 0)
for lo_, hi_ in [(-0.7, 3.1), (-5.0, -1.0), (0.2, 9.0)]:
    es, ez = quantization_params(lo_, hi_)
    ms, mz = compute_scale_zero_point(lo_, hi_)
    assert abs(ms - es) <= 1e-6 * es and mz == ez, (lo_, hi_)

# %% [markdown]
# ## Exercise 2: `quantize(x, scale, zero_point)` and `dequantize(q, scale, zero_point)`
#
# * `quantize`: `clip(round(x / scale) + zero_point, -128, 127)` as a numpy
#   **int8** array. `np.round` rounds halves to even (`2.5 -> 2`), as PyTorch
#   does. Clip *before* converting: `np.int8(200)` wraps around to `-56`.
# * `dequantize`: `scale * (q - zero_point)` as **float32**. Subtract the
#   zero point in a wider type than int8 (`q - zero_point` in int8 overflows).
#
# `x` may be a Tensor, an array or a list (`np.asarray` takes them all).

# %%
def quantize(x, scale, zero_point):
    """int8 codes clip(round(x / scale) + zero_point, -128, 127)."""
    ### HINT: np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point; np.clip to [-128, 127]; int8
    ### BEGIN SOLUTION
    codes = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(codes, -128, 127).astype(np.int8)
    ### END SOLUTION


def dequantize(q, scale, zero_point):
    """float32 values scale * (q - zero_point)."""
    ### HINT: convert q to float (or int32) before subtracting the zero point; return float32
    ### BEGIN SOLUTION
    return (scale * (np.asarray(q, dtype=np.float64) - zero_point)).astype(np.float32)
    ### END SOLUTION


# %% [markdown]
# Check: the worked example's codes, halves rounding to even, saturation at
# the ends, and the round-trip error bound `scale / 2` on random data.

# %%
np.testing.assert_array_equal(quantize(x, 3 / 255, -43), q.data)
np.testing.assert_array_equal(quantize([0.5, 1.5, 2.5, -0.5], 1.0, 0), [0, 2, 2, 0])   # halves to even
np.testing.assert_array_equal(quantize([1000.0, -1000.0], 1.0, 0), [127, -128])
assert quantize([1.0], 1.0, 0).dtype == np.int8
np.testing.assert_allclose(dequantize(np.array([-128, -43, 127], np.int8), 3 / 255, -43), [-1.0, 0.0, 2.0], atol=1e-6)
assert dequantize(np.array([1], np.int8), 0.5, 0).dtype == np.float32
data = (rng.standard_normal(1000) * 2 + 0.5).astype(np.float32)
s, z = compute_scale_zero_point(data.min(), data.max())
err = np.abs(dequantize(quantize(data, s, z), s, z) - data)
print(f"scale {s:.5f}: max error {err.max():.5f} <= scale/2 = {s / 2:.5f}, mean error {err.mean():.5f}")
assert err.max() <= s / 2 * (1 + 1e-6)

# %% [markdown]
# ## Exercise 3: `per_channel_scales(w)`
#
# One scale for a whole weight matrix is set by its largest entry. If one
# output column has weights 100x larger than another, the small column is
# rounded to a handful of codes. **Per-channel** quantization gives each
# output its own scale. A `Linear` weight is `(in_features, out_features)`,
# so the channels are the columns (axis 1).
#
# Return the **symmetric** scales, one per column: `max |w[:, j]| / 127` as a
# float32 array of shape `(out_features,)`, and `1.0` for an all-zero column.

# %%
def per_channel_scales(w):
    """Symmetric int8 scales for each column of an (in, out) weight: max |w[:, j]| / 127 (1.0 if all zero)."""
    ### HINT: np.abs(w).max(axis=0) / 127; replace zeros by 1.0; float32
    ### BEGIN SOLUTION
    amax = np.abs(np.asarray(w, dtype=np.float64)).max(axis=0)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    return scales.astype(np.float32)
    ### END SOLUTION


# %% [markdown]
# Check against the engine's per-channel quantization, and measure what it
# buys on a weight whose columns differ in size.

# %%
w = (rng.standard_normal((64, 6)) * np.array([0.01, 0.1, 1.0, 10.0, 0.0, 3.0])).astype(np.float32)
mine = per_channel_scales(w)
assert mine.shape == (6,) and mine.dtype == np.float32 and mine[4] == 1.0
_, engine_scales, _ = quantize_int8(w, symmetric=True, axis=1)
np.testing.assert_allclose(mine, engine_scales, rtol=1e-6)
tensor_scale, _ = compute_scale_zero_point(w.min(), w.max(), symmetric=True)
err_tensor = np.abs(dequantize(quantize(w, tensor_scale, 0), tensor_scale, 0) - w).max(axis=0)
err_channel = np.abs(dequantize(quantize(w, mine, 0), mine, 0) - w).max(axis=0)
print("max error per column, one scale  :", np.round(err_tensor, 5))
print("max error per column, per channel:", np.round(err_channel, 5))
assert err_channel[0] < err_tensor[0] / 100

# %% [markdown]
# ## Integer matmul with zero points
#
# A quantized linear layer multiplies `X ~ s_x (Q_x - z_x)` by
# `W ~ s_w (Q_w - z_w)`. Factor the scales out:
#
#     X @ W ~ s_x s_w * sum_k (Q_x[i,k] - z_x)(Q_w[k,j] - z_w)
#
# Expanding the product shows that the zero points never need to touch the
# big matmul:
#
#     sum_k (a - z_x)(b - z_w) = sum_k a b  -  z_x sum_k b  -  z_w sum_k a  +  K z_x z_w
#
# `sum_k a b` is a pure int8 x int8 matmul (the fast kernel); `sum_k b` is a
# column sum of the weight codes (computed once, when the weight is packed);
# `sum_k a` is a row sum of the input codes. The engine's kernel,
# `_C.int8_matmul(a, b)`, returns exactly numpy's int32 matmul:

# %%
qa = rng.integers(-128, 128, (5, 300), dtype=np.int8)
qb = rng.integers(-128, 128, (300, 7), dtype=np.int8)
exact = _C.int8_matmul(qa, qb)
assert exact.dtype == np.int32
np.testing.assert_array_equal(exact, qa.astype(np.int32) @ qb.astype(np.int32))
print("int8 kernels compiled into this build:", _C.int8_gemm_paths())

# %% [markdown]
# ## Exercise 4: `int8_matmul_zero_point(qa, za, qb, zb)`
#
# Return the int32 matrix `(qa - za) @ (qb - zb)` for int8 `qa (M, K)` and
# `qb (K, N)`, computed with **one** call to `_C.int8_matmul(qa, qb)` plus the
# three correction terms above. `za` is an int or one int per row of `qa`
# (shape `(M,)`); `zb` an int or one per column of `qb` (shape `(N,)`).
# Do the corrections in int64 and convert the result to int32 at the end.

# %%
def int8_matmul_zero_point(qa, za, qb, zb):
    """(qa - za) @ (qb - zb) exactly, as int32, from one int8 GEMM and zero-point corrections."""
    ### HINT: acc = _C.int8_matmul(qa, qb); subtract za * column sums of qb and zb * row sums of qa; add K * za * zb
    ### BEGIN SOLUTION
    acc = _C.int8_matmul(qa, qb).astype(np.int64)
    k = qa.shape[1]
    za = np.asarray(za, dtype=np.int64).reshape(-1, 1)     # scalar or (M, 1)
    zb = np.asarray(zb, dtype=np.int64).reshape(1, -1)     # scalar or (1, N)
    col_sums = qb.astype(np.int64).sum(axis=0, keepdims=True)
    row_sums = qa.astype(np.int64).sum(axis=1, keepdims=True)
    return (acc - za * col_sums - row_sums * zb + k * za * zb).astype(np.int32)
    ### END SOLUTION


# %% [markdown]
# Check: exact equality with the int64 computation of `(qa - za) @ (qb - zb)`,
# with scalar and per-row / per-column zero points, including the extremes.

# %%
ref = (qa.astype(np.int64) - 17) @ (qb.astype(np.int64) + 5)
np.testing.assert_array_equal(int8_matmul_zero_point(qa, 17, qb, -5), ref)
za_rows = rng.integers(-128, 128, 5)
zb_cols = rng.integers(-128, 128, 7)
ref = (qa.astype(np.int64) - za_rows[:, None]) @ (qb.astype(np.int64) - zb_cols[None, :])
got = int8_matmul_zero_point(qa, za_rows, qb, zb_cols)
assert got.dtype == np.int32
np.testing.assert_array_equal(got, ref)
ext = np.full((2, 50), -128, np.int8)
np.testing.assert_array_equal(int8_matmul_zero_point(ext, 127, ext.T.copy(), 127), np.full((2, 2), 50 * 255 * 255))

# %% [markdown]
# ## Exercise 5: `quantized_linear_forward(x, q_weight, w_scale, bias)`
#
# Put it together: the forward of a linear layer whose weight is stored as
# symmetric per-channel int8 codes `q_weight (K, N)` with scales
# `w_scale (N,)` (zero point 0), and a float32 `bias (N,)`.
#
# 1. Quantize the float input **dynamically, per row**: each row `i` of `x`
#    gets its own asymmetric `(s_x[i], z_x[i])` from its min and max
#    (your Exercise 1) and its codes (Exercise 2).
# 2. Integer matmul with the zero-point corrections (Exercise 4).
# 3. Back to float: `acc[i, j] * s_x[i] * w_scale[j] + bias[j]`.
#
# Return a float32 Tensor of shape `(M, N)`. This is exactly what the engine's
# `_C.quantized_linear` does in C++, with steps 1-3 fused into one pass.

# %%
def quantized_linear_forward(x, q_weight, w_scale, bias):
    """y = dequant(quant_per_row(x) @ q_weight) + bias, as a float32 Tensor (M, N)."""
    ### HINT: per row compute_scale_zero_point and quantize; then int8_matmul_zero_point(qx, z_x, q_weight, 0)
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float32)
    rows = [compute_scale_zero_point(r.min(initial=0.0), r.max(initial=0.0)) for r in x]
    s_x = np.array([s for s, _ in rows], dtype=np.float64)
    z_x = np.array([z for _, z in rows], dtype=np.int64)
    qx = np.stack([quantize(r, s, z) for r, (s, z) in zip(x, rows)]) if len(x) else np.zeros(x.shape, np.int8)
    acc = int8_matmul_zero_point(qx, z_x, q_weight, 0)
    y = acc * s_x[:, None] * np.asarray(w_scale, dtype=np.float64)[None, :] + np.asarray(bias, dtype=np.float64)
    return tt.Tensor(y.astype(np.float32))
    ### END SOLUTION


# %% [markdown]
# Check against the engine's fused op and against the float layer.

# %%
tt.manual_seed(1)
layer = Linear(48, 12)
np.asarray(layer.bias)[...] = rng.standard_normal(12)
w_f = np.asarray(layer.weight)
w_s = per_channel_scales(w_f)
w_q = quantize(w_f, w_s, 0)
xs = rng.standard_normal((6, 48)).astype(np.float32)
mine = np.asarray(quantized_linear_forward(xs, w_q, w_s, np.asarray(layer.bias)))
engine = np.asarray(_C.quantized_linear(tt.Tensor(xs), _C.PackedInt8Matrix(w_q), w_s, 0, layer.bias))
float_out = np.asarray(layer(tt.Tensor(xs)))
print("max |mine - engine| :", np.abs(mine - engine).max())
print("max |mine - float|  :", np.abs(mine - float_out).max(), " (output range", np.abs(float_out).max(), ")")
np.testing.assert_allclose(mine, engine, rtol=1e-4, atol=1e-4 * np.abs(engine).max())
assert np.abs(mine - float_out).max() < 0.02 * np.abs(float_out).max()

# %% [markdown]
# ## The engine's `QuantizedLinear` and `quantize_model`
# `QuantizedLinear(layer)` stores symmetric per-channel int8 weights in a
# `PackedInt8Matrix` (the layout the C++ kernel reads) and runs
# `_C.quantized_linear`. `quantize_model(model, calibration_data)` swaps every
# `Linear` of a model for one, in place; with calibration batches it first
# runs the float model on them and fixes each layer's input scale from the
# range it saw (static quantization), instead of measuring every input.

# %%
qlayer = QuantizedLinear(layer)
np.testing.assert_allclose(np.asarray(qlayer(tt.Tensor(xs))), engine, rtol=1e-5, atol=1e-6)
print(qlayer, qlayer.memory_usage())

# %% [markdown]
# ## Systems: size, accuracy and speed, measured
#
# **Size and accuracy.** A small MLP trained for a few seconds on TinyDigits
# (8x8 digit images drawn by `tinytorch.data`), then quantized with
# calibration on 200 training images. Weights go from 4 bytes to 1; the bias
# stays float32 and each output carries a scale and a zero point, so a small
# layer lands a little under 4x.

# %%
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.data import load_tiny_digits

x_train, y_train = load_tiny_digits("train")
x_test, y_test = load_tiny_digits("test")
x_train, x_test = x_train.reshape(-1, 64), x_test.reshape(-1, 64)
tt.manual_seed(0)
mlp = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
opt, loss_fn = Adam(mlp.parameters(), lr=0.01), CrossEntropyLoss()
for step in range(120):
    idx = np.random.default_rng(step).integers(0, len(x_train), 64)
    loss = loss_fn(mlp(tt.Tensor(x_train[idx])), tt.Tensor(y_train[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
float_mlp = Sequential(Linear(64, 128), ReLU(), Linear(128, 10))
float_mlp.load_state_dict(mlp.state_dict())
quantize_model(mlp, calibration_data=[x_train[:200]])
report = quantization_report(float_mlp, mlp, x_test, y_test)
print(f"size: {report['original_bytes']} -> {report['quantized_bytes']} bytes "
      f"({report['compression_ratio']:.2f}x smaller)")
print(f"test accuracy: float32 {report['original_accuracy']:.3f}, int8 {report['quantized_accuracy']:.3f}; "
      f"largest logit difference {report['max_abs_output_diff']:.4f}")
assert report["compression_ratio"] > 3.3 and report["quantized_accuracy"] >= report["original_accuracy"] - 0.03

# %% [markdown]
# **Speed.** The int8 GEMM against the float32 GEMM (OpenBLAS `sgemm`) on the
# same shape, medians of a few runs. Whether int8 wins depends on the CPU:
# with AVX-512 VNNI one instruction does 64 int8 multiply-adds against 16
# float ones, but OpenBLAS's sgemm is tuned for years and ours is a short
# teaching kernel. `benchmarks/bench_quant.py` measures more shapes, PyTorch
# float32 and PyTorch's own int8 dynamic `Linear`, with interleaved rounds.

# %%
def median_time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


M, K, N = 256, 512, 512
a8 = rng.integers(-128, 128, (M, K), dtype=np.int8)
b8 = rng.integers(-128, 128, (K, N), dtype=np.int8)
packed = _C.PackedInt8Matrix(b8)
a32, b32 = tt.Tensor(a8.astype(np.float32)), tt.Tensor(b8.astype(np.float32))
t_int8 = median_time(lambda: _C.int8_matmul(a8, packed))
t_f32 = median_time(lambda: tt.matmul(a32, b32))
ops = 2 * M * K * N
print(f"{M}x{K}x{N}: int8 GEMM {ops / t_int8 / 1e9:6.1f} GOP/s, float32 sgemm {ops / t_f32 / 1e9:6.1f} GFLOP/s "
      f"(int8 / float32 = {t_f32 / t_int8:.2f}x)")
print("memory read for the weights: float32", b8.size * 4, "bytes, int8", b8.size, "bytes")

# %% [markdown]
# ## Read the engine
# * `csrc/ops/qgemm.cpp`: the int8 GEMM. The weight is packed into panels of
#   16 columns with k grouped by 4; the AVX-512 VNNI kernel keeps an 8 x 32
#   tile of int32 sums in registers (`vpdpbusd` needs one unsigned operand, so
#   it feeds `a + 128` and starts from `-128 * column sum`, your Exercise 4's
#   algebra); an AVX2 kernel and a scalar one give bit-identical results.
#   `quantized_linear` quantizes the input per row, runs the GEMM and applies
#   the zero-point corrections, scales and bias in the epilogue.
# * `csrc/ops/qgemm.h`: why the kernel reads raw int8 buffers instead of a new
#   tensor dtype (also `docs/quantization.md`).
# * `csrc/python/quant_bind.cpp`: the numpy glue, with the GIL released.
# * `python/tinytorch/perf/quantization.py`: `quantize_int8`, `QuantizedLinear`,
#   `quantize_model`, `compare_model_sizes`.

# %%
print("module 16 checks passed")
