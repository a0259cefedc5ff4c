# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 19 — Benchmarking: measuring fairly
#
# Modules 14 to 18 made models faster, smaller, cheaper. Every one of those
# claims rests on a measurement, and measurements lie in three ordinary ways:
#
# * **One run is noise.** The operating system, the memory allocator, another
#   process on the machine: any of them can slow one run down by 10x. A
#   timing is a *distribution*; we report its **median** (one slow run cannot
#   move it) and its **spread** (the interquartile range, IQR = q3 - q1).
# * **The first runs are different.** Caches are cold, pages are not mapped
#   yet, thread pools are asleep. **Warm-up** runs are executed and thrown away.
# * **The machine drifts.** If A runs for ten seconds and then B runs for ten
#   seconds, anything that changed in between (another job started, the CPU
#   clocked down as it warmed) is charged to B. **Interleaving** rounds
#   (A, B, A, B, ...) spreads the drift evenly over both.
#
# And one number never describes an optimization: a quantized model is
# smaller and maybe faster, but a little less accurate. The **olympics** table
# compares a baseline and an optimized model on four axes at once: latency,
# memory, accuracy and size.
#
# You will write the core of a benchmark harness yourself, checked against
# the package's `tinytorch.benchmarking`, which the capstone uses.

# %%
import os
import tempfile
import time

import numpy as np

import tinytorch as tt
from tinytorch.benchmarking import Benchmark, Candidate, FakeClock, load_results, machine_info, olympics
from tinytorch.benchmarking import olympics_ratios, speedup_interval

# %% [markdown]
# ## Worked example: a fake clock makes timing exact
# A harness that calls `time.perf_counter()` directly can never be tested:
# its numbers change on every run. So the clock is an argument. `FakeClock`
# is a clock that only moves when a candidate says so: `clock.runner(name,
# durations)` makes a function whose k-th call "takes" `durations[k]`
# seconds. The package's `Benchmark` accepts it as `timer=`.

# %%
clock = FakeClock()
slow = clock.runner("slow", [9.0, 9.0] + [1.0, 1.25, 0.75, 4.0, 1.0])    # 2 warm-ups, then 5 timed runs
fast = clock.runner("fast", [9.0, 9.0] + [0.5, 0.5, 0.25, 0.5, 0.75])
report = Benchmark([slow, fast], warmup_runs=2, measurement_runs=5, timer=clock).run()
print(report.table())
print("order of the timed runs:", report.order)
assert report.results["slow"].values == [1.0, 1.25, 0.75, 4.0, 1.0]       # the 9 s warm-ups are not there
assert report.results["slow"].median == 1.0                                # the 4 s outlier does not move it
assert report.order == ["slow", "fast"] * 5

# %% [markdown]
# ## Exercise 1: `median_and_iqr(times)`
#
# Return `(median, iqr)` of a non-empty list of numbers, as floats.
#
# * Sort the values. The `p`-quantile (p in [0, 1]) sits at position
#   `p * (n - 1)` of the sorted list; when that position falls between two
#   entries, interpolate linearly between them. (That is numpy's default
#   `np.percentile`; write it yourself from the sorted list.)
# * median = quantile 0.5, iqr = quantile 0.75 - quantile 0.25.
# * An empty list has no median: raise `ValueError` saying so.

# %%
def median_and_iqr(times):
    """(median, q3 - q1) of the timings, quartiles by linear interpolation (numpy's default)."""
    ### HINT: s = sorted(times); position = p * (len(s) - 1); interpolate between s[floor] and s[ceil]
    ### BEGIN SOLUTION
    s = sorted(float(t) for t in times)
    if not s:
        raise ValueError("median_and_iqr: needs at least one timing, got an empty list")

    def quantile(p):
        pos = p * (len(s) - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (pos - lo) * (s[hi] - s[lo])

    return quantile(0.5), quantile(0.75) - quantile(0.25)
    ### END SOLUTION


# %% [markdown]
# Check: by hand, then against numpy on random lists of every length from 1 to 12.

# %%
assert median_and_iqr([4.0, 1.0, 3.0, 2.0]) == (2.5, 1.5)      # sorted 1 2 3 4: q1 = 1.75, q3 = 3.25
assert median_and_iqr([7.0]) == (7.0, 0.0)
rng = np.random.default_rng(19)
for n in range(1, 13):
    x = rng.exponential(size=n)
    med, iqr = median_and_iqr(list(x))
    np.testing.assert_allclose([med, iqr], [np.median(x), np.subtract(*np.percentile(x, [75, 25]))], rtol=1e-12)
try:
    median_and_iqr([])
    raise AssertionError("an empty list must raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `measure(fn, warmup, repetitions, timer)`
#
# Time one function.
#
# * Call `fn()` `warmup` times without timing it.
# * Then `repetitions` times, each timed alone: `t0 = timer()`, `fn()`,
#   `timer() - t0`. Return the list of these durations (length `repetitions`).
# * Errors: `TypeError` if `fn` is not callable; `ValueError` if
#   `repetitions < 1` or `warmup < 0`.
#
# Why time each call instead of one loop of `repetitions` calls? A loop
# gives only the mean; single calls give the distribution, so you can see
# the outliers and take a median. (For calls shorter than a few microseconds
# the clock's own cost starts to matter: then time small batches instead.)

# %%
def measure(fn, warmup, repetitions, timer=time.perf_counter):
    """Durations (seconds) of `repetitions` timed calls of fn(), after `warmup` untimed calls."""
    ### HINT: check the arguments; loop warmup times calling fn(); then append timer() differences
    ### BEGIN SOLUTION
    if not callable(fn):
        raise TypeError(f"measure: fn must be callable, got {type(fn).__name__}")
    if repetitions < 1 or warmup < 0:
        raise ValueError(f"measure: need repetitions >= 1 and warmup >= 0, got {repetitions} and {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repetitions):
        t0 = timer()
        fn()
        times.append(timer() - t0)
    return times
    ### END SOLUTION


# %% [markdown]
# Check on a fake clock: the warm-up runs (9 s each) happen but are not
# returned, every call is made, and bad arguments raise.

# %%
clock = FakeClock()
f = clock.runner("f", [9.0, 9.0, 9.0, 0.5, 0.25, 0.75])
assert measure(f, warmup=3, repetitions=3, timer=clock) == [0.5, 0.25, 0.75]
assert len(clock.calls) == 6
clock = FakeClock()
assert measure(clock.runner("g", [2.0]), warmup=0, repetitions=1, timer=clock) == [2.0]
for bad in [dict(fn=None, warmup=0, repetitions=1), dict(fn=f, warmup=0, repetitions=0),
            dict(fn=f, warmup=-1, repetitions=1)]:
    try:
        measure(timer=clock, **bad)
        raise AssertionError(f"{bad} should raise")
    except (TypeError, ValueError) as e:
        print(type(e).__name__, e)
print("real clock, tinytorch sum of 10^5 floats:",
      f"{np.median(measure(lambda: tt.ones(100_000).sum(), 3, 20)) * 1e6:.1f} us (median of 20)")

# %% [markdown]
# ## Exercise 3: `interleaved_rounds(fns, warmup, repetitions, timer)`
#
# Time several candidates so that drift hits them equally.
#
# * `fns` is a dict `name -> function`; keep its order.
# * Warm-up: `warmup` rounds, each calling every function once (untimed).
# * Then `repetitions` rounds; in each, time every function once, in dict
#   order: A, B, C, A, B, C, ...
# * Return `(times, order)`: `times[name]` is the list of that candidate's
#   durations; `order` is the list of names of the **timed** runs in the
#   order they ran (a report keeps it so a reader can check).

# %%
def interleaved_rounds(fns, warmup, repetitions, timer=time.perf_counter):
    """({name: [durations]}, [names of the timed runs in order]) from interleaved rounds."""
    ### HINT: for each warm-up round call every fn; for each timed round, time every fn and append its name to order
    ### BEGIN SOLUTION
    times = {name: [] for name in fns}
    order = []
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    for _ in range(repetitions):
        for name, fn in fns.items():
            t0 = timer()
            fn()
            times[name].append(timer() - t0)
            order.append(name)
    return times, order
    ### END SOLUTION


# %% [markdown]
# Check: the order, the values, and warm-ups that are interleaved too.

# %%
clock = FakeClock()
fns = {"A": clock.runner("A", [9.0] + [1.0, 2.0]), "B": clock.runner("B", [9.0] + [0.5, 0.25])}
times, order = interleaved_rounds(fns, warmup=1, repetitions=2, timer=clock)
assert times == {"A": [1.0, 2.0], "B": [0.5, 0.25]} and order == ["A", "B", "A", "B"]
assert [name for name, _ in clock.calls] == ["A", "B", "A", "B", "A", "B"]

# %% [markdown]
# ### Drift, on a clock we control
# Two *identical* candidates on a machine that slows down by 1/64 s per run
# (think of a CPU heating up). Run back to back, the second looks slower by
# the whole drift of the first block; interleaved, by one step.


# %%
def drifting_pair(clock):
    step = [0]

    def run():
        step[0] += 1
        clock.now += 1.0 + step[0] / 64
    return run, run


clock = FakeClock()
a, b = drifting_pair(clock)
seq_a = measure(a, 0, 16, clock)
seq_b = measure(b, 0, 16, clock)
clock = FakeClock()
a, b = drifting_pair(clock)
inter, _ = interleaved_rounds({"A": a, "B": b}, 0, 16, clock)
seq_ratio = median_and_iqr(seq_b)[0] / median_and_iqr(seq_a)[0]
inter_ratio = median_and_iqr(inter["B"])[0] / median_and_iqr(inter["A"])[0]
print(f"identical code, B / A: back to back {seq_ratio:.3f}, interleaved {inter_ratio:.4f}")
assert seq_ratio > 1.1 and inter_ratio < 1.02

# %% [markdown]
# ## Exercise 4: `bootstrap_speedup(baseline, optimized, level, n_boot, seed)`
#
# "2x faster" from 10 noisy runs each: how sure are we? The **bootstrap**
# answers without assuming any distribution: pretend the runs you have *are*
# the distribution, draw new samples from them, and see how much the answer
# moves.
#
# * The point estimate is `median(baseline) / median(optimized)`.
# * `rng = np.random.default_rng(seed)`. `n_boot` times: draw `len(baseline)`
#   values from `baseline` **with replacement**, and `len(optimized)` from
#   `optimized`, and record the ratio of their medians. (Vectorized:
#   `rng.integers(0, n, size=(n_boot, n))` indexes `n_boot` resamples at once;
#   draw the baseline's indices first.)
# * The interval is the `(1 - level) / 2` and `(1 + level) / 2` quantiles of
#   those `n_boot` ratios (`np.percentile` takes percent: multiply by 100).
# * Return `(point, low, high)` as floats.

# %%
def bootstrap_speedup(baseline, optimized, level=0.95, n_boot=2000, seed=0):
    """(median ratio, low, high): speedup of optimized over baseline with a bootstrap interval."""
    ### HINT: resample each list with rng.integers, take np.median(..., axis=1), ratio, then np.percentile
    ### BEGIN SOLUTION
    b = np.asarray(baseline, dtype=np.float64)
    o = np.asarray(optimized, dtype=np.float64)
    rng = np.random.default_rng(seed)
    mb = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
    mo = np.median(o[rng.integers(0, o.size, size=(n_boot, o.size))], axis=1)
    lo, hi = np.percentile(mb / mo, [50 * (1 - level), 50 * (1 + level)])
    return float(np.median(b) / np.median(o)), float(lo), float(hi)
    ### END SOLUTION


# %% [markdown]
# Check: the point is the ratio of medians; the interval contains it, lies
# inside the crude min/max range, shrinks to a point when there is no noise,
# and follows the package's `speedup_interval` (the same recipe).

# %%
base = [1.0, 1.25, 0.75, 4.0, 1.0, 1.125, 0.875]
opt = [0.5, 0.5, 0.25, 0.5, 0.75, 0.625, 0.5]
point, lo, hi = bootstrap_speedup(base, opt)
print(f"speedup {point:.2f}x, 95% bootstrap interval [{lo:.2f}, {hi:.2f}], "
      f"min/max range [{min(base) / max(opt):.2f}, {max(base) / min(opt):.2f}]")
assert point == 2.0 and lo <= point <= hi
assert min(base) / max(opt) <= lo and hi <= max(base) / min(opt)
assert bootstrap_speedup([3.0] * 5, [1.5] * 4) == (2.0, 2.0, 2.0)
np.testing.assert_allclose(bootstrap_speedup(base, opt, 0.9, 500, 7), speedup_interval(base, opt, 0.9, 500, 7))

# %% [markdown]
# ## Exercise 5: `olympic_scores(baseline, optimized)`
#
# Each model is described by a dict of figures: `latency_s` (median seconds
# per run), `memory_bytes` (memory used while running), `accuracy`,
# `size_bytes` (bytes of its parameters). A key may be missing or `None`:
# not measured.
#
# Return `{"latency": ..., "memory": ..., "accuracy": ..., "size": ...}`,
# each oriented so that **above 1 means the optimized model wins**:
#
# * latency, memory, size: `baseline / optimized` (lower is better, so the
#   speedup, the memory saving, the compression);
# * accuracy: `optimized / baseline` (higher is better).
#
# A ratio is `None` when either figure is missing or the denominator is 0
# (never `inf`: it would not survive a JSON file).

# %%
def olympic_scores(baseline, optimized):
    """{axis: ratio}, > 1 when the optimized model wins on that axis; None where it cannot be computed."""
    ### HINT: a helper ratio(num, den) returning None for a missing value or den == 0; flip the accuracy ratio
    ### BEGIN SOLUTION
    def ratio(num, den):
        if num is None or den is None or den == 0:
            return None
        return float(num) / float(den)

    b, o = baseline, optimized
    return {"latency": ratio(b.get("latency_s"), o.get("latency_s")),
            "memory": ratio(b.get("memory_bytes"), o.get("memory_bytes")),
            "accuracy": ratio(o.get("accuracy"), b.get("accuracy")),
            "size": ratio(b.get("size_bytes"), o.get("size_bytes"))}
    ### END SOLUTION


# %% [markdown]
# Check against the package's `olympics_ratios`, which adds units and labels.

# %%
b_fig = {"latency_s": 0.02, "memory_bytes": 8 * 2**20, "accuracy": 0.9, "size_bytes": 4_000_000}
o_fig = {"latency_s": 0.005, "memory_bytes": 2 * 2**20, "accuracy": 0.875, "size_bytes": 1_000_000}
scores = olympic_scores(b_fig, o_fig)
assert scores == {"latency": 4.0, "memory": 4.0, "accuracy": 0.875 / 0.9, "size": 4.0}
assert scores == {axis: a["ratio"] for axis, a in olympics_ratios(b_fig, o_fig).items()}
assert olympic_scores({"latency_s": 1.0, "memory_bytes": 5}, {"latency_s": 0.5, "memory_bytes": 0}) == \
    {"latency": 2.0, "memory": None, "accuracy": None, "size": None}

# %% [markdown]
# ## The olympics on real models
# A linear classifier on a generated 10-class problem, fitted by least
# squares. Baseline: float64 weights. "Optimized": the same weights in
# float32: half the bytes, a faster matmul, and the accuracy of the rounding.
# Each model is a `Candidate`: a function to time, the model (for its size)
# and a callable evaluating it (for its accuracy). The capstone does the same
# with a KV-cached GPT, a quantized one, a pruned one.
#
# Memory: by default `olympics` measures how far the process's resident
# memory rises during one run. A forward pass this small fits in memory the
# process already holds, so that reads 0 (no ratio). Here we pass our own
# `memory_probe`: the bytes of the activations the forward pass returns.

# %%
class LinearClassifier:
    def __init__(self, W, b, dtype):
        self.W, self.b = tt.Tensor(W, dtype=dtype), tt.Tensor(b, dtype=dtype)
        self.dtype = dtype

    def parameters(self):
        return [self.W, self.b]

    def forward(self, x):
        return x @ self.W + self.b


rng = np.random.default_rng(0)
centers = rng.standard_normal((10, 64)) * 0.4
labels = rng.integers(0, 10, size=4096)
X = centers[labels] + rng.standard_normal((4096, 64))
A = np.hstack([X, np.ones((4096, 1))])
sol = np.linalg.lstsq(A, np.eye(10)[labels], rcond=None)[0]
models = {dt: LinearClassifier(sol[:-1], sol[-1], dt) for dt in (tt.float64, tt.float32)}
inputs = {dt: tt.Tensor(X, dtype=dt) for dt in models}


def output_bytes(fn):
    return np.asarray(fn()).nbytes


def accuracy(model):
    return float((np.asarray(model.forward(inputs[model.dtype])).argmax(1) == labels).mean())


cmp = olympics(Candidate("float64", lambda: models[tt.float64].forward(inputs[tt.float64]),
                         model=models[tt.float64], accuracy=accuracy),
               Candidate("float32", lambda: models[tt.float32].forward(inputs[tt.float32]),
                         model=models[tt.float32], accuracy=accuracy),
               warmup_runs=3, measurement_runs=15, memory_probe=output_bytes)
print(cmp.table())
axes = cmp.olympics["axes"]
assert axes["size"]["ratio"] == 2.0 and axes["memory"]["ratio"] == 2.0   # exactly half the bytes
print(f"accuracy {axes['accuracy']['baseline']:.4f} -> {axes['accuracy']['optimized']:.4f} "
      f"(difference {axes['accuracy']['delta']:+.4f})")
outdir = tempfile.mkdtemp(prefix="tinytorch-bench-")
cmp.save_json(os.path.join(outdir, "olympics.json"))
cmp.save_chart(os.path.join(outdir, "olympics.png"))
assert load_results(os.path.join(outdir, "olympics.json")).olympics == cmp.olympics
print("report and chart in", outdir)

# %% [markdown]
# ## Systems: tinytorch's matmul against numpy's, interleaved
#
# Both libraries call an OpenBLAS `sgemm`, but not the same one: tinytorch
# links the system's OpenBLAS and picks its kernels at import
# (`OPENBLAS_CORETYPE`), numpy ships its own copy. Each keeps its own thread
# pool. The machine description says which kernels and how many threads
# tinytorch loaded: without it, a timing means nothing.

# %%
info = machine_info()
print({k: info.get(k) for k in ("cpu", "cores_usable", "blas_core", "blas_threads", "simd", "numpy")})
n = 256
an = rng.standard_normal((n, n)).astype(np.float32)
bn = rng.standard_normal((n, n)).astype(np.float32)
at, bt = tt.Tensor(an), tt.Tensor(bn)
np.testing.assert_allclose(np.asarray(at @ bt), an @ bn, rtol=1e-3, atol=1e-3)
rep = Benchmark({"tinytorch": lambda: at @ bt, "numpy": lambda: an @ bn}, warmup_runs=5, measurement_runs=30).run()
print(rep.table())
tt_t, np_t = rep.results["tinytorch"].values, rep.results["numpy"].values
point, lo, hi = speedup_interval(np_t, tt_t)
print(f"{2 * n**3 / rep.results['tinytorch'].median / 1e9:.1f} GFLOP/s in tinytorch; numpy time / tinytorch time = "
      f"{point:.2f} (95% bootstrap interval {lo:.2f} to {hi:.2f})")

# %% [markdown]
# What to read in that table: the median, then the IQR next to it. On an
# idle machine both sit near the same floor (the same algorithm on the same
# cores). On a busy one (this course's CI machine runs many jobs on 2 cores)
# we have measured numpy's threaded sgemm at 256 x 256 jump from about 0.2 ms
# to 40 ms and more, while tinytorch's stayed near 0.5 ms: a multithreaded
# BLAS call waits for all its threads, and one descheduled thread stalls the
# whole call. Your run prints its own figures; believe those, not ours.
#
# ### Does the order of runs matter here?
# The same tinytorch matmul twice, as two "candidates": run back to back
# and interleaved. Any ratio away from 1 is drift or noise, since the code is
# identical.

# %%
same = {"first": lambda: at @ bt, "second": lambda: at @ bt}
ratios = {}
for interleave in (False, True):
    r = Benchmark(same, warmup_runs=3, measurement_runs=40, interleave=interleave).run()
    p, lo_, hi_ = speedup_interval(r.results["first"].values, r.results["second"].values)
    ratios[interleave] = (p, lo_, hi_)
    print(f"{'interleaved ' if interleave else 'back to back'}: first / second = {p:.3f} "
          f"(95% interval {lo_:.3f} to {hi_:.3f})")
for interleave, (p, lo_, hi_) in ratios.items():
    kind = "interleaved" if interleave else "back to back"
    if lo_ <= 1.0 <= hi_:
        print(f"{kind}: no drift measured (1 is inside the interval)")
    else:
        print(f"{kind}: identical code looks {max(p, 1 / p):.2f}x apart: that is drift or noise, not code")

# %% [markdown]
# In our runs (2 busy cores) both intervals contained 1: no drift was
# measured, and the order did not matter for a 40-run benchmark of a 0.5 ms
# kernel; the noise (the width of the intervals) was the bigger problem. The
# fake-clock experiment above shows what happens when the machine does
# drift; interleaving is cheap insurance, which is why `Benchmark` does it by
# default and records the order it used.
#
# ## Read the engine
# * `csrc/ops/matmul.cpp`: the `cblas_sgemm` / `cblas_dgemm` calls you just
#   timed, one per (broadcast) batch, transposed views passed with a flag.
# * `csrc/ops/parallel.cpp`: tinytorch's own thread pool and how it hands
#   its thread count to OpenBLAS (`tt.set_num_threads`).
# * `python/tinytorch/benchmarking/`: the harness (`benchmark.py`), the
#   statistics (`stats.py`), the olympics (`olympics.py`), the JSON schema
#   and chart (`report.py`; the schema is in `docs/benchmarking.md`).

# %%
print("module 19 checks passed")
