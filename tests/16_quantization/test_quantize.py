"""Module 16: int8 quantization parameters, codes and round trips against a numpy reference."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.perf.quantization import (QuantizedTensor, Quantizer, calibrate, dequantize_int8, quantization_params,
                                         quantize_int8)

pytestmark = pytest.mark.module16


def test_asymmetric_params_by_hand():
    # [-1, 2]: scale 3/255, zero point round(-128 + 1 / (3/255)) = round(-43) = -43
    scale, zero = quantization_params(-1.0, 2.0)
    assert isinstance(scale, float) and isinstance(zero, int)
    assert scale == pytest.approx(3 / 255, rel=1e-7) and zero == -43
    # a range that does not contain 0 is widened to include it: [0.5, 2] acts like [0, 2]
    assert quantization_params(0.5, 2.0) == quantization_params(0.0, 2.0)
    assert quantization_params(0.0, 2.0)[1] == -128


def test_symmetric_params_by_hand():
    scale, zero = quantization_params(-3.0, 1.27, symmetric=True)
    assert scale == pytest.approx(3 / 127, rel=1e-7) and zero == 0


def test_codes_by_hand():
    q, scale, zero = quantize_int8(tt.Tensor([[-1.0, 0.0, 2.0], [0.5, 1.5, -0.5]]))
    assert isinstance(q, QuantizedTensor) and q.data.dtype == np.int8 and zero == -43
    np.testing.assert_array_equal(q.data, [[-128, -43, 127], [-1, 85, -85]])
    q, scale, zero = quantize_int8(tt.Tensor([-1.27, 0.635, 1.27]), symmetric=True)
    np.testing.assert_array_equal(q.data, [-127, 64, 127])  # 63.5 rounds half to even: 64


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("shape", [(7,), (30, 40), (3, 4, 5)])
def test_round_trip_error_is_at_most_half_a_step(symmetric, shape):
    x = (np.random.default_rng(len(shape)).standard_normal(shape) * 2.5 + 0.7).astype(np.float32)
    q, scale, zero = quantize_int8(tt.Tensor(x), symmetric=symmetric)
    assert -128 <= q.data.min() and q.data.max() <= 127
    restored = np.asarray(dequantize_int8(q, scale, zero))
    assert restored.dtype == np.float32
    assert np.max(np.abs(restored - x)) <= scale / 2 * (1 + 1e-5)
    assert np.abs(restored - x).max() > 0  # lossy: the test could fail


@pytest.mark.parametrize("value", [0.0, 0.25, -0.5, 2.0, -3.0, 500.0, -500.0, 1e-10])
def test_constant_tensors_round_trip_exactly(value):
    q, scale, zero = quantize_int8(tt.Tensor(np.full((2, 3), value)))
    assert scale > 0 and -128 <= zero <= 127
    np.testing.assert_allclose(np.asarray(dequantize_int8(q, scale, zero)), np.full((2, 3), value), rtol=1e-6, atol=0)


def test_zero_is_exactly_representable_with_asymmetric_zero_points():
    rng = np.random.default_rng(5)
    for lo, hi in [(-0.3, 5.0), (0.0, 1.0), (-7.0, -1.0), (-2.0, 0.001)]:
        x = np.concatenate([rng.uniform(lo, hi, 100), [0.0]]).astype(np.float32)
        q, scale, zero = quantize_int8(x)
        assert q.data[-1] == zero and np.asarray(dequantize_int8(q, scale, zero))[-1] == 0.0


def numpy_per_channel(x, axis, symmetric):
    """Reference written out for axis 1 of a 2-D array (or 0), column by column."""
    xs = np.moveaxis(x, axis, 0)
    codes, scales, zeros = [], [], []
    for row in xs:
        lo, hi = min(row.min(), 0.0), max(row.max(), 0.0)
        if symmetric:
            s, z = np.float32(max(-lo, hi)) / np.float32(127), 0
        else:
            s = (np.float32(hi) - np.float32(lo)) / np.float32(255)
            z = int(np.clip(np.round(np.float32(-128) - np.float32(lo) / s), -128, 127))
        codes.append(np.clip(np.round(row / s) + z, -128, 127).astype(np.int8))
        scales.append(s)
        zeros.append(z)
    return np.moveaxis(np.stack(codes), 0, axis), np.array(scales, np.float32), np.array(zeros)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("symmetric", [False, True])
def test_per_channel_matches_numpy_reference(axis, symmetric):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((12, 9)) * rng.uniform(0.01, 10, (1, 9))).astype(np.float32)
    q, scale, zero = quantize_int8(x, symmetric=symmetric, axis=axis)
    codes, s_ref, z_ref = numpy_per_channel(x, axis % 2, symmetric)
    np.testing.assert_array_equal(scale, s_ref)
    np.testing.assert_array_equal(zero, z_ref)
    np.testing.assert_array_equal(q.data, codes)
    restored = np.asarray(q.dequantize())
    bound = np.expand_dims(s_ref, 1 - axis % 2) / 2 * (1 + 1e-5)
    assert np.all(np.abs(restored - x) <= bound)


def test_per_channel_is_more_accurate_than_per_tensor_for_unequal_columns():
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((64, 8)) * np.array([0.01, 0.1, 1, 10, 0.01, 0.1, 1, 10])).astype(np.float32)
    per_tensor = np.asarray(quantize_int8(w, symmetric=True)[0].dequantize())
    per_channel = np.asarray(quantize_int8(w, symmetric=True, axis=1)[0].dequantize())
    small = slice(0, 1)
    assert np.abs(per_channel - w)[:, small].max() < np.abs(per_tensor - w)[:, small].max() / 50


def test_calibration_from_batches_uses_the_overall_range():
    batches = [np.array([[-1.0, 0.5]]), tt.Tensor([[3.0, 0.0]]), np.array([[0.2, -0.4]])]
    assert calibrate(batches) == quantization_params(-1.0, 3.0)
    assert calibrate(batches, symmetric=True) == quantization_params(-3.0, 3.0, symmetric=True)


def test_quantizer_static_methods_are_the_functions():
    x = tt.Tensor(np.array([0.5, -0.5, 1.0, -1.0], dtype=np.float32))
    q, scale, zero = Quantizer.quantize_tensor(x)
    assert np.max(np.abs(np.asarray(Quantizer.dequantize_tensor(q, scale, zero)) - np.asarray(x))) <= scale / 2


@pytest.mark.parametrize("values", [[], [np.nan], [np.inf], [-np.inf, 1.0]])
def test_empty_or_non_finite_values_are_rejected(values):
    with pytest.raises(ValueError, match="quantize_int8"):
        quantize_int8(tt.Tensor(values))


def test_argument_errors():
    with pytest.raises(ValueError, match="quantize_int8: axis 2 is out of range for a 2-D tensor"):
        quantize_int8(np.ones((2, 2)), axis=2)
    with pytest.raises(TypeError, match="quantize_int8: axis must be an int"):
        quantize_int8(np.ones((2, 2)), axis="rows")
    with pytest.raises(ValueError, match="calibrate: no sample batches"):
        calibrate([])
    with pytest.raises(TypeError, match="dequantize_int8: pass the scale"):
        dequantize_int8(np.zeros(3, np.int8))
    with pytest.raises(ValueError, match="per-channel scales need the axis"):
        dequantize_int8(np.zeros((2, 3), np.int8), np.ones(3), 0)
