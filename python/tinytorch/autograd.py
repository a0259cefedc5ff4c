"""Module 05: autograd, the Python face of the C++ engine (csrc/autograd).

backward()/grad() hand the graph to the C++ engine; no_grad/enable_grad
switch its thread-local grad mode; Function lets students write an op with
their own backward that the engine calls in order with the C++ nodes;
gradcheck compares gradients against central finite differences.
"""
import functools
import threading

import numpy as np

from . import _C
from ._C import Tensor

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "Function", "gradcheck",
           "gradgradcheck", "detect_anomaly", "GradcheckError"]


def _seed(output, gradient, name="backward"):
    if gradient is None:
        if output._numel != 1:
            raise RuntimeError(
                f"{name}: grad can be implicitly created only for scalar outputs, but the output has shape "
                f"{output.shape}; pass gradient= (a tensor of that shape) to backward()")
        return None
    if isinstance(gradient, Tensor):
        g = gradient
    else:
        g = Tensor(np.asarray(gradient, dtype=output.dtype) if not np.isscalar(gradient)
                   else np.full(output.shape, gradient, dtype=output.dtype), dtype=output.dtype)
    if g.shape != output.shape:
        if g._numel == 1 and output._numel == 1:
            g = g.reshape(*output.shape)
        else:
            raise ValueError(f"{name}: gradient has shape {g.shape} but the output has shape {output.shape}; "
                             "the seed gradient must match the output's shape")
    return g


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of `tensors` into the .grad of the leaves (PyTorch semantics)."""
    outs = _as_list(tensors)
    seeds = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(o, g) for o, g in zip(outs, seeds)]
    if inputs is not None:
        grads = _C._run_backward(outs, seeds, retain_graph, create_graph, _as_list(inputs), True)
        for t, g in zip(_as_list(inputs), grads):
            if g is not None:
                t.grad = g if t.grad is None else (t.grad + g)
        return
    _C._run_backward(outs, seeds, retain_graph, create_graph, [], False)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated into .grad)."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    seeds = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(o, g, "grad") for o, g in zip(outs, seeds)]
    return tuple(_C._run_backward(outs, seeds, retain_graph, create_graph, ins, allow_unused))


class _GradModeContext:
    """Base of no_grad/enable_grad: a context manager and a decorator; thread-local."""

    enabled = True

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Ops inside record no graph (and cost nothing extra)."""
    enabled = False


class enable_grad(_GradModeContext):
    """Re-enables recording inside a no_grad block."""
    enabled = True


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode):
        self.enabled = bool(mode)
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self.enabled)

    def __enter__(self):
        return self

    def __call__(self, fn):
        raise TypeError("set_grad_enabled(mode) is a context manager, not a decorator")


class detect_anomaly:
    """Inside this block a backward producing NaN/Inf raises, naming the node and where its op was created."""

    def __enter__(self):
        self._prev = _C._is_anomaly_enabled()
        _C._set_anomaly_enabled(True)
        return self

    def __exit__(self, *exc):
        _C._set_anomaly_enabled(self._prev)
        return False


# ---- custom functions ---------------------------------------------------------

class FunctionCtx:
    """The `ctx` a Function's forward and backward share."""

    def __init__(self):
        self._saved = ()
        self._released = False
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self._saved = tuple(tensors)
        self._versions = tuple(t._version if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed). Specify retain_graph=True on the "
                               "first backward() call if you need to backward through the graph again.")
        for i, (t, v) in enumerate(zip(self._saved, getattr(self, "_versions", ()))):
            if v is not None and t._version != v:
                raise RuntimeError(f"one of the tensors needed for gradient computation has been modified by an "
                                   f"in-place operation: saved tensor {i} of shape {t.shape} is at version "
                                   f"{t._version}; expected version {v}")
        return self._saved

    def _release(self):
        self._saved = ()
        self._released = True


class Function:
    """Write an op with its own backward:

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x
            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return grad * 2 * x

        y = Square.apply(x)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses must implement forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must implement backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        for o in outputs:
            if not isinstance(o, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got {type(o).__name__}")
        if _C.is_grad_enabled() and any(ctx.needs_input_grad):
            # Outputs that alias an input get their own tensor object so the input keeps its history.
            outputs = tuple(o.detach() if any(o is a for a in args) else o for o in outputs)
            _C._record_function(cls.backward, ctx, cls.__name__ + "Backward", list(args), list(outputs))
        return outputs[0] if single else outputs


# ---- numerical gradient checks ----------------------------------------------------

class GradcheckError(AssertionError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _numerical_jacobian_column(fn, inputs, i, eps):
    x = np.asarray(inputs[i])
    flat = x.reshape(-1)
    cols = []
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        plus = np.asarray(fn(*inputs), dtype=np.float64).copy()
        flat[j] = orig - eps
        minus = np.asarray(fn(*inputs), dtype=np.float64).copy()
        flat[j] = orig
        cols.append(((plus - minus) / (2 * eps)).reshape(-1))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check fn's analytical gradients against central finite differences (float64 inputs).

    Every output element is back-propagated on its own, giving the full
    Jacobian, which is compared with the numerical one element by element.
    """
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in diff_idx:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs for finite differences")
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    for k, o in enumerate(outs):
        n_out = o._numel
        for i in diff_idx:
            with no_grad():
                numerical = _numerical_jacobian_column(lambda *a: fn(*a)[k] if isinstance(out, tuple) else fn(*a),
                                                       inputs, i, eps)
            analytical = np.zeros((n_out, inputs[i]._numel))
            for r in range(n_out):
                seed = np.zeros(n_out)
                seed[r] = 1.0
                g = grad(o, inputs[i], grad_outputs=Tensor(seed.reshape(o.shape), dtype=o.dtype),
                         retain_graph=True, allow_unused=True)[0]
                if g is not None:
                    analytical[r] = np.asarray(g, dtype=np.float64).reshape(-1)
            bad = ~np.isclose(analytical, numerical, atol=atol, rtol=rtol)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                msg = (f"gradcheck: Jacobian mismatch for output {k} with respect to input {i}: "
                       f"element {np.unravel_index(c, inputs[i].shape)} of the input, output element {r}: "
                       f"numerical {numerical[r, c]:.8g} vs analytical {analytical[r, c]:.8g}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Check second derivatives: gradcheck of the (create_graph) gradient of fn against random weights."""
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    out0 = fn(*inputs)
    rng = np.random.default_rng(seed)
    w = Tensor(rng.standard_normal(out0.shape), dtype=np.float64)

    def first_grads(*xs):
        out = fn(*xs)
        d = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        gs = grad(out, d, grad_outputs=w, create_graph=True, allow_unused=True)
        gs = [g if g is not None else Tensor(np.zeros(x.shape), dtype=np.float64) for g, x in zip(gs, d)]
        total = None
        for g in gs:
            s = g.reshape(-1)
            total = s if total is None else _C.cat([total, s], 0)
        return total

    del diff
    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)


_ = threading  # grad mode is thread-local in C++ (csrc/autograd/grad_mode.h)
