"""Every backward rule of csrc/autograd/backward.h, checked two ways:

- the node the op records has the backward class's name
  (type(y.grad_fn).__name__ == "MulBackward", ...);
- tinytorch.autograd.gradcheck: the full Jacobian from the engine equals
  central finite differences in float64, on random shapes chosen by
  hypothesis, with broadcasting, and with non-contiguous inputs (transposed
  views and stepped slices as leaves; expanded views made inside the
  function, since an expanded leaf aliases its own elements).

Each case below builds (fn, inputs, node name) from hypothesis draws.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinytorch as tt
from tinytorch.autograd import gradcheck

from autograd_testing import LAYOUTS, SEEDS, axes_for, broadcast_pair, grad_fn_name, leaf, shapes, values

pytestmark = pytest.mark.module05

CASES = {}


def case(name):
    def register(builder):
        CASES[name] = builder
        return builder
    return register


def layout(draw):
    return draw(st.sampled_from(LAYOUTS))


def binary_leaves(draw, low=-2.0, high=2.0, away_from_zero=0.0, b_low=None, b_high=None):
    """Two leaves of mutually broadcastable shapes in random layouts."""
    shp = draw(broadcast_pair())
    sa, sb = shp.input_shapes
    a = leaf(values(draw(SEEDS), sa, low, high, away_from_zero), layout(draw))
    b = leaf(values(draw(SEEDS), sb, low if b_low is None else b_low, high if b_high is None else b_high,
                    away_from_zero), layout(draw))
    return a, b


def unary_leaf(draw, low=-2.0, high=2.0, away_from_zero=0.0, min_dims=1):
    return leaf(values(draw(SEEDS), draw(shapes(min_dims=min_dims)), low, high, away_from_zero), layout(draw))


# ---- arithmetic --------------------------------------------------------------------

@case("AddBackward")
def _(draw):
    return (lambda a, b: a + b), binary_leaves(draw)


@case("SubBackward")
def _(draw):
    return (lambda a, b: a - b), binary_leaves(draw)


@case("MulBackward")
def _(draw):
    return (lambda a, b: a * b), binary_leaves(draw)


@case("DivBackward")
def _(draw):
    return (lambda a, b: a / b), binary_leaves(draw, away_from_zero=0.5)


@case("PowBackward")
def _(draw):
    a, b = binary_leaves(draw, low=0.5, high=2.0)
    kind = draw(st.sampled_from(["both", "scalar_exponent", "scalar_base"]))
    if kind == "scalar_exponent":
        return (lambda x: x ** 3.0), (a,)
    if kind == "scalar_base":
        return (lambda y: 2.0 ** y), (b,)
    return (lambda x, y: x ** y), (a, b)


@case("MaximumBackward")
def _(draw):
    return tt.maximum, binary_leaves(draw)


@case("MinimumBackward")
def _(draw):
    return tt.minimum, binary_leaves(draw)


@case("NegBackward")
def _(draw):
    return (lambda a: -a), (unary_leaf(draw),)


# ---- elementwise functions ---------------------------------------------------------

@case("ExpBackward")
def _(draw):
    return tt.exp, (unary_leaf(draw),)


@case("LogBackward")
def _(draw):
    return tt.log, (unary_leaf(draw, 0.2, 3.0),)


@case("SqrtBackward")
def _(draw):
    return tt.sqrt, (unary_leaf(draw, 0.2, 3.0),)


@case("AbsBackward")
def _(draw):
    return tt.abs, (unary_leaf(draw, away_from_zero=0.1),)


@case("StepBackward")  # sign (and relu/abs masks under create_graph): zero derivative
def _(draw):
    return tt.sign, (unary_leaf(draw, away_from_zero=0.1),)


@case("SinBackward")
def _(draw):
    return tt.sin, (unary_leaf(draw),)


@case("CosBackward")
def _(draw):
    return tt.cos, (unary_leaf(draw),)


@case("TanhBackward")
def _(draw):
    return tt.tanh, (unary_leaf(draw),)


@case("SigmoidBackward")
def _(draw):
    return tt.sigmoid, (unary_leaf(draw, -4, 4),)


@case("ReLUBackward")
def _(draw):
    return tt.relu, (unary_leaf(draw, away_from_zero=0.1),)


@case("GELUBackward")
def _(draw):
    approximate = draw(st.sampled_from(["tanh", "none"]))
    return (lambda a: tt.gelu(a, approximate=approximate)), (unary_leaf(draw, -3, 3),)


@case("ErfBackward")
def _(draw):
    return tt.erf, (unary_leaf(draw),)


@case("ClipBackward")
def _(draw):
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.3), (-0.3, None)]))
    return (lambda a: tt.clip(a, lo, hi)), (unary_leaf(draw, -1, 1),)


# ---- reductions ----------------------------------------------------------------------

def reduction_case(draw, method, low=-2.0, high=2.0):
    x = unary_leaf(draw, low, high)
    axis = draw(axes_for(x.ndim))
    keepdims = draw(st.booleans())
    return (lambda a: getattr(a, method)(axis=axis, keepdims=keepdims)), (x,)


@case("SumBackward")
def _(draw):
    return reduction_case(draw, "sum")


@case("MeanBackward")
def _(draw):
    return reduction_case(draw, "mean")


@case("MaxBackward")
def _(draw):
    return reduction_case(draw, "max")


@case("MinBackward")
def _(draw):
    return reduction_case(draw, "min")


@case("ProdBackward")
def _(draw):
    return reduction_case(draw, "prod", 0.5, 1.5)


@case("VarBackward")
def _(draw):
    x = leaf(values(draw(SEEDS), draw(shapes()) + (3,)), layout(draw))
    axis = draw(st.sampled_from([None, -1, (0, -1)]))
    ddof = draw(st.sampled_from([0, 1]))
    keepdims = draw(st.booleans())
    return (lambda a: a.var(axis=axis, ddof=ddof, keepdims=keepdims)), (x,)


@case("StdBackward")
def _(draw):
    x = leaf(values(draw(SEEDS), draw(shapes()) + (3,)), layout(draw))
    axis = draw(st.sampled_from([None, -1, (0, -1)]))
    ddof = draw(st.sampled_from([0, 1]))
    keepdims = draw(st.booleans())
    return (lambda a: a.std(axis=axis, ddof=ddof, keepdims=keepdims)), (x,)


@case("LogSumExpBackward")
def _(draw):
    x = unary_leaf(draw)
    axis = draw(axes_for(x.ndim))
    keepdims = draw(st.booleans())
    return (lambda a: tt.logsumexp(a, axis=axis, keepdims=keepdims)), (x,)


@case("SoftmaxBackward")
def _(draw):
    x = unary_leaf(draw)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda a: tt.softmax(a, axis=axis)), (x,)


@case("LogSoftmaxBackward")
def _(draw):
    x = unary_leaf(draw)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda a: tt.log_softmax(a, axis=axis)), (x,)


# ---- matmul ----------------------------------------------------------------------------

MATMUL_SHAPES = {
    "2d": ((3, 4), (4, 2)),
    "batched_3d": ((2, 3, 4), (2, 4, 2)),
    "batched_4d": ((2, 2, 3, 2), (2, 2, 2, 3)),
    "broadcast_matrix": ((2, 3, 4), (4, 2)),
    "broadcast_batch": ((1, 3, 4), (2, 4, 2)),
    "broadcast_4d": ((2, 1, 3, 2), (3, 2, 2)),
    "vector_matrix": ((4,), (4, 3)),
    "matrix_vector": ((3, 4), (4,)),
    "vector_vector": ((4,), (4,)),
    "vector_batch": ((4,), (2, 4, 3)),
    "batch_vector": ((2, 3, 4), (4,)),
}


@case("MatmulBackward")
def _(draw):
    sa, sb = MATMUL_SHAPES[draw(st.sampled_from(sorted(MATMUL_SHAPES)))]
    a = leaf(values(draw(SEEDS), sa), layout(draw))
    b = leaf(values(draw(SEEDS), sb), layout(draw))
    return tt.matmul, (a, b)


# ---- views and shape ---------------------------------------------------------------------

@case("TransposeBackward")
def _(draw):
    x = unary_leaf(draw, min_dims=2)
    d0, d1 = draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=2, max_size=2))
    return (lambda a: a.transpose(d0, d1)), (x,)


@case("PermuteBackward")
def _(draw):
    x = unary_leaf(draw)
    perm = draw(st.permutations(range(x.ndim)))
    use_T = draw(st.booleans())
    return ((lambda a: a.T) if use_T else (lambda a: a.permute(*perm))), (x,)


@case("ReshapeBackward")
def _(draw):
    x = unary_leaf(draw)
    n = x._numel
    target = draw(st.sampled_from([(-1,), (n, 1), (1, -1), (1, n, 1)]))
    return (lambda a: a.reshape(*target)), (x,)


@case("SqueezeBackward")
def _(draw):
    shape = draw(shapes())
    where = draw(st.integers(0, len(shape)))
    shape = shape[:where] + (1,) + shape[where:]
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    dim = draw(st.sampled_from([None, where]))
    return (lambda a: a.squeeze(dim)), (x,)


@case("UnsqueezeBackward")
def _(draw):
    x = unary_leaf(draw)
    dim = draw(st.integers(-x.ndim - 1, x.ndim))
    return (lambda a: a.unsqueeze(dim)), (x,)


@case("FlattenBackward")
def _(draw):
    x = unary_leaf(draw, min_dims=2)
    start = draw(st.integers(0, x.ndim - 1))
    return (lambda a: a.flatten(start)), (x,)


SLICE_KEYS = {
    "int": lambda a: a[1],
    "negative_int": lambda a: a[-1],
    "step": lambda a: a[::2],
    "negative_step": lambda a: a[::-1],
    "negative_stop": lambda a: a[1:-1],
    "none": lambda a: a[None, 1:],
    "ellipsis": lambda a: a[..., -1],
    "mixed": lambda a: a[-2, None, ::2],
    "full": lambda a: a[:],
}


@case("SliceBackward")
def _(draw):
    shape = draw(shapes(min_dims=2))
    shape = (max(shape[0], 3),) + shape[1:]
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    return SLICE_KEYS[draw(st.sampled_from(sorted(SLICE_KEYS)))], (x,)


@case("ExpandBackward")
def _(draw):
    shape = draw(shapes())
    small = tuple(1 if draw(st.booleans()) else d for d in shape)
    lead = draw(st.sampled_from([(), (2,)]))
    x = leaf(values(draw(SEEDS), small), layout(draw))
    return (lambda a: a.expand(*(lead + shape))), (x,)


@case("CatBackward")
def _(draw):
    shape = draw(shapes())
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[axis] = draw(st.integers(1, 3))
        parts.append(leaf(values(draw(SEEDS), tuple(s)), layout(draw)))
    return (lambda *ts: tt.cat(list(ts), axis=axis)), tuple(parts)


@case("StackBackward")
def _(draw):
    shape = draw(shapes())
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [leaf(values(draw(SEEDS), shape), layout(draw)) for _ in range(draw(st.integers(1, 3)))]
    return (lambda *ts: tt.stack(list(ts), axis=axis)), tuple(parts)


@case("ContiguousBackward")
def _(draw):
    shape = (draw(st.integers(2, 4)), draw(st.integers(2, 4))) + draw(st.sampled_from([(), (3,)]))
    x = leaf(values(draw(SEEDS), shape), draw(st.sampled_from(["contiguous", "stepped"])))
    return (lambda a: a.transpose(0, 1).contiguous()), (x,)


# ---- selection ---------------------------------------------------------------------------

@case("WhereBackward")
def _(draw):
    a, b = binary_leaves(draw)
    cshape = draw(st.sampled_from([(), a.shape, b.shape]))
    cond = tt.Tensor(np.random.default_rng(draw(SEEDS)).random(cshape) > 0.5)
    return (lambda x, y: tt.where(cond, x, y)), (a, b)


@case("MaskedFillBackward")
def _(draw):
    x = unary_leaf(draw)
    mshape = draw(st.sampled_from([x.shape, x.shape[-1:], ()]))
    mask = tt.Tensor(np.random.default_rng(draw(SEEDS)).random(mshape) > 0.5)
    return (lambda a: tt.masked_fill(a, mask, -3.0)), (x,)


def random_index(draw, high, shape):
    return tt.Tensor(np.random.default_rng(draw(SEEDS)).integers(0, high, size=shape), dtype=tt.int64)


def window(draw):
    """(N, C, H, W) and a kernel/stride/padding that fits it."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    kh, kw = draw(st.integers(1, h + 2 * ph)), draw(st.integers(1, w + 2 * pw))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw)


@case("Im2ColBackward")  # convolution and pooling are built on it (tinytorch.core.spatial)
def _(draw):
    shape, k, s, p = window(draw)
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    return (lambda a: tt._C.im2col(a, k, s, p)), (x,)


@case("Col2ImBackward")
def _(draw):
    (n, c, h, w), (kh, kw), (sh, sw), (ph, pw) = window(draw)
    cols_shape = (n, c * kh * kw, ((h + 2 * ph - kh) // sh + 1) * ((w + 2 * pw - kw) // sw + 1))
    cols = leaf(values(draw(SEEDS), cols_shape), layout(draw))
    return (lambda a: tt._C.col2im(a, (h, w), (kh, kw), (sh, sw), (ph, pw))), (cols,)


@case("Conv2dBackward")  # the fused convolution (csrc/ops/conv.cpp) that Conv2d runs
def _(draw):
    (n, c, h, w), k, s, p = window(draw)
    o = draw(st.integers(1, 3))
    x = leaf(values(draw(SEEDS), (n, c, h, w)), layout(draw))
    weight = leaf(values(draw(SEEDS), (o, c) + k), layout(draw))
    bias = leaf(values(draw(SEEDS), (o,)))
    return (lambda a, b, d: tt._C.conv2d(a, b, d, s, p)), (x, weight, bias)


@case("MaxPool2dBackward")  # the fused max pooling (csrc/ops/pool.cpp)
def _(draw):
    shape, (kh, kw), s, (ph, pw) = window(draw)
    p = (min(ph, kh // 2), min(pw, kw // 2))  # a window may not lie entirely in the padding
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    return (lambda a: tt._C.max_pool2d(a, (kh, kw), s, p)), (x,)


@case("GatherBackward")
def _(draw):
    x = unary_leaf(draw)
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    ishape = list(x.shape)
    ishape[dim] = draw(st.integers(1, 4))  # more indices than the dim has: repeats accumulate
    idx = random_index(draw, x.shape[dim], tuple(ishape))
    return (lambda a: tt.gather(a, dim, idx)), (x,)


@case("IndexSelectBackward")
def _(draw):
    x = unary_leaf(draw)
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    idx = random_index(draw, x.shape[dim], (draw(st.integers(1, 5)),))
    return (lambda a: tt.index_select(a, dim, idx)), (x,)


TAKE_KEYS = {
    "take_flat": lambda a: tt.take(a, tt.Tensor(np.array([[0, -1], [0, 1]]), dtype=tt.int64)),
    "repeated_rows": lambda a: a[[0, 0, 2]],
    "row_and_column_arrays": lambda a: a[[0, 2, 0], [1, 1, 1]],
    "bool_mask": lambda a: a[tt.Tensor(np.array([True, False, True]))],
    "numpy_index": lambda a: a[np.array([2, 1, 2, 2])],
}


@case("TakeBackward")
def _(draw):
    shape = (3, draw(st.integers(2, 4))) + draw(st.sampled_from([(), (2,)]))
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    return TAKE_KEYS[draw(st.sampled_from(sorted(TAKE_KEYS)))], (x,)


@case("ScatterAddBackward")
def _(draw):
    x = unary_leaf(draw)
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    sshape = list(x.shape)
    sshape[dim] = draw(st.integers(1, 4))
    src = leaf(values(draw(SEEDS), tuple(sshape)), layout(draw))
    idx = random_index(draw, x.shape[dim], tuple(sshape))
    return (lambda a, s: tt.scatter_add(a, dim, idx, s)), (x, src)


@case("IndexAddBackward")
def _(draw):
    x = unary_leaf(draw)
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    k = draw(st.integers(1, 4))
    sshape = list(x.shape)
    sshape[dim] = k
    src = leaf(values(draw(SEEDS), tuple(sshape)), layout(draw))
    idx = random_index(draw, x.shape[dim], (k,))
    return (lambda a, s: tt.index_add(a, dim, idx, s)), (x, src)


@case("EmbeddingBackward")
def _(draw):
    vocab, dim = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    w = leaf(values(draw(SEEDS), (vocab, dim)), layout(draw))
    idx = random_index(draw, vocab, draw(shapes(max_dims=2)))
    return (lambda weight: tt.embedding(weight, idx)), (w,)


@case("ToDtypeBackward")
def _(draw):
    # float32 keeps ~7 digits, so finite differences need a larger step here.
    x = unary_leaf(draw)
    return (lambda a: a.astype(tt.float32)), (x,), dict(eps=1e-2, atol=1e-4, rtol=1e-4)


# ---- neural-network functions -----------------------------------------------------------

@case("LayerNormBackward")
def _(draw):
    shape = draw(shapes(max_dims=2)) + (draw(st.integers(2, 5)),)
    x = leaf(values(draw(SEEDS), shape), layout(draw))
    gamma = leaf(values(draw(SEEDS), shape[-1:]), layout(draw))
    beta = leaf(values(draw(SEEDS), shape[-1:]), layout(draw))
    eps = draw(st.sampled_from([1e-5, 0.1]))
    return (lambda a, g, b: tt.layer_norm(a, g, b, eps)), (x, gamma, beta)


@case("LinearBackward")
def _(draw):
    lead = draw(st.sampled_from([(3,), (2, 3)]))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = leaf(values(draw(SEEDS), lead + (n_in,)), layout(draw))
    w = leaf(values(draw(SEEDS), (n_in, n_out)), layout(draw))
    if draw(st.booleans()):  # two packed weights (the Q/K/V projections as one GEMM), one without bias
        w2 = leaf(values(draw(SEEDS), (n_in, 2)), layout(draw))
        b = leaf(values(draw(SEEDS), (n_out,)))
        return (lambda a, p, q, c: tt._C._nn_linear_packed(a, [p, q], [c, None])), (x, w, w2, b)
    b = leaf(values(draw(SEEDS), (n_out,)))
    return (lambda a, p, c: tt._C._nn_linear(a, p, c)), (x, w, b)


@case("LinearGeluBackward")
def _(draw):
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = leaf(values(draw(SEEDS), (draw(st.integers(1, 3)), n_in)), layout(draw))
    w = leaf(values(draw(SEEDS), (n_in, n_out)), layout(draw))
    b = leaf(values(draw(SEEDS), (n_out,)))
    return (lambda a, p, c: tt._C._nn_linear_gelu(a, p, c)), (x, w, b)


@case("AttentionBackward")
def _(draw):
    B, T, H, hd = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    qkv = leaf(values(draw(SEEDS), (B, T, 3 * H * hd)), layout(draw))
    mask = draw(st.sampled_from([None, "causal", "additive"]))
    m = {None: None, "causal": np.triu(np.full((T, T), -np.inf), 1),
         "additive": values(draw(SEEDS), (B, T, T), -3.0, 1.0)}[mask]
    return (lambda a: tt._C._nn_attention_core(a, H, m)), (qkv,)


@case("DropoutBackward")
def _(draw):
    x = unary_leaf(draw)
    p = draw(st.sampled_from([0.2, 0.5, 0.9]))
    seed = draw(st.integers(0, 1000))

    def fn(a):
        tt.manual_seed(seed)  # the same mask on every call gradcheck makes
        return tt.dropout(a, p, True)
    return fn, (x,)


@case("CrossEntropyBackward")
def _(draw):
    lead = draw(st.sampled_from([(4,), (2, 3)]))
    C = draw(st.integers(2, 5))
    logits = leaf(values(draw(SEEDS), lead + (C,), -3, 3), layout(draw))
    targets = np.random.default_rng(draw(SEEDS)).integers(0, C, size=lead).reshape(-1)
    ignore = draw(st.sampled_from([-100, 1]))
    if ignore == -100:
        targets[0] = -100
    targets[-1] = 0  # at least one target counts
    targets = targets.reshape(lead)
    t = tt.Tensor(targets, dtype=tt.int64)
    return (lambda a: tt.cross_entropy(a, t, ignore_index=ignore)), (logits,)


@case("MSEBackward")
def _(draw):
    p, t = binary_leaves(draw)
    return tt.mse_loss, (p, t)


@case("BCEBackward")
def _(draw):
    shape = draw(shapes())
    p = leaf(values(draw(SEEDS), shape, 0.05, 0.95), layout(draw))
    t = leaf(values(draw(SEEDS), shape, 0.0, 1.0), layout(draw))
    return tt.binary_cross_entropy, (p, t)


# ---- the test ------------------------------------------------------------------------------

@pytest.mark.parametrize("node", sorted(CASES))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_backward_rule(node, data):
    fn, inputs, *options = CASES[node](data.draw)
    tolerances = options[0] if options else dict(eps=1e-6, atol=1e-6, rtol=1e-5)
    out = fn(*inputs)
    assert out.requires_grad
    assert grad_fn_name(out) == node
    assert gradcheck(fn, inputs, **tolerances)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_expanded_inputs_to_every_binary_rule(data):
    """Broadcast (stride-0) operands: the gradient sums over the expanded dims."""
    shape = data.draw(shapes(min_dims=2))
    small = (1,) + shape[1:]
    a = leaf(values(data.draw(SEEDS), small, 0.5, 2.0), layout(data.draw))
    b = leaf(values(data.draw(SEEDS), shape, 0.5, 2.0), layout(data.draw))
    op = data.draw(st.sampled_from(["add", "sub", "mul", "div", "pow", "maximum"]))
    f = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
         "div": lambda x, y: x / y, "pow": lambda x, y: x ** y, "maximum": tt.maximum}[op]
    fn = lambda x, y: f(x.expand(*shape), y)  # noqa: E731
    assert gradcheck(fn, (a, b), atol=1e-6, rtol=1e-5)


def test_every_backward_class_is_covered():
    """The node types bound in tinytorch._C are exactly the ones tested here (plus helpers)."""
    bound = {name for name in dir(tt._C) if name.endswith("Backward")}
    not_ops = {"IndexScatterBackward", "PyFunctionBackward"}  # SliceBackward's own backward; custom Functions
    assert bound - not_ops == set(CASES)


def test_to_dtype_backward_is_exact():
    x = tt.Tensor(np.array([0.1, -2.5, 3.0]), requires_grad=True, dtype=tt.float64)
    y = x.astype(tt.float32)
    assert grad_fn_name(y) == "ToDtypeBackward" and y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    z = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (z.astype(tt.float64) * tt.Tensor(np.array([0.25, 0.5]), dtype=tt.float64)).sum().backward()
    assert z.grad.dtype == np.float32
    np.testing.assert_array_equal(z.grad.numpy(), [0.25, 0.5])
    assert x.astype(tt.int64).grad_fn is None and not x.astype(tt.int64).requires_grad


def test_slice_backward_second_order_node():
    """SliceBackward's own backward (used by double backward) is IndexScatterBackward."""
    x = tt.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=tt.float64)
    y = (x[:, ::2] ** 2).sum()
    (g,) = tt.autograd.grad(y, x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [[0, 0, 4], [6, 0, 10]])
    (g2,) = tt.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(g2.numpy(), [[2, 0, 2], [2, 0, 2]])


def test_max_splits_gradient_evenly_between_ties():
    x = tt.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True, dtype=tt.float64)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    y = tt.Tensor(np.array([1.0, 2.0, 2.0]), requires_grad=True, dtype=tt.float64)
    z = tt.Tensor(np.array([3.0, 2.0, 1.0]), requires_grad=True, dtype=tt.float64)
    tt.maximum(y, z).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0, 0.5, 1])
    np.testing.assert_array_equal(z.grad.numpy(), [1, 0.5, 0])


def test_prod_backward_with_zeros():
    """prod's gradient is the product of the other elements, also where some are 0."""
    x = tt.Tensor(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]), requires_grad=True,
                  dtype=tt.float64)
    x.prod(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_embedding_repeated_indices_accumulate():
    w = tt.Tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    idx = tt.Tensor(np.array([[1, 3, 1], [1, 0, 3]]), dtype=tt.int64)
    out = tt.embedding(w, idx)
    assert out.shape == (2, 3, 2) and grad_fn_name(out) == "EmbeddingBackward"
    (out * tt.Tensor(np.array([1.0, 10.0]))).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 10], [3, 30], [0, 0], [2, 20]])


def test_advanced_indexing_repeated_rows_accumulate():
    x = tt.Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    y = x[[0, 0, 2]]
    assert grad_fn_name(y) == "TakeBackward"
    np.testing.assert_array_equal(y.numpy(), [[0, 1], [0, 1], [4, 5]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [0, 0], [1, 1]])
    x.grad = None
    m = x[tt.Tensor(np.array([[True, False], [False, True], [True, True]]))]
    np.testing.assert_array_equal(m.numpy(), [0, 3, 4, 5])
    (m * tt.Tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0], [0, 2], [3, 4]])


def test_cross_entropy_ignore_index_gives_zero_rows():
    logits = tt.Tensor(np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3], [2.0, -1.0, 0.0]]), requires_grad=True,
                       dtype=tt.float64)
    targets = tt.Tensor(np.array([2, -100, 0]), dtype=tt.int64)
    loss = tt.cross_entropy(logits, targets)
    L = logits.numpy()
    p = np.exp(L - L.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected_loss = -(np.log(p[0, 2]) + np.log(p[2, 0])) / 2
    np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-12)
    loss.backward()
    expected = p.copy()
    expected[0, 2] -= 1
    expected[2, 0] -= 1
    expected[1] = 0
    np.testing.assert_allclose(logits.grad.numpy(), expected / 2, rtol=1e-12, atol=1e-15)


def test_dropout_backward_uses_the_forward_mask():
    tt.manual_seed(3)
    x = tt.Tensor(np.ones((50, 40)), requires_grad=True, dtype=tt.float64)
    y = tt.dropout(x, 0.25, True)
    assert grad_fn_name(y) == "DropoutBackward"
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-15)
    assert 0.65 < kept.mean() < 0.85
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))
    assert tt.dropout(x, 0.25, False) is x or np.array_equal(tt.dropout(x, 0.25, False).numpy(), x.numpy())
