"""The statistics of a list of timings: median and spread, and a speedup with its range.

Timings are not normally distributed: most runs sit near a floor and a few are
slowed by the operating system, the allocator or another process. So the
headline figure is the median (one slow run cannot move it) and the spread is
the interquartile range, with min/max/std kept for the record.
"""
import numpy as np

__all__ = ["summarize", "speedup_interval", "speedup_range"]


def _as_timings(values, who):
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{who}: expected a list of numbers, got {type(values).__name__}") from None
    if a.size == 0:
        raise ValueError(f"{who}: needs at least one measurement, got none")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: measurements must be finite numbers, got {a[~np.isfinite(a)][:3].tolist()}")
    return a


def summarize(values):
    """count, median, q1, q3, iqr, mean, std (sample, ddof=1; 0 for one value), min, max, and the
    normal-approximation 95% interval of the mean (ci_lower, ci_upper), as plain floats.
    Quartiles use numpy's default (linear) percentile, so they agree with np.percentile."""
    a = _as_timings(values, "summarize")
    q1, median, q3 = np.percentile(a, [25, 50, 75])
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    mean = float(a.mean())
    half = 1.96 * std / np.sqrt(a.size)
    return {"count": int(a.size), "median": float(median), "q1": float(q1), "q3": float(q3),
            "iqr": float(q3 - q1), "mean": mean, "std": std, "min": float(a.min()), "max": float(a.max()),
            "ci_lower": float(mean - half), "ci_upper": float(mean + half)}


def speedup_range(baseline, optimized):
    """(median ratio, worst case, best case) of baseline time / optimized time: the worst case pairs
    the fastest baseline run with the slowest optimized run. No assumption about the distribution."""
    b = _as_timings(baseline, "speedup_range")
    o = _as_timings(optimized, "speedup_range")
    if np.any(o <= 0) or np.any(b <= 0):
        raise ValueError("speedup_range: timings must be positive seconds")
    return float(np.median(b) / np.median(o)), float(b.min() / o.max()), float(b.max() / o.min())


def speedup_interval(baseline, optimized, level=0.95, n_boot=2000, seed=0):
    """(median ratio, low, high): the speedup median(baseline) / median(optimized) and a bootstrap
    percentile interval at `level`, resampling each list with replacement (seeded: same input,
    same interval)."""
    b = _as_timings(baseline, "speedup_interval")
    o = _as_timings(optimized, "speedup_interval")
    if np.any(o <= 0) or np.any(b <= 0):
        raise ValueError("speedup_interval: timings must be positive seconds")
    if not 0 < level < 1:
        raise ValueError(f"speedup_interval: level must be between 0 and 1, got {level}")
    if int(n_boot) < 1:
        raise ValueError(f"speedup_interval: n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    mb = np.median(b[rng.integers(0, b.size, size=(int(n_boot), b.size))], axis=1)
    mo = np.median(o[rng.integers(0, o.size, size=(int(n_boot), o.size))], axis=1)
    lo, hi = np.percentile(mb / mo, [50 * (1 - level), 50 * (1 + level)])
    return float(np.median(b) / np.median(o)), float(lo), float(hi)
