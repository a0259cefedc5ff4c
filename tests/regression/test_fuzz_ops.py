"""Property-based fuzzing of the engine (issue 9): random shapes (0-size and
size-1 dims, up to 5-D), dtypes, non-contiguous views and NaN/Inf values
through elementwise, broadcasting, reduction, view, matmul, clip/where and
joining ops. Forward values are compared with numpy; gradients with PyTorch in
float64.

Each family runs in a child process (tests/fuzz_harness.py), so a crash
(segfault, abort, sanitizer report) fails the test with the child's output
instead of killing pytest. Bounded for CI (TINYTORCH_FUZZ_EXAMPLES examples per
family, default 150); `pytest --long` (or TINYTORCH_FUZZ_EXAMPLES=1000) for a
long run. The public layers are fuzzed the same way in test_fuzz_layers.py.
"""
import pytest

from fuzz_harness import run_family

pytestmark = pytest.mark.regression

FAMILIES = {
    "elementwise": """
        UNARY = {"exp": np.exp, "tanh": np.tanh, "abs": np.abs, "sin": np.sin, "cos": np.cos, "sqrt": np.sqrt,
                 "log": np.log}
        @SETTINGS
        @given(array_and_view((np.float32, np.float64)), st.sampled_from(sorted(UNARY)))
        def unary(av, name):
            a, t = av
            with np.errstate(all="ignore"):
                same(getattr(t, name)(), UNARY[name](a))
        @SETTINGS
        @given(array_and_view(), array_and_view(), st.sampled_from(["add", "sub", "mul", "maximum", "minimum",
                                                                        "lt", "eq"]))
        def binary(av, bv, op):
            (a, t), (b, u) = av, bv
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                try:
                    getattr(np, "add")(t, u) if False else (t + u)
                except ValueError:
                    return
                raise AssertionError("broadcast mismatch accepted")
            dt = np.result_type(a.dtype, b.dtype)
            a, b = a.astype(dt), b.astype(dt)
            ops = {"add": (lambda x, y: x + y, np.add), "sub": (lambda x, y: x - y, np.subtract),
                   "mul": (lambda x, y: x * y, np.multiply), "maximum": (tt.maximum, np.maximum),
                   "minimum": (tt.minimum, np.minimum), "lt": (lambda x, y: x < y, np.less),
                   "eq": (lambda x, y: x == y, np.equal)}
            mine, ref = ops[op]
            with np.errstate(all="ignore"):
                same(mine(t.astype(dt), u.astype(dt)), ref(a, b))
        unary(); binary()
    """,
    "reductions": """
        @SETTINGS
        @given(array_and_view(), st.sampled_from(["sum", "mean", "max", "min", "var", "std"]), st.data())
        def reduce(av, name, data):
            a, t = av
            axis = None if a.ndim == 0 else data.draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1)))
            keep = data.draw(st.booleans())
            size = a.size if axis is None else a.shape[axis]
            if name in ("max", "min") and size == 0:
                try:
                    getattr(t, name)(axis=axis, keepdims=keep)
                except (ValueError, IndexError):
                    return
                raise AssertionError("max of an empty axis accepted")
            ref = getattr(np, name)
            ad = a.astype(np.float64) if name in ("mean", "var", "std") and a.dtype.kind == "i" else a
            with np.errstate(all="ignore"):
                want = ref(ad, axis=axis, keepdims=keep)
                got = getattr(t, name)(axis=axis, keepdims=keep)
            if np.asarray(got).dtype == np.float32:
                want = np.asarray(want, np.float64)
                got = np.asarray(got, np.float64)
                np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3, equal_nan=True)
            else:
                same(got, want)
        reduce()
    """,
    "views_matmul_joins": """
        @SETTINGS
        @given(array_and_view(), st.data())
        def views(av, data):
            a, t = av
            perm = data.draw(st.permutations(range(a.ndim)))
            same(t.permute(*perm) if a.ndim else t, np.transpose(a, perm) if a.ndim else a)
            same(t.reshape(-1), a.reshape(-1))
            same(t.clip(-1.5, 2.5) if a.dtype.kind == "f" else t.clip(-1, 2),
                 np.clip(a, -1.5, 2.5) if a.dtype.kind == "f" else np.clip(a, -1, 2))
            same(tt.cat([t, t], axis=0) if a.ndim else tt.stack([t, t]),
                 np.concatenate([a, a]) if a.ndim else np.stack([a, a]))
        @SETTINGS
        @given(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.lists(st.integers(1, 2), max_size=2),
               st.sampled_from([np.float32, np.float64, np.int64]))
        def matmul(m, k, n, batch, dtype):
            rng = np.random.default_rng(m * 16 + k * 4 + n)
            a = (rng.standard_normal((*batch, m, k)) * 3).astype(dtype)
            b = (rng.standard_normal((k, n)) * 3).astype(dtype)
            got = np.asarray(tt.Tensor(a, dtype=dtype) @ tt.Tensor(b, dtype=dtype))
            if dtype == np.float32:
                np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
            else:
                same(got, a @ b)
        views(); matmul()
    """,
    "gradients_vs_torch": """
        import torch
        OPS = {"exp": (lambda x: x.exp(), torch.exp), "tanh": (lambda x: x.tanh(), torch.tanh),
               "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
               "sum_sq": (lambda x: (x * x).sum(), lambda x: (x * x).sum()),
               "std": (lambda x: x.std(), lambda x: x.std(correction=0)),
               "softmax": (lambda x: x.softmax(-1), lambda x: x.softmax(-1)),
               "max": (lambda x: x.max(), lambda x: x.amax())}
        @SETTINGS
        @given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), st.sampled_from(sorted(OPS)),
               st.integers(0, 2 ** 32 - 1), st.booleans())
        def grads(shape, name, seed, constant):
            x = np.random.default_rng(seed).standard_normal(shape)
            if constant:
                x[...] = 0.75  # std of a constant, ties of max, ...
            mine, ref = OPS[name]
            t = tt.Tensor(x, requires_grad=True, dtype=np.float64)
            out = mine(t)
            w = np.random.default_rng(seed + 1).standard_normal(np.shape(out.numpy()))
            (out * tt.Tensor(w, dtype=np.float64)).sum().backward()
            tx = torch.tensor(x, requires_grad=True)
            (ref(tx) * torch.tensor(w)).sum().backward()
            if name == "max" and constant:
                return  # ties: PyTorch splits evenly, numpy-style engines pick one; both are subgradients
            np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        grads()
    """,
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_family_in_a_child_process(family):
    if family == "gradients_vs_torch":
        from conftest import torch_or_skip
        torch_or_skip()
    run_family(family, FAMILIES[family])
