"""Grader for module 11: embedding lookup and sinusoidal positional encoding, against the engine."""
import math

import numpy as np

import tinytorch as tt
from tinytorch.core.embeddings import Embedding, create_sinusoidal_embeddings
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("11")


def _engine_embedding(table, ids):
    """The engine's Embedding layer with its weight replaced by `table` (float32)."""
    layer = Embedding(table.shape[0], table.shape[1])
    np.asarray(layer.weight)[...] = table
    return np.asarray(layer(ids))


@grader.check(points=2, needs=["embedding_lookup"],
              hint="return weight rows for every id, shape indices.shape + (D,): e.g. index_select on the "
                   "flattened ids, then reshape")
def lookup_matches_engine(ns):
    lookup = ns["embedding_lookup"]
    # fixed, worked out by hand: row r of arange(12).reshape(4, 3) is [3r, 3r+1, 3r+2]
    w = tt.Tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    got = lookup(w, tt.Tensor(np.array([[1, 3], [1, 0]]), dtype=tt.int64))
    close(got, [[[3, 4, 5], [9, 10, 11]], [[3, 4, 5], [0, 1, 2]]], "embedding_lookup(arange table, [[1, 3], [1, 0]])")
    rng = np.random.default_rng(11)
    for V, D, shape in [(10, 6, (5,)), (10, 6, (2, 3)), (7, 3, (2, 3, 4)), (5, 4, ()), (9, 2, (1, 1)),
                        (50, 8, (3, 0))]:
        table = rng.standard_normal((V, D)).astype(np.float32)
        ids = rng.integers(0, V, size=shape)
        expected = _engine_embedding(table, ids)
        close(lookup(tt.Tensor(table), tt.Tensor(ids, dtype=tt.int64)), expected,
              f"embedding_lookup(({V}, {D}) table, int64 Tensor ids of shape {shape})")
        close(lookup(tt.Tensor(table), ids), expected,
              f"embedding_lookup(({V}, {D}) table, numpy ids of shape {shape})")
    # a non-contiguous table: the transpose of a (D, V) tensor
    base = rng.standard_normal((5, 12)).astype(np.float32)
    ids = rng.integers(0, 12, size=(3, 4))
    close(lookup(tt.Tensor(base).transpose(0, 1), ids), _engine_embedding(base.T.copy(), ids),
          "embedding_lookup(transposed (12, 5) table, ids (3, 4))")


@grader.check(points=3, needs=["embedding_lookup"],
              hint="build the output from differentiable tinytorch ops (weight[idx] or tt.index_select), "
                   "not from numpy: repeated ids must add their gradients into the same row")
def lookup_gradient_scatter_adds(ns):
    lookup = ns["embedding_lookup"]
    rng = np.random.default_rng(12)
    for V, D, ids in [(6, 4, np.array([[1, 3, 1], [0, 5, 3]])),
                      (8, 3, rng.integers(0, 8, size=(4, 5))),
                      (5, 2, np.array([2, 2, 2, 2]))]:
        table = rng.standard_normal((V, D))
        upstream = rng.standard_normal(ids.shape + (D,))
        w = tt.Tensor(table, dtype=tt.float64, requires_grad=True)
        out = lookup(w, ids)
        if not isinstance(out, tt.Tensor) or out.grad_fn is None:
            raise GradingError("embedding_lookup(weight, ids) with weight.requires_grad=True returned a result "
                               "with no autograd graph: build it from tinytorch ops, not numpy")
        (out * tt.Tensor(upstream, dtype=tt.float64)).sum().backward()
        if w.grad is None:
            raise GradingError("embedding_lookup: no gradient reached weight after backward()")
        ref = tt.Tensor(table, dtype=tt.float64, requires_grad=True)
        (tt.embedding(ref, tt.Tensor(ids, dtype=tt.int64)) * tt.Tensor(upstream, dtype=tt.float64)).sum().backward()
        close(w.grad, ref.grad, f"d/d weight of sum(embedding_lookup(weight, ids {ids.shape}) * G) in float64",
              rtol=1e-10, atol=1e-12)
        unused = np.setdiff1d(np.arange(V), ids)
        if unused.size and np.any(as_array(w.grad, "weight.grad")[unused] != 0):
            raise GradingError(f"embedding_lookup: rows {unused.tolist()} were never looked up but got a "
                               "nonzero gradient")
    # finite differences on a small case with a repeated id
    from tinytorch.autograd import gradcheck
    table = tt.Tensor(rng.standard_normal((4, 3)), dtype=tt.float64, requires_grad=True)
    ids = np.array([[3, 0], [3, 3]])
    gradcheck(lambda t: lookup(t, ids), [table])


@grader.check(points=1, needs=["embedding_lookup"],
              hint="check 0 <= id < V yourself before indexing (tensor indexing wraps -1 to the last row) "
                   "and raise IndexError")
def lookup_rejects_out_of_range(ns):
    lookup = ns["embedding_lookup"]
    table = tt.Tensor(np.arange(15.0, dtype=np.float32).reshape(5, 3))
    close(lookup(table, np.array([4, 0])), [[12, 13, 14], [0, 1, 2]], "embedding_lookup(table, [4, 0])")
    for bad in ([0, 5], [[1, 2], [9, 0]], [-1], [2, -5]):
        try:
            lookup(table, np.array(bad))
        except IndexError:
            continue
        raise GradingError(f"embedding_lookup(table with 5 rows, {bad}) did not raise IndexError: ids must be in "
                           "0..4 (negative ids are not 'counted from the end' for tokens)")


@grader.check(points=1, needs=["sinusoidal_positional_encoding"],
              hint="PE[pos, 2i] = sin(pos / 10000^(2i/dim)), PE[pos, 2i+1] = cos of the same angle; a float32 Tensor")
def pe_fixed_values(ns):
    pe = ns["sinusoidal_positional_encoding"](3, 4)
    if not isinstance(pe, tt.Tensor):
        raise GradingError(f"sinusoidal_positional_encoding returned {type(pe).__name__}, expected a tinytorch Tensor")
    if np.asarray(pe).dtype != np.float32:
        raise GradingError(f"sinusoidal_positional_encoding: dtype {np.asarray(pe).dtype}, expected float32")
    # pair 1 of dim 4: frequency 1 / 10000^(2/4) = 1/100
    expected = [[0, 1, 0, 1],
                [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]]
    close(pe, expected, "sinusoidal_positional_encoding(3, 4)", rtol=1e-6, atol=1e-7)
    close(ns["sinusoidal_positional_encoding"](2, 1), [[0], [math.sin(1)]], "sinusoidal_positional_encoding(2, 1)",
          rtol=1e-6, atol=1e-7)


@grader.check(points=2, needs=["sinusoidal_positional_encoding"],
              hint="compare with tinytorch.core.embeddings.create_sinusoidal_embeddings; odd dim: the last column "
                   "is a sine without a cosine partner; compute the angles in float64")
def pe_matches_engine(ns):
    fn = ns["sinusoidal_positional_encoding"]
    for T, d in [(1, 2), (10, 6), (7, 5), (5, 3), (50, 16), (33, 17), (512, 64), (2048, 8)]:
        pe = fn(T, d)
        close(pe, np.asarray(create_sinusoidal_embeddings(T, d)), f"sinusoidal_positional_encoding({T}, {d})",
              rtol=1e-5, atol=2e-6)
        if np.asarray(pe).dtype != np.float32:
            raise GradingError(f"sinusoidal_positional_encoding({T}, {d}): dtype {np.asarray(pe).dtype}, "
                               "expected float32")
