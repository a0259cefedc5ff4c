"""The olympics: a baseline and an optimized model on four axes.

An optimization is a trade: a quantized model is smaller and maybe faster but
a little less accurate; a KV cache is faster and holds more memory. So the
comparison is never one number. Each axis gets both figures and a ratio
oriented so that above 1 means "the optimized model wins":

    latency   baseline / optimized   (the speedup)
    memory    baseline / optimized   (times less memory while running)
    size      baseline / optimized   (the compression of the parameters)
    accuracy  optimized / baseline   (and the difference, optimized - baseline)
"""
import time
from enum import Enum

from .benchmark import Benchmark, _as_candidate, _check_runs, _probe
from .machine import peak_memory_delta

__all__ = ["olympics", "olympics_ratios", "AXES", "OlympicEvent"]

AXES = ("latency", "memory", "accuracy", "size")
_UNITS = {"latency": "s", "memory": "bytes", "accuracy": "", "size": "bytes"}
_KEYS = {"latency": "latency_s", "memory": "memory_bytes", "accuracy": "accuracy", "size": "size_bytes"}


class OlympicEvent(Enum):
    """The events of TinyTorch's capstone, by the axis each one ranks on (names kept for TinyTorch's code;
    the olympics table reports every axis whatever the event)."""
    LATENCY_SPRINT = "latency_sprint"          # lowest latency
    MEMORY_CHALLENGE = "memory_challenge"      # smallest memory / size
    ACCURACY_CONTEST = "accuracy_contest"      # highest accuracy
    ALL_AROUND = "all_around"                  # balanced over the four axes
    EXTREME_PUSH = "extreme_push"              # the most aggressive optimization that stays usable


def _ratio(num, den):
    if num is None or den is None or den == 0:
        return None   # not measured, or nothing to divide by: no ratio rather than inf
    return float(num) / float(den)


def olympics_ratios(baseline, optimized):
    """The four axes from two dicts of figures (keys latency_s, memory_bytes, accuracy, size_bytes; a
    missing key or None means not measured): {axis: {unit, baseline, optimized, ratio, ...}}."""
    for who, d in (("baseline", baseline), ("optimized", optimized)):
        if not isinstance(d, dict):
            raise TypeError(f"olympics_ratios: {who} must be a dict of figures, got {type(d).__name__}")
    axes = {}
    for axis in AXES:
        b, o = baseline.get(_KEYS[axis]), optimized.get(_KEYS[axis])
        b = None if b is None else float(b)
        o = None if o is None else float(o)
        if axis == "accuracy":
            axes[axis] = {"unit": "", "baseline": b, "optimized": o, "ratio": _ratio(o, b),
                          "ratio_is": "optimized / baseline",
                          "delta": None if b is None or o is None else o - b}
        else:
            axes[axis] = {"unit": _UNITS[axis], "baseline": b, "optimized": o, "ratio": _ratio(b, o),
                          "ratio_is": "baseline / optimized"}
    return axes


def olympics(baseline, optimized, warmup_runs=3, measurement_runs=10, *, interleave=True,
             timer=time.perf_counter, memory_probe=peak_memory_delta, memory_runs=3):
    """Measure both candidates on the four axes; a BenchmarkReport whose `olympics` holds the table.

    baseline, optimized: `Candidate`s (or functions taking no arguments: then only latency and memory
    are measured). Latency: medians of interleaved timed runs. Memory: the median over `memory_runs`
    of the rise of resident memory during one run (or your `memory_probe(fn)` -> bytes, e.g. the
    engine allocator's peak). Accuracy: each candidate's accuracy(model). Size: parameter bytes."""
    _check_runs("olympics", warmup_runs, measurement_runs)
    if isinstance(memory_runs, bool) or not isinstance(memory_runs, int) or memory_runs < 1:
        raise ValueError(f"olympics: memory_runs must be an int of at least 1, got {memory_runs!r}")
    cands = [_as_candidate(c, i, "olympics") for i, c in enumerate((baseline, optimized))]
    if cands[0].name == cands[1].name:
        raise ValueError(f"olympics: both candidates are named {cands[0].name!r}; give them different names")
    report = Benchmark(cands, warmup_runs=warmup_runs, measurement_runs=measurement_runs,
                       interleave=interleave, timer=timer).run()
    mem = {c.name: [] for c in cands}
    method = None
    for _ in range(memory_runs):          # interleaved as well
        for c in cands:
            nbytes, method = _probe(memory_probe, c.fn)
            mem[c.name].append(nbytes)
    figures = []
    for c in cands:
        m = sorted(mem[c.name])
        figures.append({"latency_s": report.results[c.name].median,
                        "memory_bytes": m[len(m) // 2],
                        "accuracy": c.evaluate(),
                        "size_bytes": c.size()})
    report.olympics = {"baseline": cands[0].name, "optimized": cands[1].name, "memory_method": method,
                       "memory_runs": int(memory_runs), "axes": olympics_ratios(figures[0], figures[1])}
    report.config["memory_runs"] = int(memory_runs)
    return report
