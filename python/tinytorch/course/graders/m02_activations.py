"""Grader for module 02: ReLU, Sigmoid, Tanh, GELU (tanh form) and Softmax, their values and derivatives,
against the engine's kernels and the engine's backward rules, in float32 and float64, on transposed
inputs, at extreme values (no overflow warnings), and against finite differences of the student's own forward."""
import warnings

import numpy as np

import tinytorch as tt
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("02")

_XS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
_TOL = {tt.float64: (1e-10, 1e-12), tt.float32: (2e-5, 1e-6)}


def _inputs(seed):
    """(description, Tensor) pairs: fixed points, random float32/float64 of several shapes, a transposed view."""
    rng = np.random.default_rng(seed)
    out = [("xs float64", tt.Tensor(_XS, dtype=tt.float64)), ("xs float32", tt.Tensor(_XS, dtype=tt.float32))]
    for shape in [(10,), (4, 5), (2, 3, 4)]:
        for dtype in (tt.float64, tt.float32):
            out.append((f"random {shape} {dtype}", tt.Tensor(rng.standard_normal(shape) * 3, dtype=dtype)))
    out.append(("a transposed (5, 4) float64 view", tt.Tensor(rng.standard_normal((4, 5)), dtype=tt.float64).T))
    return out


def _call(fn, name, x, *args):
    got = fn(x, *args)
    if not isinstance(got, tt.Tensor):
        raise GradingError(f"{name} returned {type(got).__name__}; return a tinytorch Tensor "
                           "(tt.Tensor(result, dtype=dtype))")
    if tuple(got.shape) != tuple(x.shape):
        raise GradingError(f"{name}(x of shape {tuple(x.shape)}) returned shape {tuple(got.shape)}")
    if got.dtype != x.dtype:
        raise GradingError(f"{name}(x of dtype {x.dtype}) returned dtype {got.dtype}; keep the input's dtype")
    return got


def _engine_derivative(engine_fn, x):
    t = tt.Tensor(np.array(np.asarray(x)), dtype=x.dtype, requires_grad=True)
    engine_fn(t).sum().backward()
    return np.asarray(t.grad)


def _compare_pair(ns, name, engine_fn, seed):
    fwd, der = ns[name], ns[name + "_grad"]
    for what, x in _inputs(seed):
        rtol, atol = _TOL[x.dtype]
        close(_call(fwd, name, x), engine_fn(x), f"{name}({what})", rtol=rtol, atol=atol)
        close(_call(der, name + "_grad", x), _engine_derivative(engine_fn, x),
              f"{name}_grad({what}) against the engine's backward", rtol=rtol, atol=atol)


def _no_overflow(fn, name, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return as_array(fn(x), name)
        except RuntimeWarning as w:
            raise GradingError(f"{name} at extreme inputs {np.asarray(x).tolist()} raised numpy's warning "
                               f"'{w}': exp overflowed; arrange the formula so exp only sees numbers <= 0")


@grader.check(points=1, needs=["relu", "relu_grad"], hint="relu = np.maximum(v, 0); relu_grad = (v > 0) as floats")
def relu_matches_engine(ns):
    got = as_array(ns["relu_grad"](tt.Tensor([-1.0, 0.0, 2.0])), "relu_grad")
    if got.tolist() != [0.0, 0.0, 1.0]:
        raise GradingError(f"relu_grad([-1, 0, 2]) returned {got.tolist()}, expected [0, 0, 1] (0 at x = 0)")
    _compare_pair(ns, "relu", tt.relu, 20)


@grader.check(points=2, needs=["sigmoid", "sigmoid_grad"],
              hint="use exp(-|x|) in both branches: 1/(1+z) for x >= 0, z/(1+z) for x < 0; grad = s (1 - s)")
def sigmoid_matches_engine_without_overflow(ns):
    _compare_pair(ns, "sigmoid", tt.sigmoid, 21)
    for dtype in (tt.float32, tt.float64):
        x = tt.Tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype)
        close(_no_overflow(ns["sigmoid"], "sigmoid", x), np.asarray(tt.sigmoid(x)), f"sigmoid(±1000, {dtype})",
              atol=1e-30)
        close(_no_overflow(ns["sigmoid_grad"], "sigmoid_grad", x), _engine_derivative(tt.sigmoid, x),
              f"sigmoid_grad(±1000, {dtype})", atol=1e-30)


@grader.check(points=1, needs=["tanh", "tanh_grad"], hint="np.tanh; derivative 1 - tanh(x)**2")
def tanh_matches_engine(ns):
    _compare_pair(ns, "tanh", tt.tanh, 22)
    x = tt.Tensor([-1000.0, 1000.0], dtype=tt.float32)
    close(_no_overflow(ns["tanh"], "tanh", x), [-1.0, 1.0], "tanh(±1000)")


@grader.check(points=2, needs=["gelu", "gelu_grad"],
              hint="the TANH form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); differentiate with the product "
                   "and chain rules")
def gelu_matches_engine(ns):
    close(_call(ns["gelu"], "gelu", tt.Tensor([0.0, 1.0], dtype=tt.float64)), [0.0, 0.8411919906082768],
          "gelu([0, 1]) (tanh form)", rtol=1e-12)
    _compare_pair(ns, "gelu", tt.gelu, 23)


def _softmax_cases(seed):
    rng = np.random.default_rng(seed)
    out = []
    for shape, axis in [((5,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -3), ((2, 3, 4), 2)]:
        for dtype in (tt.float64, tt.float32):
            out.append((f"{shape} {dtype} axis={axis}", tt.Tensor(rng.standard_normal(shape) * 4, dtype=dtype), axis))
    out.append(("a transposed (4, 3) view axis=-1", tt.Tensor(rng.standard_normal((3, 4)), dtype=tt.float64).T, -1))
    return out


@grader.check(points=2, needs=["softmax"],
              hint="subtract the max along the axis before exp: exp(v - v.max(axis, keepdims=True))")
def softmax_matches_engine_and_is_stable(ns):
    sm = ns["softmax"]
    close(_call(sm, "softmax", tt.Tensor([0.0, np.log(3.0)], dtype=tt.float64)), [0.25, 0.75], "softmax([0, ln 3])",
          rtol=1e-12)
    for what, x, axis in _softmax_cases(24):
        rtol, atol = _TOL[x.dtype]
        close(_call(sm, "softmax", x, axis), tt.softmax(x, axis), f"softmax({what})", rtol=rtol, atol=atol)
    for dtype in (tt.float32, tt.float64):
        big = tt.Tensor([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]], dtype=dtype)
        got = _no_overflow(lambda x: sm(x, -1), "softmax", big)
        if not np.all(np.isfinite(got)):
            raise GradingError(f"softmax of logits near ±1000 ({dtype}) gave {got.tolist()}: subtract the max first")
        close(got, tt.softmax(big, -1), f"softmax(logits near ±1000, {dtype})", rtol=1e-5, atol=1e-7)


@grader.check(points=2, needs=["softmax_grad"],
              hint="dx = s * (g - sum(g * s, axis, keepdims=True)) with s = softmax(x, axis)")
def softmax_grad_matches_engine_backward(ns):
    sg = ns["softmax_grad"]
    rng = np.random.default_rng(25)
    for what, x, axis in _softmax_cases(25):
        g = rng.standard_normal(tuple(x.shape))
        t = tt.Tensor(np.array(np.asarray(x)), dtype=x.dtype, requires_grad=True)
        (tt.softmax(t, axis) * tt.Tensor(g, dtype=x.dtype)).sum().backward()
        rtol, atol = _TOL[x.dtype]
        got = sg(x, g, axis)
        if not isinstance(got, tt.Tensor):
            raise GradingError(f"softmax_grad returned {type(got).__name__}; return a tinytorch Tensor")
        close(got, t.grad, f"softmax_grad({what}, random g) against the engine's backward", rtol=rtol, atol=max(atol, 1e-7))
    # g = ones: the outputs always sum to one, so the gradient is exactly zero
    close(sg(tt.Tensor(rng.standard_normal((3, 4)), dtype=tt.float64), np.ones((3, 4)), -1), np.zeros((3, 4)),
          "softmax_grad(x, ones)", atol=1e-14)
    big = tt.Tensor([[1000.0, 1001.0, 999.0]], dtype=tt.float64)
    close(_no_overflow(lambda x: sg(x, np.array([[1.0, 0.0, 0.0]]), -1), "softmax_grad", big),
          sg(tt.Tensor([[1.0, 2.0, 0.0]], dtype=tt.float64), np.array([[1.0, 0.0, 0.0]]), -1),
          "softmax_grad at logits near 1000 (shift invariance)", rtol=1e-9)


@grader.check(points=2, needs=["relu", "relu_grad", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "gelu",
                               "gelu_grad", "softmax", "softmax_grad"],
              hint="each derivative must be the derivative of YOUR forward: compare them with (f(x+h)-f(x-h))/2h")
def derivatives_are_derivatives_of_the_forwards(ns):
    """Central differences of the student's own forward against the student's derivative, float64."""
    rng = np.random.default_rng(26)
    x = rng.standard_normal(20) * 2
    x = x[np.abs(x) > 1e-3]                       # away from relu's kink
    h = 1e-6
    for name in ("relu", "sigmoid", "tanh", "gelu"):
        f, d = ns[name], ns[name + "_grad"]
        plus = as_array(f(tt.Tensor(x + h, dtype=tt.float64)), name)
        minus = as_array(f(tt.Tensor(x - h, dtype=tt.float64)), name)
        close(d(tt.Tensor(x, dtype=tt.float64)), (plus - minus) / (2 * h),
              f"{name}_grad against central differences of your {name}", rtol=1e-5, atol=1e-7)
    logits = rng.standard_normal((2, 4))
    g = rng.standard_normal((2, 4))
    numeric = np.zeros_like(logits)
    for idx in np.ndindex(*logits.shape):
        e = np.zeros_like(logits)
        e[idx] = h
        plus = as_array(ns["softmax"](tt.Tensor(logits + e, dtype=tt.float64), 1), "softmax")
        minus = as_array(ns["softmax"](tt.Tensor(logits - e, dtype=tt.float64), 1), "softmax")
        numeric[idx] = ((plus - minus) * g).sum() / (2 * h)
    close(ns["softmax_grad"](tt.Tensor(logits, dtype=tt.float64), g, 1), numeric,
          "softmax_grad against central differences of your softmax", rtol=1e-5, atol=1e-7)
