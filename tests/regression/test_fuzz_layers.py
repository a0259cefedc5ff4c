"""Property-based fuzzing of every public layer (issue 9), with the harness of
test_fuzz_ops.py (tests/fuzz_harness.py: each family in a child process, so a
crash fails the test instead of killing pytest).

Each family draws random shapes (0-size and size-1 dims, up to 5-D where the
layer allows), float32/float64 (int64 where an index is expected), values with
NaN/Inf, and non-contiguous inputs (a strided or permuted view of another
tensor), and checks:
- forward values against PyTorch (or numpy), float64 and float32;
- gradients of the inputs *and* the parameters against PyTorch in float64
  (finite inputs: with a NaN the gradient is NaN on both sides and says nothing);
- invalid arguments (wrong dtype, wrong rank, wrong sizes, negative and huge
  sizes, out-of-range ids) raise ValueError, TypeError, IndexError or
  RuntimeError whose message starts with the name the user called
  (`refuses` below); never a crash, never another exception type.
"""
import pytest

from fuzz_harness import run_family

pytestmark = pytest.mark.regression

# Helpers shared by the layer families (appended to the harness's PRELUDE).
LAYERS_PRELUDE = """
    import math
    import torch
    import torch.nn.functional as F
    from tinytorch.core.layers import Linear, Dropout
    from tinytorch.core.activations import ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax
    from tinytorch.core.spatial import Conv2d, MaxPool2d, AvgPool2d, Flatten
    from tinytorch.core.transformer import LayerNorm, TransformerBlock, GPT
    from tinytorch.core.embeddings import Embedding
    from tinytorch.core.attention import MultiHeadAttention, scaled_dot_product_attention
    from tinytorch.core.losses import MSELoss, CrossEntropyLoss, BinaryCrossEntropyLoss
    torch.set_default_dtype(torch.float64)
    CLEAN = (ValueError, TypeError, IndexError, RuntimeError)
    HUGE = [2 ** 31, 2 ** 40, 2 ** 62, 2 ** 63 - 1]
    small = st.integers(0, 3)
    finite64 = st.floats(-3, 3, width=64)

    def refuses(name, f, *args, **kwargs):
        # f(*args) must raise a clean exception whose message starts with `name:`
        # (or with `name ` for messages that read as a sentence, e.g. "Dropout probability ...")
        try:
            f(*args, **kwargs)
        except CLEAN as err:
            msg = str(err)
            assert msg.startswith(name + ":") or msg.startswith(name + " "), \\
                f"{name}: message does not start with the called name: {type(err).__name__}: {msg[:300]!r}"
            return err
        raise AssertionError(f"{name}: accepted invalid arguments {args!r} {kwargs!r}")

    def values(draw, shape, dtype=np.float64, special=True):
        # random values; special=True lets NaN, +-Inf and subnormals in
        if special or np.dtype(dtype).kind != "f":
            return draw(arrays(dtype, shape))
        return draw(hnp.arrays(dtype, shape, elements=st.floats(-3, 3, width=np.dtype(dtype).itemsize * 8)))

    def layout(draw, a):
        # (base, view): base holds a's values in another memory layout and view(t) turns a
        # tinytorch or torch tensor of base into a (non-contiguous) tensor equal to a
        modes = ["contiguous"] + (["strided"] if a.ndim >= 1 else []) + (["permuted"] if a.ndim >= 2 else [])
        mode = draw(st.sampled_from(modes))
        if mode == "strided":
            return np.repeat(a, 2, axis=0), lambda t: t[::2]
        if mode == "permuted":
            rev = tuple(range(a.ndim))[::-1]
            return np.ascontiguousarray(np.transpose(a, rev)), lambda t: t.permute(*rev)
        return a, lambda t: t

    def check(mine, ref, inputs, grad=True, seed=0, rtol=None, atol=None):
        # mine(*tinytorch tensors) vs ref(*torch tensors), forward and (grad=True) backward.
        # inputs: list of (base array, view function) from `layout`, or plain arrays; int arrays
        # (ids, targets) are passed as they are and get no gradient.
        inputs = [i if isinstance(i, tuple) else (i, lambda t: t) for i in inputs]
        dtype = inputs[0][0].dtype  # the result's dtype is the first input's (the data; ids come after it)
        mt, rt = [], []
        for base, view in inputs:
            floating = base.dtype.kind == "f"
            mt.append(tt.Tensor(base, dtype=base.dtype, requires_grad=grad and floating))
            rt.append(torch.tensor(base, requires_grad=grad and floating))
        out = mine(*[v(t) for t, (_, v) in zip(mt, inputs)])
        want = ref(*[v(t) for t, (_, v) in zip(rt, inputs)])
        got = np.asarray(out)
        assert got.shape == tuple(want.shape), (got.shape, tuple(want.shape))
        assert got.dtype == dtype, (got.dtype, dtype)
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
        if dtype.kind != "f":
            grad, tol = False, dict(rtol=0, atol=0)
        elif rtol is not None:
            tol = dict(rtol=rtol, atol=atol)
        np.testing.assert_allclose(got, want.detach().numpy(), equal_nan=True, **tol)
        if not grad or got.size == 0:
            return
        w = np.random.default_rng(seed).standard_normal(got.shape).astype(dtype)
        (out * tt.Tensor(w, dtype=dtype)).sum().backward()
        (want * torch.tensor(w)).sum().backward()
        for i, (m, r) in enumerate(zip(mt, rt)):
            if r.grad is None:
                continue
            mg = np.zeros(r.shape) if m.grad is None else np.asarray(m.grad)
            np.testing.assert_allclose(mg, r.grad.numpy(), err_msg=f"gradient of input {i}", **tol)

    def f64(layer):
        return layer.double()
"""

FAMILIES = {
    "linear_flatten_dropout_activations": """
        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
               st.integers(1, 4), st.integers(1, 4), st.booleans(), st.sampled_from([np.float32, np.float64]),
               st.booleans())
        def linear(data, lead, n_in, n_out, bias, dtype, special):
            grad = dtype == np.float64 and not special
            x = values(data.draw, (*lead, n_in), dtype, special)
            w = values(data.draw, (n_in, n_out), dtype, special=False)
            b = values(data.draw, (n_out,), dtype, special=False)
            layer = Linear(n_in, n_out, bias=bias)
            if dtype == np.float64:
                layer.double()
            def mine(x, w, b):
                layer.weight, layer.bias = w, (b if bias else None)
                return layer(x)
            check(mine, lambda x, w, b: x @ w + b if bias else x @ w, [layout(data.draw, x), w, b], grad=grad)
            refuses("Linear", layer, tt.Tensor(np.ones((*lead, n_in + 1), dtype), dtype=dtype))
            refuses("Linear", layer, tt.Tensor(np.float64(1.0), dtype=np.float64))
            refuses("Linear", Linear, data.draw(st.sampled_from([0, -1, -2 ** 63])), n_out)
            refuses("Linear", Linear, n_in, data.draw(st.sampled_from([None, 1.5, "3"])))
            refuses("Linear", Linear, data.draw(st.sampled_from(HUGE)), data.draw(st.sampled_from(HUGE)))

        @SETTINGS
        @given(st.data(), shapes, st.sampled_from([np.float32, np.float64]))
        def flatten(data, shape, dtype):
            x = values(data.draw, shape, dtype)
            nd = max(len(shape), 1)
            start, end = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
            if (start % nd) > (end % nd):
                refuses("Flatten", Flatten(start, end), tt.Tensor(x, dtype=dtype))
                return
            check(lambda t: Flatten(start, end)(t), lambda t: torch.flatten(t, start, end),
                  [layout(data.draw, x)], grad=False)
            refuses("Flatten", Flatten(nd + data.draw(small), 0), tt.Tensor(x, dtype=dtype))
            refuses("Flatten", Flatten(), x)  # a numpy array, not a Tensor

        @SETTINGS
        @given(st.data(), shapes, st.floats(0, 1), st.sampled_from([np.float32, np.float64]))
        def dropout(data, shape, p, dtype):
            x = values(data.draw, shape, dtype)
            d = Dropout(p)
            d.eval()
            check(d, lambda t: t, [layout(data.draw, x)], grad=dtype == np.float64)  # identity in eval
            check(lambda t: Dropout(0.0)(t, training=True), lambda t: t, [layout(data.draw, x)], grad=False)
            dropped = np.asarray(Dropout(1.0)(tt.Tensor(x, dtype=dtype), training=True))
            with np.errstate(invalid="ignore"):
                np.testing.assert_array_equal(dropped, x * 0)  # p=1: all dropped (inf and NaN give NaN, as PyTorch)
            refuses("Dropout", Dropout, data.draw(st.sampled_from([-0.1, 1.5, float("nan"), "0.5", None])))

        ACT = {"ReLU": (ReLU, torch.relu), "Sigmoid": (Sigmoid, torch.sigmoid), "Tanh": (Tanh, torch.tanh),
               "GELU": (lambda: GELU(), lambda t: F.gelu(t, approximate="tanh")),
               "GELU(none)": (lambda: GELU("none"), F.gelu)}
        @SETTINGS
        @given(st.data(), shapes, st.sampled_from(sorted(ACT) + ["Softmax", "LogSoftmax"]),
               st.sampled_from([np.float32, np.float64]), st.booleans())
        def activations(data, shape, name, dtype, special):
            x = values(data.draw, shape, dtype, special)
            if name in ("Softmax", "LogSoftmax"):
                nd = max(len(shape), 1)
                dim = data.draw(st.integers(-nd, nd - 1))
                layer = Softmax(dim) if name == "Softmax" else LogSoftmax(dim)
                ref = (lambda t: torch.softmax(t, dim)) if name == "Softmax" else (lambda t: torch.log_softmax(t, dim))
                refuses(name, layer.forward, tt.Tensor(x, dtype=dtype), nd + data.draw(small))
            else:
                layer, ref = ACT[name][0](), ACT[name][1]
            if dtype == np.float32:  # float32 against the float64 oracle, rounded
                check(layer, lambda t: ref(t.double()).float(), [layout(data.draw, x)], grad=False,
                      rtol=2e-5, atol=2e-6)
            else:
                check(layer, ref, [layout(data.draw, x)], grad=not special)

        linear(); flatten(); dropout(); activations()
    """,
    "conv_pool": """
        def torch_refuses(f):
            try:
                f()
            except RuntimeError:
                return True
            return False

        @SETTINGS
        @given(st.data(), st.integers(0, 2), st.integers(1, 3), st.integers(1, 3), st.integers(0, 5),
               st.integers(0, 5), st.sampled_from([np.float32, np.float64]), st.booleans(), st.booleans())
        def conv(data, n, c, o, h, w, dtype, special, bias):
            k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
            s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
            p = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
            x = values(data.draw, (n, c, h, w), dtype, special)
            wt = values(data.draw, (o, c, *k), dtype, special=False)
            b = values(data.draw, (o,), dtype, special=False)
            layer = Conv2d(c, o, k, stride=s, padding=p, bias=bias)
            if dtype == np.float64:
                layer.double()
            def mine(x, wt, b):
                layer.weight, layer.bias = wt, (b if bias else None)
                return layer(x)
            def ref(x, wt, b):
                # padded first: PyTorch refuses a 0-height input even when the padding makes room for the
                # kernel, where the result (windows over zero padding only) is well defined
                x = F.pad(x, (p[1], p[1], p[0], p[0]))
                return F.conv2d(x, wt, b if bias else None, stride=s)
            if h + 2 * p[0] < k[0] or w + 2 * p[1] < k[1]:
                refuses("Conv2d", layer, tt.Tensor(x, dtype=dtype))
                return
            check(mine, ref, [layout(data.draw, x), wt, b], grad=dtype == np.float64 and not special,
                  **(dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else {}))
            refuses("Conv2d", layer, tt.Tensor(x[0] if n else np.ones((c, 3, 3), dtype), dtype=dtype))  # 3-D
            refuses("Conv2d", layer, tt.Tensor(np.ones((1, c, 4, 4), np.int64), dtype=np.int64))
            refuses("Conv2d", layer, tt.Tensor(np.ones((1, c + 1, 4, 4), dtype), dtype=dtype))
            bad = data.draw(st.sampled_from([dict(padding=-1), dict(stride=0), dict(kernel_size=0),
                                             dict(padding=(2 ** 61, 0)), dict(kernel_size=(2 ** 32, 2 ** 32)),
                                             dict(stride=(1, 2, 3)), dict(kernel_size=None)]))
            args = dict(kernel_size=k, stride=s, padding=p) | bad
            try:
                big = Conv2d(c, o, **args)
            except CLEAN as err:
                assert str(err).startswith("Conv2d:"), str(err)
                return
            refuses("Conv2d", big, tt.Tensor(np.ones((1, c, 1, 4), dtype), dtype=dtype))

        POOL = {"MaxPool2d": (MaxPool2d, F.max_pool2d), "AvgPool2d": (AvgPool2d, F.avg_pool2d)}
        @SETTINGS
        @given(st.data(), st.sampled_from(sorted(POOL)), st.integers(0, 2), st.integers(1, 3), st.integers(0, 5),
               st.integers(0, 5), st.sampled_from([np.float32, np.float64]), st.booleans())
        def pool(data, name, n, c, h, w, dtype, special):
            k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
            s = data.draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
            p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
            x = values(data.draw, (n, c, h, w), dtype, special)
            cls, ref = POOL[name]
            layer = cls(k, stride=s, padding=p)
            if h + 2 * p[0] < k[0] or w + 2 * p[1] < k[1] or h == 0 or w == 0:
                refuses(name, layer, tt.Tensor(x, dtype=dtype))
                return
            check(layer, lambda t: ref(t, k, stride=s, padding=p), [layout(data.draw, x)],
                  grad=dtype == np.float64 and not special and name == "AvgPool2d")
            refuses(name, layer, tt.Tensor(np.ones((c, 4, 4), dtype), dtype=dtype))
            refuses(name, layer, tt.Tensor(np.ones((1, c, 4, 4), np.int64), dtype=np.int64))
            refuses(name, cls, k, padding=(k[0] // 2 + 1, 0))
            refuses(name, cls, data.draw(st.sampled_from([0, -1, (2, 0), None, "2"])))

        @SETTINGS
        @given(st.data(), st.integers(1, 2), st.integers(1, 2), st.integers(2, 5), st.integers(2, 5))
        def max_pool_gradient(data, n, c, h, w):
            # distinct values: no ties, where tinytorch shares the gradient and PyTorch picks one
            x = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1))).permutation(n * c * h * w)
            x = x.reshape(n, c, h, w).astype(np.float64)
            k = (data.draw(st.integers(1, min(3, h))), data.draw(st.integers(1, min(3, w))))
            check(MaxPool2d(k), lambda t: F.max_pool2d(t, k), [layout(data.draw, x)])

        conv(); pool(); max_pool_gradient()
    """,
    "layer_norm_embedding": """
        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=3), st.integers(1, 2),
               st.sampled_from([np.float32, np.float64]), st.booleans())
        def layer_norm(data, shape, k, dtype, special):
            k = min(k, len(shape))
            norm = tuple(max(d, 1) for d in shape[-k:])
            shape = (*shape[:-k], *norm)
            x = values(data.draw, shape, dtype, special)
            g = values(data.draw, norm, dtype, special=False)
            b = values(data.draw, norm, dtype, special=False)
            layer = LayerNorm(norm if k > 1 else norm[0])
            if dtype == np.float64:
                layer.double()
            def mine(x, g, b):
                layer.gamma, layer.beta = g, b
                return layer(x)
            def ref(x, g, b):
                # two-pass mean and variance, as tinytorch: F.layer_norm's one-pass variance overflows
                # to NaN for |x| near 1e154, where the two-pass result is finite
                dims = tuple(range(-k, 0))
                x = x.double()
                mu = x.mean(dims, keepdim=True)
                var = ((x - mu) ** 2).mean(dims, keepdim=True)
                return ((x - mu) / torch.sqrt(var + 1e-5) * g + b).to(torch.float32 if dtype == np.float32
                                                                      else torch.float64)
            check(mine, ref, [layout(data.draw, x), g, b],
                  grad=dtype == np.float64 and not special,
                  **(dict(rtol=1e-3, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-8)))
            refuses("LayerNorm", layer, tt.Tensor(np.ones((*shape[:-1], shape[-1] + 1), dtype), dtype=dtype))
            refuses("LayerNorm", LayerNorm, data.draw(st.sampled_from([0, -1, None, 1.5, "4", (2, -1), ()])))
            refuses("LayerNorm", LayerNorm, data.draw(st.sampled_from([(2 ** 62,), (2 ** 40, 2 ** 40)])))

        @SETTINGS
        @given(st.data(), st.integers(1, 6), st.integers(1, 4),
               hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
        def embedding(data, vocab, dim, id_shape):
            ids = np.asarray(data.draw(hnp.arrays(np.int64, id_shape, elements=st.integers(0, vocab - 1))))
            wt = values(data.draw, (vocab, dim), np.float64, special=False)
            layer = Embedding(vocab, dim).double()
            def mine(w, i):
                layer.weight = w
                return layer(i)
            check(mine, lambda w, i: F.embedding(i, w), [wt, layout(data.draw, ids)])
            as_float = np.asarray(layer(tt.Tensor(ids.astype(np.float64), dtype=np.float64)))
            np.testing.assert_array_equal(as_float, np.asarray(wt)[ids])  # whole-number float ids are accepted
            bad = data.draw(st.sampled_from([vocab, -1, 2 ** 62, -2 ** 63]))
            refuses("Embedding", layer, tt.Tensor(np.full((2,), bad, np.int64), dtype=np.int64))
            refuses("Embedding", layer, tt.Tensor(np.array([0.5, float("nan")]), dtype=np.float64))
            refuses("Embedding", layer, tt.Tensor(np.array([float("inf")]), dtype=np.float64))
            refuses("Embedding", Embedding, data.draw(st.sampled_from([0, -1, None, 2.5])), dim)
            refuses("Embedding", Embedding, data.draw(st.sampled_from(HUGE)), data.draw(st.sampled_from(HUGE)))

        layer_norm(); embedding()
    """,
    "attention": """
        def mask_for(draw, lead, tq, tk):
            kind = draw(st.sampled_from(["none", "bool", "keep01", "additive", "causal"]))
            if kind == "causal" and tq == tk:
                return np.triu(np.full((tq, tk), -np.inf), 1), kind
            mshape = draw(st.sampled_from([(tq, tk), (*lead, tq, tk), (1, tk)]))
            keep = np.asarray(draw(hnp.arrays(np.bool_, mshape)))
            if kind == "bool":
                return keep, kind
            if kind == "keep01":
                return keep.astype(np.float64), kind
            if kind == "additive":
                m = np.where(keep, 0.0, -np.inf)
                m.flat[:1] = -1.0  # at least one negative entry: the additive convention
                return m, kind
            return None, "none"

        def torch_sdpa(q, k, v, mask, kind):
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if kind in ("bool", "keep01"):
                s = s.masked_fill(torch.tensor(np.asarray(mask) == 0), -1e9)
            elif kind in ("additive", "causal"):
                s = s + torch.tensor(mask)
            w = torch.softmax(s, -1)
            return w @ v, w

        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=2), st.integers(0, 4),
               st.integers(0, 4), st.integers(1, 4), st.integers(1, 3), st.booleans())
        def sdpa(data, lead, tq, tk, d, dv, special):
            q = values(data.draw, (*lead, tq, d), np.float64, special)
            k = values(data.draw, (*lead, tk, d), np.float64, special=False)
            v = values(data.draw, (*lead, tk, dv), np.float64, special=False)
            mask, kind = mask_for(data.draw, lead, tq, tk)
            blocked_row = mask is not None and kind != "causal" and np.prod(np.shape(mask)) and (
                (np.broadcast_to(mask, (*lead, tq, tk)) == (0 if kind != "additive" else -np.inf)).all(-1).any())
            for which in (0, 1):  # output and attention weights
                check(lambda q, k, v: scaled_dot_product_attention(q, k, v, None if mask is None else
                                                                   tt.Tensor(mask, dtype=mask.dtype))[which],
                      lambda q, k, v: torch_sdpa(q, k, v, mask, kind)[which],
                      [layout(data.draw, q), layout(data.draw, k), v],
                      grad=not special and not blocked_row, rtol=1e-7, atol=1e-9)
            name = "scaled_dot_product_attention"
            Q, K, V = (tt.Tensor(a, dtype=np.float64) for a in (q, k, v))
            refuses(name, scaled_dot_product_attention, Q, tt.Tensor(np.ones((*lead, tk, d + 1))), V)
            refuses(name, scaled_dot_product_attention, Q, K, tt.Tensor(np.ones((*lead, tk + 1, dv))))
            refuses(name, scaled_dot_product_attention, tt.ones(d), tt.ones(d), tt.ones(d))
            refuses(name, scaled_dot_product_attention, Q, K, V, tt.ones(tq + 1, tk + 2))
            refuses(name, scaled_dot_product_attention, Q, K, V, np.array([["a"]]))
            refuses(name, scaled_dot_product_attention, tt.ones(2, 1, d), tt.ones(3, 1, d), tt.ones(3, 1, dv))
            refuses(name, scaled_dot_product_attention, Q, K, V, tt.ones(tq, tk), extra=1)

        @SETTINGS
        @given(st.data(), st.integers(0, 2), st.integers(0, 4), st.integers(1, 2), st.integers(1, 3),
               st.sampled_from(["none", "causal", "keep", "batch_keep"]), st.booleans())
        def mha(data, B, T, H, hd, kind, special):
            E = H * hd
            x = values(data.draw, (B, T, E), np.float64, special)
            # x feeds both q and k, so a finite |x| near sqrt(max float64) (~1.3e154) makes q.k a sum
            # of terms at the overflow edge, finite or inf - inf = NaN depending on the BLAS's order
            # of summation (found under make sanitize: tinytorch 0, PyTorch NaN, neither wrong). NaN,
            # +-Inf and subnormals stay; huge finite values are capped where no product overflows.
            x = np.where(np.isfinite(x) & (np.abs(x) > 1e150), np.sign(x) * 1e150, x)
            ws = [values(data.draw, (E, E), np.float64, special=False) for _ in range(4)]
            bs = [values(data.draw, (E,), np.float64, special=False) for _ in range(4)]
            keep = np.tril(np.ones((T, T))) if kind == "causal" else \\
                np.asarray(data.draw(hnp.arrays(np.bool_, (T, T) if kind == "keep" else (B, T, T)))) \\
                if kind != "none" else None
            layer = MultiHeadAttention(E, H).double()
            projs = [layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj]
            def mine(x, *p):
                for proj, w, b in zip(projs, p[:4], p[4:]):
                    proj.weight, proj.bias = w, b
                return layer(x, None if keep is None else tt.Tensor(keep, dtype=keep.dtype))
            def ref(x, *p):
                q, k, v = (x @ w + b for w, b in zip(p[:3], p[4:7]))
                heads = lambda t: t.reshape(B, T, H, hd).permute(0, 2, 1, 3)
                s = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(hd)
                if keep is not None:
                    # an exactly causal mask takes the fused causal path, which blocks with -inf
                    # (attention.py), the others -1e9: it differs once scores reach 1e9
                    m = torch.tensor(keep == 0)
                    s = s.masked_fill(m if m.ndim == 2 else m[:, None], -math.inf if kind == "causal" else -1e9)
                o = (torch.softmax(s, -1) @ heads(v)).permute(0, 2, 1, 3).reshape(B, T, E)
                return o @ p[3] + p[7]
            check(mine, ref, [layout(data.draw, x), *ws, *bs], grad=not special, rtol=1e-7, atol=1e-9)
            refuses("MultiHeadAttention", layer, tt.Tensor(np.ones((B, T, E + 1))))
            refuses("MultiHeadAttention", layer, tt.Tensor(np.ones((T, E))))
            refuses("MultiHeadAttention", layer, tt.Tensor(np.ones((B, T, E))), tt.ones(T + 1, T + 2))
            refuses("MultiHeadAttention", MultiHeadAttention, E + 1, E + 2 if E > 0 else 2)
            refuses("MultiHeadAttention", MultiHeadAttention, data.draw(st.sampled_from([0, -4, None])), 1)
            refuses("MultiHeadAttention", MultiHeadAttention, E, tt.ones(1))

        sdpa(); mha()
    """,
    "transformer_gpt": """
        def torch_block(x, p, H, causal):
            g1, b1, e1, wq, bq, wk, bk, wv, bv, wo, bo, g2, b2, e2, w1, c1, w2, c2 = p
            B, T, E = x.shape
            hd = E // H
            h = F.layer_norm(x, (E,), g1, b1, e1)
            heads = lambda t: t.reshape(B, T, H, hd).permute(0, 2, 1, 3)
            s = heads(h @ wq + bq) @ heads(h @ wk + bk).transpose(-1, -2) / math.sqrt(hd)
            if causal:
                s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -math.inf)
            o = (torch.softmax(s, -1) @ heads(h @ wv + bv)).permute(0, 2, 1, 3).reshape(B, T, E)
            x = x + o @ wo + bo
            h = F.layer_norm(x, (E,), g2, b2, e2)
            return x + F.gelu(h @ w1 + c1, approximate="tanh") @ w2 + c2

        def block_arrays(draw, E, hidden):
            shapes = [(E,), (E,), None, (E, E), (E,), (E, E), (E,), (E, E), (E,), (E, E), (E,), (E,), (E,), None,
                      (E, hidden), (hidden,), (hidden, E), (E,)]
            return [1e-5 if s is None else values(draw, s, np.float64, special=False) for s in shapes]

        def assign_block(block, p):
            a, m = block.attention, block.mlp
            (block.ln1.gamma, block.ln1.beta, _, a.q_proj.weight, a.q_proj.bias, a.k_proj.weight, a.k_proj.bias,
             a.v_proj.weight, a.v_proj.bias, a.out_proj.weight, a.out_proj.bias, block.ln2.gamma, block.ln2.beta, _,
             m.linear1.weight, m.linear1.bias, m.linear2.weight, m.linear2.bias) = p

        @SETTINGS
        @given(st.data(), st.integers(0, 2), st.integers(0, 4), st.integers(1, 2), st.integers(1, 2),
               st.sampled_from([1, 2]), st.booleans())
        def block(data, B, T, H, hd, ratio, causal):
            E = H * hd
            x = values(data.draw, (B, T, E), np.float64, special=False)
            p = block_arrays(data.draw, E, E * ratio)
            layer = TransformerBlock(E, H, mlp_ratio=ratio, dropout_prob=0.0).double()
            layer.eval()
            mask = tt.Tensor(np.tril(np.ones((T, T)))) if causal else None
            arrays_ = [a for a in p if isinstance(a, np.ndarray)]
            def rebuild(ts):
                it = iter(ts)
                return [1e-5 if not isinstance(a, np.ndarray) else next(it) for a in p]
            def mine(x, *ts):
                assign_block(layer, rebuild(ts))
                return layer(x, mask)
            check(mine, lambda x, *ts: torch_block(x, rebuild(ts), H, causal), [layout(data.draw, x), *arrays_],
                  rtol=1e-7, atol=1e-9)
            refuses("TransformerBlock", layer, tt.Tensor(np.ones((T + 1, E))))
            refuses("TransformerBlock", layer, tt.Tensor(np.ones((B, T, E + 1))))

        @settings(SETTINGS, max_examples=max(5, EXAMPLES // 3))
        @given(st.data(), st.integers(1, 5), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2),
               st.integers(0, 2), st.integers(1, 4))
        def gpt(data, V, H, hd, L, B, T):
            E = H * hd
            tokens = np.asarray(data.draw(hnp.arrays(np.int64, (B, T), elements=st.integers(0, V - 1))))
            model = GPT(V, E, L, H, max_seq_len=4).double()
            model.eval()
            tok_w = values(data.draw, (V, E), np.float64, special=False)
            pos_w = values(data.draw, (4, E), np.float64, special=False)
            blocks = [block_arrays(data.draw, E, 4 * E) for _ in range(L)]
            lnf = [values(data.draw, (E,), np.float64, special=False) for _ in range(2)]
            head = values(data.draw, (E, V), np.float64, special=False)
            flat = [tok_w, pos_w, *[a for p in blocks for a in p if isinstance(a, np.ndarray)], *lnf, head]
            def split(ts):
                it = iter(ts)
                tw, pw = next(it), next(it)
                bl = [[1e-5 if not isinstance(a, np.ndarray) else next(it) for a in p] for p in blocks]
                g, b, h = next(it), next(it), next(it)
                return tw, pw, bl, g, b, h
            def mine(*ts):
                *ts, tok = ts
                tw, pw, bl, g, b, h = split(ts)
                model.token_embedding.weight, model.position_embedding.weight = tw, pw
                for blk, p in zip(model.blocks, bl):
                    assign_block(blk, p)
                model.ln_f.gamma, model.ln_f.beta, model.lm_head.weight = g, b, h
                return model(tok)
            def ref(*ts):
                *ts, tok = ts
                tw, pw, bl, g, b, h = split(ts)
                x = F.embedding(tok, tw) + pw[:T]
                for p in bl:
                    x = torch_block(x, p, H, True)
                return F.layer_norm(x, (E,), g, b, 1e-5) @ h
            check(mine, ref, [*flat, tokens], rtol=1e-7, atol=1e-9)
            refuses("GPT", model, tt.Tensor(np.full((1, 2), V, np.int64), dtype=np.int64))
            refuses("GPT", model, tt.Tensor(np.full((1, 2), -1, np.int64), dtype=np.int64))
            refuses("GPT", model, tt.Tensor(np.zeros((1, 5), np.int64), dtype=np.int64))  # > max_seq_len
            refuses("GPT", model, tt.Tensor(np.zeros((2,), np.int64), dtype=np.int64))
            refuses("GPT", model, tt.Tensor(np.array([[0.5]]), dtype=np.float64))
            refuses("GPT", GPT, V, E + 1 if H > 1 else 0, L, H)
            refuses("GPT", GPT, data.draw(st.sampled_from([0, -1, None, 2.5])), E, L, H)

        block(); gpt()
    """,
    "losses": """
        @SETTINGS
        @given(st.data(), shapes, st.sampled_from([np.float32, np.float64]), st.booleans(), st.booleans())
        def mse(data, shape, dtype, special, broadcast):
            p = values(data.draw, shape, dtype, special)
            tshape = shape[1:] if broadcast and shape else shape
            t = values(data.draw, tshape, dtype, special=False)
            check(lambda p, t: MSELoss()(p, t), lambda p, t: ((p - t) ** 2).mean(), [layout(data.draw, p), t],
                  grad=dtype == np.float64 and not special,
                  **(dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else {}))
            if len(shape) and shape[-1] > 1:
                refuses("MSELoss", MSELoss(), tt.Tensor(p, dtype=dtype), tt.Tensor(np.ones(shape[-1] + 1, dtype),
                                                                                 dtype=dtype))

        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3), st.integers(1, 4),
               st.sampled_from([np.float32, np.float64]), st.booleans(), st.sampled_from([-100, 0, 2]))
        def cross_entropy(data, lead, C, dtype, special, ignore):
            logits = values(data.draw, (*lead, C), dtype, special)
            targets = np.asarray(data.draw(hnp.arrays(np.int64, lead, elements=st.sampled_from(
                list(range(C)) + [ignore]))))
            loss = CrossEntropyLoss(ignore_index=ignore)
            def ref(x, t):
                x2 = x.reshape(-1, C)
                return F.cross_entropy(x2, t.reshape(-1), ignore_index=ignore)
            if dtype == np.float32:
                check(loss, lambda x, t: ref(x.double(), t).float(), [layout(data.draw, logits), targets],
                      grad=False, rtol=1e-4, atol=1e-5)
            else:
                check(loss, ref, [layout(data.draw, logits), targets], grad=not special)
            bad = targets.copy().reshape(-1)
            if bad.size:
                bad[0] = data.draw(st.sampled_from([C, -1, 2 ** 62, -2 ** 63]))
                if bad[0] != ignore:
                    refuses("CrossEntropyLoss", loss, tt.Tensor(logits, dtype=dtype),
                            tt.Tensor(bad.reshape(targets.shape), dtype=np.int64))
            if targets.size:
                refuses("CrossEntropyLoss", loss, tt.Tensor(logits, dtype=dtype), tt.Tensor(np.full(lead, 0.5)))
            refuses("CrossEntropyLoss", loss, tt.Tensor(logits, dtype=dtype),
                    tt.Tensor(np.zeros((*lead, 2), np.int64), dtype=np.int64))
            refuses("CrossEntropyLoss", loss, tt.Tensor(np.ones(C, dtype), dtype=dtype),
                    tt.Tensor(np.zeros((), np.int64), dtype=np.int64))

        @SETTINGS
        @given(st.data(), shapes, st.sampled_from([np.float32, np.float64]))
        def bce(data, shape, dtype):
            p = np.asarray(data.draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=np.dtype(dtype).itemsize * 8))))
            t = np.asarray(data.draw(hnp.arrays(dtype, shape, elements=st.sampled_from([0.0, 1.0, 0.25]))))
            def ref(p, t):
                q = p.clamp(1e-7, 1 - 1e-7)
                return -(t * torch.log(q) + (1 - t) * torch.log(1 - q)).mean()
            check(lambda p, t: BinaryCrossEntropyLoss()(p, t), ref, [layout(data.draw, p), t],
                  grad=dtype == np.float64 and not ((p <= 1e-7) | (p >= 1 - 1e-7)).any(),
                  **(dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)))
            if len(shape) and shape[-1] > 1:
                refuses("BinaryCrossEntropyLoss", BinaryCrossEntropyLoss(), tt.Tensor(p, dtype=dtype),
                        tt.Tensor(np.ones(shape[-1] + 1, dtype), dtype=dtype))

        mse(); cross_entropy(); bce()
    """,
    "index_ops": """
        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3),
               st.sampled_from([np.float32, np.float64, np.int64]))
        def select_ops(data, shape, dtype):
            x = values(data.draw, shape, dtype, special=dtype != np.int64)
            nd = len(shape)
            dim = data.draw(st.integers(-nd, nd - 1))
            size = shape[dim]
            grad = dtype == np.float64 and not (~np.isfinite(x)).any()
            idx_elems = st.integers(0, size - 1) if size else st.nothing()
            # gather: an index of the input's rank whose dims are <= the input's (PyTorch's rule)
            ishape = tuple(data.draw(st.integers(0, s)) if i != dim % nd else data.draw(small)
                           for i, s in enumerate(shape))
            if size or 0 in ishape:
                gi = np.asarray(data.draw(hnp.arrays(np.int64, ishape, elements=idx_elems)))
                check(lambda x, i: tt.gather(x, dim, i), lambda x, i: torch.gather(x, dim, i),
                      [layout(data.draw, x), gi], grad=grad)
            ii = np.asarray(data.draw(hnp.arrays(np.int64, (data.draw(small),), elements=idx_elems))) \\
                if size else np.zeros(0, np.int64)
            check(lambda x, i: tt.index_select(x, dim, i), lambda x, i: torch.index_select(x, dim, i),
                  [layout(data.draw, x), ii], grad=grad)
            if x.size:
                ti = np.asarray(data.draw(hnp.arrays(np.int64, data.draw(shapes), elements=st.integers(-x.size, x.size - 1))))
                check(lambda x, i: tt.take(x, i), lambda x, i: torch.take(x, i), [layout(data.draw, x), ti],
                      grad=grad)
            X = tt.Tensor(x, dtype=dtype)
            bad = data.draw(st.sampled_from([size, -1, 2 ** 62, -2 ** 63]))
            refuses("gather", tt.gather, X, dim, tt.Tensor(np.full((1,) * nd, bad, np.int64), dtype=np.int64))
            refuses("index_select", tt.index_select, X, dim, tt.Tensor(np.array([bad]), dtype=np.int64))
            far = data.draw(st.sampled_from([x.size, -x.size - 1, 2 ** 62, -2 ** 63]))
            refuses("take", tt.take, X, tt.Tensor(np.array([far]), dtype=np.int64))
            refuses("gather", tt.gather, X, nd + data.draw(small), tt.Tensor(np.zeros(shape, np.int64), dtype=np.int64))
            refuses("index_select", tt.index_select, X, dim, tt.Tensor(np.zeros(1)))  # float index
            refuses("gather", tt.gather, X, dim, tt.Tensor(np.zeros((1,) * (nd + 1), np.int64), dtype=np.int64))

        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3),
               st.sampled_from([np.float32, np.float64]))
        def scatter_ops(data, shape, dtype):
            x = values(data.draw, shape, dtype, special=False)
            nd = len(shape)
            dim = data.draw(st.integers(-nd, nd - 1))
            size = shape[dim]
            grad = dtype == np.float64
            idx_elems = st.integers(0, size - 1) if size else st.nothing()
            ishape = tuple(data.draw(st.integers(0, s)) if i != dim % nd else data.draw(small)
                           for i, s in enumerate(shape))
            if size or 0 in ishape:
                si = np.asarray(data.draw(hnp.arrays(np.int64, ishape, elements=idx_elems)))
                src = values(data.draw, ishape, dtype, special=False)
                check(lambda x, i, s: tt.scatter_add(x, dim, i, s), lambda x, i, s: x.scatter_add(dim, i, s),
                      [layout(data.draw, x), si, src], grad=grad)
            n = data.draw(small) if size else 0
            ii = np.asarray(data.draw(hnp.arrays(np.int64, (n,), elements=idx_elems)))
            sshape = tuple(n if i == dim % nd else s for i, s in enumerate(shape))
            src = values(data.draw, sshape, dtype, special=False)
            check(lambda x, i, s: tt.index_add(x, dim, i, s), lambda x, i, s: x.index_add(dim, i, s),
                  [layout(data.draw, x), ii, src], grad=grad)
            X = tt.Tensor(x, dtype=dtype)
            ones = (1,) * nd
            refuses("scatter_add", tt.scatter_add, X, dim, tt.Tensor(np.full(ones, size, np.int64), dtype=np.int64),
                    tt.Tensor(np.ones(ones, dtype), dtype=dtype))
            refuses("index_add", tt.index_add, X, dim, tt.Tensor(np.array([-1]), dtype=np.int64),
                    tt.Tensor(np.ones(tuple(1 if i == dim % nd else s for i, s in enumerate(shape)), dtype),
                              dtype=dtype))
            refuses("index_add", tt.index_add, X, dim, tt.Tensor(np.zeros(2, np.int64), dtype=np.int64),
                    tt.Tensor(np.ones(tuple(3 if i == dim % nd else s for i, s in enumerate(shape)), dtype),
                              dtype=dtype))
            # a float source into an integer tensor (fractions, NaN): refused, as PyTorch does
            I = tt.Tensor(np.zeros(ones, np.int64), dtype=np.int64)
            nan = tt.Tensor(np.full(ones, data.draw(st.sampled_from([0.5, float("nan"), 1e30])), dtype), dtype=dtype)
            refuses("scatter_add", tt.scatter_add, I, dim, I, nan)
            refuses("index_add", tt.index_add, I, dim, tt.Tensor(np.zeros(1, np.int64), dtype=np.int64), nan)
            # integers wrap as in numpy (no signed-overflow UB: make sanitize would abort)
            big = tt.Tensor(np.full(ones, 2 ** 63 - 1, np.int64), dtype=np.int64)
            one = tt.Tensor(np.ones(ones, np.int64), dtype=np.int64)
            same(tt.scatter_add(big, dim, I, one), np.full(ones, -2 ** 63, np.int64))
            same(tt.index_add(big, dim, tt.Tensor(np.zeros(1, np.int64), dtype=np.int64), one),
                 np.full(ones, -2 ** 63, np.int64))

        @SETTINGS
        @given(st.data(), shapes, st.sampled_from([np.float32, np.float64, np.int64]), st.booleans())
        def masked_fill(data, shape, dtype, special):
            x = values(data.draw, shape, dtype, special=special and dtype != np.int64)
            mshape = data.draw(st.sampled_from([shape, shape[1:], ()]))
            m = np.asarray(data.draw(hnp.arrays(np.bool_, mshape)))
            v = data.draw(st.floats(-5, 5)) if dtype != np.int64 else float(data.draw(st.integers(-5, 5)))
            check(lambda x, m: tt.masked_fill(x, m, v), lambda x, m: x.masked_fill(m, v),
                  [layout(data.draw, x), m], grad=dtype == np.float64 and not special)
            if dtype == np.int64:
                refuses("masked_fill", tt.masked_fill, tt.Tensor(x, dtype=dtype), tt.Tensor(m),
                        data.draw(st.sampled_from([float("nan"), float("inf"), 2.0 ** 64])))
            refuses("masked_fill", tt.masked_fill, tt.Tensor(x, dtype=dtype),
                    tt.Tensor(np.ones((*shape, 2), bool)), 0.0)  # a mask that does not broadcast to x

        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3),
               st.sampled_from([np.float32, np.float64, np.int64]))
        def getitem_setitem(data, shape, dtype):
            x = values(data.draw, shape, dtype, special=dtype != np.int64)
            grad = dtype == np.float64 and bool(np.isfinite(x).all())
            kind = data.draw(st.sampled_from(["int_array", "bool", "mixed", "basic"]))
            if kind == "int_array":
                key = np.asarray(data.draw(hnp.arrays(np.int64, data.draw(shapes),
                                                      elements=st.integers(-shape[0], shape[0] - 1)
                                                      if shape[0] else st.nothing()))) if shape[0] else \\
                    np.zeros(0, np.int64)
            elif kind == "bool":
                key = np.asarray(data.draw(hnp.arrays(np.bool_, shape[:data.draw(st.integers(1, len(shape)))])))
            elif kind == "mixed" and len(shape) >= 2:
                key = (slice(None, None, data.draw(st.integers(1, 2))),
                       np.asarray(data.draw(hnp.arrays(np.int64, (2,), elements=st.integers(0, shape[1] - 1))))
                       if shape[1] else np.zeros(0, np.int64))
            else:
                key = (slice(data.draw(st.integers(-4, 4)), None, data.draw(st.integers(1, 3))), Ellipsis)
            tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key) \\
                if isinstance(key, tuple) else torch.tensor(key)
            check(lambda t: t[key], lambda t: t[tkey], [layout(data.draw, x)], grad=grad)
            # setitem on a copy, compared with numpy
            want = x.copy()
            want[key] = 7
            got = tt.Tensor(x.copy(), dtype=dtype)
            got[key] = 7
            same(got, want)
            refuses_index = data.draw(st.sampled_from([shape[0], -shape[0] - 1, 2 ** 62]))
            try:
                tt.Tensor(x, dtype=dtype)[np.array([refuses_index])]
            except IndexError:
                pass
            else:
                raise AssertionError("an out-of-range index was accepted")
            try:
                t = tt.Tensor(x, dtype=dtype)
                t[np.array([refuses_index])] = 1
            except IndexError:
                pass
            else:
                raise AssertionError("an out-of-range index was accepted by setitem")

        select_ops(); scatter_ops(); masked_fill(); getitem_setitem()
    """,
    "joins": """
        @SETTINGS
        @given(st.data(), hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=3), st.integers(1, 3),
               st.sampled_from([np.float32, np.float64, np.int64]))
        def cat_stack(data, shape, count, dtype):
            nd = len(shape)
            dim = data.draw(st.integers(-nd, nd - 1))
            parts = []
            for _ in range(count):
                s = list(shape)
                s[dim] = data.draw(small)
                parts.append(values(data.draw, tuple(s), dtype, special=dtype != np.int64))
            grad = dtype == np.float64 and all(np.isfinite(p).all() for p in parts)
            check(lambda *ts: tt.cat(list(ts), axis=dim), lambda *ts: torch.cat(ts, dim),
                  [layout(data.draw, p) for p in parts], grad=grad)
            same_shape = [values(data.draw, shape, dtype, special=False) for _ in range(count)]
            sdim = data.draw(st.integers(-nd - 1, nd))
            check(lambda *ts: tt.stack(list(ts), axis=sdim), lambda *ts: torch.stack(ts, sdim),
                  [layout(data.draw, p) for p in same_shape], grad=dtype == np.float64)
            T = [tt.Tensor(p, dtype=dtype) for p in same_shape]
            refuses("cat", tt.cat, [])
            refuses("cat", tt.cat, T, axis=nd + data.draw(small))
            refuses("cat", tt.cat, [T[0], tt.Tensor(np.ones((*shape, 2), dtype), dtype=dtype)])
            refuses("stack", tt.stack, [T[0], tt.Tensor(np.ones((*shape, 2), dtype), dtype=dtype)])
            refuses("stack", tt.stack, T, axis=nd + 1 + data.draw(small))
            refuses("cat", tt.cat, [T[0], None])
            refuses("cat", tt.cat, None)

        cat_stack()
    """,
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_layer_family_in_a_child_process(family):
    from conftest import torch_or_skip
    torch_or_skip()  # PyTorch is the oracle of every layer family
    run_family(family, FAMILIES[family], prelude=LAYERS_PRELUDE)
