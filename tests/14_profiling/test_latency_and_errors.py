"""Latency statistics on a fake clock (never wall-clock thresholds) and bad arguments."""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C
from tinytorch.core.layers import Linear
from tinytorch.profiling import Profiler, record_function

pytestmark = pytest.mark.module14


class FakeClock:
    """Each fn() call advances time by the next duration; clock() reads it."""

    def __init__(self, durations_s):
        self.now, self.durations, self.calls = 0.0, list(durations_s), 0

    def __call__(self):
        return self.now

    def fn(self):
        self.now += self.durations[self.calls]
        self.calls += 1


def test_latency_stats_on_a_fake_clock():
    warm = [5.0, 5.0]  # slow warm-up calls must not be counted
    timed = [0.001, 0.004, 0.002, 0.003, 0.010]
    clock = FakeClock(warm + timed)
    s = Profiler().latency_stats(clock.fn, warmup=2, iterations=5, percentiles=(50, 95), clock=clock)
    assert clock.calls == 7
    ms = np.array(timed) * 1e3
    np.testing.assert_allclose(s["samples_ms"], ms)
    assert s["iterations"] == 5
    assert s["median_ms"] == pytest.approx(3.0) and s["p50_ms"] == pytest.approx(3.0)
    assert s["p95_ms"] == pytest.approx(np.percentile(ms, 95))
    assert s["mean_ms"] == pytest.approx(ms.mean()) and s["min_ms"] == pytest.approx(1.0)
    assert s["max_ms"] == pytest.approx(10.0) and s["std_ms"] == pytest.approx(ms.std())


def test_measure_latency_returns_the_median_in_ms_of_forward_calls():
    calls = []

    class Model:
        def forward(self, x):
            calls.append(x)

    ticks = iter(np.arange(0, 100, 0.5))  # every clock read advances 0.5 s: each call measures 500 ms
    lat = Profiler().measure_latency(Model(), "input", warmup=3, iterations=4, clock=lambda: next(ticks))
    assert lat == pytest.approx(500.0) and len(calls) == 7 and calls[0] == "input"


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"warmup": -1}, ValueError, "warmup must be >= 0"),
    ({"iterations": 0}, ValueError, "iterations must be >= 1"),
    ({"iterations": 1.5}, TypeError, "iterations must be an int"),
    ({"percentiles": (50, 101)}, ValueError, "percentiles must lie in"),
])
def test_latency_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        Profiler().latency_stats(lambda: None, **kwargs)


def test_bad_arguments_name_the_function():
    p, lin = Profiler(), Linear(8, 16)
    with pytest.raises(TypeError, match="latency_stats: fn must be callable"):
        p.latency_stats(3)
    with pytest.raises(ValueError, match="linear_flops: input_shape .* in_features=8"):
        p.count_flops(lin, (4, 7))
    with pytest.raises(TypeError, match="count_flops: input_shape must be a tuple of ints"):
        p.count_flops(lin, None)
    with pytest.raises(ValueError, match="count_flops: input_shape must be a non-empty tuple of positive ints"):
        p.count_flops(lin, (0, 8))
    with pytest.raises(TypeError, match="count_parameters: expected a Module"):
        p.count_parameters(42)
    with pytest.raises(TypeError, match="record_function: name must be a non-empty str"):
        with record_function(3):
            pass
    with pytest.raises(ValueError, match="record_function: the range ends"):
        _C._profiler_record("x", 10, 5)


def test_session_errors():
    p = Profiler()
    with pytest.raises(RuntimeError, match=r"Profiler.table: nothing recorded yet"):
        p.table()
    with p:
        with pytest.raises(RuntimeError, match="another profiling session is already recording"):
            with Profiler():
                pass
        with pytest.raises(RuntimeError, match="Profiler.events: still recording"):
            p.events()
    assert not _C._profiler_enabled()
    with pytest.raises(ValueError, match="sort_by must be one of"):
        p.summary(sort_by="speed")
    with pytest.raises(ValueError, match="row_limit must be a positive int"):
        p.table(row_limit=0)
    with pytest.raises(TypeError, match="export_chrome_trace: path must be a str or path"):
        p.export_chrome_trace(123)
    tt.zeros(3)  # the failed inner session did not leave the recorder on
    assert _C._profiler_events() == []
