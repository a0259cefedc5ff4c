"""Module 01: Tensor.

`Tensor` is the C++ tensor (`tinytorch._C.Tensor`); this file adds the parts
that are naturally Python: printing, iteration, conversion to lists, the
TinyTorch `size` attribute, advanced (integer-array / mask) indexing and the
autograd entry points. Arithmetic, views and reductions are bound in C++:
the type's other half is csrc/python/tensor_bind.cpp, which points back here.
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
        return self._shape if dim is None else self._shape[dim]


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


def _advanced_getitem(t, key):
    """Integer-array and boolean-mask indexing, differentiable through `take`.

    numpy computes which flat positions the key selects (on an index grid),
    and `take` gathers them, so gradients scatter back correctly (repeated
    indices accumulate).
    """
    key = _to_numpy_key(key)
    positions = np.arange(t._numel, dtype=np.int64).reshape(t.shape)[key]
    return _C.take(t, Tensor(np.ascontiguousarray(positions), dtype=np.int64))


def _advanced_setitem(t, key, value):
    np.asarray(t)[_to_numpy_key(key)] = np.asarray(value)


_cpp_setitem = Tensor.__setitem__  # the C++ assignment (basic keys; advanced ones call back below)


def _setitem(self, key, value):
    """t[key] = value. Inside a graph (t or value requires grad, grad mode on)
    the assignment is recorded, as PyTorch does: afterwards t is
    where(selected, value, old t), so the old t gets zero gradient where it
    was overwritten and value the gradient of the positions it filled. Writing
    into a leaf that requires grad is refused (use no_grad() for that)."""
    if _C.is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)) \
            and not (self.requires_grad and self.is_leaf):
        _recorded_setitem(self, key, value)
    else:
        _cpp_setitem(self, key, value)


def _recorded_setitem(t, key, value):
    positions = np.arange(t._numel, dtype=np.int64).reshape(t.shape)[_to_numpy_key(key)]
    target_shape = positions.shape
    flat = np.ascontiguousarray(positions).reshape(-1)
    if np.unique(flat).size != flat.size:
        raise RuntimeError("Tensor.__setitem__: the index selects some elements more than once; assigning to repeated "
                           "positions is ambiguous and not differentiable (use tinytorch.index_add or "
                           "tinytorch.where instead)")
    v = value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=t.dtype), dtype=t.dtype)
    if v.dtype != t.dtype:
        v = v.astype(t.dtype)
    if v.shape != target_shape:
        v = v.expand(*target_shape)
    placed = _C.index_add(_C.zeros(t._numel, dtype=t.dtype), 0, Tensor(flat, dtype=np.int64), v.reshape(-1))
    mask = np.zeros(t._numel, dtype=bool)
    mask[flat] = True
    updated = _C.where(Tensor(mask.reshape(t.shape)), placed.reshape(*t.shape), t)
    _cpp_setitem(t, Ellipsis, updated.detach())  # the write itself (bumps the version counter)
    _C._rebase_history(t, updated)


def _to_numpy_key(key):
    def conv(k):
        if isinstance(k, Tensor):
            return np.asarray(k)
        if isinstance(k, list):
            return np.asarray(k)
        return k

    if isinstance(key, tuple):
        return tuple(conv(k) for k in key)
    return conv(key)


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


def _requires_grad_(self, requires_grad=True):
    self.requires_grad = requires_grad
    return self


def _check_no_out(out, op):
    # numpy functions (np.prod(t), np.any(t)) pass out=None; anything else is unsupported
    if out is not None:
        raise TypeError(f"{op}: out= is not supported by tinytorch; use the returned tensor instead")


def _prod(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
    """Product over `axis` (all axes when None), differentiable (ProdBackward handles zeros)."""
    _check_no_out(out, "prod")
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return _C._prod(self if dtype is None else self.astype(dtype), axis, keepdims)


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


def _any(self, axis=None, keepdims=False, *, out=None):
    """A Python bool over all elements; a bool Tensor when an axis is given (numpy's np.any(t, axis))."""
    _check_no_out(out, "any")
    if axis is None and not keepdims:
        return bool(np.asarray(self).any())
    return Tensor(np.asarray(self).any(axis=axis, keepdims=keepdims))


def _all(self, axis=None, keepdims=False, *, out=None):
    _check_no_out(out, "all")
    if axis is None and not keepdims:
        return bool(np.asarray(self).all())
    return Tensor(np.asarray(self).all(axis=axis, keepdims=keepdims))


def _copy(self):
    """A new tensor with its own memory, outside any graph: numpy's ndarray.copy().

    TinyTorch code snapshots gradients with `before = p.grad.copy()`; unlike
    clone() the copy is detached, as a numpy copy has no history.
    """
    return self.detach().clone()


def _fill(self, value):
    """numpy's in-place ndarray.fill(value) (returns None); fill_ is the PyTorch spelling."""
    self.fill_(value)


_methods = {
    "__repr__": _repr,
    "copy": _copy,
    "fill": _fill,
    "__str__": _repr,
    "__len__": _len,
    "__iter__": _iter,
    "backward": _backward,
    "register_hook": _register_hook,
    "__setitem__": _setitem,
    "requires_grad_": _requires_grad_,
    "tolist": _tolist,
    "prod": _prod,
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

_C._set_advanced_indexing(_advanced_getitem, _advanced_setitem)


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


# ---- module-level reductions: tinytorch.sum(x, axis=...) as numpy/torch spell them ----
def _reduction(name):
    def fn(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return getattr(_as_tensor(x, name), name)(axis, keepdims, dim=dim, keepdim=keepdim)
    fn.__name__ = name
    fn.__doc__ = f"tinytorch.{name}(x, axis=None, keepdims=False): same as x.{name}(...)."
    return fn


sum = _reduction("sum")  # noqa: A001
mean = _reduction("mean")
max = _reduction("max")  # noqa: A001
min = _reduction("min")  # noqa: A001
prod = _reduction("prod")
argmax = _reduction("argmax")
argmin = _reduction("argmin")


def var(x, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None):
    """Variance with numpy's default ddof=0 (pass ddof=1 for the unbiased estimate PyTorch uses)."""
    return _as_tensor(x, "var").var(axis, ddof, keepdims, dim=dim, keepdim=keepdim)


def std(x, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None):
    """Standard deviation with numpy's default ddof=0."""
    return _as_tensor(x, "std").std(axis, ddof, keepdims, dim=dim, keepdim=keepdim)
