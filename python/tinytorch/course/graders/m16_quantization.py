"""Grader for module 16: int8 scales and zero points, codes, per-channel scales, the zero-point integer
matmul and a quantized linear forward, against the engine (tinytorch.perf.quantization, tinytorch._C)."""
import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.course.grading import Grader, GradingError, as_array, close
from tinytorch.perf.quantization import quantization_params, quantize_int8

grader = Grader("16")


def _codes(value, what):
    arr = np.asarray(value)
    if arr.dtype != np.int8:
        raise GradingError(f"{what} returned dtype {arr.dtype}, expected int8 codes (.astype(np.int8) after clipping)")
    return arr


@grader.check(points=1, needs=["compute_scale_zero_point"],
              hint="widen to [min(x_min, 0), max(x_max, 0)]; asymmetric: (hi - lo) / 255 and round(-128 - lo / scale); "
                   "symmetric: max(-lo, hi) / 127 and 0; zero width: (1.0, 0)")
def scale_zero_point_by_hand(ns):
    f = ns["compute_scale_zero_point"]
    for args, kwargs, (scale, zero) in [((-1.0, 2.0), {}, (3 / 255, -43)),
                                        ((-3.0, 1.27), {"symmetric": True}, (3 / 127, 0)),
                                        ((0.5, 2.0), {}, (2 / 255, -128)), ((-7.0, -1.0), {}, (7 / 255, 127)),
                                        ((0.0, 0.0), {}, (1.0, 0)), ((0.0, 0.0), {"symmetric": True}, (1.0, 0))]:
        got = f(*args, **kwargs)
        if not isinstance(got, tuple) or len(got) != 2:
            raise GradingError(f"compute_scale_zero_point{args} returned {got!r}, expected a (scale, zero_point) pair")
        close(got[0], scale, f"scale of compute_scale_zero_point{args} {kwargs or ''}", rtol=1e-6, atol=0)
        if int(got[1]) != zero:
            raise GradingError(f"compute_scale_zero_point{args} {kwargs or ''}: zero point {got[1]}, expected {zero}")


@grader.check(points=2, needs=["compute_scale_zero_point"],
              hint="compare with tinytorch.perf.quantization.quantization_params on random ranges")
def scale_zero_point_matches_engine(ns):
    f = ns["compute_scale_zero_point"]
    rng = np.random.default_rng(16)
    for _ in range(30):
        lo, hi = np.sort(rng.uniform(-10, 10, 2)) * rng.choice([0.01, 1, 100])
        for symmetric in (False, True):
            scale, zero = quantization_params(lo, hi, symmetric)
            got = f(float(lo), float(hi), symmetric=symmetric)
            close(got[0], scale, f"scale of compute_scale_zero_point({lo:.4g}, {hi:.4g}, symmetric={symmetric})",
                  rtol=1e-6, atol=0)
            if int(got[1]) != zero:
                raise GradingError(f"compute_scale_zero_point({lo:.4g}, {hi:.4g}, symmetric={symmetric}): zero point "
                                   f"{got[1]}, expected {zero}")


@grader.check(points=2, needs=["quantize"],
              hint="clip(round(x / scale) + zero_point, -128, 127) with np.round (halves to even), then int8")
def quantize_codes(ns):
    quantize = ns["quantize"]
    rng = np.random.default_rng(17)
    scale = 1 / 64  # a power of two: x / scale is exact in float32 and float64 alike
    for zero in (0, -43, 100):
        x = ((rng.integers(-300, 300, 200) + rng.choice([0.0, 0.25, 0.5, 0.75], 200)) * scale)
        expected = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
        got = _codes(quantize(x, scale, zero), f"quantize(x, 1/64, {zero})")
        close(got, expected, f"quantize(x, scale=1/64, zero_point={zero})", rtol=0, atol=0)
        got_t = _codes(quantize(tt.Tensor(x.astype(np.float32)), scale, zero), "quantize(Tensor, ...)")
        close(got_t, expected, f"quantize(Tensor x, scale=1/64, zero_point={zero})", rtol=0, atol=0)
    close(_codes(quantize([0.5, 1.5, 2.5, -2.5, 1000.0, -1000.0], 1.0, 0), "quantize"), [0, 2, 2, -2, 127, -128],
          "quantize([0.5, 1.5, 2.5, -2.5, 1000, -1000], 1.0, 0) (halves to even, clipped)", rtol=0, atol=0)
    # the engine's own codes for a random tensor and its own parameters
    x = rng.standard_normal((20, 30)).astype(np.float32)
    q, s, z = quantize_int8(x)
    got = _codes(quantize(x, s, z), "quantize")
    if np.abs(got.astype(int) - q.data).max() > 1 or np.mean(got != q.data) > 0.01:
        raise GradingError("quantize(x, scale, zero_point) differs from the engine's quantize_int8 codes")


@grader.check(points=2, needs=["quantize", "dequantize"],
              hint="dequantize = scale * (q - zero_point) in float (not int8) arithmetic, returned as float32")
def dequantize_round_trip(ns):
    quantize, dequantize = ns["quantize"], ns["dequantize"]
    got = dequantize(np.array([-128, -43, 127, 0], np.int8), 3 / 255, -43)
    if np.asarray(got).dtype != np.float32:
        raise GradingError(f"dequantize returned dtype {np.asarray(got).dtype}, expected float32")
    close(got, [-1.0, 0.0, 2.0, 43 * 3 / 255], "dequantize([-128, -43, 127, 0], 3/255, -43)", rtol=1e-6, atol=1e-7)
    close(dequantize(np.array([-128, 127], np.int8), 1.0, 127), [-255.0, 0.0], "dequantize([-128, 127], 1.0, 127)")
    rng = np.random.default_rng(18)
    for symmetric in (False, True):
        x = (rng.standard_normal(500) * 3 + 1).astype(np.float32)
        _, s, z = quantize_int8(x, symmetric=symmetric)
        err = np.abs(as_array(dequantize(quantize(x, s, z), s, z), "dequantize(quantize(x))") - x)
        if err.max() > s / 2 * (1 + 1e-5):
            raise GradingError(f"round trip error {err.max():.6f} is above scale / 2 = {s / 2:.6f} "
                               f"(symmetric={symmetric})")


@grader.check(points=2, needs=["per_channel_scales"],
              hint="one symmetric scale per output column (axis 0 reduced): max |w[:, j]| / 127, 1.0 for a zero column")
def per_channel(ns):
    f = ns["per_channel_scales"]
    w = np.array([[1.27, -0.5, 0.0], [-2.54, 0.25, 0.0]], np.float32)
    got = f(w)
    if np.asarray(got).dtype != np.float32:
        raise GradingError(f"per_channel_scales returned dtype {np.asarray(got).dtype}, expected float32")
    close(got, [0.02, 0.5 / 127, 1.0], "per_channel_scales([[1.27, -0.5, 0], [-2.54, 0.25, 0]])", rtol=1e-6, atol=0)
    rng = np.random.default_rng(19)
    for shape in [(64, 10), (5, 33), (1, 4)]:
        w = (rng.standard_normal(shape) * rng.uniform(0.01, 10, (1, shape[1]))).astype(np.float32)
        _, scales, _ = quantize_int8(w, symmetric=True, axis=1)
        close(f(w), scales, f"per_channel_scales(w of shape {shape})", rtol=1e-6, atol=0)


@grader.check(points=3, needs=["int8_matmul_zero_point"],
              hint="acc - za * colsum(qb) - zb * rowsum(qa) + K * za * zb, in int64, for scalar or per-row/per-column "
                   "zero points; int32 result")
def zero_point_matmul(ns):
    f = ns["int8_matmul_zero_point"]
    rng = np.random.default_rng(20)
    for m, k, n in [(1, 1, 1), (4, 37, 9), (17, 64, 33)]:
        qa = rng.integers(-128, 128, (m, k), dtype=np.int8)
        qb = rng.integers(-128, 128, (k, n), dtype=np.int8)
        for za, zb in [(0, 0), (17, -5), (-128, 127), (rng.integers(-128, 128, m), rng.integers(-128, 128, n))]:
            expected = (qa.astype(np.int64) - np.reshape(za, (-1, 1))) @ (qb.astype(np.int64) - np.reshape(zb, (1, -1)))
            got = f(qa, za, qb, zb)
            if np.asarray(got).dtype != np.int32:
                raise GradingError(f"int8_matmul_zero_point returned dtype {np.asarray(got).dtype}, expected int32")
            close(got, expected, f"int8_matmul_zero_point(({m}, {k}) codes, za={np.ravel(za)[:3]}, ({k}, {n}) codes, "
                                 f"zb={np.ravel(zb)[:3]})", rtol=0, atol=0)


@grader.check(points=3, needs=["quantized_linear_forward"],
              hint="per-row asymmetric input quantization, int8_matmul_zero_point with weight zero point 0, then "
                   "acc * s_x[i] * w_scale[j] + bias[j]; compare with _C.quantized_linear")
def quantized_linear_matches_engine(ns):
    f = ns["quantized_linear_forward"]
    rng = np.random.default_rng(21)
    for m, k, n in [(1, 8, 3), (6, 48, 12), (16, 100, 20)]:
        w = rng.integers(-127, 128, (k, n), dtype=np.int8)
        w_scale = rng.uniform(0.001, 0.02, n).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        x = (rng.standard_normal((m, k)) + rng.uniform(-1, 1, (m, 1))).astype(np.float32)
        expected = np.asarray(_C.quantized_linear(tt.Tensor(x), _C.PackedInt8Matrix(w), w_scale, 0, tt.Tensor(bias)))
        got = f(x, w, w_scale, bias)
        if not isinstance(got, tt.Tensor):
            raise GradingError(f"quantized_linear_forward returned {type(got).__name__}, expected a tinytorch Tensor")
        close(got, expected, f"quantized_linear_forward(x ({m}, {k}), int8 weight ({k}, {n}), scales, bias)",
              rtol=1e-4, atol=1e-4 * np.abs(expected).max())

