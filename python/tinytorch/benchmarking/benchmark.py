"""The harness: candidates, warm-up, repetitions, interleaved rounds.

A candidate is anything that can be run: a function taking no arguments (it
closes over its input), optionally with the model it runs (for its size), a
callable that evaluates that model (for its accuracy) and a display name.
That is all the capstone needs to compare a GPT with a KV cache, a quantized
model or a pruned one: wrap each in a `Candidate` and hand them over.

Interleaving: with `interleave=True` (the default) round r runs A once, then
B once, then A again in round r + 1, ...; a slow drift of the machine (another
process starting, the CPU clocking down as it warms) then lands on every
candidate alike instead of on whichever ran last. The order of the timed runs
is kept in the report, so a reader can check it.

The clock is an argument (`timer`, default time.perf_counter): tests and the
lesson pass a fake clock and get exact, repeatable numbers.
"""
import gc
import time
from dataclasses import dataclass, field

import numpy as np

from .machine import machine_info, peak_memory_delta
from .stats import summarize

__all__ = ["BenchmarkResult", "Candidate", "Benchmark", "BenchmarkReport", "measure", "parameter_bytes",
           "DEFAULT_WARMUP_RUNS", "DEFAULT_MEASUREMENT_RUNS"]

DEFAULT_WARMUP_RUNS = 5         # TinyTorch's defaults
DEFAULT_MEASUREMENT_RUNS = 10


@dataclass
class BenchmarkResult:
    """Measurements of one metric of one candidate and their statistics (TinyTorch's container:
    metric_name, values, metadata; mean, std, median, min_val, max_val, count, ci_lower, ci_upper;
    plus q1, q3, iqr and the unit)."""
    metric_name: str
    values: list
    metadata: dict = field(default_factory=dict)
    unit: str = "s"

    def __post_init__(self):
        try:
            self.values = [float(v) for v in self.values]
        except (TypeError, ValueError):
            raise TypeError(f"BenchmarkResult({self.metric_name!r}): values must be numbers") from None
        if not self.values:
            raise ValueError(f"BenchmarkResult({self.metric_name!r}): needs at least one measurement, got none")
        s = summarize(self.values)
        self.count, self.median, self.mean, self.std = s["count"], s["median"], s["mean"], s["std"]
        self.min_val, self.max_val = s["min"], s["max"]
        self.q1, self.q3, self.iqr = s["q1"], s["q3"], s["iqr"]
        self.ci_lower, self.ci_upper = s["ci_lower"], s["ci_upper"]

    def scaled(self, factor, unit, metric_name=None):
        """The same measurements times `factor` (e.g. 1e3, "ms")."""
        return BenchmarkResult(metric_name or self.metric_name, [v * factor for v in self.values],
                               dict(self.metadata), unit)

    def to_dict(self):
        return {"metric_name": self.metric_name, "unit": self.unit, "values": list(self.values),
                **summarize(self.values), "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, d):
        """Rebuilt from `values` (the statistics are recomputed, never trusted from the file)."""
        return cls(d["metric_name"], d["values"], dict(d.get("metadata", {})), d.get("unit", "s"))

    def __str__(self):
        return (f"{self.metric_name}: median {self.median:.6g} {self.unit} (IQR {self.iqr:.3g}, "
                f"min {self.min_val:.6g}, max {self.max_val:.6g}, n={self.count})")


def parameter_bytes(model):
    """Bytes of a model's parameters: model.size_bytes() / model.nbytes if the model reports its own
    size (a quantized model knows its int8 bytes), else the sum of its parameters' nbytes."""
    if model is None:
        return None
    own = getattr(model, "size_bytes", None)
    if own is not None:
        return int(own() if callable(own) else own)
    if hasattr(model, "parameters"):
        return int(sum(np.asarray(p).nbytes for p in model.parameters()))
    if hasattr(model, "nbytes"):
        return int(model.nbytes)
    raise TypeError(f"parameter_bytes: a {type(model).__name__} has no parameters(), size_bytes or nbytes; "
                    "pass size_bytes= to its Candidate")


@dataclass
class Candidate:
    """One contender. `fn()` is one timed run. `model` (optional) is what fn runs, for its size;
    `accuracy(model)` (optional) evaluates it; `size_bytes` overrides the measured size."""
    name: str
    fn: object
    model: object = None
    accuracy: object = None
    size_bytes: int = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Candidate: name must be a non-empty string (it keys the report), got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"Candidate({self.name!r}): fn must be callable (a function taking no arguments), "
                            f"got {type(self.fn).__name__}")
        if self.accuracy is not None and not callable(self.accuracy):
            raise TypeError(f"Candidate({self.name!r}): accuracy must be a callable evaluating the model, "
                            f"got {type(self.accuracy).__name__}")

    def size(self):
        return int(self.size_bytes) if self.size_bytes is not None else parameter_bytes(self.model)

    def evaluate(self):
        return None if self.accuracy is None else float(self.accuracy(self.model))


def _is_model(obj):
    return hasattr(obj, "forward") or hasattr(obj, "parameters")


def _model_name(obj, index):
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else f"model_{index}"


_NOT_RUN = object()   # "this candidate will only be evaluated, never run"


def _as_candidate(obj, index, who, example_input=None, name=None):
    if isinstance(obj, Candidate):
        return obj
    if _is_model(obj):
        if example_input is _NOT_RUN:
            return Candidate(name or _model_name(obj, index), lambda: None, model=obj)
        if example_input is None:
            raise TypeError(f"{who}: candidate {index} is a {type(obj).__name__} model but no input was given; "
                            "wrap it as Candidate(name, fn=lambda: model(x), model=model) or pass input_shape")
        run = obj.forward if hasattr(obj, "forward") else obj
        return Candidate(name or _model_name(obj, index), lambda: run(example_input), model=obj)
    if callable(obj):
        return Candidate(name or _model_name(obj, index), obj)
    raise TypeError(f"{who}: candidate {index} is a {type(obj).__name__}, not callable; pass a function taking "
                    "no arguments, a Candidate, or a model with forward()")


def _check_runs(who, warmup, repetitions):
    for label, v, low in (("warmup_runs", warmup, 0), ("measurement_runs", repetitions, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{who}: {label} must be an int, got {type(v).__name__}")
        if v < low:
            raise ValueError(f"{who}: {label} must be at least {low}, got {v}")


def _timed(fn, timer, number=1):
    """Seconds per call of fn, from one sample of `number` back-to-back calls."""
    t0 = timer()
    for _ in range(number):
        fn()
    return (timer() - t0) / number


def measure(fn, warmup=DEFAULT_WARMUP_RUNS, repetitions=DEFAULT_MEASUREMENT_RUNS, timer=time.perf_counter,
            name=None, number=1):
    """Time fn() `repetitions` times after `warmup` untimed calls; a BenchmarkResult in seconds per call."""
    return Benchmark([fn], warmup_runs=warmup, measurement_runs=repetitions, timer=timer, number=number,
                     names=[name] if name else None).run().results_list()[0]


@dataclass
class BenchmarkReport:
    """What a run produced: results by candidate name (latency in seconds), the order of the timed
    runs, the machine, the configuration, and (for an olympics) the four-axis comparison."""
    results: dict
    order: list
    machine: dict
    config: dict
    olympics: dict = None
    created_utc: str = ""

    def results_list(self):
        return list(self.results.values())

    def to_dict(self):
        from .report import report_to_dict
        return report_to_dict(self)

    def save_json(self, path):
        from .report import save_json
        return save_json(self, path)

    def save_chart(self, path):
        from .report import save_chart
        return save_chart(self, path)

    def table(self):
        from .report import format_table
        return format_table(self)


class Benchmark:
    """Times several candidates the same way (TinyTorch: Benchmark(models, datasets, warmup_runs,
    measurement_runs)).

    models: a list of candidates: functions taking no arguments, `Candidate`s, or models with
    forward() (those need an input: `run_latency_benchmark(input_shape)`); or a dict name -> one of these.
    datasets: optional, for models with evaluate(dataset) in `run_accuracy_benchmark`.
    number: calls per timed sample (default 1). Each value is then the mean of `number` back-to-back
    calls: for operations of a few microseconds, where the clock's own cost (about 0.1 us) and its
    resolution would otherwise show in every sample. A warm-up run is also `number` calls.
    """

    def __init__(self, models, datasets=None, warmup_runs=DEFAULT_WARMUP_RUNS,
                 measurement_runs=DEFAULT_MEASUREMENT_RUNS, *, names=None, interleave=True,
                 timer=time.perf_counter, memory_probe=peak_memory_delta, disable_gc=True, number=1):
        _check_runs("Benchmark", warmup_runs, measurement_runs)
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
            raise ValueError(f"Benchmark: number (calls per timed sample) must be an int >= 1, got {number!r}")
        self.number = int(number)
        if not callable(timer):
            raise TypeError(f"Benchmark: timer must be a callable returning seconds, got {type(timer).__name__}")
        if isinstance(models, dict):
            names, models = list(models.keys()), list(models.values())
        elif callable(models) or isinstance(models, Candidate):
            models = [models]
        models = list(models)
        if not models:
            raise ValueError("Benchmark: needs at least one candidate, got an empty list")
        if names is not None and len(names) != len(models):
            raise ValueError(f"Benchmark: {len(names)} names for {len(models)} candidates")
        self.models, self.names = models, names
        self.datasets = list(datasets) if datasets is not None else []
        self.warmup_runs, self.measurement_runs = int(warmup_runs), int(measurement_runs)
        self.interleave, self.timer, self.memory_probe, self.disable_gc = interleave, timer, memory_probe, disable_gc
        self.results = {}
        self._example_input = None

    @property
    def system_info(self):  # TinyTorch's attribute name
        return machine_info()

    def candidates(self, example_input=None):
        example_input = self._example_input if example_input is None else example_input
        cands = [_as_candidate(m, i, "Benchmark", example_input, self.names[i] if self.names else None)
                 for i, m in enumerate(self.models)]
        seen = set()
        for c in cands:
            if c.name in seen:
                raise ValueError(f"Benchmark: two candidates are named {c.name!r}; pass names=[...]")
            seen.add(c.name)
        return cands

    def run(self, example_input=None):
        """Warm-up (untimed), then the timed rounds; a BenchmarkReport with latency in seconds."""
        cands = self.candidates(example_input)
        times = {c.name: [] for c in cands}
        order = []
        gc_was_on = gc.isenabled()
        if self.disable_gc:
            gc.collect()
            gc.disable()   # a collection landing in one run would be charged to whoever was running
        try:
            if self.interleave:
                for _ in range(self.warmup_runs):
                    for c in cands:
                        _timed(c.fn, _no_clock, self.number)
                for _ in range(self.measurement_runs):
                    for c in cands:
                        times[c.name].append(_timed(c.fn, self.timer, self.number))
                        order.append(c.name)
            else:
                for c in cands:
                    for _ in range(self.warmup_runs):
                        _timed(c.fn, _no_clock, self.number)
                    for _ in range(self.measurement_runs):
                        times[c.name].append(_timed(c.fn, self.timer, self.number))
                        order.append(c.name)
        finally:
            if gc_was_on:
                gc.enable()
        results = {name: BenchmarkResult(f"{name}_latency", vals, {"candidate": name}, "s")
                   for name, vals in times.items()}
        config = {"warmup_runs": self.warmup_runs, "measurement_runs": self.measurement_runs, "number": self.number,
                  "interleave": bool(self.interleave),
                  "timer": getattr(self.timer, "__name__", type(self.timer).__name__)}
        return BenchmarkReport(results, order, machine_info(), config, created_utc=_now())

    # ---- TinyTorch's methods: one metric each, results by model name ----
    def _input(self, input_shape):
        """A seeded random input of input_shape, remembered for later calls without one (compare_models)."""
        if input_shape is None:
            return self._example_input
        from tinytorch.core.tensor import Tensor
        rng = np.random.default_rng(0)
        self._example_input = Tensor(rng.standard_normal(tuple(input_shape)).astype(np.float32))
        return self._example_input

    def run_latency_benchmark(self, input_shape=None):
        """{name: BenchmarkResult in milliseconds} (TinyTorch's unit for this method); models with
        forward() get a seeded random input of `input_shape`."""
        report = self.run(self._input(input_shape))
        self.results["latency"] = {n: r.scaled(1e3, "ms", f"{n}_latency_ms") for n, r in report.results.items()}
        return self.results["latency"]

    def run_memory_benchmark(self, input_shape=None):
        """{name: BenchmarkResult in MB}: the rise of resident memory during each of measurement_runs runs."""
        out = {}
        for c in self.candidates(self._input(input_shape)):
            vals, method = [], None
            for _ in range(self.measurement_runs):
                nbytes, method = _probe(self.memory_probe, c.fn)
                vals.append(nbytes / 2**20)
            out[c.name] = BenchmarkResult(f"{c.name}_memory_mb", vals, {"method": method}, "MB")
        self.results["memory"] = out
        return out

    def run_accuracy_benchmark(self):
        """{name: BenchmarkResult of accuracies} for candidates that can be evaluated: a Candidate's
        accuracy(model), or model.evaluate(dataset) for each dataset. Nothing is simulated: a candidate
        with no way to evaluate it is left out."""
        out = {}
        for i, m in enumerate(self.models):
            c = _as_candidate(m, i, "Benchmark", example_input=_NOT_RUN, name=self.names[i] if self.names else None)
            if c.accuracy is not None:
                vals = [c.evaluate()]
            elif c.model is not None and hasattr(c.model, "evaluate") and self.datasets:
                vals = [float(c.model.evaluate(d)) for d in self.datasets]
            else:
                continue
            out[c.name] = BenchmarkResult(f"{c.name}_accuracy", vals, {"datasets": len(self.datasets)}, "")
        self.results["accuracy"] = out
        return out

    def compare_models(self, metric="latency"):
        """A list of {model, metric, median, mean, std, ci_lower, ci_upper, count} (TinyTorch's shape)."""
        runs = {"latency": self.run_latency_benchmark, "memory": self.run_memory_benchmark,
                "accuracy": self.run_accuracy_benchmark}
        if metric not in runs:
            raise ValueError(f"Benchmark.compare_models: unknown metric {metric!r}; choose latency, memory or accuracy")
        return [{"model": name, "metric": metric, "median": r.median, "mean": r.mean, "std": r.std,
                 "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "count": r.count}
                for name, r in runs[metric]().items()]


def _no_clock():   # warm-up runs are not timed: a fake clock must not see them read
    return 0.0


def _probe(probe, fn):
    """A memory probe returns bytes or (bytes, method)."""
    got = probe(fn)
    if isinstance(got, tuple):
        return int(got[0]), str(got[1])
    return int(got), getattr(probe, "__name__", "custom")


def _now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def __getattr__(name):
    # TinyTorch imports `from tinytorch.benchmarking.benchmark import Benchmark, OlympicEvent`; the enum
    # lives with the olympics (imported lazily: olympics.py imports this module).
    if name == "OlympicEvent":
        from .olympics import OlympicEvent
        return OlympicEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
