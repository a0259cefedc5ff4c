"""Module 03: layers. `Linear`, `Dropout` and `Sequential`, plus the `Module` base.

`Linear.weight` has shape (in_features, out_features), TinyTorch's layout,
so the layer computes y = x @ W + b. The product runs in C++ as one GEMM
over all leading dims of x, with one fused backward node: the op is
csrc/autograd/fused_ops.cpp (`linear`), its kernels csrc/ops/linear_kernels.cpp,
its node LinearBackward csrc/autograd/fused_backward.cpp.
"""
import math
import numbers

from .. import _C
from . import overrides as _overrides
from ._sizes import positive_int
from .module import IncompatibleKeys, Layer, Module, Parameter
from .tensor import Tensor, _as_tensor
from ._errors import names_the_layer

__all__ = ["Module", "Layer", "Parameter", "IncompatibleKeys", "Linear", "Dropout", "Sequential",
           "XAVIER_SCALE_FACTOR", "HE_SCALE_FACTOR", "DROPOUT_MIN_PROB", "DROPOUT_MAX_PROB"]

XAVIER_SCALE_FACTOR = 1.0  # Xavier/Glorot-style: weights ~ N(0, 1/fan_in)
HE_SCALE_FACTOR = 2.0      # He: N(0, 2/fan_in), for ReLU networks
DROPOUT_MIN_PROB = 0.0
DROPOUT_MAX_PROB = 1.0


def _check_size(value, what, layer):
    return positive_int(value, what, layer)  # numpy integers too, like PyTorch


class Linear(Module):
    """y = x @ weight + bias, for x of shape (..., in_features).

    weight: (in_features, out_features), drawn from N(0, 1/in_features)
    (TinyTorch's Xavier scaling; reproducible with tinytorch.manual_seed).
    bias: (out_features,) zeros, or None with bias=False.
    """

    @names_the_layer
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        in_features = _check_size(in_features, "in_features", "Linear")
        out_features = _check_size(out_features, "out_features", "Linear")
        self.in_features = in_features
        self.out_features = out_features
        scale = math.sqrt(XAVIER_SCALE_FACTOR / in_features)
        weight = _C.randn(in_features, out_features) * scale
        weight.requires_grad = True
        self.weight = weight
        self.bias = _C.zeros(out_features, requires_grad=True) if bias else None

    @names_the_layer
    def forward(self, x):
        if _overrides.active():  # a student's Matmul is swapped in: compose, so their op really runs
            y = _as_tensor(x, "Linear") @ self.weight
            return y if self.bias is None else y + self.bias
        return _C._nn_linear(_as_tensor(x, "Linear"), self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Dropout(Module):
    """Zeroes each element with probability p while training and scales the rest by 1/(1-p).

    `forward(x, training=None)`: None follows the module's mode (`train()` /
    `eval()`); True or False overrides it for this call (TinyTorch's signature).
    In evaluation mode the input is returned unchanged.
    """

    @names_the_layer
    def __init__(self, p=0.5):
        super().__init__()
        # numpy scalars too (np.float32(0.1) from a config array), as PyTorch accepts them
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not DROPOUT_MIN_PROB <= p <= DROPOUT_MAX_PROB:
            raise ValueError(f"Dropout probability must be between {DROPOUT_MIN_PROB} and {DROPOUT_MAX_PROB}, got {p!r}")
        self.p = float(p)

    @names_the_layer
    def forward(self, x, training=None):
        if training is None:
            training = self.training
        return _C.dropout(_as_tensor(x, "Dropout"), self.p, bool(training))

    def extra_repr(self):
        return f"p={self.p}"


class Sequential(Module):
    """Applies its layers in order: `Sequential(Linear(2, 4), ReLU(), Linear(4, 1))`.

    A single list argument also works (`Sequential([l1, l2])`).
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} ({type(layer).__name__}) is not callable")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def add(self, layer):
        """Appends a layer (TinyTorch's Sequential.add)."""
        self.layers.append(layer)
        return self

    append = add

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(self.layers[i])
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)
