"""Module 16 against PyTorch: qparams of its MinMaxObserver, codes of quantize_per_tensor / per_channel,
and the output of its dynamically quantized Linear."""
import warnings

import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch.core.layers import Linear
from tinytorch.perf.quantization import QuantizedLinear, quantize_int8

pytestmark = pytest.mark.module16


def codes_from_torch(torch, fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensor creation is deprecated in 2.13, still the reference
        return fn(*args).int_repr().numpy()


def test_asymmetric_params_equal_minmax_observer():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    for shift in (-2.0, 0.0, 3.0):
        x = (rng.standard_normal((50, 60)) * 3 + shift).astype(np.float32)
        _, scale, zero = quantize_int8(x)
        obs = torch.ao.quantization.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine)
        obs(torch.from_numpy(x))
        t_scale, t_zero = obs.calculate_qparams()
        assert scale == pytest.approx(float(t_scale), rel=1e-6) and zero == int(t_zero)


def test_per_tensor_codes_equal_quantize_per_tensor():
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    for symmetric in (False, True):
        x = (rng.standard_normal((200, 300)) * 3).astype(np.float32)
        q, scale, zero = quantize_int8(x, symmetric=symmetric)
        ref = codes_from_torch(torch, torch.quantize_per_tensor, torch.from_numpy(x), scale, zero, torch.qint8)
        np.testing.assert_array_equal(q.data, ref)


def test_per_channel_codes_equal_quantize_per_channel():
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((64, 24)) * rng.uniform(0.01, 5, (1, 24))).astype(np.float32)
    for symmetric in (False, True):
        q, scale, zero = quantize_int8(x, symmetric=symmetric, axis=1)
        ref = codes_from_torch(torch, torch.quantize_per_channel, torch.from_numpy(x),
                               torch.from_numpy(scale.astype(np.float64)), torch.from_numpy(zero.astype(np.int64)),
                               1, torch.qint8)
        np.testing.assert_array_equal(q.data, ref)


def test_quantized_linear_close_to_torch_dynamic_quantized_linear():
    torch = torch_or_skip()
    tt.manual_seed(3)
    layer = Linear(96, 40)
    x = np.random.default_rng(3).standard_normal((16, 96)).astype(np.float32)
    ref_float = torch.nn.Linear(96, 40)
    with torch.no_grad():
        ref_float.weight.copy_(torch.from_numpy(np.asarray(layer.weight).T.copy()))
        ref_float.bias.copy_(torch.from_numpy(np.random.default_rng(4).standard_normal(40).astype(np.float32)))
    np.asarray(layer.bias)[...] = ref_float.bias.detach().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qref = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(ref_float), {torch.nn.Linear},
                                                      dtype=torch.qint8)
        torch_out = qref(torch.from_numpy(x)).detach().numpy()
    float_out = ref_float(torch.from_numpy(x)).detach().numpy()
    ours = np.asarray(QuantizedLinear(layer)(tt.Tensor(x)))
    # both approximate the float layer to ~1% of its output scale; they differ in rounding details
    # (torch: uint8 activations, per-tensor weights), so compare each with the float answer and each other
    spread = np.abs(float_out).max()
    assert np.abs(ours - float_out).max() < 0.02 * spread
    assert np.abs(torch_out - float_out).max() < 0.02 * spread
    assert np.abs(ours - torch_out).max() < 0.03 * spread
