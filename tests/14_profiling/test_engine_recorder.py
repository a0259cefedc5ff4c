"""The engine recorder: ops it saw, the Chrome trace, allocator bytes, resets, and silence when off."""
import json

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C
from tinytorch.profiling import Profiler, profile, record_function

pytestmark = pytest.mark.module14


def two_matmul_graph():
    a = tt.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    b = tt.Tensor(np.ones((3, 5), np.float32), requires_grad=True)
    c = tt.Tensor(np.ones((5, 2), np.float32), requires_grad=True)
    ((a @ b) @ c).sum().backward()
    return a


def counts(prof):
    return {(r["name"], r["kind"]): r["calls"] for r in prof.summary()}


def test_known_graph_ops_and_counts():
    with Profiler() as prof:
        a = two_matmul_graph()
    np.testing.assert_array_equal(a.grad, np.full((4, 3), 10.0))  # the profiled run computed the right thing
    assert counts(prof) == {
        ("Matmul", "forward"): 2, ("Sum", "forward"): 1,
        ("MatmulBackward", "backward"): 2, ("SumBackward", "backward"): 1, ("AccumulateGrad", "backward"): 3,
        ("matmul", "kernel"): 6, ("sum", "kernel"): 1,
        ("copy", "kernel"): 2,  # inside matmul: two backward products make a transposed operand contiguous
    }
    rows = prof.summary()
    assert [r["total_ms"] for r in rows] == sorted((r["total_ms"] for r in rows), reverse=True)
    mm = next(r for r in rows if r["name"] == "matmul")
    assert mm["flops"] == 600 and mm["gflops_per_second"] > 0
    table = prof.table()
    assert table.splitlines()[0].split()[:3] == ["op", "kind", "calls"]
    assert "MatmulBackward" in table and "allocator:" in table


def test_chrome_trace_schema_and_contents(tmp_path):
    with Profiler() as prof:
        with record_function("step"):
            two_matmul_graph()
    path = tmp_path / "trace.json"
    assert prof.export_chrome_trace(path) == str(path)
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    for ev in events:
        assert {"name", "cat", "ph", "ts", "pid", "tid"} <= set(ev)
        assert isinstance(ev["name"], str) and ev["ph"] in ("X", "i")
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0
        if ev["ph"] == "X":
            assert ev["dur"] >= 0
        else:
            assert ev["s"] == "t"
    names = [(e["name"], e["ph"]) for e in events]
    assert names.count(("MatmulBackward", "X")) == 2
    assert names.count(("Matmul", "i")) == 2
    assert names.count(("step", "X")) == 1
    step = next(e for e in events if e["name"] == "step")
    for e in events:  # every op ran inside the user's range
        assert step["ts"] <= e["ts"] <= step["ts"] + step["dur"] + 1e-3
    mm = [e for e in events if e["name"] == "matmul"]
    assert sorted(e["args"]["flops"] for e in mm) == [80, 80, 80, 120, 120, 120]
    assert doc["otherData"]["allocator"] == prof.memory_stats()


def test_allocator_bytes_of_known_allocations_exactly():
    with Profiler() as prof:
        small = tt.zeros(1000)       # 4000 bytes -> the 4096-byte size class
    assert prof.memory_stats() == {"allocations": 1, "requested_bytes": 4000, "block_bytes": 4096, "frees": 0,
                                   "live_bytes": 4096, "peak_live_bytes": 4096}
    with Profiler() as prof:
        big = tt.zeros(1_000_000)    # 4,000,000 bytes -> rounded up to 977 pages of 4096
        tmp = tt.zeros(1000)
        del tmp
    assert prof.memory_stats() == {"allocations": 2, "requested_bytes": 4_004_000, "block_bytes": 977 * 4096 + 4096,
                                   "frees": 1, "live_bytes": 977 * 4096, "peak_live_bytes": 977 * 4096 + 4096}
    del small, big


def test_memory_of_a_linear_forward():
    from tinytorch.core.layers import Linear
    mem = Profiler().measure_memory(Linear(8, 16), (4, 8))
    assert mem["parameter_bytes"] == (8 * 16 + 16) * 4
    assert mem["activation_bytes"] == 4 * 16 * 4  # the output (256 bytes: exactly a size class)
    assert mem["peak_bytes"] == 256 and mem["allocations"] == 1
    assert mem["parameter_memory_mb"] == 576 / 2**20


def test_counters_reset_between_sessions():
    with Profiler() as first:
        kept = tt.zeros(1000)
        two_matmul_graph()
    assert first.memory_stats()["allocations"] > 1 and first.events()
    with Profiler() as second:
        del kept  # allocated in the first session: freeing it does not count in this one
    assert second.events() == []
    assert second.memory_stats() == {"allocations": 0, "requested_bytes": 0, "block_bytes": 0, "frees": 0,
                                     "live_bytes": 0, "peak_live_bytes": 0}
    assert first.memory_stats()["allocations"] > 1  # a finished session keeps its own copy


def test_profiler_off_records_nothing():
    with Profiler() as prof:
        pass
    assert not _C._profiler_enabled()
    two_matmul_graph()                 # not recorded: the recorder is off
    tt.zeros(1000)
    assert _C._profiler_events() == []
    assert _C._profiler_memory()["allocations"] == 0
    assert prof.events() == []


def test_exception_inside_the_block_switches_the_recorder_off():
    with pytest.raises(ValueError, match="matmul"):
        with Profiler():
            tt.ones((2, 3)) @ tt.ones((4, 5))
    assert not _C._profiler_enabled()
    with profile() as prof:            # and a new session can start
        tt.zeros(10)
    assert prof.memory_stats()["allocations"] == 1


def test_profile_method_is_the_same_session():
    prof = Profiler()
    with prof.profile():
        two_matmul_graph()
    assert counts(prof)[("MatmulBackward", "backward")] == 2


def test_profile_backward_pass_is_measured():
    from tinytorch.core.activations import ReLU
    from tinytorch.core.layers import Linear, Sequential
    model = Sequential(Linear(8, 16), ReLU(), Linear(16, 4))
    r = Profiler().profile_backward_pass(model, tt.Tensor(np.ones((2, 8), np.float32)))
    assert r["forward_flops"] == 800
    # dW1 (512); dX2 (256) and dW2 (256); the input needs no gradient
    assert r["backward_matmul_flops"] == 1024
    assert r["backward_ops"] == {"LinearBackward": 2, "ReLUBackward": 1, "SumBackward": 1, "AccumulateGrad": 4}
    assert r["gradient_memory_mb"] * 2**20 == (144 + 68) * 4


def test_gpt_reports_take_token_ids():
    from tinytorch.core.transformer import GPT
    tt.manual_seed(0)
    gpt = GPT(50, 32, 2, 4, max_seq_len=16)
    p = Profiler()
    mem = p.measure_memory(gpt, (2, 16))
    assert mem["parameter_bytes"] == 29184 * 4
    # the logits (2, 16, 50) float32 are among what the forward still holds
    assert mem["activation_bytes"] >= 2 * 16 * 50 * 4 and mem["peak_bytes"] >= mem["activation_bytes"]
    report = p.profile_layer(gpt, (2, 16), warmup=1, iterations=2)
    assert report["layer_type"] == "GPT" and report["parameters"] == 29184
    assert report["flops"] == p.count_flops(gpt, (2, 16)) and report["latency_ms"] > 0
