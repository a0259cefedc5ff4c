"""Module 09 (spatial): conv2d / max_pool2d / avg_pool2d and their layers.

Forward values and the gradients of the input, weight and bias against
torch.nn.functional on many shapes (batch and channels > 1, strides,
paddings, non-square kernels); finite-difference checks in float64,
including second derivatives; the layers' attributes and initialisation;
every argument error; and the im2col/col2im pair underneath (exact
values, and adjointness: <im2col(x), c> == <x, col2im(c)>).
"""
import math

import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch import _C
from tinytorch.autograd import gradcheck, gradgradcheck
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.spatial import AvgPool2d, Conv2d, Flatten, MaxPool2d, avg_pool2d, conv2d, max_pool2d

pytestmark = pytest.mark.module09

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def _random_conv_configs(n, seed):
    """(N, C, H, W, O, kernel, stride, padding) drawn at random, each with a valid output size."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        ph, pw = (int(v) for v in rng.integers(0, 3, 2))
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        if h + 2 * ph < kh or w + 2 * pw < kw:
            continue
        out.append((int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w, int(rng.integers(1, 5)),
                    (kh, kw), (sh, sw), (ph, pw)))
    return out


CONV_CONFIGS = [
    # N, C, H, W, O, kernel, stride, padding
    (2, 3, 7, 7, 4, 3, 1, 0),
    (3, 2, 8, 6, 5, (3, 2), (2, 1), (1, 0)),
    (2, 4, 9, 9, 3, (1, 4), 3, (0, 2)),
    (2, 1, 5, 5, 2, 5, 1, 2),            # "same" convolution
    (4, 3, 6, 10, 2, (2, 3), (1, 2), 1),
    (2, 2, 4, 4, 3, 4, 1, 0),            # kernel covers the whole image: 1x1 output
] + _random_conv_configs(8, seed=9)


def _tensor(a, dtype, grad=True):
    return tt.Tensor(np.asarray(a, dtype=dtype), dtype=dtype, requires_grad=grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", CONV_CONFIGS, ids=lambda c: "N{}C{}H{}W{}O{}k{}s{}p{}".format(*c))
def test_conv2d_forward_and_gradients_match_torch(config, dtype):
    torch = torch_or_skip()
    n, c, h, w, o, kernel, stride, padding = config
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    rng = np.random.default_rng(hash(config) % 2**32)
    x_np = rng.standard_normal((n, c, h, w)).astype(dtype)
    w_np = rng.standard_normal((o, c, kh, kw)).astype(dtype)
    b_np = rng.standard_normal(o).astype(dtype)
    x, weight, bias = _tensor(x_np, dtype), _tensor(w_np, dtype), _tensor(b_np, dtype)
    out = conv2d(x, weight, bias, stride=stride, padding=padding)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    out_t = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding)
    assert out.shape == tuple(out_t.shape)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), **TOL[dtype])

    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(tt.Tensor(g, dtype=dtype))
    out_t.backward(torch.tensor(g))
    for name, mine, theirs in (("x", x, xt), ("weight", weight, wt), ("bias", bias, bt)):
        np.testing.assert_allclose(np.asarray(mine.grad), theirs.grad.numpy(), **TOL[dtype],
                                   err_msg=f"gradient of {name}")


def test_conv2d_without_bias_and_with_a_non_contiguous_input():
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 7, 3, 6))                  # stored (N, W, C, H): permuted to (N, C, H, W)
    w_np = rng.standard_normal((4, 3, 2, 3))
    x = tt.Tensor(base, dtype=np.float64, requires_grad=True)
    weight = _tensor(w_np, np.float64)
    out = conv2d(x.permute(0, 2, 3, 1), weight, stride=(1, 2), padding=1)
    xt, wt = torch.tensor(base, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    out_t = torch.nn.functional.conv2d(xt.permute(0, 2, 3, 1), wt, stride=(1, 2), padding=1)
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), **TOL[np.float64])
    (out * out).sum().backward()
    (out_t * out_t).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), xt.grad.numpy(), **TOL[np.float64])
    np.testing.assert_allclose(np.asarray(weight.grad), wt.grad.numpy(), **TOL[np.float64])


POOL_CONFIGS = [
    # N, C, H, W, kernel, stride, padding
    (2, 3, 6, 6, 2, None, 0),
    (2, 2, 7, 5, 3, 2, 1),
    (3, 2, 8, 7, (3, 2), (1, 2), (1, 1)),
    (2, 3, 5, 9, (2, 4), 1, (0, 2)),
    (1, 4, 9, 9, 3, None, 1),
    (2, 2, 4, 6, (4, 1), (3, 1), 0),
    (2, 1, 3, 3, 3, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=lambda c: "N{}C{}H{}W{}k{}s{}p{}".format(*c))
def test_pooling_forward_and_gradient_match_torch(config, kind, dtype):
    torch = torch_or_skip()
    n, c, h, w, kernel, stride, padding = config
    rng = np.random.default_rng(hash((config, kind)) % 2**32)
    x_np = rng.standard_normal((n, c, h, w)).astype(dtype)   # continuous values: no ties for max
    x = _tensor(x_np, dtype)
    xt = torch.tensor(x_np, requires_grad=True)
    if kind == "max":
        out = max_pool2d(x, kernel, stride, padding)
        out_t = torch.nn.functional.max_pool2d(xt, kernel, stride, padding)
    else:
        out = avg_pool2d(x, kernel, stride, padding)
        out_t = torch.nn.functional.avg_pool2d(xt, kernel, stride, padding)   # count_include_pad=True
    assert out.shape == tuple(out_t.shape)
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(tt.Tensor(g, dtype=dtype))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(np.asarray(x.grad), xt.grad.numpy(), **TOL[dtype])


def test_max_pool_padding_never_wins_and_avg_pool_counts_it():
    x = tt.Tensor(-np.arange(1.0, 10.0).reshape(1, 1, 3, 3), dtype=np.float64)   # all negative
    assert np.asarray(max_pool2d(x, 3, 1, 1))[0, 0].tolist() == [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]]
    # the corner window holds -1, -2, -4, -5 and five zeros of padding: the mean is -12 / 9
    assert np.asarray(avg_pool2d(x, 3, 1, 1))[0, 0, 0, 0] == pytest.approx(-12 / 9, abs=1e-15)


def test_gradcheck_conv2d_float64():
    rng = np.random.default_rng(0)
    x = _tensor(rng.standard_normal((2, 2, 5, 4)), np.float64)
    weight = _tensor(rng.standard_normal((3, 2, 3, 2)), np.float64)
    bias = _tensor(rng.standard_normal(3), np.float64)
    assert gradcheck(lambda a, b, c: conv2d(a, b, c, stride=(2, 1), padding=(1, 1)), (x, weight, bias))


@pytest.mark.parametrize("fn", [max_pool2d, avg_pool2d], ids=["max", "avg"])
def test_gradcheck_pooling_float64(fn):
    rng = np.random.default_rng(1)
    x = _tensor(rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) * 0.1, np.float64)  # distinct values
    assert gradcheck(lambda a: fn(a, (3, 2), (2, 1), (1, 1)), (x,))


def test_gradgradcheck_conv2d():
    rng = np.random.default_rng(2)
    x = _tensor(rng.standard_normal((1, 2, 4, 3)), np.float64)
    weight = _tensor(rng.standard_normal((2, 2, 2, 2)), np.float64)
    bias = _tensor(rng.standard_normal(2), np.float64)
    # conv2d is bilinear in (x, weight): the mixed second derivatives are what is checked
    assert gradgradcheck(lambda a, b, c: conv2d(a, b, c, padding=1), (x, weight, bias))


def test_gradgradcheck_of_a_nonlinear_function_through_conv2d():
    rng = np.random.default_rng(4)
    x = _tensor(rng.standard_normal((1, 1, 4, 4)), np.float64)
    weight = _tensor(rng.standard_normal((2, 1, 3, 3)), np.float64)
    assert gradgradcheck(lambda a, b: avg_pool2d(conv2d(a, b, stride=1, padding=1) ** 2, 2), (x, weight))


# ---- the layers ---------------------------------------------------------------------------------

def test_conv2d_layer_attributes_and_parameters():
    tt.manual_seed(0)
    conv = Conv2d(3, 8, (3, 2), stride=2, padding=(1, 0))
    assert (conv.in_channels, conv.out_channels) == (3, 8)
    assert conv.kernel_size == (3, 2) and conv.stride == (2, 2) and conv.padding == (1, 0)
    assert conv.weight.shape == (8, 3, 3, 2) and conv.bias.shape == (8,)
    assert conv.weight.requires_grad and conv.bias.requires_grad
    assert conv.weight.dtype == np.float32
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.num_parameters() == 8 * 3 * 3 * 2 + 8 == 152
    no_bias = Conv2d(2, 4, 3, bias=False)
    assert no_bias.bias is None and no_bias.num_parameters() == 4 * 2 * 9
    assert no_bias.kernel_size == (3, 3) and no_bias.stride == (1, 1) and no_bias.padding == (0, 0)
    assert repr(conv) == "Conv2d(3, 8, kernel_size=(3, 2), stride=(2, 2), padding=(1, 0), bias=True)"


def test_conv2d_initialisation_is_torch_uniform_and_seeded():
    tt.manual_seed(5)
    conv = Conv2d(4, 16, 3)
    bound = 1 / math.sqrt(4 * 3 * 3)
    w, b = np.asarray(conv.weight), np.asarray(conv.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound                  # uses the whole range...
    assert np.abs(b).max() > 0.5 * bound                   # (the bias too: it is not zero-initialised)
    assert abs(w.mean()) < 0.1 * bound                      # ...centred on zero
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # the std of U(-b, b)
    tt.manual_seed(5)
    again = Conv2d(4, 16, 3)
    assert np.array_equal(np.asarray(again.weight), w) and np.array_equal(np.asarray(again.bias), b)
    tt.manual_seed(6)
    assert not np.array_equal(np.asarray(Conv2d(4, 16, 3).weight), w)


def test_layers_call_the_functional_forms():
    tt.manual_seed(1)
    rng = np.random.default_rng(1)
    x = tt.Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    conv = Conv2d(3, 5, 3, stride=1, padding=1)
    assert np.array_equal(np.asarray(conv(x)), np.asarray(conv2d(x, conv.weight, conv.bias, 1, 1)))
    pool = MaxPool2d(2)
    assert pool.kernel_size == (2, 2) and pool.stride == (2, 2) and pool.padding == (0, 0)
    assert pool.parameters() == [] and pool(x).shape == (2, 3, 4, 4)
    assert np.array_equal(np.asarray(pool(x)), np.asarray(max_pool2d(x, 2)))
    avg = AvgPool2d((3, 2), stride=1, padding=(1, 0))
    assert avg.kernel_size == (3, 2) and avg.stride == (1, 1) and avg.padding == (1, 0)
    assert np.array_equal(np.asarray(avg(x)), np.asarray(avg_pool2d(x, (3, 2), 1, (1, 0))))
    assert repr(MaxPool2d(3, 1, 1)) == "MaxPool2d(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert Flatten()(x).shape == (2, 3 * 8 * 8)
    assert Flatten(2)(x).shape == (2, 3, 64)
    assert Flatten(0, 1)(x).shape == (6, 8, 8)


def test_small_cnn_matches_torch_end_to_end():
    torch = torch_or_skip()
    tt.manual_seed(0)
    mine = Sequential(Conv2d(1, 4, 3), ReLU(), MaxPool2d(2), Conv2d(4, 6, 2, padding=1), ReLU(),
                      AvgPool2d(2), Flatten(), Linear(6 * 2 * 2, 3)).double()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(4, 6, 2, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(24, 3)).double()
    with torch.no_grad():
        for i in (0, 3):
            theirs[i].weight.copy_(torch.tensor(np.asarray(mine[i].weight)))
            theirs[i].bias.copy_(torch.tensor(np.asarray(mine[i].bias)))
        theirs[7].weight.copy_(torch.tensor(np.asarray(mine[7].weight).T))
        theirs[7].bias.copy_(torch.tensor(np.asarray(mine[7].bias)))
    x_np = np.random.default_rng(0).standard_normal((5, 1, 8, 8))
    y = np.array([0, 1, 2, 1, 0])
    out = mine(tt.Tensor(x_np, dtype=np.float64))
    out_t = theirs(torch.tensor(x_np))
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    tt.cross_entropy(out, tt.Tensor(y, dtype=np.int64)).backward()
    torch.nn.functional.cross_entropy(out_t, torch.tensor(y)).backward()
    for i in (0, 3):
        np.testing.assert_allclose(np.asarray(mine[i].weight.grad), theirs[i].weight.grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=f"layer {i} weight")
        np.testing.assert_allclose(np.asarray(mine[i].bias.grad), theirs[i].bias.grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=f"layer {i} bias")


# ---- errors -------------------------------------------------------------------------------------

X4 = tt.randn(2, 3, 6, 6)
W3 = tt.randn(4, 3, 3, 3)


ERROR_CASES = [
    (lambda: conv2d(tt.randn(3, 6, 6), W3), ValueError, ["conv2d", "4-D input", "(3, 6, 6)", "reshape(1, C, H, W)"]),
    (lambda: conv2d(tt.randn(6, 6), W3), ValueError, ["conv2d", "4-D input", "(6, 6)"]),
    (lambda: conv2d(tt.randn(2, 2, 6, 6), W3), ValueError, ["conv2d", "2 channels", "(2, 2, 6, 6)", "expects 3",
                                                            "(4, 3, 3, 3)"]),
    (lambda: conv2d(X4, tt.randn(4, 3, 3)), ValueError, ["conv2d", "weight must be 4-D", "(4, 3, 3)"]),
    (lambda: conv2d(X4, W3, tt.randn(3)), ValueError, ["conv2d", "bias must have shape (4,)", "got (3,)"]),
    (lambda: conv2d(X4, W3.double()), TypeError, ["conv2d", "float32", "float64"]),
    (lambda: conv2d(X4, W3, tt.randn(4).double()), TypeError, ["conv2d", "bias is float64"]),
    (lambda: conv2d(tt.ones(2, 3, 6, 6, dtype=np.int64), W3), TypeError, ["conv2d", "float32 or float64", "int64"]),
    (lambda: conv2d([[1.0]], W3), TypeError, ["conv2d", "Tensor", "list"]),
    (lambda: conv2d(X4, np.ones((4, 3, 3, 3))), TypeError, ["conv2d", "weight must be a Tensor", "ndarray"]),
    (lambda: conv2d(X4, W3, [1.0] * 4), TypeError, ["conv2d", "bias must be a Tensor", "list"]),
    (lambda: conv2d(X4, tt.randn(4, 3, 7, 3)), ValueError, ["conv2d", "kernel size (7, 3)", "padded input (6, 6)"]),
    (lambda: conv2d(X4, tt.randn(4, 3, 9, 3), padding=(1, 0)), ValueError, ["kernel size (9, 3)", "(8, 6)"]),
    (lambda: conv2d(X4, W3, stride=0), ValueError, ["conv2d", "stride must be >= 1", "(0, 0)"]),
    (lambda: conv2d(X4, W3, stride=(1, -2)), ValueError, ["conv2d", "stride must be >= 1", "(1, -2)"]),
    (lambda: conv2d(X4, W3, padding=-1), ValueError, ["conv2d", "padding must be >= 0", "(-1, -1)"]),
    (lambda: conv2d(X4, W3, stride=1.5), TypeError, ["conv2d", "stride must be an int or a pair", "1.5"]),
    (lambda: conv2d(X4, W3, stride=True), TypeError, ["conv2d", "stride must be an int", "True"]),
    (lambda: conv2d(X4, W3, padding=(1, 1, 1)), TypeError, ["conv2d", "padding must be an int or a pair"]),
    (lambda: max_pool2d(tt.randn(3, 6, 6), 2), ValueError, ["max_pool2d", "4-D input", "(3, 6, 6)"]),
    (lambda: avg_pool2d(tt.randn(1, 3, 6, 6, 1), 2), ValueError, ["avg_pool2d", "4-D input", "(1, 3, 6, 6, 1)"]),
    (lambda: max_pool2d(X4, 7), ValueError, ["max_pool2d", "kernel size (7, 7)", "padded input (6, 6)"]),
    (lambda: avg_pool2d(X4, (2, 7)), ValueError, ["avg_pool2d", "kernel size (2, 7)", "padded input (6, 6)"]),
    (lambda: max_pool2d(X4, 0), ValueError, ["max_pool2d", "kernel_size must be >= 1", "(0, 0)"]),
    (lambda: max_pool2d(X4, 2, stride=0), ValueError, ["max_pool2d", "stride must be >= 1"]),
    (lambda: avg_pool2d(X4, 2, padding=-1), ValueError, ["avg_pool2d", "padding must be >= 0"]),
    (lambda: max_pool2d(X4, 3, padding=2), ValueError, ["max_pool2d", "padding (2, 2)", "at most half",
                                                        "kernel size (3, 3)"]),
    (lambda: avg_pool2d(X4, (4, 2), padding=(2, 2)), ValueError, ["avg_pool2d", "padding (2, 2)", "at most half"]),
    (lambda: max_pool2d(X4, "2"), TypeError, ["max_pool2d", "kernel_size must be an int or a pair", "'2'"]),
    (lambda: avg_pool2d(X4, 2, stride=[1.0, 1]), TypeError, ["avg_pool2d", "stride must be an int or a pair"]),
    (lambda: max_pool2d(tt.ones(2, 3, 6, 6, dtype=np.int64), 2), TypeError, ["max_pool2d", "int64"]),
    (lambda: Conv2d(0, 4, 3), ValueError, ["Conv2d", "in_channels must be a positive integer", "0"]),
    (lambda: Conv2d(3, 2.0, 3), ValueError, ["Conv2d", "out_channels must be a positive integer", "2.0"]),
    (lambda: Conv2d(3, 4, 0), ValueError, ["Conv2d", "kernel_size must be >= 1"]),
    (lambda: Conv2d(3, 4, 3, stride=0), ValueError, ["Conv2d", "stride must be >= 1"]),
    (lambda: Conv2d(3, 4, 3, padding=-2), ValueError, ["Conv2d", "padding must be >= 0"]),
    (lambda: Conv2d(3, 4, (3, 3, 3)), TypeError, ["Conv2d", "kernel_size must be an int or a pair"]),
    # a layer's error names the layer (core/_errors.py), not the conv2d inside it
    (lambda: Conv2d(2, 4, 3)(X4), ValueError, ["Conv2d: ", "3 channels", "expects 2", "(4, 2, 3, 3)"]),
    (lambda: Conv2d(3, 4, 3)(X4.double()), TypeError, ["Conv2d: ", "float64", "float32", "model.double()"]),
    (lambda: MaxPool2d(2, padding=2), ValueError, ["MaxPool2d", "padding (2, 2)", "at most half"]),
    (lambda: AvgPool2d(3, stride=0), ValueError, ["AvgPool2d", "stride must be >= 1"]),
    (lambda: MaxPool2d(None), TypeError, ["MaxPool2d", "kernel_size must be an int or a pair", "None"]),
    (lambda: MaxPool2d(7)(X4), ValueError, ["MaxPool2d: ", "kernel size (7, 7)", "padded input"]),
    (lambda: Flatten(1.0), TypeError, ["Flatten", "start_dim and end_dim must be ints"]),
    (lambda: Flatten()(np.ones((2, 3))), TypeError, ["Flatten", "Tensor", "ndarray"]),
]


@pytest.mark.parametrize("call, exc, pieces", ERROR_CASES,
                         ids=[f"{i}-{exc.__name__}-{pieces[1]}" for i, (_, exc, pieces) in enumerate(ERROR_CASES)])
def test_argument_errors(call, exc, pieces):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    for piece in pieces:
        assert piece in str(info.value), f"{piece!r} not in {str(info.value)!r}"


def test_numpy_float_input_is_accepted():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4))
    out = max_pool2d(x, 2)
    assert out.dtype == np.float64 and np.asarray(out).tolist() == [[x[0, 0].reshape(2, 2, 2, 2)
                                                                     .max(axis=(1, 3)).tolist()]]


# ---- im2col / col2im ----------------------------------------------------------------------------

IM2COL_CONFIGS = [
    # (N, C, H, W), kernel, stride, padding
    ((2, 3, 5, 6), (3, 3), (1, 1), (0, 0)),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 0)),
    ((3, 1, 4, 4), (2, 2), (2, 2), (1, 1)),
    ((2, 2, 6, 9), (1, 4), (3, 2), (0, 2)),
    ((1, 3, 3, 3), (3, 3), (1, 1), (2, 2)),     # padding larger than half the kernel
]


def _im2col_loop(x, kernel, stride, padding, pad_value):
    """The definition, one element at a time."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = np.empty((n, c * kh * kw, oh * ow))
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    for r in range(oh):
                        for s in range(ow):
                            y, z = r * sh - ph + i, s * sw - pw + j
                            inside = 0 <= y < h and 0 <= z < w
                            cols[b, ch * kh * kw + i * kw + j, r * ow + s] = x[b, ch, y, z] if inside else pad_value
    return cols


@pytest.mark.parametrize("shape, kernel, stride, padding", IM2COL_CONFIGS)
def test_im2col_values_follow_the_definition(shape, kernel, stride, padding):
    x = np.random.default_rng(0).standard_normal(shape)
    for pad_value in (0.0, -np.inf, 2.5):
        cols = _C.im2col(tt.Tensor(x, dtype=np.float64), kernel, stride, padding, pad_value)
        np.testing.assert_array_equal(np.asarray(cols), _im2col_loop(x, kernel, stride, padding, pad_value))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape, kernel, stride, padding", IM2COL_CONFIGS)
def test_im2col_and_col2im_are_adjoint(shape, kernel, stride, padding, dtype):
    rng = np.random.default_rng(sum(shape))
    x = tt.Tensor(rng.standard_normal(shape).astype(dtype), dtype=dtype)
    cols = _C.im2col(x, kernel, stride, padding)
    c = tt.Tensor(rng.standard_normal(cols.shape).astype(dtype), dtype=dtype)
    back = _C.col2im(c, shape[2:], kernel, stride, padding)
    assert back.shape == shape and back.dtype == np.dtype(dtype)
    lhs = float(np.sum(np.asarray(cols, dtype=np.float64) * np.asarray(c, dtype=np.float64)))
    rhs = float(np.sum(np.asarray(x, dtype=np.float64) * np.asarray(back, dtype=np.float64)))
    assert lhs == pytest.approx(rhs, rel=1e-12 if dtype == np.float64 else 1e-5)
    # and col2im counts how many windows cover each pixel when fed ones
    ones = _C.col2im(tt.ones(*cols.shape, dtype=dtype), shape[2:], kernel, stride, padding)
    cover = _im2col_loop(np.arange(np.prod(shape)).reshape(shape), kernel, stride, padding, -1)
    counts = np.bincount(cover[cover >= 0].astype(np.int64), minlength=int(np.prod(shape))).reshape(shape)
    np.testing.assert_array_equal(np.asarray(ones), counts)


@pytest.mark.parametrize("call, op", [
    (lambda: _C.im2col(tt.randn(2, 3, 4), (2, 2), (1, 1), (0, 0)), "im2col"),
    (lambda: _C.col2im(tt.randn(2, 3, 4), (5, 5), (2, 2), (1, 1), (0, 0)), "col2im"),
])
def test_im2col_col2im_bad_shapes_are_value_errors_naming_the_op(call, op):
    with pytest.raises(ValueError) as info:
        call()
    assert op in str(info.value) and "(2, 3, 4)" in str(info.value)
