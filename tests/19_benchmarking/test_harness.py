"""Module 19: the Benchmark harness on a fake clock: statistics against numpy, warm-up excluded,
interleaving order, drift, TinyTorch's method names, errors."""
import numpy as np
import pytest

import tinytorch
from tinytorch.benchmarking import (Benchmark, BenchmarkResult, BenchmarkSuite, Candidate, FakeClock, measure,
                                    parameter_bytes,
                                    speedup_interval, speedup_range, summarize)

pytestmark = pytest.mark.module19

WARM = 1000.0   # a warm-up run takes this long: if one were counted, every statistic would show it


def dyadic(rng, n):
    return (rng.integers(1, 4096, size=n) / 256.0).tolist()


@pytest.mark.parametrize("n", [1, 2, 5, 10, 33])
def test_statistics_match_numpy_exactly(n):
    rng = np.random.default_rng(n)
    durations = dyadic(rng, n)
    clock = FakeClock()
    r = measure(clock.runner("f", [WARM] * 3 + durations), warmup=3, repetitions=n, timer=clock)
    assert r.values == durations
    a = np.array(durations)
    assert r.count == n
    assert r.median == np.median(a)
    assert (r.q1, r.q3) == tuple(np.percentile(a, [25, 75]))
    assert r.iqr == np.percentile(a, 75) - np.percentile(a, 25)
    assert r.mean == a.mean() and r.min_val == a.min() and r.max_val == a.max()
    assert r.std == (a.std(ddof=1) if n > 1 else 0.0)
    assert r.ci_lower == pytest.approx(a.mean() - 1.96 * r.std / np.sqrt(n), abs=1e-12)
    assert r.unit == "s"


def test_summarize_hand_values():
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert s["median"] == 2.5 and s["q1"] == 1.75 and s["q3"] == 3.25 and s["iqr"] == 1.5
    assert s["min"] == 1.0 and s["max"] == 4.0 and s["std"] == np.std([1, 2, 3, 4], ddof=1)


def test_warmup_runs_are_run_but_not_counted():
    clock = FakeClock()
    r = measure(clock.runner("f", [WARM] * 4 + [0.5] * 6), warmup=4, repetitions=6, timer=clock)
    assert r.values == [0.5] * 6 and WARM not in r.values
    assert [d for _, d in clock.calls] == [WARM] * 4 + [0.5] * 6       # warm-ups ran first, all of them
    clock = FakeClock()
    r = measure(clock.runner("g", [0.25] * 3), warmup=0, repetitions=3, timer=clock)
    assert r.values == [0.25] * 3 and len(clock.calls) == 3


def test_number_of_calls_per_sample():
    # each sample is the mean of `number` back-to-back calls; warm-ups are `number` calls too
    clock = FakeClock()
    r = measure(clock.runner("f", [WARM] * 4 + [1.0, 2.0, 0.5, 0.5, 0.25, 0.25, 4.0, 4.0]), warmup=2,
                repetitions=3, timer=clock, number=2)
    assert r.values == [1.5, 0.5, 0.25] and len(clock.calls) == 4 + 6
    with pytest.raises(ValueError, match="number .calls per timed sample. must be an int >= 1, got 0"):
        measure(lambda: None, number=0)


def test_interleaved_rounds_order_recorded():
    clock = FakeClock()
    a = clock.runner("A", [WARM] * 2 + [1.0] * 3)
    b = clock.runner("B", [WARM] * 2 + [2.0] * 3)
    rep = Benchmark({"A": a, "B": b}, warmup_runs=2, measurement_runs=3, timer=clock).run()
    assert rep.order == ["A", "B"] * 3
    assert [n for n, _ in clock.calls] == ["A", "B"] * 5                 # warm-ups interleaved too
    assert rep.results["A"].values == [1.0] * 3 and rep.results["B"].values == [2.0] * 3
    assert rep.config == {"warmup_runs": 2, "measurement_runs": 3, "number": 1, "interleave": True,
                          "timer": "FakeClock"}


def test_sequential_order_when_not_interleaved():
    clock = FakeClock()
    rep = Benchmark([clock.runner("A", [WARM] + [1.0] * 3), clock.runner("B", [WARM] + [2.0] * 3)],
                    warmup_runs=1, measurement_runs=3, interleave=False, timer=clock).run()
    assert rep.order == ["A"] * 3 + ["B"] * 3
    assert [n for n, _ in clock.calls] == ["A"] * 4 + ["B"] * 4
    assert list(rep.results) == ["A", "B"]                                # named after the functions


def test_drift_hits_both_candidates_equally_only_when_interleaved():
    # The machine slows down by 1/256 s per run, A and B cost the same: an honest harness must not
    # call either faster. Interleaved, their medians differ by one step; sequentially, by n steps.
    n = 9

    def drifting(clock):
        step = [0]

        def make(name):
            def run():
                step[0] += 1
                clock.now += 1.0 + step[0] / 256.0
                clock.calls.append((name, None))
            run.__name__ = name
            return run
        return make("A"), make("B")

    for interleave, gap in ((True, 1 / 256.0), (False, n / 256.0)):
        clock = FakeClock()
        a, b = drifting(clock)
        rep = Benchmark([a, b], warmup_runs=0, measurement_runs=n, interleave=interleave, timer=clock).run()
        assert rep.results["B"].median - rep.results["A"].median == gap


def test_speedup_range_and_bootstrap_interval():
    base, opt = [4.0, 6.0, 5.0], [1.0, 2.0, 4.0]
    assert speedup_range(base, opt) == (2.5, 1.0, 6.0)
    point, lo, hi = speedup_interval(base, opt, n_boot=500, seed=3)
    assert point == 2.5 and lo <= point <= hi and lo >= 1.0 and hi <= 6.0
    assert speedup_interval(base, opt, n_boot=500, seed=3) == (point, lo, hi)   # seeded: repeatable
    # resampling a constant list changes nothing: the interval collapses onto the ratio
    assert speedup_interval([3.0] * 5, [1.5] * 4) == (2.0, 2.0, 2.0)
    # against a direct numpy bootstrap with the same generator
    rng = np.random.default_rng(7)
    b, o = np.array(base), np.array(opt)
    mb = np.median(b[rng.integers(0, 3, size=(200, 3))], axis=1)
    mo = np.median(o[rng.integers(0, 3, size=(200, 3))], axis=1)
    assert speedup_interval(base, opt, level=0.9, n_boot=200, seed=7)[1:] == tuple(np.percentile(mb / mo, [5, 95]))


def test_tinytorch_api_latency_accuracy_memory_compare():
    class Model:
        def __init__(self, name, cost, acc):
            self.name, self.cost, self.acc, self.seen = name, cost, acc, []

        def forward(self, x):
            self.seen.append(x.shape)
            clock.now += self.cost

        def evaluate(self, dataset):
            return self.acc + dataset

    clock = FakeClock()
    fast, slow = Model("fast", 0.25, 0.5), Model("slow", 0.75, 0.25)
    bench = Benchmark([fast, slow], [0.0, 0.125], warmup_runs=1, measurement_runs=4, timer=clock,
                      memory_probe=lambda fn: (fn(), 2**20)[1])
    lat = bench.run_latency_benchmark(input_shape=(2, 3))
    assert lat["fast"].values == [250.0] * 4 and lat["slow"].unit == "ms"        # TinyTorch's ms
    assert lat["slow"].metric_name == "slow_latency_ms" and fast.seen == [(2, 3)] * 5
    acc = bench.run_accuracy_benchmark()
    assert acc["fast"].values == [0.5, 0.625] and acc["slow"].mean == 0.3125
    mem = bench.run_memory_benchmark(input_shape=(2, 3))
    assert mem["fast"].values == [1.0] * 4 and mem["fast"].unit == "MB"
    rows = bench.compare_models("latency")
    assert [(r["model"], r["median"], r["count"]) for r in rows] == [("fast", 250.0, 4), ("slow", 750.0, 4)]
    with pytest.raises(ValueError, match="unknown metric 'energy'"):
        bench.compare_models("energy")


def test_suite_writes_report_json_and_chart(tmp_path):
    clock = FakeClock()
    suite = BenchmarkSuite({"A": clock.runner("A", [0.5] * 20), "B": clock.runner("B", [0.25] * 20)},
                           output_dir=str(tmp_path / "out"), warmup_runs=0, measurement_runs=3, timer=clock,
                           memory_probe=lambda fn: 0)
    with pytest.raises(RuntimeError, match="run_full_benchmark"):
        suite.generate_report()
    res = suite.run_full_benchmark()
    assert res["latency"]["B"].median == 250.0 and res["accuracy"] == {}
    text = suite.generate_report()
    assert "**B**: median 250 ms" in text and "(best)" in text.split("**B**")[1].splitlines()[0]
    assert (tmp_path / "out" / "benchmark_report.md").read_text() == text
    assert (tmp_path / "out" / "benchmark_results.json").is_file()
    assert open(suite.plot_results(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_parameter_bytes():
    from tinytorch.core.layers import Linear
    assert parameter_bytes(Linear(3, 4)) == (3 * 4 + 4) * 4
    assert parameter_bytes(type("Q", (), {"size_bytes": lambda self: 123})()) == 123
    assert parameter_bytes(np.zeros(10, dtype=np.int8)) == 10
    with pytest.raises(TypeError, match="parameter_bytes: a object has no parameters"):
        parameter_bytes(object())


def test_errors_name_the_function_and_the_fix():
    f = lambda: None  # noqa: E731
    with pytest.raises(ValueError, match="measurement_runs must be at least 1, got 0"):
        Benchmark([f], measurement_runs=0)
    with pytest.raises(ValueError, match="warmup_runs must be at least 0, got -1"):
        measure(f, warmup=-1)
    with pytest.raises(TypeError, match="measurement_runs must be an int, got float"):
        Benchmark([f], measurement_runs=2.5)
    with pytest.raises(TypeError, match="measurement_runs must be an int, got bool"):
        Benchmark([f], measurement_runs=True)
    with pytest.raises(TypeError, match="Benchmark: candidate 1 is a int, not callable"):
        Benchmark([f, 3]).run()
    with pytest.raises(TypeError, match=r"Candidate\('x'\): fn must be callable"):
        Candidate("x", "not a function")
    with pytest.raises(TypeError, match="Candidate: name must be a non-empty string"):
        Candidate(3, f)
    with pytest.raises(TypeError, match="accuracy must be a callable"):
        Candidate("x", f, accuracy=0.9)
    with pytest.raises(ValueError, match="needs at least one candidate"):
        Benchmark([])
    with pytest.raises(ValueError, match="two candidates are named 'f'"):
        Benchmark([Candidate("f", f), Candidate("f", f)]).run()
    with pytest.raises(TypeError, match="timer must be a callable"):
        Benchmark([f], timer=1.0)
    from tinytorch.core.layers import Linear
    with pytest.raises(TypeError, match="Linear model but no input was given"):
        Benchmark([Linear(2, 2)]).run()
    with pytest.raises(ValueError, match="needs at least one measurement"):
        BenchmarkResult("x", [])
    with pytest.raises(ValueError, match="speedup_range: timings must be positive"):
        speedup_range([1.0], [0.0])
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        speedup_interval([1.0], [1.0], level=95)


def test_import_paths_are_one_module():
    import tinytorch.benchmarking.benchmark as tt_path
    import tinytorch.perf.benchmarking as perf_path
    assert perf_path.Benchmark is tinytorch.benchmarking.Benchmark is tt_path.Benchmark
    assert tinytorch.perf.benchmarking.olympics is tinytorch.benchmarking.olympics
    from tinytorch.benchmarking.benchmark import OlympicEvent
    assert OlympicEvent.LATENCY_SPRINT.value == "latency_sprint" and len(OlympicEvent) == 5
