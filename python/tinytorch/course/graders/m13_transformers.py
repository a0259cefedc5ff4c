"""Grader of module 13: layer_norm, mlp, transformer_block, gpt_forward.

Every value is compared with the engine's fused C++ layers (tt.layer_norm,
MLP, TransformerBlock, GPT) on parameters drawn at random (so a forgotten
beta or bias cannot hide behind the ones / zeros a fresh layer starts with),
and gradients in float64 with the engine's own backward.
"""
import numpy as np

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.attention import causal_mask
from tinytorch.core.transformer import GPT, MLP, TransformerBlock
from tinytorch.course.grading import Grader, GradingError, as_array, close

grader = Grader("13")


def _t(a, dtype=np.float32, grad=False):
    return tt.Tensor(np.asarray(a, dtype=dtype), dtype=dtype, requires_grad=grad)


def _randomize(mod, rng, dtype=np.float32):
    """Every parameter of mod replaced by a fresh random tensor of `dtype` (LayerNorm gamma near 1)."""
    for sub in mod.modules():
        for key, val in list(vars(sub).items()):
            if not (isinstance(val, tt.Tensor) and val.requires_grad):
                continue
            if key == "gamma":
                new = 1 + 0.3 * rng.standard_normal(val.shape)
            elif key in ("beta", "bias"):
                new = 0.3 * rng.standard_normal(val.shape)
            else:
                new = rng.standard_normal(val.shape) / np.sqrt(val.shape[0])
            setattr(sub, key, _t(new, dtype, grad=True))
    return mod


def _grads(tensors):
    out = []
    for t in tensors:
        out.append(None if t.grad is None else np.asarray(t.grad, dtype=np.float64).copy())
        t.grad = None
    return out


def _compare_grads(mine, engine, names, what, rtol=1e-6, atol=1e-9):
    for got, exp, name in zip(mine, engine, names):
        if got is None:
            raise GradingError(f"{what}: no gradient reached {name}; build the result from differentiable "
                               "tinytorch ops on the given tensors (no numpy round trip, no new Tensor)")
        close(got, exp, f"{what}: gradient of {name}", rtol=rtol, atol=atol)


# ---------------------------------------------------------------- layer_norm

@grader.check(points=1, needs=["layer_norm"],
              hint="x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25 (divide by D, not D - 1)")
def layer_norm_by_hand(ns):
    ln = ns["layer_norm"]
    x = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 6.0]])
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    norm = (x - mean) / np.sqrt(var + 1e-5)
    close(ln(_t(x), _t(np.ones(4)), _t(np.zeros(4))), norm, "layer_norm([[1,2,3,4],[2,2,2,6]], 1, 0)", rtol=1e-5)
    g, b = np.array([2.0, -1.0, 0.5, 1.0]), np.array([0.5, 0.0, -1.0, 3.0])
    close(ln(_t(x), _t(g), _t(b)), norm * g + b, "layer_norm(x, gamma, beta)", rtol=1e-5)
    close(ln(_t(x), _t(g), _t(b), eps=0.5), (x - mean) / np.sqrt(var + 0.5) * g + b,
          "layer_norm(x, gamma, beta, eps=0.5) (eps goes inside the square root)", rtol=1e-5)


@grader.check(points=2, needs=["layer_norm"],
              hint="normalize over the last axis only; variance of the centred values (not E[x^2]-E[x]^2); "
                   "eps inside the sqrt")
def layer_norm_matches_engine(ns):
    ln = ns["layer_norm"]
    rng = np.random.default_rng(130)
    cases = [((7,), 1.0, 0.0, 1e-5), ((3, 5), 1.0, 0.0, 1e-5), ((2, 4, 16), 2.0, 0.5, 1e-5),
             ((4, 8), 1e-3, 0.0, 1e-5),        # variance ~1e-6: eps matters
             ((3, 32), 1.0, 1e3, 1e-5),        # far from zero: E[x^2] - E[x]^2 cancels in float32
             ((2, 3, 6), 1.0, 0.0, 1e-2)]
    for shape, scale, offset, eps in cases:
        x = _t(rng.standard_normal(shape) * scale + offset)
        g, b = _t(rng.standard_normal(shape[-1])), _t(rng.standard_normal(shape[-1]))
        tol = 1e-3 if offset else 1e-4  # float32 holds x + 1e3 to ~6e-5 only
        close(ln(x, g, b, eps), tt.layer_norm(x, g, b, eps), f"layer_norm(x {shape}, eps={eps}), x*{scale}+{offset}",
              rtol=tol, atol=tol)
    # a transposed (non-contiguous) input: normalized over its own last axis
    base = _t(rng.standard_normal((6, 4)))
    xt = base.transpose(0, 1)
    g, b = _t(rng.standard_normal(6)), _t(rng.standard_normal(6))
    close(ln(xt, g, b), tt.layer_norm(xt.contiguous(), g, b), "layer_norm(x.transpose(0, 1))", rtol=1e-4, atol=1e-5)
    y = ln(_t(rng.standard_normal((2, 3)), np.float64), _t(np.ones(3), np.float64), _t(np.zeros(3), np.float64))
    if not isinstance(y, tt.Tensor) or y.dtype != tt.float64:
        raise GradingError(f"layer_norm on float64 inputs returned {type(y).__name__} "
                           f"{getattr(y, 'dtype', '')}; keep the input's dtype (use Tensor ops, not numpy)")


@grader.check(points=2, needs=["layer_norm"],
              hint="use differentiable Tensor ops (mean, -, *, /, sqrt) on x, gamma and beta themselves")
def layer_norm_gradients(ns):
    ln = ns["layer_norm"]
    rng = np.random.default_rng(131)
    for shape in [(5,), (3, 6), (2, 3, 4)]:
        x = _t(rng.standard_normal(shape) * 2 + 1, np.float64, grad=True)
        g = _t(rng.standard_normal(shape[-1]), np.float64, grad=True)
        b = _t(rng.standard_normal(shape[-1]), np.float64, grad=True)
        w = _t(rng.standard_normal(shape), np.float64)
        out = ln(x, g, b)
        if not isinstance(out, tt.Tensor) or not out.requires_grad:
            raise GradingError("layer_norm's result does not require grad: it must be built from tinytorch ops "
                               "on x, gamma and beta, so backward can reach them")
        (out * w).sum().backward()
        mine = _grads([x, g, b])
        (tt.layer_norm(x, g, b) * w).sum().backward()
        _compare_grads(mine, _grads([x, g, b]), ["x", "gamma", "beta"], f"layer_norm on {shape}", rtol=1e-7,
                       atol=1e-10)
    x = _t(rng.standard_normal((2, 4)), np.float64, grad=True)
    g = _t(rng.standard_normal(4), np.float64, grad=True)
    b = _t(rng.standard_normal(4), np.float64, grad=True)
    try:
        gradcheck(lambda a, c, d: ln(a, c, d), [x, g, b])
    except Exception as e:
        raise GradingError(f"layer_norm: gradcheck (finite differences) failed: {e}")


# ---------------------------------------------------------------- mlp

def _mlp_params(m):
    return m.linear1.weight, m.linear1.bias, m.linear2.weight, m.linear2.bias


@grader.check(points=2, needs=["mlp"],
              hint="GELU(x @ w1 + b1) @ w2 + b2 with the tanh GELU (tt.gelu's default); weights are (in, out)")
def mlp_matches_engine(ns):
    mlp = ns["mlp"]
    x1 = _t([[1.0, -2.0]])
    w1, b1 = _t([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]), _t([0.0, 1.0, -1.0])
    w2, b2 = _t([[1.0], [1.0], [-1.0]]), _t([0.5])
    h = np.array([1.0, -1.0, 1.0])
    gelu = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))
    close(mlp(x1, w1, b1, w2, b2), [[gelu[0] + gelu[1] - gelu[2] + 0.5]], "mlp by hand (1x2 -> 3 -> 1)", rtol=1e-5)
    rng = np.random.default_rng(132)
    for shape, hidden in [((4, 8), 32), ((2, 5, 8), 16), ((3, 1, 2, 6), 24)]:
        m = _randomize(MLP(shape[-1], hidden).eval(), rng)
        x = _t(rng.standard_normal(shape) * 2)
        close(mlp(x, *_mlp_params(m)), m(x), f"mlp(x {shape}) vs engine MLP(hidden={hidden})", rtol=1e-4, atol=1e-5)


@grader.check(points=1, needs=["mlp"], hint="only tinytorch ops, so backward reaches x, w1, b1, w2 and b2")
def mlp_gradients(ns):
    mlp = ns["mlp"]
    rng = np.random.default_rng(133)
    m = _randomize(MLP(6, 12).eval(), rng, np.float64)
    x = _t(rng.standard_normal((2, 3, 6)), np.float64, grad=True)
    w = _t(rng.standard_normal((2, 3, 6)), np.float64)
    tensors = [x, *_mlp_params(m)]
    (mlp(x, *_mlp_params(m)) * w).sum().backward()
    mine = _grads(tensors)
    (m(x) * w).sum().backward()
    _compare_grads(mine, _grads(tensors), ["x", "w1", "b1", "w2", "b2"], "mlp (float64)", rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- transformer_block

@grader.check(points=3, needs=["transformer_block"],
              hint="h = x + out_proj(attn(ln1(x))) with heads via reshape(B,T,H,hd).permute(0,2,1,3); "
                   "then h + mlp(ln2(h)) (ln2 sees h, not x)")
def transformer_block_matches_engine(ns):
    tb = ns["transformer_block"]
    rng = np.random.default_rng(134)
    for (B, T, D, H) in [(2, 5, 8, 2), (1, 7, 12, 3), (3, 4, 16, 4), (2, 6, 8, 1), (1, 1, 8, 2)]:
        blk = _randomize(TransformerBlock(D, H).eval(), rng)
        x = _t(rng.standard_normal((B, T, D)))
        for label, mask in [("no mask", None), ("causal_mask(T)", causal_mask(T)),
                            ("keep mask tril(ones)", causal_mask(T, additive=False))]:
            close(tb(x, blk, mask), blk(x, mask), f"transformer_block(x {(B, T, D)}, heads={H}, {label})",
                  rtol=1e-4, atol=1e-4)
    # a padding-style keep mask (not causal): keys 0..2 visible only
    blk = _randomize(TransformerBlock(8, 2).eval(), rng)
    x = _t(rng.standard_normal((2, 5, 8)))
    keep = np.zeros((5, 5), np.float32)
    keep[:, :3] = 1
    close(tb(x, blk, tt.Tensor(keep)), blk(x, tt.Tensor(keep)), "transformer_block with a (T, T) keep mask",
          rtol=1e-4, atol=1e-4)


@grader.check(points=2, needs=["transformer_block"],
              hint="use the block's own parameter tensors in differentiable ops so the loss reaches all of them")
def transformer_block_gradients(ns):
    tb = ns["transformer_block"]
    rng = np.random.default_rng(135)
    for (B, T, D, H) in [(2, 5, 8, 2), (1, 4, 12, 3)]:
        blk = _randomize(TransformerBlock(D, H).eval(), rng, np.float64)
        x = _t(rng.standard_normal((B, T, D)), np.float64, grad=True)
        w = _t(rng.standard_normal((B, T, D)), np.float64)
        names = ["x"] + [n for n, _ in blk.named_parameters()]
        tensors = [x] + [p for _, p in blk.named_parameters()]
        (tb(x, blk, causal_mask(T)) * w).sum().backward()
        mine = _grads(tensors)
        (blk(x, causal_mask(T)) * w).sum().backward()
        _compare_grads(mine, _grads(tensors), names, f"transformer_block (float64, {(B, T, D)}, causal)",
                       rtol=1e-6, atol=1e-9)
    # float32: the same loss through the fused engine block, float32 tolerance
    blk = _randomize(TransformerBlock(16, 4).eval(), rng)
    x = _t(rng.standard_normal((2, 6, 16)), grad=True)
    w = _t(rng.standard_normal((2, 6, 16)))
    names = ["x"] + [n for n, _ in blk.named_parameters()]
    tensors = [x] + [p for _, p in blk.named_parameters()]
    (tb(x, blk, causal_mask(6)) * w).sum().backward()
    mine = _grads(tensors)
    (blk(x, causal_mask(6)) * w).sum().backward()
    _compare_grads(mine, _grads(tensors), names, "transformer_block (float32, causal)", rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- gpt_forward

@grader.check(points=3, needs=["gpt_forward"],
              hint="token + position embeddings (positions 0..T-1), every block with causal_mask(T), "
                   "ln_f, then x @ lm_head.weight")
def gpt_forward_matches_engine(ns):
    fwd = ns["gpt_forward"]
    rng = np.random.default_rng(136)
    for V, D, L, H, S, B, T in [(11, 8, 2, 2, 16, 3, 9), (7, 12, 1, 3, 8, 2, 8), (5, 8, 0, 2, 6, 2, 4),
                                (13, 16, 3, 4, 20, 1, 1), (9, 8, 2, 1, 12, 2, 5)]:
        model = _randomize(GPT(V, D, L, H, max_seq_len=S).eval(), rng)
        idx = rng.integers(0, V, size=(B, T))
        expected = np.asarray(model(idx))
        what = f"gpt_forward(GPT(vocab={V}, D={D}, layers={L}, heads={H}, max_seq_len={S}), idx {(B, T)})"
        close(fwd(model, idx), expected, what, rtol=1e-4, atol=1e-4)
        close(fwd(model, tt.Tensor(idx, dtype=tt.int64)), expected, what + " with idx an int64 Tensor",
              rtol=1e-4, atol=1e-4)


@grader.check(points=2, needs=["gpt_forward"],
              hint="tt.embedding on the weights keeps them in the graph; no numpy indexing of the tables")
def gpt_forward_gradients(ns):
    fwd = ns["gpt_forward"]
    rng = np.random.default_rng(137)
    model = _randomize(GPT(9, 8, 2, 2, max_seq_len=10).eval(), rng, np.float64)
    idx = rng.integers(0, 9, size=(2, 6))
    named = list(model.named_parameters())
    names, tensors = [n for n, _ in named], [p for _, p in named]
    w = _t(rng.standard_normal((2, 6, 9)), np.float64)
    out = fwd(model, idx)
    as_array(out, "gpt_forward")
    (out * w).sum().backward()
    mine = _grads(tensors)
    (model(idx) * w).sum().backward()
    _compare_grads(mine, _grads(tensors), names, "gpt_forward (float64)", rtol=1e-6, atol=1e-9)
