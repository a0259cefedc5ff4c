"""Grader for module 04: MSE, log-softmax, cross-entropy (with ignore_index and sequence batches) and BCE
against the engine's losses: values and gradients in float64 (and float32), huge logits and saturated
probabilities without inf/nan, the error cases the lesson asks for, and finite differences."""
import warnings

import numpy as np

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from tinytorch.course.grading import Grader, GradingError, as_array, close, expect_error

grader = Grader("04")


def _leaf(x, dtype=tt.float64):
    return tt.Tensor(np.array(x, dtype=np.float64), dtype=dtype, requires_grad=True)


def _loss_and_grad(fn, x, *args, dtype=tt.float64):
    leaf = _leaf(x, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow inside the student's loss is a failure, not a warning
        try:
            loss = fn(leaf, *args)
        except RuntimeWarning as w:
            raise GradingError(f"numpy warned '{w}' inside the loss: something overflowed; subtract the max / clamp")
    if not isinstance(loss, tt.Tensor) or loss.shape != ():
        raise GradingError(f"the loss must be a 0-d Tensor, got {type(loss).__name__} "
                           f"{getattr(loss, 'shape', '')}")
    loss.backward()
    if leaf.grad is None:
        raise GradingError("no gradient reached the input: build the loss from tinytorch ops, not numpy")
    return loss.item(), np.asarray(leaf.grad)


def _compare(ns, name, engine_fn, x, *args, what, dtype=tt.float64, rtol=1e-10, atol=1e-12):
    mine_loss, mine_grad = _loss_and_grad(ns[name], x, *args, dtype=dtype)
    ref_loss, ref_grad = _loss_and_grad(engine_fn, x, *args, dtype=dtype)
    close(mine_loss, ref_loss, f"{name}({what})", rtol=rtol, atol=atol)
    close(mine_grad, ref_grad, f"d {name}({what}) / d input", rtol=rtol, atol=atol)


@grader.check(points=2, needs=["mse_loss"], hint="diff = predictions - targets; (diff * diff).mean() over everything")
def mse_matches_engine(ns):
    mse = ns["mse_loss"]
    close(mse(tt.Tensor([[1.0], [2.0], [4.0]], dtype=tt.float64), np.array([[1.0], [0.0], [1.0]])), 13 / 3,
          "mse_loss([[1], [2], [4]], [[1], [0], [1]])", rtol=1e-12)
    rng = np.random.default_rng(40)
    engine = MSELoss()
    for ps, ts in [((8,), (8,)), ((5, 1), (5, 1)), ((4, 3), (4, 3)), ((4, 3), (3,)), ((2, 3, 4), (2, 3, 4)),
                   ((6, 1), (1,))]:
        x, t = rng.standard_normal(ps), rng.standard_normal(ts)
        _compare(ns, "mse_loss", engine, x, t, what=f"predictions {ps}, numpy targets {ts}")
        _compare(ns, "mse_loss", engine, x, tt.Tensor(t, dtype=tt.float64),
                 what=f"predictions {ps}, Tensor targets {ts}")
    _compare(ns, "mse_loss", engine, rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), what="float32",
             dtype=tt.float32, rtol=1e-5, atol=1e-6)


@grader.check(points=2, needs=["log_softmax"],
              hint="m = x.max(axis, keepdims=True).detach(); (x - m) - log(sum(exp(x - m), axis, keepdims=True))")
def log_softmax_matches_engine_and_is_stable(ns):
    ls = ns["log_softmax"]
    close(ls(tt.Tensor([0.0, np.log(3.0)], dtype=tt.float64)), np.log([0.25, 0.75]), "log_softmax([0, ln 3])",
          rtol=1e-12)
    rng = np.random.default_rng(41)
    for shape, axis in [((5,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)]:
        x = rng.standard_normal(shape) * 3
        g = rng.standard_normal(shape)
        mine, ref = _leaf(x), _leaf(x)
        out = ls(mine, axis)
        close(out, tt.log_softmax(ref, axis), f"log_softmax({shape}, axis={axis})", rtol=1e-10, atol=1e-12)
        (out * tt.Tensor(g, dtype=tt.float64)).sum().backward()
        (tt.log_softmax(ref, axis) * tt.Tensor(g, dtype=tt.float64)).sum().backward()
        if mine.grad is None:
            raise GradingError("log_softmax: no gradient reached x; use tinytorch ops")
        close(mine.grad, ref.grad, f"d log_softmax({shape}, axis={axis}) / dx", rtol=1e-9, atol=1e-12)
    for dtype in (tt.float32, tt.float64):
        big = tt.Tensor([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]], dtype=dtype)
        got = as_array(ls(big, -1), "log_softmax")
        if not np.all(np.isfinite(got)):
            raise GradingError(f"log_softmax of logits up to 1e4 ({dtype}) gave {got.tolist()}: subtract the max")
        close(got, tt.log_softmax(big, -1), f"log_softmax of huge logits ({dtype})", rtol=1e-6, atol=1e-6)


@grader.check(points=3, needs=["cross_entropy_loss"],
              hint="mean over counted positions of -log_softmax(logits)[target], picked with a one-hot mask")
def cross_entropy_matches_engine(ns):
    ce = ns["cross_entropy_loss"]
    close(ce(tt.Tensor([[0.0, np.log(3.0)]], dtype=tt.float64), np.array([1])), -np.log(0.75),
          "cross_entropy_loss([[0, ln 3]], [1])", rtol=1e-12)
    rng = np.random.default_rng(42)
    engine = CrossEntropyLoss()
    for shape in [(4, 3), (16, 10), (1, 7), (2, 5, 6)]:
        x = rng.standard_normal(shape) * 2
        t = rng.integers(0, shape[-1], size=shape[:-1])
        _compare(ns, "cross_entropy_loss", engine, x, t, what=f"logits {shape}, numpy targets")
        _compare(ns, "cross_entropy_loss", engine, x, tt.Tensor(t, dtype=tt.int64), what=f"logits {shape}, int64 targets")
    _compare(ns, "cross_entropy_loss", engine, rng.standard_normal((8, 5)), rng.integers(0, 5, 8), what="float32",
             dtype=tt.float32, rtol=1e-5, atol=1e-6)
    # confident logits: large but finite
    x = np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0], [30.0, 30.0, 30.0]])
    _compare(ns, "cross_entropy_loss", engine, x, np.array([0, 0, 2]), what="logits near ±1000", rtol=1e-9)
    gradcheck(lambda l: ce(l, np.array([2, 0, 1])), [_leaf(rng.standard_normal((3, 4)))])


@grader.check(points=2, needs=["cross_entropy_loss"],
              hint="positions with target == ignore_index count neither in the sum nor in the mean")
def cross_entropy_ignores_padding(ns):
    rng = np.random.default_rng(43)
    for ignore in (-100, 0):
        engine = CrossEntropyLoss(ignore_index=ignore)
        x = rng.standard_normal((3, 4, 5))
        t = rng.integers(1, 5, size=(3, 4))
        t[0, 2:] = ignore
        t[2, 3] = ignore
        student = {"cross_entropy_loss": lambda l, tg: ns["cross_entropy_loss"](l, tg, ignore_index=ignore)}
        _compare(student, "cross_entropy_loss", engine, x, t, what=f"(3, 4, 5) logits with padding, ignore_index={ignore}")
    all_ignored = ns["cross_entropy_loss"](tt.Tensor(np.zeros((2, 3))), np.array([-100, -100]))
    if not np.isnan(as_array(all_ignored, "cross_entropy_loss")):
        raise GradingError(f"cross_entropy_loss with every target ignored returned {float(as_array(all_ignored, 'x'))}; "
                           "the mean of nothing is 0 / 0 = nan (as the engine and PyTorch give)")


@grader.check(points=1, needs=["cross_entropy_loss"],
              hint="ValueError when targets.shape != logits.shape[:-1]; IndexError for a counted target outside 0..C-1")
def cross_entropy_rejects_bad_targets(ns):
    ce = ns["cross_entropy_loss"]
    logits = tt.Tensor(np.zeros((2, 3)))
    expect_error(lambda: ce(logits, np.array([0, 1, 2])), ValueError, "cross_entropy_loss((2, 3) logits, 3 targets)")
    expect_error(lambda: ce(logits, np.array([[0, 1]])), ValueError, "cross_entropy_loss((2, 3) logits, (1, 2) targets)")
    expect_error(lambda: ce(logits, np.array([0, 3])), IndexError, "cross_entropy_loss((2, 3) logits, target 3)")
    expect_error(lambda: ce(logits, np.array([-1, 0])), IndexError, "cross_entropy_loss((2, 3) logits, target -1)")


@grader.check(points=2, needs=["binary_cross_entropy_loss"],
              hint="p = tt.clip(predictions, 1e-7, 1 - 1e-7); -(t log p + (1 - t) log(1 - p)).mean()")
def bce_matches_engine(ns):
    bce = ns["binary_cross_entropy_loss"]
    close(bce(tt.Tensor([0.9, 0.2], dtype=tt.float64), np.array([1.0, 0.0])), -(np.log(0.9) + np.log(0.8)) / 2,
          "binary_cross_entropy_loss([0.9, 0.2], [1, 0])", rtol=1e-12)
    rng = np.random.default_rng(44)
    engine = BinaryCrossEntropyLoss()
    for shape in [(6,), (4, 1), (3, 5)]:
        p = rng.uniform(0.02, 0.98, shape)
        for t in (rng.integers(0, 2, shape).astype(np.float64), rng.uniform(0, 1, shape)):
            _compare(ns, "binary_cross_entropy_loss", engine, p, t, what=f"probabilities {shape}")
            _compare(ns, "binary_cross_entropy_loss", engine, p, tt.Tensor(t, dtype=tt.float64),
                     what=f"probabilities {shape}, Tensor targets")
    gradcheck(lambda q: bce(q, np.array([1.0, 0.0, 1.0])), [_leaf([0.3, 0.6, 0.9])])


@grader.check(points=2, needs=["binary_cross_entropy_loss"],
              hint="clamp the probabilities to [1e-7, 1 - 1e-7] before the logs; different shapes are a ValueError")
def bce_is_finite_at_saturation(ns):
    bce = ns["binary_cross_entropy_loss"]
    engine = BinaryCrossEntropyLoss()
    for dtype in (tt.float64, tt.float32):
        p = tt.Tensor([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype)
        t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                got = as_array(bce(p, t), "binary_cross_entropy_loss")
            except RuntimeWarning as w:
                raise GradingError(f"binary_cross_entropy_loss at p = 0 and 1 warned '{w}': clamp p first")
        if not np.isfinite(got):
            raise GradingError(f"binary_cross_entropy_loss at p = 0 and 1 ({dtype}) gave {float(got)}: clamp p to "
                               "[1e-7, 1 - 1e-7] first")
        close(got, engine(p, t), f"binary_cross_entropy_loss at p in {{0, 1}} ({dtype})", rtol=1e-4)
    expect_error(lambda: bce(tt.Tensor([0.5, 0.5]), np.array([1.0, 0.0, 1.0])), ValueError,
                  "binary_cross_entropy_loss((2,) predictions, (3,) targets)")
