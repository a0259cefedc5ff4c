"""Module 01: Tensor.

`Tensor` is the C++ tensor (`tinytorch._C.Tensor`); this file adds the parts
that are naturally Python: printing, iteration, conversion to lists, the
TinyTorch `size` attribute and the autograd entry points. Indexing (t[idx]
and t[idx] = v, basic and advanced keys, recorded inside a graph),
arithmetic, views and reductions are bound in C++ (csrc/python/*_bind.cpp).
The type's other half is csrc/python/tensor_bind.cpp, which points back here.
`_as_tensor`, which layers and functions use to accept array-likes, lives here too.
"""
import numpy as np

from .. import _C
from .._C import Tensor

__all__ = ["Tensor"]


class _Size(int):
    """`t.size` is the element count (TinyTorch/numpy) and `t.size()` the shape (PyTorch)."""

    def __new__(cls, n, shape):
        obj = super().__new__(cls, n)
        obj._shape = shape
        return obj

    def __call__(self, dim=None):
        if dim is None:
            return self._shape
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size: dim must be an int or None, got {type(dim).__name__} {dim!r}")
        if not -len(self._shape) <= dim < len(self._shape):
            raise IndexError(f"size: dim {dim} is out of range for a tensor with {len(self._shape)} dimensions")
        return self._shape[dim]


def _repr(self):
    body = np.array2string(np.asarray(self), separator=", ", prefix="Tensor(")
    extras = []
    if self._numel == 0 and self.ndim != 1:  # "[]" alone hides the shape, so show it like numpy
        extras.append(f"shape={self.shape}")
    if self.dtype != np.float32:
        extras.append(f"dtype={self.dtype}")
    if self.grad_fn is not None:
        extras.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "Tensor(" + body + "".join(", " + e for e in extras) + ")"


def _len(self):
    if self.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return self.shape[0]


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into every leaf's .grad (see tinytorch.autograd.backward)."""
    from . import autograd

    autograd.backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)


class RemovableHandle:
    """Returned by register_hook; remove() unregisters the hook.

    Also a context manager, as in PyTorch: `with t.register_hook(fn): ...`
    removes the hook when the block ends.
    """

    def __init__(self, tensor, hook_id):
        self._tensor, self._id = tensor, hook_id

    def remove(self):
        if self._tensor is not None:
            _C._remove_hook(self._tensor, self._id)
            self._tensor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def _register_hook(self, fn):
    """fn(grad) runs when this tensor's gradient is computed; it may return a replacement.

    The hook is kept alive by the tensor's graph. A hook whose closure refers
    to the tensor itself (`y.register_hook(lambda g: g * y)`) makes a reference
    cycle through C++; tinytorch reports it to Python's cycle collector, which
    frees it at its next run. Capturing a detached value instead
    (`yd = y.detach(); y.register_hook(lambda g: g * yd)`) frees it at once.
    """
    return RemovableHandle(self, _C._register_hook(self, fn))


def _check_no_out(out, op):
    # numpy functions (np.prod(t), np.any(t)) pass out=None; anything else is unsupported
    if out is not None:
        raise TypeError(f"{op}: out= is not supported by tinytorch; use the returned tensor instead")


def _tolist(self):
    return np.asarray(self).tolist()


def _numel(self):
    return self._numel


def _dim(self):
    return self.ndim


def _to(self, *args, **kwargs):
    """Device moves are no-ops on this CPU-only framework; a dtype argument converts."""
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, (np.dtype, type)) or (isinstance(a, str) and a not in ("cpu",)):
            try:
                return self.astype(a)
            except TypeError:
                pass
    return self


def _logical_reduce(t, name, axis, keepdims, out):
    _check_no_out(out, name)
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"{name}: keepdims must be True or False, got {type(keepdims).__name__} {keepdims!r}")
    try:
        result = getattr(np.asarray(t), name)(axis=axis, keepdims=keepdims)
    except (TypeError, ValueError) as e:  # numpy's own message for a bad axis, under the called name
        raise TypeError(f"{name}: {e}") from None
    if axis is None and not keepdims:
        return bool(result)
    return Tensor(result)


def _any(self, axis=None, keepdims=False, *, out=None):
    """A Python bool over all elements; a bool Tensor when an axis is given (numpy's np.any(t, axis))."""
    return _logical_reduce(self, "any", axis, keepdims, out)


def _all(self, axis=None, keepdims=False, *, out=None):
    return _logical_reduce(self, "all", axis, keepdims, out)


def _copy(self):
    """A new tensor with its own memory, outside any graph: numpy's ndarray.copy().

    TinyTorch code snapshots gradients with `before = p.grad.copy()`; unlike
    clone() the copy is detached, as a numpy copy has no history.
    """
    return self.detach().clone()


_methods = {
    "__repr__": _repr,
    "copy": _copy,
    "__str__": _repr,
    "__len__": _len,
    "__iter__": _iter,
    "backward": _backward,
    "register_hook": _register_hook,
    "tolist": _tolist,
    "numel": _numel,
    "dim": _dim,
    "to": _to,
    "cpu": lambda self: self,
    "any": _any,
    "all": _all,
    "size": property(lambda self: _Size(self._numel, self.shape)),
    "device": property(lambda self: "cpu"),
    # numpy defers to our reflected operators (np_array + tensor -> Tensor.__radd__),
    # while numpy functions (np.abs(t), np.allclose(t, ...)) still accept tensors via __array__.
    "__array_priority__": 1000,
}
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)


# ---- accepting array-likes where a Tensor is expected ------------------------------
def _as_tensor(x, caller):
    """`x` itself when it is a Tensor, else `Tensor(x)` (the constructor's dtype rules: Python
    numbers and lists become float32, numpy arrays keep their dtype). Layers, losses and the
    functions below call it on their inputs; data the constructor refuses raises its error under
    `caller`, the name the user called (`ReLU: cannot make a tensor from str_ data ...`)."""
    if isinstance(x, Tensor):
        return x
    try:
        return Tensor(x)
    except (TypeError, ValueError) as e:
        message = str(e)
        raise type(e)(f"{caller}: {message.removeprefix('Tensor: ')}") from None
