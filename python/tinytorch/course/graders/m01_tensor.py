"""Grader for module 01: the broadcast shape rule, contiguous strides and the view-or-copy rule of reshape,
against the engine's own tensors (the result shape of an add, the strides of a fresh tensor, and whether the
engine's reshape of a real view shared memory, with which strides)."""
import itertools

import numpy as np

import tinytorch as tt
from tinytorch.course.grading import Grader, GradingError

grader = Grader("01")


def _engine_broadcast(*shapes):
    out = tt.zeros(*shapes[0]) if shapes else tt.zeros()
    for s in shapes[1:]:
        out = out + tt.zeros(*s)
    return tuple(out.shape)


def _as_tuple(value, what):
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        raise GradingError(f"{what} returned {value!r}; return a tuple of ints")


@grader.check(points=2, needs=["broadcast_shape"],
              hint="align the shapes from the RIGHT; per position the sizes must match or one must be 1")
def broadcast_shape_matches_engine(ns):
    f = ns["broadcast_shape"]
    fixed = [(((3, 4), (4,)), (3, 4)), (((2, 1, 5), (3, 1)), (2, 3, 5)), (((), (2, 3)), (2, 3)),
             (((1,), (1, 1), (5, 1, 1)), (5, 1, 1)), (((4, 1), (1, 5)), (4, 5)), (((2, 0, 3), (1, 3)), (2, 0, 3)),
             (((1, 0), (3, 1)), (3, 0)), (((7,),), (7,)), ((), ())]
    for shapes, expected in fixed:
        got = _as_tuple(f(*shapes), f"broadcast_shape{shapes}")
        if got != expected:
            raise GradingError(f"broadcast_shape{shapes} returned {got}, expected {expected}")
    rng = np.random.default_rng(10)
    for _ in range(60):
        n = int(rng.integers(1, 4))
        out = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(0, 5))))
        shapes = []
        for _ in range(n):
            cut = int(rng.integers(0, len(out) + 1))
            shapes.append(tuple(1 if rng.random() < 0.4 else s for s in out[cut:]))
        expected = _engine_broadcast(*shapes)
        got = _as_tuple(f(*shapes), f"broadcast_shape{tuple(shapes)}")
        if got != expected:
            raise GradingError(f"broadcast_shape{tuple(shapes)} returned {got}; the engine's add gives {expected}")


@grader.check(points=1, needs=["broadcast_shape"],
              hint="raise ValueError when two sizes differ and neither is 1")
def broadcast_shape_rejects_mismatches(ns):
    f = ns["broadcast_shape"]
    for shapes in [((3, 4), (3,)), ((2, 3), (3, 2)), ((2,), (1,), (3,)), ((4, 2, 2), (3, 2)), ((0,), (2,))]:
        try:
            got = f(*shapes)
        except ValueError:
            continue
        except Exception as e:
            raise GradingError(f"broadcast_shape{shapes} raised {type(e).__name__}; raise ValueError instead")
        raise GradingError(f"broadcast_shape{shapes} returned {got!r}; these shapes cannot broadcast "
                           "(the engine's add raises ValueError)")


@grader.check(points=2, needs=["contiguous_strides"],
              hint="walk from the last axis: stride 1, then multiply by each size (a size 0 counts as 1)")
def contiguous_strides_match_engine(ns):
    f = ns["contiguous_strides"]
    fixed = [((2, 3, 4), (12, 4, 1)), ((5,), (1,)), ((), ()), ((1, 1), (1, 1)), ((3, 1, 2), (2, 2, 1))]
    for shape, expected in fixed:
        got = _as_tuple(f(shape), f"contiguous_strides({shape})")
        if got != expected:
            raise GradingError(f"contiguous_strides({shape}) returned {got}, expected {expected}")
    rng = np.random.default_rng(11)
    shapes = [(2, 0, 3), (0,), (4, 0)] + [tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 6))))
                                          for _ in range(30)]
    for shape in shapes:
        expected = tuple(tt.zeros(*shape)._strides)
        got = _as_tuple(f(shape), f"contiguous_strides({shape})")
        if got != expected:
            raise GradingError(f"contiguous_strides({shape}) returned {got}; a fresh engine tensor has {expected}")


def _views():
    """(description, a real engine view) pairs over one buffer: transposes, permutes, slices, expands."""
    base = tt.arange(720.0).reshape(2, 3, 4, 5, 6)
    small = tt.arange(24.0).reshape(2, 3, 4)
    out = [("contiguous (2, 3, 4)", small), ("(2, 3, 4).transpose(0, 2)", small.transpose(0, 2)),
           ("(2, 3, 4).transpose(1, 2)", small.transpose(1, 2)), ("(2, 3, 4)[:, ::2]", small[:, ::2]),
           ("(2, 3, 4)[:, 1]", small[:, 1]), ("(2, 3, 4)[1:]", small[1:]), ("(2, 3, 4)[..., 1:3]", small[..., 1:3]),
           ("(2, 3, 4).unsqueeze(1)", small.unsqueeze(1)), ("(2, 3, 4)[:, :1]", small[:, :1]),
           ("(3, 1) expanded to (3, 4)", tt.arange(3.0).reshape(3, 1).expand(3, 4)),
           ("(1, 4) expanded to (3, 4)", tt.arange(4.0).reshape(1, 4).expand(3, 4)),
           ("(4,) expanded to (2, 3, 4)", tt.arange(4.0).expand(2, 3, 4)),
           ("(2, 3, 4, 5, 6).permute(0, 1, 4, 2, 3)", base.permute(0, 1, 4, 2, 3)),
           ("(2, 3, 4, 5, 6).permute(4, 3, 2, 1, 0)", base.permute(4, 3, 2, 1, 0)),
           ("(2, 3, 4, 5, 6)[:, :, ::2, :, 1:4]", base[:, :, ::2, :, 1:4]),
           ("(2, 3, 4, 5, 6).transpose(0, 1)", base.transpose(0, 1))]
    return out


def _factorizations(shape, rng, count):
    """New shapes with the same number of entries: merged neighbours, split axes, inserted 1s, random ones."""
    n = int(np.prod(shape))
    dims = list(shape)
    found = {tuple(dims), (n,)}
    for i in range(len(dims) - 1):                              # merge two neighbours
        found.add(tuple(dims[:i] + [dims[i] * dims[i + 1]] + dims[i + 2:]))
    for i, d in enumerate(dims):                                # split one axis
        for f in range(2, d):
            if d % f == 0:
                found.add(tuple(dims[:i] + [f, d // f] + dims[i + 1:]))
    for i in range(len(dims) + 1):
        found.add(tuple(dims[:i] + [1] + dims[i:]))             # insert a size-1 axis
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    for _ in range(count):                                      # random factorizations
        a = int(rng.choice(divisors))
        b = int(rng.choice([d for d in divisors if (n // a) % d == 0]))
        found.add((a, b, n // a // b))
    return sorted(found)


def _engine_view_strides(t, new_shape):
    y = t.reshape(*new_shape)
    return tuple(y._strides) if np.shares_memory(np.asarray(y), np.asarray(t)) else None


def _check_reshape(f, what, shape, strides, new_shape, expected):
    got = f(tuple(shape), tuple(strides), tuple(new_shape))
    if expected is None:
        if got is not None:
            raise GradingError(f"reshape_view_strides({tuple(shape)}, {tuple(strides)}, {tuple(new_shape)}) "
                               f"[{what}] returned {got!r}, but no strides can view this memory in that shape "
                               "(the engine's reshape copies): return None")
        return
    if got is None:
        raise GradingError(f"reshape_view_strides({tuple(shape)}, {tuple(strides)}, {tuple(new_shape)}) [{what}] "
                           f"returned None, but the engine's reshape is a view with strides {expected}")
    got = _as_tuple(got, "reshape_view_strides")
    if len(got) != len(new_shape) or any(g != e for g, e, n in zip(got, expected, new_shape) if n != 1):
        raise GradingError(f"reshape_view_strides({tuple(shape)}, {tuple(strides)}, {tuple(new_shape)}) [{what}] "
                           f"returned {got}; the engine's view has strides {expected} (size-1 axes not compared)")


@grader.check(points=2, needs=["reshape_view_strides"],
              hint="a contiguous input is always a view: its new strides are the contiguous strides of new_shape")
def reshape_of_contiguous_is_a_view(ns):
    f = ns["reshape_view_strides"]
    for shape, new_shape, expected in [((3, 4), (2, 6), (6, 1)), ((3, 4), (12,), (1,)), ((2, 3, 4), (4, 6), (6, 1)),
                                       ((2, 3, 4), (2, 12), (12, 1)), ((24,), (2, 3, 4), (12, 4, 1)),
                                       ((6,), (1, 6, 1), (6, 1, 1)), ((), (1, 1), (1, 1))]:
        _check_reshape(f, "contiguous", shape, tt.zeros(*shape)._strides, new_shape, expected)


@grader.check(points=3, needs=["reshape_view_strides"],
              hint="merge neighbours with strides[i] == shape[i+1] * strides[i+1] into chunks (skip size-1 axes); "
                   "a new axis may not cross a chunk boundary, else return None")
def reshape_of_views_matches_engine(ns):
    f = ns["reshape_view_strides"]
    # fixed, by hand: x.T of a (3, 4) tensor is shape (4, 3), strides (1, 4)
    _check_reshape(f, "x.T", (4, 3), (1, 4), (12,), None)
    _check_reshape(f, "x.T", (4, 3), (1, 4), (2, 2, 3), (2, 1, 4))
    _check_reshape(f, "expanded row", (3, 4), (0, 1), (12,), None)
    _check_reshape(f, "expanded twice", (3, 4), (0, 0), (12,), (0,))
    rng = np.random.default_rng(12)
    for what, view in _views():
        for new_shape in _factorizations(tuple(view.shape), rng, 6):
            _check_reshape(f, what, view.shape, view._strides, new_shape, _engine_view_strides(view, new_shape))


@grader.check(points=1, needs=["reshape_view_strides"],
              hint="a tensor with no entries can take any layout: return the contiguous strides of new_shape")
def reshape_of_empty_is_a_view(ns):
    f = ns["reshape_view_strides"]
    for shape, strides, new_shape in [((0, 3), (3, 1), (3, 0)), ((2, 0), (1, 2), (0,)), ((4, 0, 2), (1, 8, 4), (0, 8))]:
        got = f(shape, strides, new_shape)
        if got is None or len(_as_tuple(got, "reshape_view_strides")) != len(new_shape):
            raise GradingError(f"reshape_view_strides({shape}, {strides}, {new_shape}) returned {got!r}; "
                               f"an empty tensor is always viewable: return {len(new_shape)} strides")


# every permutation of a (2, 3, 4) tensor reshaped to each merge: a dense sweep of the rule
@grader.check(points=2, needs=["reshape_view_strides", "contiguous_strides"],
              hint="test your function on every permute of a small tensor against the engine's reshape")
def reshape_of_every_permutation(ns):
    f = ns["reshape_view_strides"]
    small = tt.arange(24.0).reshape(2, 3, 4)
    if tuple(ns["contiguous_strides"]((2, 3, 4))) != (12, 4, 1):
        raise GradingError("contiguous_strides((2, 3, 4)) must be (12, 4, 1) first")
    for perm in itertools.permutations(range(3)):
        view = small.permute(*perm)
        s = tuple(view.shape)
        for new_shape in [(24,), (s[0] * s[1], s[2]), (s[0], s[1] * s[2]), (s[0], s[1], s[2], 1), (1,) + s]:
            _check_reshape(f, f"permute{perm}", s, view._strides, new_shape, _engine_view_strides(view, new_shape))
