"""Forward kernels are timed: exact names and call counts, nesting, self time, the trace, silence when off."""
import json

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C
from tinytorch.perf.profiling import _self_ns
from tinytorch.profiling import Profiler

pytestmark = pytest.mark.module14


def kernel_calls(prof):
    return {r["name"]: r["calls"] for r in prof.summary() if r["kind"] == "kernel"}


def test_add_exp_sum_each_timed_once():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    tx, tw = tt.Tensor(x), tt.Tensor(w)
    with Profiler() as prof:
        y = (tx + tw).exp().sum()
    np.testing.assert_allclose(float(y.item()), np.exp(x + w).sum(), rtol=1e-5)
    kernels = [(e[0], e[3]) for e in prof.events() if e[1] == "kernel"]
    assert sorted(name for name, _ in kernels) == ["add", "exp", "sum"]
    assert all(dur > 0 for _, dur in kernels)
    assert [e[1] for e in prof.events()] == ["kernel"] * 3  # no grad: no forward nodes, nothing else


def test_known_graph_forward_ops_counted_and_timed():
    tx = tt.Tensor(np.ones((2, 5), np.float32), requires_grad=True)
    with Profiler() as prof:
        y = tx.softmax(-1)
        z = (y * y).mean()
    assert z.item() == pytest.approx(0.04)  # softmax of equal entries is 1/5 everywhere
    assert kernel_calls(prof) == {"softmax": 1, "mul": 1, "mean": 1}
    assert {r["name"] for r in prof.summary() if r["kind"] == "forward"} == {"Softmax", "Mul", "Mean"}


def test_index_ops_are_named_as_users_know_them():
    a = tt.Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    idx = tt.Tensor(np.array([2, 0], np.int64))
    with Profiler() as prof:
        picked = tt.index_select(a, 0, idx)
        flat = tt.take(a, idx)
        joined = tt.cat([a, a], 0)
        m = a.max()
    np.testing.assert_array_equal(picked, np.arange(12, dtype=np.float32).reshape(3, 4)[[2, 0]])
    np.testing.assert_array_equal(flat, [2.0, 0.0])
    assert joined.shape == (6, 4) and m.item() == 11.0
    # cat copies each input into its slice of the output: two `copy` kernels nested inside it
    assert kernel_calls(prof) == {"index_select": 1, "take": 1, "cat": 1, "copy": 2, "max": 1}
    (cat,) = [e for e in prof.events() if e[0] == "cat"]
    for c in (e for e in prof.events() if e[0] == "copy"):
        assert cat[2] <= c[2] and c[2] + c[3] <= cat[2] + cat[3]


def test_gpt_forward_kernels_and_their_nesting():
    from tinytorch.core.transformer import GPT
    model = GPT(50, 32, 2, 4, max_seq_len=16)
    tokens = tt.Tensor(np.zeros((2, 8), np.int64))
    with Profiler() as prof:
        model.forward(tokens)
    calls = kernel_calls(prof)
    # two blocks: two layer norms each plus the final one; one fused attention each;
    # linears: packed qkv, output projection, second MLP layer per block, and the LM head;
    # every linear and linear_gelu runs one matmul, except the packed qkv: one per projection,
    # each into its columns of the output (2 blocks x (3 + 1 + 1 + 1) + the LM head = 13).
    assert calls["gpt_forward"] == 1 and calls["transformer_block"] == 2
    assert calls["layer_norm"] == 5 and calls["attention"] == 2
    assert calls["linear"] == 7 and calls["linear_gelu"] == 2 and calls["matmul"] == 13
    assert calls["embedding"] == 1 and calls["index_select"] == 1
    events = prof.events()
    (gpt,) = [e for e in events if e[0] == "gpt_forward"]
    for e in events:  # everything ran inside the GPT forward
        assert gpt[2] <= e[2] and e[2] + e[3] <= gpt[2] + gpt[3]
    linears = [e for e in events if e[0] in ("linear", "linear_gelu")]
    for mm in (e for e in events if e[0] == "matmul"):  # each matmul sits inside a linear
        assert any(lin[2] <= mm[2] and mm[2] + mm[3] <= lin[2] + lin[3] for lin in linears)
    rows = {(r["name"], r["kind"]): r for r in prof.summary()}
    g = rows[("gpt_forward", "kernel")]
    assert 0 < g["self_ms"] < g["total_ms"]
    # self times partition the outermost event's time: summed, nothing is counted twice
    assert sum(r["self_ms"] for r in rows.values()) == pytest.approx(g["total_ms"], rel=1e-9)


def test_self_time_of_synthetic_nesting_exactly():
    # (name, kind, start, dur, flops, thread): outer [0, 100) holds a [10, 40) holding b [15, 25),
    # and c [50, 70); thread 1's d [5, 95) is not inside anything of thread 0.
    events = [("b", "kernel", 15, 10, 0.0, 0), ("a", "kernel", 10, 30, 0.0, 0), ("outer", "user", 0, 100, 0.0, 0),
              ("n", "forward", 30, 0, 0.0, 0), ("c", "kernel", 50, 20, 0.0, 0), ("d", "kernel", 5, 90, 0.0, 1)]
    assert _self_ns(events) == [10, 20, 50, 0, 20, 90]


def test_nothing_recorded_when_off():
    with Profiler():
        pass
    x = tt.Tensor(np.ones((4, 4), np.float32))
    (x + x).exp().sum()
    tt.cat([x, x], 0).softmax(-1)
    assert _C._profiler_events() == []


def test_chrome_trace_has_the_kernel_events(tmp_path):
    x = tt.Tensor(np.ones((4, 4), np.float32))
    with Profiler() as prof:
        (x + x).exp().sum()
    doc = json.loads(open(prof.export_chrome_trace(tmp_path / "t.json")).read())
    kernels = [e for e in doc["traceEvents"] if e["cat"] == "kernel"]
    assert sorted(e["name"] for e in kernels) == ["add", "exp", "sum"]
    assert all(e["ph"] == "X" and e["dur"] > 0 for e in kernels)
