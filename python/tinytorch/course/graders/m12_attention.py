"""Grader for module 12: causal mask, scaled dot-product attention (values, masks, float64 gradients)
and the head layout of MultiHeadAttention, all against the engine."""
import math

import numpy as np

import tinytorch as tt
from tinytorch.core import attention as engine
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("12")


def _pair(result, what):
    """The (output, weights) tuple a student's attention returned, or a GradingError saying what came back."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradingError(f"{what} returned {type(result).__name__}, expected the tuple (output, attention_weights) "
                           "like tinytorch.core.attention.scaled_dot_product_attention")
    return result


def _compare(ns, Q, K, V, mask, what, rtol=1e-5, atol=1e-5):
    out, w = _pair(ns["scaled_dot_product_attention"](Q, K, V, mask), what)
    e_out, e_w = engine.scaled_dot_product_attention(Q, K, V, mask)
    close(w, e_w, f"attention weights of {what}", rtol=rtol, atol=atol)
    close(out, e_out, f"output of {what}", rtol=rtol, atol=atol)
    if isinstance(out, tt.Tensor) and np.asarray(out).dtype != np.asarray(e_out).dtype:
        raise GradingError(f"{what}: output dtype {np.asarray(out).dtype}, the engine gives {np.asarray(e_out).dtype} "
                           "(cast an additive mask to the scores' dtype)")
    return as_array(w, what)


def _randn(rng, shape, scale=1.0):
    return tt.Tensor((rng.standard_normal(shape) * scale).astype(np.float32))


@grader.check(points=1, needs=["causal_mask"],
              hint="0.0 on and below the diagonal, -inf strictly above it (np.triu(..., k=1)), float32")
def causal_mask_matches_engine(ns):
    m = ns["causal_mask"](3)
    if not isinstance(m, tt.Tensor) or np.asarray(m).dtype != np.float32:
        raise GradingError("causal_mask(3) must return a float32 tinytorch Tensor (like the engine's causal_mask)")
    close(m, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], "causal_mask(3)", rtol=0, atol=0)
    for T in (1, 2, 5, 17):
        close(ns["causal_mask"](T), engine.causal_mask(T), f"causal_mask({T})", rtol=0, atol=0)


@grader.check(points=2, needs=["scaled_dot_product_attention"],
              hint="scores = Q @ K.transpose(-2, -1) / sqrt(d_k) with d_k = Q.shape[-1]; tt.softmax over the last "
                   "axis; return (weights @ V, weights)")
def sdpa_matches_engine_without_mask(ns):
    sdpa = ns["scaled_dot_product_attention"]
    # by hand: all scores equal -> uniform weights, output = mean of the value rows
    ones = tt.Tensor(np.ones((3, 2), dtype=np.float32))
    vals = tt.Tensor(np.array([[0, 3], [3, 0], [6, 6]], dtype=np.float32))
    out, w = _pair(sdpa(ones, ones, vals), "scaled_dot_product_attention(ones, ones, V)")
    close(w, np.full((3, 3), 1 / 3), "weights when every score is equal")
    close(out, [[3, 3]] * 3, "output when every score is equal")
    # by hand: d_k = 4, so the scores [0, 4] / sqrt(4) = [0, 2]
    q = tt.Tensor(np.array([[1, 1, 1, 1]], dtype=np.float32))
    k = tt.Tensor(np.array([[0, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32))
    v = tt.Tensor(np.array([[1.0], [0.0]], dtype=np.float32))
    p = 1 / (1 + math.exp(2))
    out, w = _pair(sdpa(q, k, v), "scaled_dot_product_attention(q, k, v)")
    close(w, [[p, 1 - p]], "weights of scores [0, 4] with d_k = 4 (scale by 1/sqrt(d_k) = 1/2)")
    close(out, [[p]], "output of the two-key example")
    rng = np.random.default_rng(120)
    for qs, ks, vs in [((5, 4), (5, 4), (5, 4)), ((2, 6, 8), (2, 6, 8), (2, 6, 8)),
                       ((2, 3, 4, 8), (2, 3, 7, 8), (2, 3, 7, 5)), ((3, 1, 16), (3, 9, 16), (3, 9, 2))]:
        Q, K, V = _randn(rng, qs), _randn(rng, ks), _randn(rng, vs)
        _compare(ns, Q, K, V, None, f"attention on Q {qs}, K {ks}, V {vs}")
    # broadcasting batch axes: one K, V shared by a batch of queries
    _compare(ns, _randn(rng, (2, 3, 4, 8)), _randn(rng, (4, 8)), _randn(rng, (4, 6)), None,
             "attention on Q (2, 3, 4, 8) with K (4, 8), V (4, 6) broadcast")
    # non-contiguous inputs: heads made by a permute, as MultiHeadAttention passes them
    x = _randn(rng, (2, 5, 3, 4))
    _compare(ns, x.permute(0, 2, 1, 3), x.permute(0, 2, 1, 3), x.permute(0, 2, 1, 3), None,
             "attention on permuted (non-contiguous) Q, K, V")
    # large logits: the softmax must stay finite
    _compare(ns, _randn(rng, (2, 4, 8), 40.0), _randn(rng, (2, 4, 8), 40.0), _randn(rng, (2, 4, 8)), None,
             "attention with very large scores (use a stable softmax)", rtol=1e-4, atol=1e-4)
    # numpy inputs are accepted like the engine's
    a = rng.standard_normal((4, 3)).astype(np.float32)
    _compare(ns, a, a, a, None, "attention on numpy arrays")


@grader.check(points=1, needs=["scaled_dot_product_attention"],
              hint="the weights are a softmax over the keys (last axis): nonnegative, each row sums to 1")
def sdpa_weights_are_distributions(ns):
    rng = np.random.default_rng(121)
    for shape, mask in [((2, 5, 6), None), ((2, 2, 6, 6), engine.causal_mask(6)),
                        ((3, 4, 4), np.tril(np.ones((4, 4), dtype=bool)))]:
        Q, K, V = (_randn(rng, shape, 3.0) for _ in range(3))
        _, w = _pair(ns["scaled_dot_product_attention"](Q, K, V, mask), "scaled_dot_product_attention")
        w = as_array(w, "attention weights")
        if w.shape != shape[:-1] + (shape[-2],):
            raise GradingError(f"attention weights for Q, K of shape {shape}: shape {w.shape}, expected "
                               f"{shape[:-1] + (shape[-2],)}")
        if (w < 0).any() or not np.allclose(w.sum(-1), 1.0, rtol=1e-5, atol=1e-6):
            raise GradingError(f"attention weights (Q {shape}, mask {'none' if mask is None else 'causal'}) are not "
                               f"distributions over the keys: row sums range {w.sum(-1).min():.6f}.."
                               f"{w.sum(-1).max():.6f}")


@grader.check(points=2, needs=["scaled_dot_product_attention"],
              hint="an additive mask (any negative entry) is added to the scores; a bool or 0/1 mask blocks the "
                   "zeros with masked_fill(blocked, MASK_VALUE); future weights must come out exactly 0")
def sdpa_causal_mask(ns):
    rng = np.random.default_rng(122)
    for shape in [(6, 4), (2, 5, 8), (2, 3, 7, 4)]:
        T = shape[-2]
        future = np.triu(np.ones((T, T), dtype=bool), k=1)
        Q, K, V = (_randn(rng, shape, 2.0) for _ in range(3))
        for label, mask in [("additive causal_mask (0 / -inf)", engine.causal_mask(T)),
                            ("additive -1e9 numpy mask", np.where(future, -1e9, 0.0)),
                            ("0/1 float keep mask (tril of ones)", engine.causal_mask(T, additive=False)),
                            ("bool keep mask", tt.Tensor(~future, dtype=tt.bool))]:
            w = _compare(ns, Q, K, V, mask, f"attention on {shape} with the {label}")
            if not (w[..., future] == 0).all():
                raise GradingError(f"attention on {shape} with the {label}: the weights above the diagonal "
                                   f"(future keys) must be exactly 0, largest is {np.abs(w[..., future]).max()!r}")


@grader.check(points=2, needs=["scaled_dot_product_attention"],
              hint="masks broadcast from the right, except a 3-D mask next to 4-D scores is (batch, T_q, T_k) "
                   "shared by the heads (unsqueeze(1)); blocked scores become MASK_VALUE (-1e9), not -inf")
def sdpa_padding_mask(ns):
    rng = np.random.default_rng(123)
    lengths = np.array([5, 3, 1])
    keys_ok = np.arange(5)[None, :] < lengths[:, None]                 # (B, T_k)
    Q, K, V = (_randn(rng, (3, 2, 5, 4)) for _ in range(3))
    w = _compare(ns, Q, K, V, tt.Tensor(keys_ok[:, None, None, :], dtype=tt.bool),
                 "4-D attention with a bool padding mask (B, 1, 1, T_k)")
    if not (w[~np.broadcast_to(keys_ok[:, None, None, :], w.shape)] == 0).all():
        raise GradingError("padding mask: padded keys must get exactly 0 weight")
    _compare(ns, Q, K, V, np.broadcast_to(keys_ok[:, None, :], (3, 5, 5)).astype(np.float32),
             "4-D attention with a 0/1 float mask (B, T_q, T_k) shared by the heads")
    q3, k3, v3 = (_randn(rng, (3, 5, 4)) for _ in range(3))
    _compare(ns, q3, k3, v3, keys_ok[:, None, :], "3-D attention with a numpy bool mask (B, 1, T_k)")
    _compare(ns, q3, k3, v3, tt.Tensor(np.where(keys_ok[:, None, :], 0.0, -np.inf), dtype=tt.float64),
             "float32 attention with a float64 additive mask (B, 1, T_k)")
    # a query that may look at nothing: every score becomes -1e9, so its weights are uniform (no NaN)
    keep = np.tril(np.ones((4, 4), dtype=bool))
    keep[2] = False
    w = _compare(ns, _randn(rng, (2, 4, 3)), _randn(rng, (2, 4, 3)), _randn(rng, (2, 4, 3)), keep,
                 "attention with a bool mask whose row 2 blocks every key")


@grader.check(points=3, needs=["scaled_dot_product_attention"],
              hint="build everything from tinytorch ops (matmul, transpose, division, masked_fill or +, tt.softmax) "
                   "so backward reaches Q, K and V")
def sdpa_gradients(ns):
    from tinytorch.autograd import gradcheck
    sdpa = ns["scaled_dot_product_attention"]
    rng = np.random.default_rng(124)
    keys_ok = np.array([[True, True, True, True, False], [True, True, False, False, False]])
    cases = [((2, 5, 4), (2, 5, 4), (2, 5, 3), None),
             ((2, 5, 4), (2, 5, 4), (2, 5, 3), engine.causal_mask(5)),
             ((2, 5, 4), (2, 5, 4), (2, 5, 3), tt.Tensor(np.tril(np.ones((5, 5), dtype=bool)), dtype=tt.bool)),
             ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6), tt.Tensor(keys_ok[:, None, None, :], dtype=tt.bool))]
    for qs, ks, vs, mask in cases:
        arrays = [rng.standard_normal(s) for s in (qs, ks, vs)]
        g_out = tt.Tensor(rng.standard_normal(qs[:-1] + (vs[-1],)), dtype=tt.float64)
        g_w = tt.Tensor(rng.standard_normal(qs[:-1] + (ks[-2],)), dtype=tt.float64)
        grads = []
        for fn in (sdpa, engine.scaled_dot_product_attention):
            leaves = [tt.Tensor(a, dtype=tt.float64, requires_grad=True) for a in arrays]
            out, w = _pair(fn(*leaves, mask), "scaled_dot_product_attention")
            if not isinstance(out, tt.Tensor) or out.grad_fn is None:
                raise GradingError("scaled_dot_product_attention returned an output with no autograd graph: "
                                   "build it from tinytorch ops, not numpy")
            ((out * g_out).sum() + (w * g_w).sum()).backward()
            grads.append([leaf.grad for leaf in leaves])
        label = "no mask" if mask is None else "a mask"
        for name, mine, ref in zip("QKV", *grads):
            if mine is None:
                raise GradingError(f"no gradient reached {name} (Q {qs}, {label})")
            close(mine, ref, f"float64 dL/d{name} of attention (Q {qs}, K {ks}, V {vs}, {label})",
                  rtol=1e-8, atol=1e-10)
    q, k, v = (tt.Tensor(rng.standard_normal((1, 3, 2)), dtype=tt.float64, requires_grad=True) for _ in range(3))
    cm = engine.causal_mask(3)
    gradcheck(lambda a, b, c: sdpa(a, b, c, cm)[0], [q, k, v])


def _engine_heads(a, H):
    B, T, E = a.shape
    return a.reshape(B, T, H, E // H).transpose(0, 2, 1, 3)


@grader.check(points=2, needs=["split_heads", "merge_heads"],
              hint="split: reshape(B, T, H, E // H) then permute(0, 2, 1, 3); merge: permute back, then reshape "
                   "(a direct reshape to (B, H, T, Dh) gives the right shape and the wrong layout)")
def split_merge_heads_layout(ns):
    split, merge = ns["split_heads"], ns["merge_heads"]
    x = tt.Tensor(np.arange(8, dtype=np.float32).reshape(1, 2, 4))
    close(split(x, 2), [[[[0, 1], [4, 5]], [[2, 3], [6, 7]]]], "split_heads(arange(8).reshape(1, 2, 4), 2)",
          rtol=0, atol=0)
    rng = np.random.default_rng(125)
    for B, T, E, H in [(2, 3, 8, 2), (1, 5, 12, 3), (3, 4, 6, 6), (2, 7, 16, 1), (2, 4, 16, 4)]:
        a = rng.standard_normal((B, T, E)).astype(np.float32)
        heads = split(tt.Tensor(a), H)
        close(heads, _engine_heads(a, H), f"split_heads(x {(B, T, E)}, {H})", rtol=0, atol=0)
        h = rng.standard_normal((B, H, T, E // H)).astype(np.float32)
        close(merge(tt.Tensor(h)), h.transpose(0, 2, 1, 3).reshape(B, T, E), f"merge_heads(x {(B, H, T, E // H)})",
              rtol=0, atol=0)
        close(merge(split(tt.Tensor(a), H)), a, f"merge_heads(split_heads(x {(B, T, E)}, {H}))", rtol=0, atol=0)
    try:
        split(tt.Tensor(np.zeros((1, 2, 4), dtype=np.float32)), 3)
    except ValueError:
        pass
    else:
        raise GradingError("split_heads(x of shape (1, 2, 4), 3) must raise ValueError: 4 is not divisible by 3")
    # a non-contiguous input, and gradients through both
    base = rng.standard_normal((3, 2, 8))
    x = tt.Tensor(base, dtype=tt.float64, requires_grad=True)
    xt = x.transpose(0, 1)                                            # (2, 3, 8), not contiguous
    close(split(xt, 4), _engine_heads(base.transpose(1, 0, 2), 4), "split_heads of a transposed input", rtol=0, atol=0)
    g = rng.standard_normal((2, 3, 8))
    (merge(split(xt, 4)) * tt.Tensor(g, dtype=tt.float64)).sum().backward()
    close(x.grad, g.transpose(1, 0, 2), "gradient through merge_heads(split_heads(x))", rtol=1e-12, atol=0)


@grader.check(points=2, needs=["split_heads", "merge_heads"],
              hint="MultiHeadAttention's head h is the column block [h*Dh, (h+1)*Dh) of each projection; "
                   "merge_heads must put it back in the same place before out_proj")
def heads_rebuild_multihead_attention(ns):
    from tinytorch.core.attention import MultiHeadAttention
    split, merge = ns["split_heads"], ns["merge_heads"]
    rng = np.random.default_rng(126)
    for B, T, E, H in [(2, 4, 8, 2), (1, 6, 12, 3), (2, 5, 16, 4)]:
        tt.manual_seed(int(E * 10 + H))
        mha = MultiHeadAttention(E, H)
        for lin in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            np.asarray(lin.bias)[:] = rng.standard_normal(E)
        x = _randn(rng, (B, T, E))
        for mask in (None, engine.causal_mask(T)):
            q, k, v = (split(p(x), H) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
            out, _ = engine.scaled_dot_product_attention(q, k, v, mask)
            close(mha.out_proj(merge(out)), mha(x, mask=mask),
                  f"out_proj(merge_heads(attention(split_heads(...)))) vs MultiHeadAttention({E}, {H}) on {(B, T, E)}"
                  f"{'' if mask is None else ' with the causal mask'}", rtol=1e-4, atol=1e-5)
