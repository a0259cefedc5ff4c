"""Grader for module 07: the training loop (same losses as the engine's loop from the same seed), global-norm
and elementwise gradient clipping against tinytorch.nn.utils, loss scaling with overflow detection, and the
cosine schedule against tinytorch.core.schedules.CosineSchedule."""
import math

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Dropout, Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.schedules import CosineSchedule
from tinytorch.course.grading import Grader, GradingError, close
from tinytorch.nn import utils as engine

grader = Grader("07")


def _params_with_grads(rng, shapes, dtype=tt.float32, scale=1.0, none_at=()):
    """Two identical lists of parameters with identical (copied) gradients."""
    mine, ref = [], []
    for i, s in enumerate(shapes):
        x = rng.standard_normal(s)
        g = rng.standard_normal(s) * scale
        for out in (mine, ref):
            p = tt.Tensor(np.array(x), dtype=dtype, requires_grad=True)
            p.grad = None if i in none_at else tt.Tensor(np.array(g), dtype=dtype)
            out.append(p)
    return mine, ref


def _reference_loop(model, loss_fn, optimizer, X, Y, steps):
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(X), Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


def _mlp(seed, dropout=0.0):
    tt.manual_seed(seed)
    layers = [Linear(4, 16), ReLU()]
    if dropout:
        layers.append(Dropout(dropout))
    return Sequential(*layers, Linear(16, 3))


@grader.check(points=3, needs=["train_steps"],
              hint="per step: loss = loss_fn(model(X), Y) (model called once), optimizer.zero_grad(), "
                   "loss.backward(), optimizer.step(); return [float(loss.item()), ...], one per step")
def train_steps_matches_engine_loop(ns):
    rng = np.random.default_rng(70)
    X = tt.Tensor(rng.standard_normal((32, 4)).astype(np.float32))
    labels = tt.Tensor(rng.integers(0, 3, 32))
    targets = tt.Tensor(rng.standard_normal((32, 3)).astype(np.float32))
    cases = [("SGD+momentum, cross-entropy", lambda m: SGD(m.parameters(), lr=0.1, momentum=0.9),
              CrossEntropyLoss(), labels, 0.0),
             ("Adam, MSE", lambda m: Adam(m.parameters(), lr=0.01), MSELoss(), targets, 0.0),
             ("Adam, cross-entropy, with dropout", lambda m: Adam(m.parameters(), lr=0.01), CrossEntropyLoss(),
              labels, 0.3)]
    for what, make_opt, loss_fn, Y, p_drop in cases:
        model = _mlp(7, p_drop)
        opt = make_opt(model)
        tt.manual_seed(11)
        mine = ns["train_steps"](model, loss_fn, opt, X, Y, 15)
        ref_model = _mlp(7, p_drop)
        ref_opt = make_opt(ref_model)
        tt.manual_seed(11)
        ref = _reference_loop(ref_model, loss_fn, ref_opt, X, Y, 15)
        if not isinstance(mine, list) or len(mine) != 15:
            raise GradingError(f"train_steps(..., steps=15) must return a list of 15 losses, got "
                               f"{type(mine).__name__}{'' if not hasattr(mine, '__len__') else f' of {len(mine)}'}")
        if not all(isinstance(v, float) for v in mine):
            raise GradingError("train_steps must return Python floats (float(loss.item())), not Tensors")
        close(mine, ref, f"train_steps losses ({what}) vs the engine's loop from the same seed", rtol=0, atol=0)
        for p, q in zip(model.parameters(), ref_model.parameters()):
            close(p, q, f"parameters after train_steps ({what})", rtol=0, atol=0)
        if not mine[-1] < mine[0]:
            raise GradingError(f"train_steps ({what}): the loss did not go down in 15 steps")
    # zero steps: no losses, no change
    model = _mlp(3)
    before = [np.array(np.asarray(p)) for p in model.parameters()]
    if ns["train_steps"](model, MSELoss(), SGD(model.parameters(), lr=0.1), X, targets, 0) != []:
        raise GradingError("train_steps(..., steps=0) must return []")
    for p, b in zip(model.parameters(), before):
        close(p, b, "parameters after train_steps(steps=0)", rtol=0, atol=0)


@grader.check(points=2, needs=["clip_grad_norm"],
              hint="total = sqrt(sum of grad**2 over all params, skipping None); if total > max_norm multiply every "
                   "grad in place by max_norm / (total + 1e-6); return total (before clipping) as a float")
def clip_grad_norm_matches_engine(ns):
    clip = ns["clip_grad_norm"]
    # by hand: [3, 0] and [4] have joint norm 5
    a = tt.Tensor(np.array([1.0, 1.0]), dtype=tt.float64, requires_grad=True)
    b = tt.Tensor(np.array([1.0]), dtype=tt.float64, requires_grad=True)
    a.grad, b.grad = tt.Tensor(np.array([3.0, 0.0]), dtype=tt.float64), tt.Tensor(np.array([4.0]), dtype=tt.float64)
    ga = a.grad
    total = clip([a, b], 1.0)
    if not isinstance(total, (float, np.floating)) or isinstance(total, tt.Tensor):
        raise GradingError(f"clip_grad_norm must return the norm as a Python float, got {type(total).__name__}")
    close(total, 5.0, "clip_grad_norm([[3, 0], [4]], 1.0) return value (the norm BEFORE clipping)", rtol=1e-12)
    close(a.grad, [3 / 5.000001, 0.0], "grad [3, 0] after clipping to norm 1", rtol=1e-12)
    close(b.grad, [4 / 5.000001], "grad [4] after clipping to norm 1", rtol=1e-12)
    if a.grad is not ga:
        raise GradingError("clip_grad_norm must scale the gradients in place (p.grad *= factor), not replace them")
    rng = np.random.default_rng(71)
    for shapes, max_norm, dtype, scale, none_at in [([(3, 4), (5,)], 1.0, tt.float32, 1.0, ()),
                                                    ([(8,), (2, 3), (4, 1)], 100.0, tt.float32, 1.0, ()),
                                                    ([(6,), (3, 3)], 0.5, tt.float64, 10.0, (1,)),
                                                    ([(100,)], 2.0, tt.float32, 1e4, ()),
                                                    ([(4,), (4,)], 1.0, tt.float32, 1.0, (0, 1))]:
        mine, ref = _params_with_grads(rng, shapes, dtype, scale, none_at)
        t_mine = clip(mine, max_norm)
        t_ref = engine.clip_grad_norm_(ref, max_norm)
        what = f"clip_grad_norm on shapes {shapes}, max_norm {max_norm}" + (f", grads None at {none_at}"
                                                                           if none_at else "")
        close(t_mine, t_ref, f"{what}: returned norm", rtol=1e-6)
        for p, q in zip(mine, ref):
            if (p.grad is None) != (q.grad is None):
                raise GradingError(f"{what}: a parameter without a gradient must keep grad None")
            if p.grad is not None:
                close(p.grad, q.grad, f"{what}: gradients after clipping", rtol=1e-5)


@grader.check(points=1, needs=["clip_grad_value"],
              hint="p.grad.copy_(p.grad.clip(-clip_value, clip_value)) for each p whose grad is not None")
def clip_grad_value_matches_engine(ns):
    a = tt.Tensor(np.zeros(4), requires_grad=True)
    a.grad = tt.Tensor(np.array([-3.0, 0.25, 0.5, 7.0]))
    ga = a.grad
    ns["clip_grad_value"]([a], 0.5)
    close(a.grad, [-0.5, 0.25, 0.5, 0.5], "clip_grad_value([-3, 0.25, 0.5, 7], 0.5)", rtol=0, atol=0)
    if a.grad is not ga:
        raise GradingError("clip_grad_value must clamp the gradients in place (same gradient Tensor)")
    rng = np.random.default_rng(72)
    for shapes, c, dtype, none_at in [([(3, 4), (5,)], 0.3, tt.float32, ()), ([(2, 2, 2)], 2.0, tt.float64, ()),
                                      ([(6,), (3,)], 0.1, tt.float32, (0,))]:
        mine, ref = _params_with_grads(rng, shapes, dtype, 1.0, none_at)
        ns["clip_grad_value"](mine, c)
        engine.clip_grad_value_(ref, c)
        for p, q in zip(mine, ref):
            if (p.grad is None) != (q.grad is None):
                raise GradingError("clip_grad_value: a parameter without a gradient must keep grad None")
            if p.grad is not None:
                close(p.grad, q.grad, f"clip_grad_value on shapes {shapes}, clip_value {c}", rtol=0, atol=0)


@grader.check(points=2, needs=["scaled_backward"],
              hint="(loss * scale).backward(); p.grad /= scale for each grad; all finite -> True; otherwise set "
                   "every p.grad = None and return False")
def scaled_backward_unscales_and_detects_overflow(ns):
    rng = np.random.default_rng(73)
    for scale, dtype in [(1024.0, tt.float32), (2.0 ** 16, tt.float32), (3.0, tt.float64), (1.0, tt.float32)]:
        x = rng.standard_normal((6, 4))
        w0, b0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
        grads = []
        for use_student in (True, False):
            w = tt.Tensor(np.array(w0), dtype=dtype, requires_grad=True)
            b = tt.Tensor(np.array(b0), dtype=dtype, requires_grad=True)
            unused = tt.Tensor(np.ones(2), dtype=dtype, requires_grad=True)
            loss = (tt.tanh(tt.Tensor(x, dtype=dtype) @ w + b) ** 2).mean()
            if use_student:
                ok = ns["scaled_backward"](loss, [w, b, unused], scale)
                if ok is not True:
                    raise GradingError(f"scaled_backward(loss, params, {scale}) with finite gradients must "
                                       f"return True, got {ok!r}")
                if unused.grad is not None:
                    raise GradingError("scaled_backward: a parameter the loss does not use must keep grad None")
            else:
                loss.backward()
            grads.append((w.grad, b.grad))
        exact = scale == 2.0 ** int(math.log2(scale))
        tol = dict(rtol=0, atol=0) if exact else dict(rtol=1e-12, atol=1e-14)
        what = f"gradient after scaled_backward with scale {scale} ({np.dtype(dtype).name})"
        for g_mine, g_ref in zip(*grads):
            if g_mine is None:
                raise GradingError(f"scaled_backward: {what} is None; call (loss * scale).backward()")
            close(g_mine, g_ref, what + " vs plain loss.backward()", **tol)
    # overflow: 2 * w * 2^127 is beyond float32
    w = tt.Tensor(np.array([0.5, -1.5], dtype=np.float32), requires_grad=True)
    v = tt.Tensor(np.array([1e-3], dtype=np.float32), requires_grad=True)
    ok = ns["scaled_backward"]((w * w).sum() + (v * v).sum(), [w, v], 2.0 ** 127)
    if ok is not False:
        raise GradingError(f"scaled_backward with scale 2^127 on float32 overflows to inf: it must return False, "
                           f"got {ok!r}")
    if w.grad is not None or v.grad is not None:
        raise GradingError("scaled_backward after an overflow must set every parameter's grad to None (the step "
                           "is skipped), including the parameters whose gradients were finite")


@grader.check(points=2, needs=["cosine_schedule"],
              hint="step < W: lr_max * (step + 1) / W; then lr_min + (lr_max - lr_min) * (1 + cos(pi * p)) / 2 with "
                   "p = (step - W) / (T - W); lr_min for step >= T; return a float")
def cosine_schedule_matches_engine(ns):
    f = ns["cosine_schedule"]
    for args, expected in [((0, 10, 1.0), 1.0), ((10, 10, 1.0), 0.0), ((5, 10, 1.0), 0.5),
                           ((0, 20, 0.1, 0.01, 4), 0.025), ((3, 20, 0.1, 0.01, 4), 0.1),
                           ((4, 20, 0.1, 0.01, 4), 0.1), ((12, 20, 0.1, 0.01, 4), 0.055), ((50, 20, 0.1, 0.01, 4), 0.01)]:
        value = f(*args)
        if not isinstance(value, (float, int)) or isinstance(value, bool):
            raise GradingError(f"cosine_schedule{args} must return a Python float, got {type(value).__name__}")
        close(value, expected, f"cosine_schedule{args}", rtol=1e-12, atol=1e-15)
    rng = np.random.default_rng(74)
    for _ in range(20):
        total = int(rng.integers(1, 200))
        warmup = int(rng.integers(0, total + 1))
        lr_max = float(rng.uniform(1e-4, 1.0))
        lr_min = float(rng.uniform(0, lr_max))
        sched = CosineSchedule(max_lr=lr_max, min_lr=lr_min, total_epochs=total, warmup_epochs=warmup)
        steps = sorted(set(int(s) for s in rng.integers(0, total + 5, 12)) | {0, total})
        mine = [f(s, total, lr_max, lr_min, warmup) for s in steps]
        close(mine, [sched.get_lr(s) for s in steps],
              f"cosine_schedule(step, {total}, {lr_max:.4g}, {lr_min:.4g}, {warmup}) at steps {steps}",
              rtol=1e-12, atol=1e-15)
    # default lr_min = 0 and warmup = 0
    close([f(s, 7, 0.3) for s in range(9)], [CosineSchedule(0.3, 0.0, 7, 0).get_lr(s) for s in range(9)],
          "cosine_schedule(step, 7, 0.3) with the default lr_min and warmup_steps", rtol=1e-12, atol=1e-15)


@grader.check(points=2, needs=["clip_grad_norm", "scaled_backward", "cosine_schedule"],
              hint="a loop that sets opt.lr from cosine_schedule, calls scaled_backward, clips with clip_grad_norm and "
                   "steps must follow the engine's tools step for step")
def guarded_loop_matches_engine(ns):
    rng = np.random.default_rng(75)
    X = tt.Tensor(rng.standard_normal((64, 4)).astype(np.float32))
    Y = tt.Tensor(rng.integers(0, 3, 64))
    runs = []
    for student in (True, False):
        model = _mlp(5)
        params = model.parameters()
        opt = Adam(params, lr=0.05)
        losses = []
        for step in range(20):
            opt.lr = (ns["cosine_schedule"](step, 20, 0.05, 0.005, 3) if student
                      else CosineSchedule(0.05, 0.005, 20, 3).get_lr(step))
            loss = CrossEntropyLoss()(model(X), Y)
            opt.zero_grad()
            if student:
                if not ns["scaled_backward"](loss, params, 512.0):
                    raise GradingError("scaled_backward returned False on finite float32 gradients (scale 512)")
                ns["clip_grad_norm"](params, 0.1)
            else:
                loss.backward()
                engine.clip_grad_norm_(params, 0.1)
            opt.step()
            losses.append(float(loss.item()))
        runs.append(losses)
    close(runs[0], runs[1], "losses of a 20-step loop with your schedule, loss scaling and clipping vs the "
                            "engine's", rtol=1e-4, atol=1e-6)
