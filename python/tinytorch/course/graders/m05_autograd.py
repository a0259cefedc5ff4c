"""Grader for module 05: the student's backward rules (Functions) against the engine's own rules on the same
inputs, in float64, on fixed and random shapes with broadcasting, scalars, non-contiguous inputs, batched and
1-D matmuls, every axis form of sum and repeated embedding ids; plus finite differences (gradcheck)."""
import numpy as np

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("05")


def _leaf(x):
    return tt.Tensor(np.array(x, dtype=np.float64), dtype=tt.float64, requires_grad=True)


def _apply(ns, name, *args):
    fn = ns[name]
    if not hasattr(fn, "apply"):
        raise GradingError(f"{name} must be a tinytorch.autograd.Function subclass (class {name}(Function)) "
                           "with static forward(ctx, ...) and backward(ctx, g)")
    return fn.apply(*args)


def _compare(ns, name, engine_fn, arrays, extra=(), what=None, seed=0):
    """Forward values and the gradient of sum(out * W) for every tensor input: student's Function vs the engine."""
    what = what or f"{name}.apply({', '.join(str(np.shape(a)) for a in arrays)}{''.join(', ' + repr(e) for e in extra)})"
    mine = [_leaf(a) for a in arrays]
    ref = [_leaf(a) for a in arrays]
    out = _apply(ns, name, *mine, *extra)
    expected = engine_fn(*ref, *extra)
    if not isinstance(out, tt.Tensor):
        raise GradingError(f"{what} returned {type(out).__name__}, not a tinytorch Tensor")
    close(out, expected, f"forward of {what}", rtol=1e-12, atol=1e-12)
    if out.grad_fn is None:
        raise GradingError(f"{what}: the result has no grad_fn; call it as {name}.apply(...)")
    weights = tt.Tensor(np.random.default_rng(seed).standard_normal(expected.shape), dtype=tt.float64)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for i, (m, r) in enumerate(zip(mine, ref)):
        if m.grad is None:
            raise GradingError(f"{what}: no gradient reached input {i} (backward returned None for it?)")
        close(m.grad, r.grad, f"d/d input {i} of sum({what} * W)", rtol=1e-10, atol=1e-12)


def _gradcheck(ns, name, arrays, extra=()):
    leaves = [_leaf(a) for a in arrays]
    try:
        ok = gradcheck(lambda *t: _apply(ns, name, *t, *extra), leaves)
    except GradingError:
        raise
    except AssertionError as e:
        raise GradingError(f"{name}: finite differences disagree with your backward: {str(e)[:300]}")
    if not ok:
        raise GradingError(f"{name}: finite differences disagree with your backward")


# Shape pairs that broadcast in every way a binary op meets in a network.
_BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((4, 1, 3), (2, 1)), ((3,), (2, 4, 3)),
                  ((2, 3, 4), ()), ((), (5,)), ((1,), (2, 3)), ((2, 1, 1), (1, 3, 4))]


@grader.check(points=2, needs=["unbroadcast"],
              hint="sum away extra leading axes with g.sum(0), then g.sum(i, keepdims=True) wherever the target "
                   "shape has a 1 and g does not")
def unbroadcast_sums_back(ns):
    unbroadcast = ns["unbroadcast"]
    g = np.arange(24.0).reshape(2, 3, 4)
    # fixed, by hand: summing arange(24).reshape(2, 3, 4) over axes 0 and 2 gives [60, 92, 124]
    close(unbroadcast(tt.Tensor(g, dtype=tt.float64), (1, 3, 1)), [[[60.0], [92.0], [124.0]]],
          "unbroadcast(arange(24).reshape(2, 3, 4), (1, 3, 1))")
    close(unbroadcast(tt.Tensor(g, dtype=tt.float64), ()), 276.0, "unbroadcast(arange(24).reshape(2, 3, 4), ())")
    rng = np.random.default_rng(50)
    for out_shape, shape in [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((5, 1, 3), (1, 1, 3)),
                             ((2, 3), (1, 1)), ((4,), ()), ((3, 2), (1,)), ((2, 1, 5), (1, 5)), ((6,), (6,))]:
        x = rng.standard_normal(out_shape)
        expected = x.sum(axis=tuple(range(len(out_shape) - len(shape))))
        expected = expected.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1 and expected.shape[i] != 1),
                                keepdims=True) if shape else expected
        got = unbroadcast(tt.Tensor(x, dtype=tt.float64), shape)
        if not isinstance(got, tt.Tensor):
            raise GradingError(f"unbroadcast returned {type(got).__name__}; return a tinytorch Tensor")
        if tuple(got.shape) != tuple(shape):
            raise GradingError(f"unbroadcast(grad of shape {out_shape}, {shape}) has shape {tuple(got.shape)}, "
                               f"expected {tuple(shape)}")
        close(got, np.reshape(expected, shape), f"unbroadcast(grad of shape {out_shape}, {shape})", rtol=1e-12)


@grader.check(points=2, needs=["Sub", "unbroadcast"],
              hint="Sub.backward returns (g, -g), each summed back to its input's shape with unbroadcast")
def sub_matches_engine(ns):
    rng = np.random.default_rng(51)
    for i, (sa, sb) in enumerate(_BINARY_SHAPES):
        _compare(ns, "Sub", lambda a, b: a - b, [rng.standard_normal(sa), rng.standard_normal(sb)], seed=i)
    _gradcheck(ns, "Sub", [rng.standard_normal((2, 3)), rng.standard_normal((3,))])


@grader.check(points=2, needs=["Mul", "unbroadcast"],
              hint="Mul.backward returns (g * b, g * a), each unbroadcast; save a and b in forward")
def mul_matches_engine(ns):
    rng = np.random.default_rng(52)
    for i, (sa, sb) in enumerate(_BINARY_SHAPES):
        _compare(ns, "Mul", lambda a, b: a * b, [rng.standard_normal(sa), rng.standard_normal(sb)], seed=i)
    # the same tensor on both sides: its two gradients add up
    x = _leaf(rng.standard_normal((3, 2)))
    _apply(ns, "Mul", x, x).sum().backward()
    close(x.grad, 2 * as_array(x, "x"), "d/dx sum(Mul.apply(x, x))", rtol=1e-12)
    _gradcheck(ns, "Mul", [rng.standard_normal((2, 3)), rng.standard_normal((2, 1))])


@grader.check(points=2, needs=["Div", "unbroadcast"],
              hint="Div.backward returns (g / b, -g * a / b**2), each unbroadcast; mind the minus sign")
def div_matches_engine(ns):
    rng = np.random.default_rng(53)
    for i, (sa, sb) in enumerate(_BINARY_SHAPES):
        b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1.0, 1.0], sb)
        _compare(ns, "Div", lambda p, q: p / q, [rng.standard_normal(sa), b], seed=i)
    _gradcheck(ns, "Div", [rng.standard_normal((2, 3)), rng.uniform(1.0, 2.0, (3,))])


@grader.check(points=3, needs=["Matmul", "unbroadcast"],
              hint="d a = g @ b.transpose(-1, -2), d b = a.transpose(-1, -2) @ g (the LAST two axes), each "
                   "unbroadcast over the batch dims; a 1-D a is a (1, k) row, a 1-D b a (k, 1) column")
def matmul_matches_engine(ns):
    rng = np.random.default_rng(54)
    close(_apply(ns, "Matmul", _leaf([[1.0, 2.0], [3.0, 4.0]]), _leaf([[5.0], [6.0]])), [[17.0], [39.0]],
          "Matmul.apply([[1, 2], [3, 4]], [[5], [6]])")
    shapes = [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((4, 3), (2, 3, 5)), ((2, 1, 3, 4), (3, 4, 2)),
              ((2, 2, 3, 3), (2, 2, 3, 3)), ((4,), (4, 3)), ((2, 3, 4), (4,)), ((5,), (5,)), ((3,), (2, 3, 2)),
              ((1, 1), (1, 1))]
    for i, (sa, sb) in enumerate(shapes):
        _compare(ns, "Matmul", lambda a, b: a @ b, [rng.standard_normal(sa), rng.standard_normal(sb)], seed=i)
    _gradcheck(ns, "Matmul", [rng.standard_normal((2, 2, 3)), rng.standard_normal((3, 2))])


@grader.check(points=1, needs=["Transpose"],
              hint="Transpose.backward transposes g by the same two dims and returns (g_t, None, None)")
def transpose_matches_engine(ns):
    rng = np.random.default_rng(55)
    for i, (shape, d0, d1) in enumerate([((2, 3), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), -1, -2), ((2, 3, 4, 5), 1, 3),
                                         ((3, 3), 1, 0), ((2, 3), 1, 1)]):
        _compare(ns, "Transpose", lambda x, a, b: x.transpose(a, b), [rng.standard_normal(shape)], (d0, d1), seed=i)
    _gradcheck(ns, "Transpose", [rng.standard_normal((2, 3, 2))], (0, 2))


@grader.check(points=3, needs=["Sum"],
              hint="put the reduced axes back as 1s (axis may be None, an int, a tuple, negative; skip this if "
                   "keepdims), then broadcast g to the input shape")
def sum_matches_engine(ns):
    rng = np.random.default_rng(56)
    close(_apply(ns, "Sum", _leaf([[1.0, 2.0], [3.0, 4.0]]), 0, False), [4.0, 6.0], "Sum.apply([[1, 2], [3, 4]], 0, False)")
    cases = [((5,), None, False), ((2, 3), None, True), ((2, 3), 0, False), ((2, 3), 1, True), ((2, 3, 4), -1, False),
             ((2, 3, 4), (0, 2), False), ((2, 3, 4), (2, 0), False), ((2, 3, 4), (-1, 1), True), ((2, 3, 4), 1, False),
             ((2, 3, 4, 2), (1, 3), False), ((3,), 0, False), ((2, 3), (0, 1), False)]
    for i, (shape, axis, keep) in enumerate(cases):
        _compare(ns, "Sum", lambda x, a, k: x.sum(a, k), [rng.standard_normal(shape)], (axis, keep), seed=i)
    _gradcheck(ns, "Sum", [rng.standard_normal((2, 3, 2))], ((0, 2), False))


@grader.check(points=3, needs=["Embedding"],
              hint="backward: a zero (V, D) table with np.add.at(table, indices, g): repeated ids ADD, unused "
                   "rows stay 0; keep the dtype of g")
def embedding_scatter_adds(ns):
    rng = np.random.default_rng(57)
    table = np.arange(12.0).reshape(4, 3)
    w = _leaf(table)
    out = _apply(ns, "Embedding", w, tt.Tensor(np.array([3, 0, 3]), dtype=tt.int64))
    close(out, table[[3, 0, 3]], "Embedding.apply(arange(12).reshape(4, 3), [3, 0, 3])")
    out.sum().backward()
    close(w.grad, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [2, 2, 2]], "d weight of sum(Embedding.apply(w, [3, 0, 3]))")
    for V, D, shape in [(10, 4, (6,)), (7, 3, (2, 5)), (5, 2, (2, 3, 4)), (3, 6, (8,))]:
        table = rng.standard_normal((V, D))
        ids = rng.integers(0, V, size=shape)
        upstream = rng.standard_normal(shape + (D,))
        for dtype in (tt.float64, tt.float32):
            mine = tt.Tensor(table, dtype=dtype, requires_grad=True)
            ref = tt.Tensor(table, dtype=dtype, requires_grad=True)
            o = _apply(ns, "Embedding", mine, tt.Tensor(ids, dtype=tt.int64))
            close(o, table[ids], f"Embedding.apply(({V}, {D}) table, ids {shape})", rtol=1e-6)
            (o * tt.Tensor(upstream, dtype=dtype)).sum().backward()
            (tt.embedding(ref, tt.Tensor(ids, dtype=tt.int64)) * tt.Tensor(upstream, dtype=dtype)).sum().backward()
            if mine.grad is None:
                raise GradingError("Embedding: no gradient reached the weight")
            tol = (1e-10, 1e-12) if dtype == tt.float64 else (1e-5, 1e-6)
            close(mine.grad, ref.grad, f"d weight of sum(Embedding.apply(({V}, {D}) {dtype}, ids {shape}) * G)",
                  rtol=tol[0], atol=tol[1])
    ids = tt.Tensor(np.array([[1, 1], [0, 2]]), dtype=tt.int64)
    _gradcheck(ns, "Embedding", [rng.standard_normal((3, 2))], (ids,))


@grader.check(points=2, needs=["Matmul", "Mul", "Sub", "Sum", "Transpose"],
              hint="each rule is checked alone above: fix the first one that fails there")
def rules_compose_in_a_network(ns):
    """A small regression network built only from the student's Functions: all gradients as the engine's."""
    rng = np.random.default_rng(58)
    data = [rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal((1, 3)),
            rng.standard_normal((6, 3))]

    def loss_student(x, w, b, y):
        h = _apply(ns, "Sub", _apply(ns, "Matmul", x, w), _apply(ns, "Mul", b, _leaf(-1.0)))
        err = _apply(ns, "Sub", h, y)
        return _apply(ns, "Sum", _apply(ns, "Mul", err, _apply(ns, "Transpose", _apply(ns, "Transpose", err, 0, 1),
                                                                     0, 1)), None, False)

    def loss_engine(x, w, b, y):
        err = (x @ w - b * -1.0) - y
        return (err * err.transpose(0, 1).transpose(0, 1)).sum()

    mine, ref = [_leaf(d) for d in data], [_leaf(d) for d in data]
    lm, le = loss_student(*mine), loss_engine(*ref)
    close(lm, le, "the loss of a small network built from your Functions", rtol=1e-12)
    lm.backward()
    le.backward()
    for name, m, r in zip(["x", "w", "b", "y"], mine, ref):
        close(m.grad, r.grad, f"d loss / d {name} through your Functions", rtol=1e-10, atol=1e-12)
