"""Module 02: activations, as modules (`ReLU()(x)`) over the C++ elementwise kernels.

Every activation is differentiable (its backward rule lives in
csrc/autograd/backward.h) and works on tensors of any shape.
"""
from .. import _C
from .module import Module
from .tensor import _as_tensor

__all__ = ["ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """max(0, x)."""

    def forward(self, x):
        return _C.relu(_as_tensor(x, "ReLU"))


class Sigmoid(Module):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    def forward(self, x):
        return _C.sigmoid(_as_tensor(x, "Sigmoid"))


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return _C.tanh(_as_tensor(x, "Tanh"))


class GELU(Module):
    """x * Phi(x), the smooth ReLU of transformers.

    approximate='tanh' (default, as GPT-2 and the fused MLP use):
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), identical to
    torch.nn.GELU(approximate='tanh'); approximate='none' uses the exact erf form.
    """

    def __init__(self, approximate="tanh"):
        super().__init__()
        if approximate not in ("tanh", "none"):
            raise ValueError(f"GELU: approximate must be 'tanh' or 'none', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return _C.gelu(_as_tensor(x, "GELU"), self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim` (numerically stable: the max is subtracted first).

    `Softmax(dim=-1)(x)`; TinyTorch's `Softmax().forward(x, dim)` also works.
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x, dim=None):
        return _C.softmax(_as_tensor(x, "Softmax"), self.dim if dim is None else dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim`, computed as x - logsumexp(x) (stable)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x, dim=None):
        return _C.log_softmax(_as_tensor(x, "LogSoftmax"), self.dim if dim is None else dim)

    def extra_repr(self):
        return f"dim={self.dim}"
