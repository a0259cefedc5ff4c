"""Grader for module 18: naive, vectorized and tiled matmuls against the engine's matmul; intensity and roofline
against the engine's counting functions; a composed Linear + GELU against the fused C++ kernel."""
import numpy as np

import tinytorch as tt
from tinytorch import _C
from tinytorch.course.grading import Grader, GradingError, close, expect_error
from tinytorch.perf import acceleration as engine

grader = Grader("18")


def _engine_matmul(a, b):
    return np.asarray(tt.Tensor(a, dtype=tt.float64) @ tt.Tensor(b, dtype=tt.float64))


def _check_matmul(fn, name, cases, extra=()):
    rng = np.random.default_rng(18)
    for m, k, n in cases:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        args = f"({m}, {k}), ({k}, {n})" + "".join(f", {e}" for e in extra)
        close(fn(a.copy(), b.copy(), *extra), _engine_matmul(a, b), f"{name}({args})", rtol=1e-9, atol=1e-10)
    close(fn(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0], [7.0, 8.0]]), *extra),
          [[19, 22], [43, 50]], f"{name}([[1, 2], [3, 4]], [[5, 6], [7, 8]])")
    expect_error(lambda: fn(np.ones((3, 4)), np.ones((3, 4)), *extra), ValueError,
                 f"{name}((3, 4), (3, 4)) (the inner dimensions 4 and 3 differ)")


@grader.check(points=2, needs=["naive_matmul"],
              hint="out[i, j] = sum over p of a[i, p] * b[p, j]; raise ValueError if a.shape[1] != b.shape[0]")
def naive_matmul_matches_engine(ns):
    _check_matmul(ns["naive_matmul"], "naive_matmul", [(5, 7, 3), (1, 4, 6), (6, 1, 2), (8, 8, 8)])


@grader.check(points=2, needs=["vectorized_matmul"],
              hint="(a[:, :, None] * b[None, :, :]).sum(axis=1); raise ValueError on mismatched inner dimensions")
def vectorized_matmul_matches_engine(ns):
    _check_matmul(ns["vectorized_matmul"], "vectorized_matmul", [(5, 7, 3), (1, 4, 6), (9, 9, 9), (30, 20, 10)])


@grader.check(points=3, needs=["tiled_matmul"],
              hint="loop over block starts range(0, m, tile) (and n, k); out[i:i+tile, j:j+tile] += "
                   "a-block @ b-block; the += accumulates over the k blocks")
def tiled_matmul_matches_engine(ns):
    fn = ns["tiled_matmul"]
    for tile in (1, 4, 7, 16, 100):
        _check_matmul(fn, "tiled_matmul", [(5, 7, 3), (37, 50, 29), (16, 16, 16)], extra=(tile,))


@grader.check(points=2, needs=["matmul_intensity", "add_intensity"],
              hint="matmul: 2mkn FLOPs / (itemsize (mk + kn + mn)) bytes; add: n FLOPs / (itemsize * 3n) bytes")
def intensities_are_exact(ns):
    mi, ai = ns["matmul_intensity"], ns["add_intensity"]
    for m, k, n, size in [(2, 3, 4, 4), (1024, 1024, 1024, 4), (64, 768, 3072, 4), (1, 512, 1, 2), (7, 5, 3, 8)]:
        expected = engine.arithmetic_intensity(engine.matmul_flops(m, k, n), engine.matmul_bytes(m, k, n, size))
        close(mi(m, k, n, size), expected, f"matmul_intensity({m}, {k}, {n}, itemsize={size})", rtol=1e-12)
    close(mi(2, 3, 4), 48 / 104, "matmul_intensity(2, 3, 4) (default itemsize 4)", rtol=1e-12)
    for n, size in [(1000, 4), (1 << 20, 4), (10, 8), (3, 2)]:
        expected = engine.arithmetic_intensity(engine.elementwise_flops(n), engine.elementwise_bytes(n, itemsize=size))
        close(ai(n, size), expected, f"add_intensity({n}, itemsize={size})", rtol=1e-12)
    close(ai(12), 1 / 12, "add_intensity(12) (default itemsize 4)", rtol=1e-12)


@grader.check(points=1, needs=["roofline_bound"], hint="min(peak_gflops, intensity * bandwidth_gbs)")
def roofline_bound_is_exact(ns):
    fn = ns["roofline_bound"]
    for i, peak, bw in [(100.0, 200.0, 20.0), (1 / 12, 200.0, 24.0), (0.0, 50.0, 10.0), (5.0, 50.0, 10.0),
                        (4.9, 50.0, 10.0), (170.7, 300.0, 12.5)]:
        close(fn(i, peak, bw), engine.roofline_bound(i, peak, bw), f"roofline_bound({i}, {peak}, {bw})",
              rtol=1e-12)


@grader.check(points=3, needs=["linear_gelu"],
              hint="u = x @ w + b; 0.5 * u * (1 + tanh(sqrt(2/pi) * (u + 0.044715 * u^3))), from tinytorch ops "
                   "so gradients flow")
def linear_gelu_matches_fused_kernel(ns):
    fn = ns["linear_gelu"]
    rng = np.random.default_rng(180)
    for rows, n_in, n_out in [(4, 6, 5), (1, 3, 8), (10, 16, 16)]:
        xs = [tt.Tensor(rng.standard_normal(s), dtype=tt.float64, requires_grad=True)
              for s in ((rows, n_in), (n_in, n_out), (n_out,))]
        up = tt.Tensor(rng.standard_normal((rows, n_out)), dtype=tt.float64)
        out = fn(*xs)
        if not isinstance(out, tt.Tensor) or out.grad_fn is None:
            raise GradingError("linear_gelu returned a result with no autograd graph: build it from tinytorch ops")
        close(out, _C._nn_linear_gelu(*xs), f"linear_gelu(x ({rows}, {n_in}), w ({n_in}, {n_out}), b)",
              rtol=1e-9, atol=1e-13)
        (out * up).sum().backward()
        mine = [np.asarray(t.grad).copy() for t in xs]
        for t in xs:
            t.grad = None
        (_C._nn_linear_gelu(*xs) * up).sum().backward()
        for name, g, t in zip(("x", "w", "b"), mine, xs):
            close(g, t.grad, f"d/d{name} of sum(linear_gelu(x, w, b) * G) in float64", rtol=1e-8, atol=1e-12)
    from tinytorch.autograd import gradcheck
    xs = [tt.Tensor(rng.standard_normal(s), dtype=tt.float64, requires_grad=True) for s in ((3, 4), (4, 2), (2,))]
    gradcheck(lambda x, w, b: fn(x, w, b), xs)
    big = fn(tt.Tensor(np.array([[30.0, -30.0]]), dtype=tt.float64), tt.Tensor(np.eye(2), dtype=tt.float64),
             tt.Tensor(np.zeros(2), dtype=tt.float64))
    close(big, [[30.0, 0.0]], "linear_gelu at u = +-30 (gelu(u) -> u and -> 0)", atol=1e-12)
