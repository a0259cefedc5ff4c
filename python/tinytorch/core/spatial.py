"""Module 09: spatial. `Conv2d`, `MaxPool2d`, `AvgPool2d` and `Flatten`, plus their functional forms.

`conv2d` and `max_pool2d` run fused C++ ops (`_C.conv2d`, csrc/ops/conv.cpp:
a few large GEMMs per batch, one Conv2dBackward node; `_C.max_pool2d`,
csrc/ops/pool.cpp, for 2x2 windows of stride 2, where it measured faster). While a course override is active they take the composed
path below instead, so a student's ops really run; the composed path is also
the reference the fused ops are tested against. `avg_pool2d`, and the
composed paths, are im2col followed by ordinary tensor ops, so autograd (and
double backward) comes for free from the differentiable C++ ops:

* `_C.im2col(x, kernel, stride, padding)` turns (N, C, H, W) into columns
  (N, C*kh*kw, OH*OW): column l holds the C*kh*kw input values under the
  kernel at output position l (its backward is `_C.col2im`, which sums the
  gradients of overlapping windows back into the image);
* convolution is then one matrix product, weight (O, C*kh*kw) @ columns;
* pooling treats every channel as its own one-channel image and reduces
  each column with max (windows padded with -inf) or mean (padded with 0,
  which counts, as in PyTorch's default count_include_pad=True).

Shapes follow PyTorch: weights (out_channels, in_channels, kh, kw) and
OH = (H + 2*ph - kh) // sh + 1 (the same for W).
"""
import math
import numbers

import numpy as np

from .. import _C
from . import overrides as _overrides
from ._sizes import positive_int
from .module import Module
from .tensor import Tensor
from ._errors import names_the_layer

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "conv2d", "max_pool2d", "avg_pool2d"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _pair(value, name, op):
    """An int or a pair of ints as a (height, width) tuple; TypeError for anything else."""
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints (height, width), got {value!r}")


def _window_args(op, kernel_size, stride, padding, default_stride=None):
    """Checked (kernel, stride, padding) pairs; stride=None means default_stride (pooling: the kernel)."""
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = default_stride if stride is None and default_stride is not None else _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    if min(kernel) < 1:
        raise ValueError(f"{op}: kernel_size must be >= 1, got {kernel}")
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    return kernel, stride, padding


def _check_input(op, x):
    """x as a float Tensor of rank 4 (N, C, H, W)."""
    if not isinstance(x, Tensor):
        if isinstance(x, np.ndarray):
            x = Tensor(x, dtype=x.dtype if x.dtype in _FLOATS else None)
        else:
            raise TypeError(f"{op}: input must be a Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{op}: input must be float32 or float64, got {x.dtype}; convert it with x.astype(np.float32)")
    if x.ndim != 4:
        hint = " (add a batch dimension: x.reshape(1, C, H, W))" if x.ndim == 3 else ""
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}{hint}")
    return x


def _output_size(op, shape, kernel, stride, padding):
    """(OH, OW) for an (N, C, H, W) input; ValueError when the kernel does not fit the padded input."""
    h, w = shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(f"{op}: kernel size {kernel} is larger than the padded input ({h}, {w}) "
                         f"(input shape {tuple(shape)}, padding {padding}); use a smaller kernel or more padding")
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation, as torch.nn.functional.conv2d (no dilation or groups).

    x: (N, C, H, W); weight: (O, C, kh, kw); bias: (O,) or None.
    Returns (N, O, OH, OW), OH = (H + 2*ph - kh) // sh + 1.
    """
    x = _check_input("conv2d", x)
    if not isinstance(weight, Tensor):
        raise TypeError(f"conv2d: weight must be a Tensor of shape (out_channels, in_channels, kh, kw), "
                        f"got {type(weight).__name__}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape "
                         f"{tuple(weight.shape)}")
    out_channels, in_channels, kh, kw = weight.shape
    if x.shape[1] != in_channels:
        raise ValueError(f"conv2d: the input has {x.shape[1]} channels (shape {tuple(x.shape)}) but the weight "
                         f"expects {in_channels} (shape {tuple(weight.shape)})")
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; use one dtype "
                        f"(e.g. model.double() for float64 inputs)")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"conv2d: bias must be a Tensor of shape ({out_channels},) or None, "
                            f"got {type(bias).__name__}")
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(f"conv2d: bias must have shape ({out_channels},) for weight of shape "
                             f"{tuple(weight.shape)}, got {tuple(bias.shape)}")
        if bias.dtype != x.dtype:
            raise TypeError(f"conv2d: input is {x.dtype} but bias is {bias.dtype}; use one dtype")
    kernel, stride, padding = _window_args("conv2d", (kh, kw), stride, padding)
    oh, ow = _output_size("conv2d", x.shape, kernel, stride, padding)
    if not _overrides.active():  # the fused op (csrc/ops/conv.cpp); a student's ops need the composed path
        return _C.conv2d(x, weight, bias, stride, padding)
    cols = _C.im2col(x, kernel, stride, padding)                  # (N, C*kh*kw, OH*OW)
    out = weight.reshape(out_channels, -1) @ cols                  # (N, O, OH*OW): one batched GEMM
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1)
    return out.reshape(x.shape[0], out_channels, oh, ow)


def _pool(op, x, kernel_size, stride, padding, pad_value, reduce, fused=None):
    x = _check_input(op, x)
    kernel = _pair(kernel_size, "kernel_size", op)
    kernel, stride, padding = _window_args(op, kernel, stride, padding, default_stride=kernel)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel} "
                         f"(as in PyTorch: a window could otherwise lie entirely in the padding)")
    n, c, h, w = x.shape
    if h == 0 or w == 0:  # as PyTorch: every window would lie entirely in the padding (-inf for max)
        raise ValueError(f"{op}: the input's height and width must be at least 1, got shape {tuple(x.shape)}")
    oh, ow = _output_size(op, x.shape, kernel, stride, padding)
    # The fused kernel where it measured faster (benchmarks/bench_conv.py: the 2x2, stride 2, unpadded
    # window of a CNN's MaxPool2d(2)); elsewhere im2col + max was faster. A student's ops need the
    # composed path too.
    if fused is not None and kernel == stride == (2, 2) and padding == (0, 0) and not _overrides.active():
        return fused(x, kernel, stride, padding)
    # Each channel pooled as its own one-channel image: columns (N*C, kh*kw, OH*OW).
    cols = _C.im2col(x.reshape(n * c, 1, h, w), kernel, stride, padding, pad_value)
    return reduce(cols).reshape(n, c, oh, ow)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over each kernel window, as torch.nn.functional.max_pool2d; stride defaults to kernel_size.

    Padding is -inf, so it never wins. At ties the gradient is shared equally
    among the tied elements (PyTorch gives it all to the first one).
    """
    return _pool("max_pool2d", x, kernel_size, stride, padding, -math.inf, lambda cols: cols.max(axis=1),
                 fused=_C.max_pool2d)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each kernel window, as torch.nn.functional.avg_pool2d; stride defaults to kernel_size.

    Zero padding counts in the mean (PyTorch's default count_include_pad=True).
    """
    return _pool("avg_pool2d", x, kernel_size, stride, padding, 0.0, lambda cols: cols.mean(axis=1))


def _check_count(value, what, layer):
    return positive_int(value, what, layer)


class Conv2d(Module):
    """2-D convolution layer: `Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)`.

    weight: (out_channels, in_channels, kh, kw) and bias: (out_channels,),
    both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in =
    in_channels * kh * kw, PyTorch's default (reproducible with
    tinytorch.manual_seed).
    """

    @names_the_layer
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        in_channels = _check_count(in_channels, "in_channels", "Conv2d")
        out_channels = _check_count(out_channels, "out_channels", "Conv2d")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size, self.stride, self.padding = _window_args("Conv2d", kernel_size, stride, padding)
        kh, kw = self.kernel_size
        bound = 1.0 / math.sqrt(self.in_channels * kh * kw)
        weight = (_C.rand(self.out_channels, self.in_channels, kh, kw) * 2.0 - 1.0) * bound
        weight.requires_grad = True
        self.weight = weight
        if bias:
            b = (_C.rand(self.out_channels) * 2.0 - 1.0) * bound
            b.requires_grad = True
            self.bias = b
        else:
            self.bias = None

    @names_the_layer
    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    _op = None

    @names_the_layer
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        kernel = _pair(kernel_size, "kernel_size", name)
        self.kernel_size, self.stride, self.padding = _window_args(name, kernel, stride, padding,
                                                                   default_stride=kernel)
        if self.padding[0] > kernel[0] // 2 or self.padding[1] > kernel[1] // 2:
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel size {kernel} "
                             f"(as in PyTorch)")

    @names_the_layer
    def forward(self, x):
        return type(self)._op(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling: `MaxPool2d(kernel_size, stride=None, padding=0)`; stride defaults to kernel_size."""
    _op = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """Average pooling: `AvgPool2d(kernel_size, stride=None, padding=0)`; zero padding counts in the mean."""
    _op = staticmethod(avg_pool2d)


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default, as torch.nn.Flatten."""

    @names_the_layer
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        if not _is_int(start_dim) or not _is_int(end_dim):
            raise TypeError(f"Flatten: start_dim and end_dim must be ints, got {start_dim!r} and {end_dim!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    @names_the_layer
    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"Flatten: input must be a Tensor, got {type(x).__name__}")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
