"""Grader for module 17: magnitude and structured masks, low-rank factors, distillation loss, against the engine."""
import numpy as np

import tinytorch as tt
from tinytorch.core.layers import Linear
from tinytorch.course.grading import Grader, GradingError, as_array, close, expect_error
from tinytorch.perf import compression as engine

grader = Grader("17")


def _mask(value, shape, what):
    arr = np.asarray(value)
    if arr.shape != tuple(shape):
        raise GradingError(f"{what}: returned shape {arr.shape}, expected {tuple(shape)}")
    if arr.dtype != bool:
        raise GradingError(f"{what}: returned dtype {arr.dtype}, expected a bool mask (True = kept)")
    return arr


@grader.check(points=3, needs=["magnitude_mask"],
              hint="remove exactly round(sparsity * size) entries: a stable argsort of |w| (ties: lower flat "
                   "index first), not a percentile threshold")
def magnitude_mask_matches_engine(ns):
    fn = ns["magnitude_mask"]
    # by hand: |w| = [1, 1, 2, 1, 3, 1]; the first three tied ones (row-major) go
    got = _mask(fn(np.array([[1.0, -1.0, 2.0], [1.0, 3.0, -1.0]]), 0.5), (2, 3), "magnitude_mask(w, 0.5)")
    if not np.array_equal(got, [[False, False, True], [False, True, True]]):
        raise GradingError(f"magnitude_mask([[1, -1, 2], [1, 3, -1]], 0.5) = {got.tolist()}, expected "
                           "[[False, False, True], [False, True, True]] (ties: the lower flat index goes first)")
    rng = np.random.default_rng(17)
    cases = [((20, 30), 0.0), ((20, 30), 0.37), ((7, 11), 0.9), ((64,), 0.5), ((3, 4, 5), 0.25), ((9, 9), 0.99)]
    for shape, s in cases:
        w = rng.standard_normal(shape).astype(np.float32)
        got = _mask(fn(w.copy(), s), shape, f"magnitude_mask(w {shape}, {s})")
        ref = engine.magnitude_prune([tt.Tensor(w.copy(), requires_grad=True)], s, scope="layer")["0"] \
            if len(shape) >= 2 else None
        removed = int((~got).sum())
        if removed != round(s * w.size):
            raise GradingError(f"magnitude_mask(w {shape}, {s}) removed {removed} entries, expected exactly "
                               f"round({s} * {w.size}) = {round(s * w.size)}")
        if ref is not None and not np.array_equal(got, ref):
            raise GradingError(f"magnitude_mask(w {shape}, {s}) removed other entries than the engine's "
                               "magnitude_prune: the removed ones must be those of smallest |w|")
        if 0 < removed < w.size and np.abs(w)[~got].max() > np.abs(w)[got].min():
            raise GradingError(f"magnitude_mask(w {shape}, {s}) removed a weight larger than one it kept")
    # many ties: integers
    w = rng.integers(-3, 4, size=(10, 10)).astype(np.float64)
    ref = engine.magnitude_prune([tt.Tensor(w.copy(), requires_grad=True)], 0.6, scope="layer")["0"]
    if not np.array_equal(_mask(fn(w, 0.6), (10, 10), "magnitude_mask"), ref):
        raise GradingError("magnitude_mask(integer-valued w with many ties, 0.6) differs from the engine: "
                           "use a stable sort so equal |w| are removed in flat-index order")


@grader.check(points=1, needs=["magnitude_mask"], hint="raise ValueError when sparsity is not in [0, 1)")
def magnitude_mask_rejects_bad_sparsity(ns):
    fn = ns["magnitude_mask"]
    for s in (1.0, 1.5, -0.1):
        expect_error(lambda: fn(np.ones((3, 3)), s), ValueError, f"magnitude_mask(w, {s}) (sparsity must be in [0, 1))")


@grader.check(points=2, needs=["structured_mask"],
              hint="norm of each COLUMN (axis=0) of the (in, out) weight; drop round(fraction * out) smallest, "
                   "stable ties")
def structured_mask_matches_engine(ns):
    fn = ns["structured_mask"]
    got = _mask(fn(np.array([[1, 0.1, 3, 0.2]] * 3), 0.5), (4,), "structured_mask(w (3, 4), 0.5)")
    if not np.array_equal(got, [True, False, True, False]):
        raise GradingError(f"structured_mask: columns of norms [1.7, 0.17, 5.2, 0.35] with fraction 0.5 gave "
                           f"{got.tolist()}, expected [True, False, True, False]")
    tt.manual_seed(17)
    for n_in, n_out, frac in [(12, 10, 0.3), (5, 8, 0.5), (20, 7, 0.0), (6, 16, 0.75), (9, 3, 1.0)]:
        layer = Linear(n_in, n_out)
        w = np.asarray(layer.weight.data).copy()
        ref = engine.structured_prune(layer, frac)["bias"]
        got = _mask(fn(w, frac), (n_out,), f"structured_mask(w ({n_in}, {n_out}), {frac})")
        if not np.array_equal(got, ref):
            raise GradingError(f"structured_mask(w ({n_in}, {n_out}), {frac}) = {got.astype(int).tolist()}, the "
                               f"engine keeps {ref.astype(int).tolist()}")
    w = np.ones((4, 6))
    w[:, 3] = 2
    got = _mask(fn(w, 0.5), (6,), "structured_mask(tied columns, 0.5)")
    if not np.array_equal(got, [False, False, False, True, True, True]):
        raise GradingError(f"structured_mask: five tied columns and one larger, fraction 0.5: got "
                           f"{got.astype(int).tolist()}, expected the first three tied columns removed")


@grader.check(points=2, needs=["low_rank_factors"],
              hint="u, s, vt = np.linalg.svd(w, full_matrices=False); A = u[:, :r] * sqrt(s[:r]), "
                   "B = sqrt(s[:r])[:, None] * vt[:r]")
def low_rank_factors_are_optimal(ns):
    fn = ns["low_rank_factors"]
    rng = np.random.default_rng(170)
    for shape, r in [((16, 10), 1), ((16, 10), 4), ((10, 16), 10), ((32, 32), 8), ((5, 3), 2)]:
        w = rng.standard_normal(shape)
        out = fn(w.copy(), r)
        if not isinstance(out, tuple) or len(out) != 2:
            raise GradingError(f"low_rank_factors(w {shape}, {r}) must return a pair (A, B)")
        A, B = (as_array(v, "factor").astype(np.float64) for v in out)
        if A.shape != (shape[0], r) or B.shape != (r, shape[1]):
            raise GradingError(f"low_rank_factors(w {shape}, {r}): shapes {A.shape} and {B.shape}, expected "
                               f"{(shape[0], r)} and {(r, shape[1])}")
        s = np.linalg.svd(w, compute_uv=False)
        close(np.linalg.norm(w - A @ B), np.sqrt((s[r:] ** 2).sum()),
              f"||W - A @ B|| for W {shape}, rank {r} (must equal the dropped singular values' norm)",
              rtol=1e-6, atol=1e-9)
        close(np.linalg.norm(A, axis=0), np.sqrt(s[:r]), f"column norms of A for W {shape}, rank {r} "
              "(sqrt(s) goes to each factor)", rtol=1e-6, atol=1e-9)
    lin = Linear(12, 9)
    f = engine.low_rank_factorize(lin, rank=3)
    A, B = fn(np.asarray(lin.weight.data).astype(np.float64), 3)
    close(np.asarray(A) @ np.asarray(B), np.asarray(f.first.data).astype(np.float64) @ np.asarray(f.second.data),
          "A @ B against the engine's low_rank_factorize(rank=3)", rtol=1e-4, atol=1e-5)
    for bad in (0, 10):
        expect_error(lambda: fn(np.ones((9, 4)), bad), ValueError,
                     f"low_rank_factors(w (9, 4), {bad}) (rank must be 1..4)")


def _pair(seed, n=6, c=5, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)), rng.standard_normal((n, c)) * scale, rng.integers(0, c, size=n)


@grader.check(points=2, needs=["distillation_loss"],
              hint="alpha * T*T * mean over rows of sum_c p_c (log p_c - log q_c) + (1 - alpha) * "
                   "cross_entropy(student, labels), with p, q the softmaxes of teacher/T and student/T")
def distillation_value_matches_engine(ns):
    fn = ns["distillation_loss"]
    for seed, T, alpha in [(1, 1.0, 0.5), (2, 3.0, 0.7), (3, 5.0, 1.0), (4, 2.0, 0.0), (5, 10.0, 0.9)]:
        s, t, y = _pair(seed)
        got = fn(tt.Tensor(s, dtype=tt.float64), tt.Tensor(t, dtype=tt.float64), y, temperature=T, alpha=alpha)
        if not isinstance(got, tt.Tensor):
            raise GradingError(f"distillation_loss returned {type(got).__name__}, expected a tinytorch Tensor")
        ref = engine.distillation_loss(tt.Tensor(s, dtype=tt.float64), t, y, temperature=T, alpha=alpha)
        close(got, ref, f"distillation_loss(T={T}, alpha={alpha})", rtol=1e-9, atol=1e-12)
    s, _, y = _pair(6)
    same = fn(tt.Tensor(s, dtype=tt.float64), s.copy(), y, temperature=4.0, alpha=1.0)
    close(same, 0.0, "distillation_loss with student == teacher and alpha=1 (KL of equal distributions)",
          atol=1e-12)


@grader.check(points=3, needs=["distillation_loss"],
              hint="build it from tinytorch ops (tt.log_softmax, .exp(), .sum(), tt.cross_entropy) so the "
                   "gradient reaches the student's logits; the teacher is a constant")
def distillation_gradient_matches_engine(ns):
    fn = ns["distillation_loss"]
    from tinytorch.autograd import gradcheck
    for seed, T, alpha in [(7, 2.0, 0.6), (8, 4.0, 1.0), (9, 1.0, 0.3)]:
        s, t, y = _pair(seed)
        mine = tt.Tensor(s, dtype=tt.float64, requires_grad=True)
        out = fn(mine, t, y, temperature=T, alpha=alpha)
        if not isinstance(out, tt.Tensor) or out.grad_fn is None:
            raise GradingError("distillation_loss returned a result with no autograd graph: build it from "
                               "tinytorch ops, not numpy")
        out.backward()
        ref = tt.Tensor(s, dtype=tt.float64, requires_grad=True)
        engine.distillation_loss(ref, t, y, temperature=T, alpha=alpha).backward()
        close(mine.grad, ref.grad, f"d distillation_loss / d student_logits (T={T}, alpha={alpha})",
              rtol=1e-8, atol=1e-12)
    s, t, y = _pair(10, n=3, c=4)
    gradcheck(lambda z: fn(z, t, y, temperature=3.0, alpha=0.5), [tt.Tensor(s, dtype=tt.float64, requires_grad=True)])
