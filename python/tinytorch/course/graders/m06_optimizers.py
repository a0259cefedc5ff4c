"""Grader for module 06: the student's SGD, Adam and AdamW against tinytorch.core.optimizers, step by step,
on fixed gradients, random gradient sequences (float64 and float32) and a real backward() on a quadratic;
parameters without a gradient skipped; updates in place; zero_grad."""
import numpy as np

import tinytorch as tt
from tinytorch.core import optimizers as engine
from tinytorch.course.grading import Grader, GradingError, close

grader = Grader("06")

_TOL = {tt.float64: (1e-10, 1e-12), tt.float32: (1e-5, 1e-6)}


def _param(values, dtype):
    # np.array copies: a Tensor made from a float64 array may share its memory
    return tt.Tensor(np.array(values, dtype=np.float64), dtype=dtype, requires_grad=True)


def _set_grad(p, g, dtype):
    p.grad = None if g is None else tt.Tensor(np.array(g, dtype=np.float64), dtype=dtype)


def _make(cls, params, kwargs, name):
    try:
        return cls(params, **kwargs)
    except TypeError as e:
        raise GradingError(f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) failed: {e}; "
                           "keep the signature of the lesson")


def _run_pair(ns, name, kwargs, shapes, grads, dtype=tt.float64, seed=0):
    """Student and engine optimizer on identical copies; grads[t][i] is the gradient (or None) of param i at
    step t. Compares every parameter after every step."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in shapes]
    mine = [_param(x, dtype) for x in init]
    ref = [_param(x, dtype) for x in init]
    ids = [id(p) for p in mine]
    a = _make(ns[name], mine, kwargs, name)
    b = getattr(engine, name)(ref, **kwargs)
    rtol, atol = _TOL[dtype]
    for t, step_grads in enumerate(grads):
        for p, q, g in zip(mine, ref, step_grads):
            _set_grad(p, g, dtype)
            _set_grad(q, g, dtype)
        a.step()
        b.step()
        for i, (p, q) in enumerate(zip(mine, ref)):
            if id(p) != ids[i]:
                raise GradingError(f"{name}: the parameter list changed")
            close(p, q, f"{name}({kwargs}) parameter {i} after step {t + 1} ({np.dtype(dtype).name})",
                  rtol=rtol, atol=atol)
    return a, mine


def _random_grads(shapes, steps, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) * scale for s in shapes] for _ in range(steps)]


_SHAPES = [(3, 4), (5,), (2, 1, 3)]


@grader.check(points=2, needs=["SGD"],
              hint="p -= lr * (grad + weight_decay * p), in place under tt.no_grad(); read self.lr in step()")
def sgd_plain_and_weight_decay(ns):
    # by hand: lr 0.1, grad [0.5, 0.25] -> p - [0.05, 0.025]; with wd 0.01 the gradient gains 0.01 * p
    p = _param([1.0, -2.0], tt.float64)
    _set_grad(p, [0.5, 0.25], tt.float64)
    ns["SGD"]([p], lr=0.1).step()
    close(p, [0.95, -2.025], "SGD(lr=0.1) one step on p=[1, -2], grad=[0.5, 0.25]", rtol=1e-12)
    p = _param([1.0, -2.0], tt.float64)
    _set_grad(p, [0.5, 0.25], tt.float64)
    ns["SGD"]([p], lr=0.1, weight_decay=0.01).step()
    close(p, [0.949, -2.023], "SGD(lr=0.1, weight_decay=0.01) one step", rtol=1e-12)
    for kw in (dict(lr=0.1), dict(lr=0.03, weight_decay=0.2)):
        for dtype in (tt.float64, tt.float32):
            _run_pair(ns, "SGD", kw, _SHAPES, _random_grads(_SHAPES, 10, 1), dtype)
    # a schedule changes opt.lr between steps
    opt, _ = _run_pair(ns, "SGD", dict(lr=0.1), [(4,)], _random_grads([(4,)], 3, 2))
    if not hasattr(opt, "lr") or not hasattr(opt, "params"):
        raise GradingError("SGD must keep .params (a list) and .lr")


@grader.check(points=2, needs=["SGD"],
              hint="first step buf = g (a copy), later buf = momentum * buf + g, then p -= lr * buf; one buffer "
                   "per parameter")
def sgd_momentum_matches_engine(ns):
    # by hand: the same gradient twice with momentum 0.9 -> steps lr*g, then lr*1.9*g
    p = _param([1.0, -2.0], tt.float64)
    opt = ns["SGD"]([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        _set_grad(p, [0.5, 0.25], tt.float64)
        opt.step()
    close(p, [1.0 - 0.145, -2.0 - 0.0725], "SGD(lr=0.1, momentum=0.9) two steps with grad [0.5, 0.25]",
          rtol=1e-12)
    for kw in (dict(lr=0.05, momentum=0.9), dict(lr=0.02, momentum=0.5, weight_decay=0.1),
               dict(lr=0.01, momentum=0.99)):
        for dtype in (tt.float64, tt.float32):
            _run_pair(ns, "SGD", kw, _SHAPES, _random_grads(_SHAPES, 10, 3), dtype)


@grader.check(points=3, needs=["Adam"],
              hint="per parameter t += 1; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; "
                   "p -= lr * (m/(1-b1**t)) / (sqrt(v/(1-b2**t)) + eps); L2: g = grad + wd * p")
def adam_matches_engine(ns):
    # by hand: the bias-corrected first step is lr * g / (|g| + eps), i.e. ~lr whatever |g|
    p = _param([1.0, -2.0, 3.0], tt.float64)
    _set_grad(p, [1e-3, -50.0, 4.0], tt.float64)
    ns["Adam"]([p], lr=0.01).step()
    close(p, [0.99, -1.99, 2.99], "Adam(lr=0.01) first step (bias correction makes it lr per coordinate)",
          rtol=1e-6)
    for kw in (dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6), dict(lr=0.01, weight_decay=0.1)):
        for dtype in (tt.float64, tt.float32):
            _run_pair(ns, "Adam", kw, _SHAPES, _random_grads(_SHAPES, 10, 4), dtype)
    # tiny and huge gradients: eps matters for the tiny ones
    _run_pair(ns, "Adam", dict(lr=0.01, eps=1e-3), [(6,)], _random_grads([(6,)], 10, 5, scale=1e-4))
    _run_pair(ns, "Adam", dict(lr=0.01), [(6,)], _random_grads([(6,)], 10, 6, scale=1e4))


@grader.check(points=3, needs=["AdamW"],
              hint="first p -= lr * weight_decay * p (in place), then Adam's update with the plain gradient "
                   "(no L2 term); default weight_decay=0.01")
def adamw_matches_engine(ns):
    # by hand: wd 0.1, lr 0.01 -> p * 0.999, then the first Adam step lr * g / (|g| + eps)
    p = _param([1.0, -2.0], tt.float64)
    _set_grad(p, [0.5, 0.25], tt.float64)
    ns["AdamW"]([p], lr=0.01, weight_decay=0.1).step()
    close(p, [0.999 - 0.01, -1.998 - 0.01], "AdamW(lr=0.01, weight_decay=0.1) first step", rtol=1e-7)
    for kw in ({}, dict(lr=0.01), dict(lr=0.05, weight_decay=0.3), dict(lr=0.003, betas=(0.85, 0.95))):
        for dtype in (tt.float64, tt.float32):
            _run_pair(ns, "AdamW", kw, _SHAPES, _random_grads(_SHAPES, 10, 7), dtype)


@grader.check(points=2, needs=["SGD", "Adam", "AdamW"],
              hint="skip parameters whose .grad is None (no state change, no step count); keep Adam's step "
                   "count t per parameter")
def params_without_grad_are_skipped(ns):
    shapes = [(3,), (2, 2), (4,)]
    rng = np.random.default_rng(8)
    grads = []
    for t in range(10):
        # param 1 never has a gradient; param 2 only on some steps
        grads.append([rng.standard_normal((3,)), None, rng.standard_normal((4,)) if t % 3 == 0 else None])
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)), ("Adam", dict(lr=0.01)),
                     ("AdamW", dict(lr=0.01, weight_decay=0.1))]:
        rng0 = np.random.default_rng(0)
        init = [rng0.standard_normal(s) for s in shapes]
        _, mine = _run_pair(ns, name, kw, shapes, grads)
        close(mine[1], init[1], f"{name}: a parameter whose grad is always None must not change", rtol=0, atol=0)


@grader.check(points=2, needs=["SGD", "Adam", "AdamW"],
              hint="update with `p -= ...` under tt.no_grad() (same Tensor object); zero_grad sets p.grad = None")
def in_place_and_zero_grad(ns):
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)), ("AdamW", dict(lr=0.1))]:
        w = _param(np.ones((2, 3)), tt.float32)
        b = _param(np.zeros(3), tt.float32)
        holder = {"w": w, "b": b}       # what a model keeps
        opt = _make(ns[name], [w, b], kw, name)
        if not isinstance(getattr(opt, "params", None), list) or len(opt.params) != 2 \
                or opt.params[0] is not w or opt.params[1] is not b:
            raise GradingError(f"{name}.params must be the list of the very parameter Tensors passed in")
        before = np.array(np.asarray(w))
        ptr = w.data_ptr()
        _set_grad(w, np.full((2, 3), 0.5), tt.float32)
        _set_grad(b, np.full(3, -1.0), tt.float32)
        opt.step()
        if np.allclose(np.asarray(holder["w"]), before):
            raise GradingError(f"{name}.step() did not change the parameter Tensor the model holds: update it "
                               "in place (`with tt.no_grad(): p -= ...`), do not rebind a new Tensor")
        if w.data_ptr() != ptr:
            raise GradingError(f"{name}.step() must write into the parameter's own memory")
        if not w.requires_grad or not w.is_leaf:
            raise GradingError(f"{name}.step(): after the update the parameter must still be a leaf that "
                               "requires grad (update under tt.no_grad())")
        opt.zero_grad()
        for p in (w, b):
            if p.grad is not None and np.any(np.asarray(p.grad) != 0):
                raise GradingError(f"{name}.zero_grad() left a nonzero gradient; set p.grad = None")
        # a real backward after the step still works and accumulates into a fresh gradient
        (w * w).sum().backward()
        close(w.grad, 2 * np.asarray(w), f"{name}: gradient of sum(w*w) after step() and zero_grad()")


@grader.check(points=2, needs=["SGD", "Adam", "AdamW"],
              hint="a full loop zero_grad / backward / step must follow the engine's optimizer step for step")
def quadratic_training_matches_engine(ns):
    rng = np.random.default_rng(9)
    A = rng.standard_normal((8, 3))
    y = rng.standard_normal(8)
    for name, kw in [("SGD", dict(lr=0.02, momentum=0.9)), ("Adam", dict(lr=0.05, weight_decay=0.01)),
                     ("AdamW", dict(lr=0.05, weight_decay=0.1))]:
        trajectories = []
        for cls in (ns[name], getattr(engine, name)):
            w = _param(np.zeros(3), tt.float64)
            b = _param(np.zeros(1), tt.float64)
            opt = cls([w, b], **kw)
            At, yt = tt.Tensor(A, dtype=tt.float64), tt.Tensor(y, dtype=tt.float64)
            losses, ws = [], []
            for step in range(12):
                if step == 6:
                    opt.lr = kw["lr"] / 2      # as a schedule would
                opt.zero_grad()
                r = At @ w + b - yt
                loss = (r * r).mean()
                loss.backward()
                opt.step()
                losses.append(float(loss.item()))
                ws.append(np.concatenate([np.asarray(w), np.asarray(b)]))
            trajectories.append((np.array(losses), np.array(ws)))
        (l_mine, w_mine), (l_ref, w_ref) = trajectories
        close(l_mine, l_ref, f"{name}({kw}) losses of a 12-step least-squares run", rtol=1e-9, atol=1e-12)
        close(w_mine, w_ref, f"{name}({kw}) parameters along a 12-step least-squares run", rtol=1e-9, atol=1e-12)
        if not l_mine[-1] < l_mine[0]:
            raise GradingError(f"{name}: the loss did not go down in 12 steps")
