"""Module 16: int8 quantization, running on the C++ int8 GEMM (csrc/ops/qgemm.cpp).

A float x is stored as an int8 code q with a scale s and a zero point z:

    q = clip(round(x / s) + z, -128, 127)        x ~ s * (q - z)

*Symmetric* quantization fixes z = 0 and s = max|x| / 127 (weights, centred
on zero); *asymmetric* maps [min, max] (widened to include 0, so 0 is exact)
onto all 256 codes, s = (max - min) / 255, z = round(-128 - min / s)
(activations such as ReLU outputs, all >= 0). *Per-channel* quantization
gives every output column of a weight its own scale. The rounding error of a
value inside the range is at most s / 2.

`QuantizedLinear` keeps its weights as int8 in a `PackedInt8Matrix` and runs
`tinytorch._C.quantized_linear`: the input is quantized in C++ (dynamically
per row, or with the scale/zero point found by `calibrate`), multiplied with
an exact int8 x int8 -> int32 GEMM, and converted back to float32 with the
scales, zero-point corrections and bias in the GEMM's epilogue.

The API keeps TinyTorch's names: `quantize_int8`, `dequantize_int8`,
`Quantizer.quantize_tensor / dequantize_tensor`, `QuantizedLinear`
(`calibrate`, `memory_usage`), `quantize_model(model, calibration_data=None)`
and `compare_model_sizes`. Codes are numpy int8 arrays wrapped in a
`QuantizedTensor` (tinytorch tensors have no int8 dtype; docs/quantization.md
says why).
"""
import types

import numpy as np

from .. import _C
from ..core.autograd import no_grad
from ..core.layers import Linear
from ..core.module import Module
from ..core.tensor import Tensor

__all__ = ["INT8_MIN", "INT8_MAX", "QuantizedTensor", "quantization_params", "quantize_int8", "dequantize_int8",
           "calibrate", "Quantizer", "QuantizedLinear", "quantize_model", "model_size_bytes", "compare_model_sizes",
           "quantization_report"]

INT8_MIN, INT8_MAX = -128, 127


def _float_values(x, op):
    """x (Tensor, QuantizedTensor, array, list) as a float32 numpy array; ValueError if empty or not finite."""
    if isinstance(x, QuantizedTensor):
        x = x.dequantize()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{op}: expected numbers, got an array of dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.size == 0:
        raise ValueError(f"{op}: got an empty tensor; there is no range to quantize")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{op}: the values contain NaN or Inf, which have no int8 code; clean the input first")
    return arr


def _check_axis(axis, ndim, op):
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a {ndim}-D tensor")
    return int(axis) % ndim


def quantization_params(x_min, x_max, symmetric=False):
    """(scale, zero_point) that map [x_min, x_max] (widened to include 0) onto int8.

    Scalars give a float and an int; arrays (one range per channel) give float32 and int32 arrays.
    A range of zero width gives scale 1.0 and zero point 0 (every code then decodes exactly to 0).
    """
    lo = np.minimum(np.asarray(x_min, dtype=np.float32), np.float32(0))
    hi = np.maximum(np.asarray(x_max, dtype=np.float32), np.float32(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        if symmetric:
            scale = np.maximum(-lo, hi) / np.float32(INT8_MAX)
            zero = np.zeros(scale.shape, dtype=np.int32)
        else:
            scale = (hi - lo) / np.float32(255)
            zero = np.clip(np.round(np.float32(INT8_MIN) - lo / scale), INT8_MIN, INT8_MAX)
        empty = ~(scale > 0) | ~np.isfinite(scale)
    scale = np.where(empty, np.float32(1), scale).astype(np.float32)
    zero = np.where(empty, 0, zero).astype(np.int32)
    if scale.ndim == 0:
        return float(scale), int(zero)
    return scale, zero


class QuantizedTensor:
    """int8 codes (a numpy array in `.data`) with the scale and zero point that decode them.

    Per-tensor: `scale` is a float and `zero_point` an int. Per-channel: both are arrays with one
    value per index of `axis`.
    """

    def __init__(self, data, scale, zero_point, axis=None):
        data = np.asarray(data)
        if data.dtype != np.int8:
            raise TypeError(f"QuantizedTensor: codes must be int8, got {data.dtype}")
        self.data, self.scale, self.zero_point, self.axis = data, scale, zero_point, axis

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def nbytes(self):
        """Bytes to store it: one per code plus 4 per scale and per zero point."""
        return int(self.data.nbytes + 4 * np.size(self.scale) + 4 * np.size(self.zero_point))

    def dequantize(self):
        return dequantize_int8(self, self.scale, self.zero_point, axis=self.axis)

    def numpy(self):
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        kind = "per-tensor" if self.axis is None else f"per-channel(axis={self.axis})"
        return f"QuantizedTensor(shape={self.shape}, {kind}, nbytes={self.nbytes})"


def _channel_shape(ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def quantize_int8(tensor, symmetric=False, axis=None):
    """(codes as a QuantizedTensor, scale, zero_point) for a float tensor.

    symmetric=False (TinyTorch's default): asymmetric over [min, max] widened to include 0.
    symmetric=True: zero_point 0, scale max|x| / 127. axis=None quantizes the whole tensor with one
    scale; axis=k gives each index along k its own scale (per channel; for a Linear weight of shape
    (in, out) that is axis=1, one scale per output).
    """
    x = _float_values(tensor, "quantize_int8")
    axis = _check_axis(axis, x.ndim, "quantize_int8")
    if axis is None:
        scale, zero = quantization_params(x.min(), x.max(), symmetric)
        s, z = np.float32(scale), np.float32(zero)
    else:
        others = tuple(d for d in range(x.ndim) if d != axis)
        scale, zero = quantization_params(x.min(axis=others), x.max(axis=others), symmetric)
        s = scale.reshape(_channel_shape(x.ndim, axis))
        z = zero.astype(np.float32).reshape(_channel_shape(x.ndim, axis))
    codes = np.clip(np.round(x / s) + z, INT8_MIN, INT8_MAX).astype(np.int8)
    return QuantizedTensor(codes, scale, zero, axis), scale, zero


def dequantize_int8(q_tensor, scale=None, zero_point=None, axis=None):
    """float32 Tensor scale * (q - zero_point); scale/zero_point/axis default to the QuantizedTensor's own."""
    if isinstance(q_tensor, QuantizedTensor):
        scale = q_tensor.scale if scale is None else scale
        zero_point = q_tensor.zero_point if zero_point is None else zero_point
        axis = q_tensor.axis if axis is None else axis
    if scale is None:
        raise TypeError("dequantize_int8: pass the scale (and zero_point) the codes were made with")
    q = np.asarray(q_tensor)
    if q.dtype.kind not in "iuf":
        raise TypeError(f"dequantize_int8: codes must be integers, got dtype {q.dtype}")
    zero_point = 0 if zero_point is None else zero_point
    s = np.asarray(scale, dtype=np.float64)
    z = np.asarray(zero_point, dtype=np.float64)
    if s.ndim > 0 and s.size > 1:
        axis = _check_axis(axis, q.ndim, "dequantize_int8")
        if axis is None:
            raise ValueError("dequantize_int8: per-channel scales need the axis they run along")
        if s.size != q.shape[axis]:
            raise ValueError(f"dequantize_int8: {s.size} scales for {q.shape[axis]} channels along axis {axis}")
        s = s.reshape(_channel_shape(q.ndim, axis))
        z = z.reshape(_channel_shape(q.ndim, axis)) if z.size > 1 else z
    if np.any(~(s > 0)):
        raise ValueError("dequantize_int8: scales must be > 0")
    return Tensor((s * (q.astype(np.float64) - z)).astype(np.float32))


def calibrate(sample_batches, symmetric=False):
    """(scale, zero_point) for one activation, from the min and max over sample batches."""
    batches = list(sample_batches) if sample_batches is not None else []
    if not batches:
        raise ValueError("calibrate: no sample batches given; pass a list of representative inputs")
    lo = min(float(_float_values(b, "calibrate").min()) for b in batches)
    hi = max(float(_float_values(b, "calibrate").max()) for b in batches)
    return quantization_params(lo, hi, symmetric)


class QuantizedLinear(Module):
    """A Linear layer with int8 weights running the C++ int8 GEMM (tinytorch._C.quantized_linear).

    Weights: symmetric (zero point 0) and per output channel by default, as in PyTorch's dynamic
    quantization. Inputs: quantized on every call, per row (`per_row_input=True`) or per tensor,
    unless `calibrate` fixed a scale and zero point. The bias stays float32 (it is added after the
    int32 -> float32 conversion). Inference only: no gradients flow through it.
    """

    def __init__(self, linear_layer, symmetric=True, per_channel=True, per_row_input=True):
        super().__init__()
        if not isinstance(linear_layer, Linear):
            raise TypeError(f"QuantizedLinear: expected a Linear layer, got {type(linear_layer).__name__}")
        w = np.asarray(linear_layer.weight, dtype=np.float32)
        q, scale, zero = quantize_int8(w, symmetric=symmetric, axis=1 if per_channel else None)
        self.in_features, self.out_features = w.shape
        self.symmetric, self.per_channel, self.per_row_input = symmetric, per_channel, per_row_input
        self.packed_weight = _C.PackedInt8Matrix(q.data)
        self.weight_scale = np.atleast_1d(np.asarray(scale, dtype=np.float32))
        self.weight_zero_point = np.atleast_1d(np.asarray(zero, dtype=np.int32))
        b = linear_layer.bias
        self.bias = None if b is None else Tensor(np.array(b, dtype=np.float32))
        self.input_scale = None
        self.input_zero_point = None
        self._float_bytes = 4 * (w.size + (0 if b is None else self.out_features))

    @property
    def q_weight(self):
        """The int8 weight codes (in, out) with their scales, as a QuantizedTensor."""
        axis = 1 if self.per_channel else None
        scale = self.weight_scale if self.per_channel else float(self.weight_scale[0])
        zero = self.weight_zero_point if self.per_channel else int(self.weight_zero_point[0])
        return QuantizedTensor(self.packed_weight.numpy(), scale, zero, axis)

    def calibrate(self, sample_inputs):
        """Fixes the input scale/zero point from sample inputs (static quantization; asymmetric)."""
        self.input_scale, self.input_zero_point = calibrate(sample_inputs, symmetric=False)

    def forward(self, x):
        return _C.quantized_linear(x, self.packed_weight, self.weight_scale, self.weight_zero_point, self.bias,
                                   per_row=self.per_row_input, input_scale=self.input_scale,
                                   input_zero_point=self.input_zero_point)

    def parameters(self):
        return []  # nothing to train: the weights are int8 codes

    def memory_usage(self):
        """Bytes of the float layer, of the quantized one (int8 codes, scales, zero points, float32 bias),
        and of what the packed kernel layout really holds (padded panels plus int32 column sums)."""
        meta = 4 * (self.weight_scale.size + self.weight_zero_point.size)
        bias = 0 if self.bias is None else 4 * self.out_features
        quantized = self.in_features * self.out_features + meta + bias
        return {"original_bytes": self._float_bytes, "quantized_bytes": quantized,
                "packed_bytes": self.packed_weight.nbytes + meta + bias,
                "compression_ratio": self._float_bytes / quantized}

    def size_bytes(self):
        """Bytes of the quantized layer (what tinytorch.benchmarking's parameter_bytes reads)."""
        return self.memory_usage()["quantized_bytes"]

    def extra_repr(self):
        kind = "per-channel" if self.per_channel else "per-tensor"
        sym = "symmetric" if self.symmetric else "asymmetric"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 {sym} {kind}"


def _children(obj):
    """(container, key, value) for every attribute, list item and dict value of obj."""
    for name, value in list(vars(obj).items()):
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield value, i, item
        elif isinstance(value, dict):
            for key, item in list(value.items()):
                yield value, key, item
        else:
            yield obj, name, value


def _linear_slots(model, seen=None):
    """(container, key, layer) for every Linear reachable from model through modules, lists and dicts."""
    seen = set() if seen is None else seen
    if id(model) in seen or not hasattr(model, "__dict__"):
        return
    seen.add(id(model))
    for container, key, value in _children(model):
        if isinstance(value, Linear):
            yield container, key, value
        elif isinstance(value, Module):
            yield from _linear_slots(value, seen)


def _put(container, key, value):
    if isinstance(container, (list, dict)):
        container[key] = value
    else:
        object.__setattr__(container, key, value)


def _record_input_ranges(model, layers, calibration_data):
    """Runs the float model on the calibration batches; returns each layer's (min, max) of its inputs."""
    ranges = {id(layer): [np.inf, -np.inf] for layer in layers}

    def recorder(layer):
        original = type(layer).forward

        def forward(x):
            v = _float_values(x, "quantize_model (calibration)")
            r = ranges[id(layer)]
            r[0], r[1] = min(r[0], float(v.min())), max(r[1], float(v.max()))
            return original(layer, x)
        return forward

    for layer in layers:
        object.__setattr__(layer, "forward", recorder(layer))
    try:
        with no_grad():
            for batch in calibration_data:
                model(batch if isinstance(batch, Tensor) else Tensor(np.asarray(batch, dtype=np.float32)))
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)
    return ranges


def quantize_model(model, calibration_data=None, symmetric=True, per_channel=True):
    """Replaces every Linear layer of model, in place, by a QuantizedLinear; returns model.

    With calibration_data (a list of input batches), the float model first runs on them and each
    layer's input scale/zero point is fixed from the inputs it saw (static quantization); without it,
    inputs are quantized dynamically on every call. Layers are found through sub-modules, lists
    (Sequential.layers) and dicts. A bare Linear cannot be replaced in place: use QuantizedLinear(layer).
    Unless its class defines one, the model gets a `size_bytes()` method returning its quantized size
    (model_size_bytes), which tinytorch.benchmarking reads instead of summing float parameters.
    """
    if isinstance(model, Linear):
        raise ValueError("quantize_model: got a single Linear layer, which cannot be replaced in place; "
                         "use QuantizedLinear(layer) instead")
    if calibration_data is not None:
        calibration_data = list(calibration_data)
        if not calibration_data:
            raise ValueError("quantize_model: calibration_data is empty; pass sample batches or None")
    slots = list(_linear_slots(model))
    ranges = _record_input_ranges(model, [s[2] for s in slots], calibration_data) if calibration_data else None
    for container, key, layer in slots:
        q = QuantizedLinear(layer, symmetric=symmetric, per_channel=per_channel)
        if ranges is not None and np.isfinite(ranges[id(layer)][0]):
            q.input_scale, q.input_zero_point = quantization_params(*ranges[id(layer)])
        _put(container, key, q)
    if not hasattr(type(model), "size_bytes"):
        object.__setattr__(model, "size_bytes", types.MethodType(lambda self: model_size_bytes(self)[1], model))
    return model


def _all_modules(model):
    seen, stack = set(), [model]
    while stack:
        m = stack.pop()
        if id(m) in seen or not hasattr(m, "__dict__"):
            continue
        seen.add(id(m))
        yield m
        stack.extend(v for _, _, v in _children(m) if isinstance(v, Module))


def model_size_bytes(model):
    """(parameter count, bytes): float tensors at their itemsize, QuantizedLinear layers at their int8 size."""
    params = nbytes = 0
    for m in _all_modules(model):
        if isinstance(m, QuantizedLinear):
            params += m.in_features * m.out_features + (0 if m.bias is None else m.out_features)
            nbytes += m.memory_usage()["quantized_bytes"]
            continue
        for _, _, v in _children(m):
            if isinstance(v, Tensor) and v.requires_grad:
                params += v.size
                nbytes += np.asarray(v).nbytes
    return params, nbytes


def compare_model_sizes(original_model, quantized_model):
    """TinyTorch's size comparison: parameter counts, bytes, compression ratio and memory saved."""
    op, ob = model_size_bytes(original_model)
    qp, qb = model_size_bytes(quantized_model)
    saved = ob - qb
    return {"original_params": op, "quantized_params": qp, "original_bytes": ob, "quantized_bytes": qb,
            "compression_ratio": ob / qb if qb else 1.0, "memory_saved_mb": saved / 2**20,
            "memory_saved_percent": 100.0 * saved / ob if ob else 0.0}


def _predict(model, x):
    with no_grad():
        return np.asarray(model(x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))))


def quantization_report(original_model, quantized_model, inputs, labels=None):
    """Sizes (compare_model_sizes), the largest output difference, and accuracies when labels are given."""
    report = compare_model_sizes(original_model, quantized_model)
    a, b = _predict(original_model, inputs), _predict(quantized_model, inputs)
    report["max_abs_output_diff"] = float(np.max(np.abs(a - b))) if a.size else 0.0
    if labels is not None:
        y = np.asarray(labels)
        report["original_accuracy"] = float(np.mean(a.argmax(-1) == y))
        report["quantized_accuracy"] = float(np.mean(b.argmax(-1) == y))
    return report


class Quantizer:
    """TinyTorch's entry point: tensor quantization as static methods, layer/model quantization with
    a chosen scheme (symmetric per-channel int8 weights by default)."""

    quantize_tensor = staticmethod(quantize_int8)
    dequantize_tensor = staticmethod(dequantize_int8)
    calibrate = staticmethod(calibrate)

    def __init__(self, symmetric=True, per_channel=True):
        self.symmetric, self.per_channel = symmetric, per_channel

    def quantize_layer(self, linear_layer):
        return QuantizedLinear(linear_layer, symmetric=self.symmetric, per_channel=self.per_channel)

    def quantize_model(self, model, calibration_data=None):
        return quantize_model(model, calibration_data, symmetric=self.symmetric, per_channel=self.per_channel)
