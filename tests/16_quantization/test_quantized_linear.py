"""Module 16: the fused quantized_linear op and QuantizedLinear / quantize_model on it."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.module import Module
from tinytorch.perf.quantization import (QuantizedLinear, compare_model_sizes, quantization_report, quantize_int8,
                                         quantize_model)

pytestmark = pytest.mark.module16


def numpy_dynamic_quant(x, per_row=True):
    """The documented input quantization, in numpy float32 (must equal the C++ codes bit for bit)."""
    x = x.astype(np.float32)
    if per_row:
        lo, hi = np.minimum(x.min(1, initial=0), 0), np.maximum(x.max(1, initial=0), 0)
    else:
        lo = np.full(len(x), min(x.min(initial=0), 0), np.float32)
        hi = np.full(len(x), max(x.max(initial=0), 0), np.float32)
    scale = (hi.astype(np.float32) - lo.astype(np.float32)) / np.float32(255)
    empty = ~(scale > 0)
    with np.errstate(invalid="ignore", divide="ignore"):  # all-zero rows: 0/0, replaced just below
        zero = np.clip(np.round(np.float32(-128) - lo / scale), -128, 127)
    scale, zero = np.where(empty, np.float32(1), scale).astype(np.float32), np.where(empty, 0, zero).astype(np.int32)
    q = np.clip(np.round(x / scale[:, None]) + zero[:, None].astype(np.float32), -128, 127).astype(np.int8)
    return q, scale, zero


@pytest.mark.parametrize("per_row", [True, False])
def test_cpp_input_quantization_equals_numpy_reference(per_row):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((13, 77)) * rng.uniform(0.1, 5, (13, 1)) + rng.uniform(-1, 1, (13, 1))).astype(np.float32)
    x[3] = 0.0          # all-zero row: scale 1, zero point 0
    x[4] = np.abs(x[4])  # all-positive row: zero point -128
    q, scale, zero = _C.quantize_int8_rows(tt.Tensor(x), per_row)
    q_ref, s_ref, z_ref = numpy_dynamic_quant(x, per_row)
    np.testing.assert_array_equal(scale, s_ref)
    np.testing.assert_array_equal(zero, z_ref)
    np.testing.assert_array_equal(q, q_ref)


def reference_linear(x, w_codes, w_scale, w_zero, bias, per_row=True):
    """float64 reference: (qx - zx) @ (qw - zw) exactly in int64, then the scales and the bias."""
    q, s, z = numpy_dynamic_quant(x, per_row)
    acc = (q.astype(np.int64) - z[:, None]) @ (w_codes.astype(np.int64) - np.asarray(w_zero, np.int64))
    return acc * s[:, None].astype(np.float64) * np.asarray(w_scale, np.float64) + (0 if bias is None else bias)


@pytest.mark.parametrize("m,k,n", [(1, 5, 3), (7, 64, 33), (32, 130, 17), (3, 1, 40)])
@pytest.mark.parametrize("per_channel_zero", [False, True])
def test_quantized_linear_op_equals_integer_reference(m, k, n, per_channel_zero):
    rng = np.random.default_rng(m * 131 + k + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    scale = rng.uniform(0.001, 0.05, n).astype(np.float32)
    zero = rng.integers(-20, 20, n).astype(np.int32) if per_channel_zero else np.array([7], np.int32)
    bias = rng.standard_normal(n).astype(np.float32)
    for per_row in (True, False):
        y = _C.quantized_linear(tt.Tensor(x), _C.PackedInt8Matrix(w), scale, zero, tt.Tensor(bias), per_row=per_row)
        assert isinstance(y, tt.Tensor) and y.shape == (m, n) and np.asarray(y).dtype == np.float32
        np.testing.assert_allclose(np.asarray(y), reference_linear(x, w, scale, zero, bias, per_row),
                                   rtol=2e-6, atol=2e-6)


def test_leading_dims_and_non_contiguous_input():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (24, 10), dtype=np.int8)
    p = _C.PackedInt8Matrix(w)
    x = rng.standard_normal((2, 3, 24)).astype(np.float32)
    y = _C.quantized_linear(tt.Tensor(x), p, 0.01, 0)
    assert y.shape == (2, 3, 10)
    np.testing.assert_allclose(np.asarray(y).reshape(6, 10), reference_linear(x.reshape(6, 24), w, 0.01, 0, None),
                               rtol=2e-6, atol=2e-6)
    xt = tt.Tensor(rng.standard_normal((24, 5)).astype(np.float32)).transpose(0, 1)  # (5, 24) view
    np.testing.assert_allclose(np.asarray(_C.quantized_linear(xt, p, 0.01, 0)),
                               reference_linear(np.asarray(xt).copy(), w, 0.01, 0, None), rtol=2e-6, atol=2e-6)


def error_bound(x, layer):
    """|x w - x^ w^| <= |x| |w - w^| + |x - x^| |w^|, with |w - w^| <= s_w / 2 and |x - x^| <= s_x / 2 per row."""
    _, s_x, _ = numpy_dynamic_quant(x)
    w_hat = np.asarray(layer.q_weight.dequantize(), dtype=np.float64)
    bound = np.abs(x).sum(1, keepdims=True) * layer.weight_scale / 2 + s_x[:, None] / 2 * np.abs(w_hat).sum(0)
    return bound * 1.001 + 1e-6


@pytest.mark.parametrize("symmetric,per_channel", [(True, True), (True, False), (False, True), (False, False)])
def test_quantized_linear_close_to_float_linear_within_the_error_bound(symmetric, per_channel):
    tt.manual_seed(2)
    layer = Linear(50, 20)
    np.asarray(layer.bias)[...] = np.random.default_rng(2).standard_normal(20)
    x = np.random.default_rng(3).standard_normal((9, 50)).astype(np.float32)
    q = QuantizedLinear(layer, symmetric=symmetric, per_channel=per_channel)
    y_float = np.asarray(layer(tt.Tensor(x)))
    y_q = np.asarray(q(tt.Tensor(x)))
    err = np.abs(y_q - y_float)
    assert np.all(err <= error_bound(x, q)) and err.max() > 0
    assert q(x).shape == (9, 20)  # numpy input works too


def test_calibrated_static_input_scale_is_used():
    tt.manual_seed(4)
    layer = Linear(8, 4)
    q = QuantizedLinear(layer)
    q.calibrate([np.full((1, 8), -1.0), np.full((1, 8), 3.0)])
    # [-1, 3]: scale 4/255, zero point round(-128 + 1 / (4/255)) = round(-64.25) = -64
    assert q.input_scale == pytest.approx(4 / 255, rel=1e-6) and q.input_zero_point == -64
    w_hat = np.asarray(q.q_weight.dequantize(), np.float64)

    def expected(x):
        codes = np.clip(np.round(x / np.float32(q.input_scale)) - 64, -128, 127)
        return ((codes + 64) * q.input_scale) @ w_hat + np.asarray(layer.bias)
    x = np.linspace(-1, 3, 8, dtype=np.float32)[None]
    np.testing.assert_allclose(np.asarray(q(tt.Tensor(x))), expected(x), rtol=1e-5, atol=1e-6)
    # values beyond the calibrated range saturate at the int8 ends
    np.testing.assert_allclose(np.asarray(q(tt.Tensor(x * 10))), expected(x * 10), rtol=1e-5, atol=1e-6)


def test_memory_usage_is_four_times_smaller_for_large_layers():
    q = QuantizedLinear(Linear(256, 128))
    mem = q.memory_usage()
    assert mem["original_bytes"] == 4 * (256 * 128 + 128)
    assert mem["quantized_bytes"] == 256 * 128 + 4 * 128 * 3  # codes + scales + zero points + float32 bias
    assert 3.8 < mem["compression_ratio"] < 4.0
    assert mem["packed_bytes"] == q.packed_weight.nbytes + 4 * 128 * 3
    assert q.parameters() == []


class Net(Module):
    def __init__(self):
        super().__init__()
        self.body = Sequential(Linear(16, 32), ReLU(), Linear(32, 32), ReLU())
        self.heads = {"a": Linear(32, 5)}
        self.extra = [Linear(32, 3)]

    def forward(self, x):
        h = self.body(x)
        return self.heads["a"](h) + self.extra[0](h).sum()


def make_net(seed):
    tt.manual_seed(seed)
    return Net()


def test_quantize_model_replaces_linears_everywhere_in_place():
    net = make_net(5)
    x = tt.Tensor(np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32))
    ref = np.asarray(net(x))
    out = quantize_model(net)
    assert out is net
    assert isinstance(net.body.layers[0], QuantizedLinear) and isinstance(net.body.layers[1], ReLU)
    assert isinstance(net.body.layers[2], QuantizedLinear)
    assert isinstance(net.heads["a"], QuantizedLinear) and isinstance(net.extra[0], QuantizedLinear)
    got = np.asarray(net(x))
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max() and np.abs(got - ref).max() > 0
    sizes = compare_model_sizes(make_net(5), net)
    params = 16 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5 + 32 * 3 + 3
    assert sizes["original_params"] == sizes["quantized_params"] == params
    assert sizes["original_bytes"] == 4 * sizes["original_params"]
    # each layer: one byte per weight, 4 bytes per output for its bias, scale and zero point
    assert sizes["quantized_bytes"] == sum(k * n + 12 * n for k, n in [(16, 32), (32, 32), (32, 5), (32, 3)])


def test_quantize_model_with_calibration_sets_static_input_ranges():
    model = Sequential(Linear(6, 8), ReLU(), Linear(8, 2))
    tt.manual_seed(6)
    batches = [np.random.default_rng(i).uniform(-3, 3, (5, 6)).astype(np.float32) for i in range(3)]
    hidden_max = max(float(np.asarray(model.layers[1](model.layers[0](tt.Tensor(b)))).max()) for b in batches)
    quantize_model(model, calibration_data=batches)
    first, second = model.layers[0], model.layers[2]
    lo = min(b.min() for b in batches)
    hi = max(b.max() for b in batches)
    assert first.input_scale == pytest.approx((hi - lo) / 255, rel=1e-6)
    assert second.input_scale == pytest.approx(hidden_max / 255, rel=1e-5) and second.input_zero_point == -128
    assert "forward" not in vars(first)  # the recording hooks are gone


def test_quantized_mlp_keeps_its_tinydigits_accuracy():
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.data import load_tiny_digits
    x_train, y_train = load_tiny_digits("train")
    x_test, y_test = load_tiny_digits("test")
    x_train, x_test = x_train.reshape(len(x_train), 64), x_test.reshape(len(x_test), 64)
    tt.manual_seed(7)
    model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    opt, loss_fn = Adam(model.parameters(), lr=0.01), CrossEntropyLoss()
    for step in range(150):
        idx = np.random.default_rng(step).integers(0, len(x_train), 64)
        loss = loss_fn(model(tt.Tensor(x_train[idx])), tt.Tensor(y_train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    float_copy = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    float_copy.load_state_dict(model.state_dict())
    quantize_model(model, calibration_data=[x_train[:200]])
    report = quantization_report(float_copy, model, x_test, y_test)
    assert report["original_accuracy"] > 0.85
    assert report["quantized_accuracy"] >= report["original_accuracy"] - 0.02
    assert report["compression_ratio"] > 3.3  # int8 codes, float32 bias and per-channel scales


def test_errors_are_clear_and_never_crash():
    p = _C.PackedInt8Matrix(np.zeros((4, 3), np.int8))
    x = tt.Tensor(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"quantized_linear: x has 5 features .* in_features = 4"):
        _C.quantized_linear(tt.Tensor(np.ones((2, 5), np.float32)), p, 0.1, 0)
    with pytest.raises(TypeError, match="quantized_linear: x must be a float32 tensor, got int64"):
        _C.quantized_linear(tt.Tensor(np.ones((2, 4), np.int64)), p, 0.1, 0)
    with pytest.raises(ValueError, match="quantized_linear: x contains NaN or Inf"):
        _C.quantized_linear(tt.Tensor([[1.0, np.nan, 0.0, 0.0]]), p, 0.1, 0)
    with pytest.raises(ValueError, match=r"weight_scale must have 1 value \(per tensor\) or out_features = 3"):
        _C.quantized_linear(x, p, [0.1, 0.2], 0)
    with pytest.raises(ValueError, match="every weight scale must be finite and > 0"):
        _C.quantized_linear(x, p, 0.0, 0)
    with pytest.raises(ValueError, match=r"weight_zero_point must be in \[-128, 127\], got 300"):
        _C.quantized_linear(x, p, 0.1, 300)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        _C.quantized_linear(x, p, 0.1, 0, tt.Tensor(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match="give both input_scale and input_zero_point"):
        _C.quantized_linear(x, p, 0.1, 0, input_scale=0.1)
    with pytest.raises(ValueError, match="x must have shape"):
        _C.quantized_linear(tt.Tensor(1.0), p, 0.1, 0)
    with pytest.raises(ValueError, match="in_features = 33026 is above 33025"):
        _C.quantized_linear(tt.Tensor(np.ones((1, 33026), np.float32)),
                            _C.PackedInt8Matrix(np.zeros((33026, 1), np.int8)), 0.1, 0)
    with pytest.raises(TypeError, match="QuantizedLinear: expected a Linear layer, got ReLU"):
        QuantizedLinear(ReLU())
    with pytest.raises(ValueError, match="quantize_model: got a single Linear layer"):
        quantize_model(Linear(2, 2))
    with pytest.raises(ValueError, match="quantize_model: calibration_data is empty"):
        quantize_model(Sequential(Linear(2, 2)), calibration_data=[])
    # empty batches and zero-width layers give empty outputs, not crashes
    assert _C.quantized_linear(tt.Tensor(np.ones((0, 4), np.float32)), p, 0.1, 0).shape == (0, 3)
    empty_k = _C.quantized_linear(tt.Tensor(np.ones((2, 0), np.float32)),
                                  _C.PackedInt8Matrix(np.zeros((0, 3), np.int8)),
                                  0.1, 0, tt.Tensor(np.array([1, 2, 3], np.float32)))
    np.testing.assert_array_equal(np.asarray(empty_k), [[1, 2, 3], [1, 2, 3]])


@pytest.mark.parametrize("position", [0, 15, 16, 31, 32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_anywhere_in_a_row_is_rejected(position, bad):
    x = np.ones((3, 33), np.float32)
    x[1, position] = bad  # in a full 16-wide block or in the tail, on any row
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        _C.quantized_linear(tt.Tensor(x), _C.PackedInt8Matrix(np.ones((33, 2), np.int8)), 0.1, 0)
    with pytest.raises(ValueError, match="quantize_int8_rows: x contains NaN or Inf"):
        _C.quantize_int8_rows(tt.Tensor(x))


def test_benchmarking_harness_reads_the_quantized_size():
    from tinytorch.benchmarking.benchmark import parameter_bytes
    from tinytorch.perf.quantization import model_size_bytes
    model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
    float_bytes = parameter_bytes(model)
    assert float_bytes == 4 * (64 * 32 + 32 + 32 * 10 + 10)
    quantize_model(model)
    assert parameter_bytes(model) == model_size_bytes(model)[1] == 64 * 32 + 12 * 32 + 32 * 10 + 12 * 10
    assert parameter_bytes(model.layers[0]) == 64 * 32 + 12 * 32
