"""Module 19: the olympics ratios on fake measurements, the machine description, the JSON schema
round trip and the PNG chart."""
import json
import struct

import numpy as np
import pytest

import tinytorch
from tinytorch.benchmarking import (SCHEMA, SCHEMA_VERSION, Benchmark, Candidate, FakeClock, load_results, machine_info,
                                    olympics, olympics_ratios, peak_memory_delta)
from tinytorch.core.layers import Linear

pytestmark = pytest.mark.module19


def test_olympics_ratios_exact_on_fake_measurements():
    with pytest.raises(ValueError, match="olympics: memory_runs must be an int of at least 1, got 0"):
        olympics(Candidate("a", lambda: None), Candidate("b", lambda: None), memory_runs=0)
    clock = FakeClock()
    base_model, small_model = Linear(8, 8), Linear(8, 2)
    mem_seq = {"baseline": iter([4096, 8192, 4096]), "optimized": iter([1024, 1024, 512])}
    base = Candidate("baseline", clock.runner("baseline", [9.0] * 2 + [1.0, 1.5, 0.5, 1.0, 1.0] + [0] * 3),
                     model=base_model, accuracy=lambda m: 0.75)
    opt = Candidate("optimized", clock.runner("optimized", [9.0] * 2 + [0.25, 0.25, 0.5, 0.125, 0.25] + [0] * 3),
                    model=small_model, accuracy=lambda m: 0.625)
    probe = lambda fn: (fn(), next(mem_seq[fn.__name__]), "fake")[1:]  # noqa: E731
    rep = olympics(base, opt, warmup_runs=2, measurement_runs=5, timer=clock, memory_probe=probe, memory_runs=3)
    ax = rep.olympics["axes"]
    assert rep.order == ["baseline", "optimized"] * 5
    assert (ax["latency"]["baseline"], ax["latency"]["optimized"], ax["latency"]["ratio"]) == (1.0, 0.25, 4.0)
    assert (ax["memory"]["baseline"], ax["memory"]["optimized"], ax["memory"]["ratio"]) == (4096, 1024, 4.0)
    assert (ax["size"]["baseline"], ax["size"]["optimized"], ax["size"]["ratio"]) == (288, 72, 4.0)
    assert (ax["accuracy"]["ratio"], ax["accuracy"]["delta"]) == (0.625 / 0.75, -0.125)
    assert rep.olympics["memory_method"] == "fake" and rep.olympics["baseline"] == "baseline"
    table = rep.table()
    assert "latency" in table and "4x" in table and "0.833x" in table


def test_olympics_ratios_pure_function():
    axes = olympics_ratios({"latency_s": 2.0, "memory_bytes": 0, "accuracy": 0.5, "size_bytes": 100},
                           {"latency_s": 0.5, "memory_bytes": 10, "accuracy": 0.75})
    assert axes["latency"]["ratio"] == 4.0 and axes["memory"]["ratio"] == 0.0
    assert axes["accuracy"]["ratio"] == 1.5 and axes["accuracy"]["delta"] == 0.25
    assert axes["size"]["ratio"] is None and axes["size"]["optimized"] is None     # not measured: no ratio
    zero = olympics_ratios({"memory_bytes": 10}, {"memory_bytes": 0})
    assert zero["memory"]["ratio"] is None                                         # never inf in a JSON file
    with pytest.raises(TypeError, match="olympics_ratios: baseline must be a dict"):
        olympics_ratios([1], {})


def test_olympics_with_plain_functions_and_same_names():
    clock = FakeClock()
    rep = olympics(Candidate("a", clock.runner("a", [1.0] * 4)), Candidate("b", clock.runner("b", [0.5] * 4)),
                   warmup_runs=0, measurement_runs=3, timer=clock, memory_probe=lambda fn: 0, memory_runs=1)
    ax = rep.olympics["axes"]
    assert ax["latency"]["ratio"] == 2.0 and ax["accuracy"]["ratio"] is None and ax["size"]["ratio"] is None
    with pytest.raises(ValueError, match="both candidates are named 'a'"):
        olympics(Candidate("a", lambda: None), Candidate("a", lambda: None))
    with pytest.raises(TypeError, match="olympics: candidate 1 is a str, not callable"):
        olympics(lambda: None, "fast")


def test_machine_description_is_this_machine():
    info = machine_info()
    build = tinytorch._C._build_info()
    assert info["blas_core"] == build["blas_core"] and info["blas_threads"] == build["blas_threads"]
    assert info["numpy"] == np.__version__ and info["cores"] >= info["cores_usable"] >= 1
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.lower().startswith("model name")]
    if models:
        assert info["cpu"] == models[0]


def test_peak_memory_sees_a_large_allocation():
    nbytes, method = peak_memory_delta(lambda: np.ones(64 * 2**20 // 8))       # 64 MiB, touched
    if method != "vmhwm-reset":
        pytest.skip("this kernel cannot reset the peak RSS: the delta is only a lower bound")
    assert 60 * 2**20 <= nbytes <= 80 * 2**20
    small, _ = peak_memory_delta(lambda: None)
    assert small < 8 * 2**20


def test_json_round_trip_and_schema(tmp_path):
    clock = FakeClock()
    mem = iter([4096, 1024, 4096, 1024])
    base = Candidate("baseline", clock.runner("baseline", [1.0, 0.5, 1.0, 1.5]), model=Linear(4, 4),
                     accuracy=lambda m: 0.5)
    opt = Candidate("optimized", clock.runner("optimized", [0.25, 0.125, 0.25, 0.5]), size_bytes=20,
                    accuracy=lambda m: 0.5)
    rep = olympics(base, opt, warmup_runs=1, measurement_runs=3, timer=clock,
                   memory_probe=lambda fn: next(mem), memory_runs=2)
    path = tmp_path / "r.json"
    rep.save_json(str(path))
    d = json.loads(path.read_text())
    assert d["schema"] == SCHEMA == "tinytorch.benchmarking" and d["schema_version"] == SCHEMA_VERSION == 1
    assert set(d) == {"schema", "schema_version", "created_utc", "machine", "config", "order", "results", "olympics"}
    r = d["results"]["baseline"]
    assert r["values"] == [0.5, 1.0, 1.5] and r["median"] == 1.0 and r["unit"] == "s"
    assert set(r) == {"metric_name", "unit", "values", "count", "median", "q1", "q3", "iqr", "mean", "std", "min",
                      "max", "ci_lower", "ci_upper", "metadata"}
    assert d["olympics"]["axes"]["size"] == {"unit": "bytes", "baseline": 80.0, "optimized": 20.0, "ratio": 4.0,
                                             "ratio_is": "baseline / optimized"}
    back = load_results(str(path))
    assert back.order == rep.order and back.machine == rep.machine and back.config == rep.config
    assert back.olympics == rep.olympics and back.created_utc == rep.created_utc
    for name in rep.results:
        assert back.results[name].to_dict() == rep.results[name].to_dict()
    assert back.table() == rep.table()
    # statistics are recomputed from the raw values, not read back
    d["results"]["baseline"]["median"] = 99.0
    path.write_text(json.dumps(d))
    assert load_results(str(path)).results["baseline"].median == 1.0


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"schema": "tinytorch.benchmarking", "schema_version": 2}))
    with pytest.raises(ValueError, match="schema_version 2 is not supported"):
        load_results(str(p))
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a tinytorch benchmark report"):
        load_results(str(p))
    p.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        load_results(str(p))
    p.write_text(json.dumps({"schema": "tinytorch.benchmarking", "schema_version": 1, "order": []}))
    with pytest.raises(ValueError, match="lacks machine, config, results"):
        load_results(str(p))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_png_chart_is_a_valid_png(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    clock = FakeClock()
    rep = Benchmark({"A": clock.runner("A", [1.0] * 3), "B": clock.runner("B", [2.0] * 3)}, warmup_runs=0,
                    measurement_runs=3, timer=clock).run()
    path = rep.save_chart(str(tmp_path / "b.png"))
    assert png_size(path) == (550, 400)                       # figsize (5.5, 4) at 100 dpi
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (400, 550) and img.std() > 0      # decodes, and is not a blank canvas
    clock2 = FakeClock()
    o = olympics(Candidate("a", clock2.runner("a", [1.0] * 3)), Candidate("b", clock2.runner("b", [0.5] * 3)),
                 warmup_runs=0, measurement_runs=2, timer=clock2, memory_probe=lambda fn: 1, memory_runs=1)
    assert png_size(o.save_chart(str(tmp_path / "o.png"))) == (1100, 400)
