"""Grader for module 19: timing statistics, warm-up, interleaved rounds, the bootstrap and the olympics,
on fake clocks (exact, repeatable) and against tinytorch.benchmarking."""
import numpy as np

from tinytorch.benchmarking import FakeClock, olympics_ratios, speedup_interval
from tinytorch.course.grading import Grader, GradingError, close, expect_error

grader = Grader("19")


@grader.check(points=2, needs=["median_and_iqr"],
              hint="sort; the p-quantile is at position p * (n - 1), interpolated linearly between neighbours")
def median_iqr_matches_numpy(ns):
    f = ns["median_and_iqr"]
    close(f([4.0, 1.0, 3.0, 2.0]), [2.5, 1.5], "median_and_iqr([4, 1, 3, 2])", rtol=0, atol=1e-12)
    close(f([5.0]), [5.0, 0.0], "median_and_iqr([5])", rtol=0, atol=0)
    close(f([1.0, 2.0]), [1.5, 0.5], "median_and_iqr([1, 2])", rtol=0, atol=1e-12)
    rng = np.random.default_rng(1919)
    for n in list(range(1, 16)) + [40, 101]:
        x = rng.exponential(size=n)
        if n == 40:
            x[:10] = x[0]                                  # ties
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        close(f(list(x)), [med, q3 - q1], f"median_and_iqr(a list of {n} timings)", rtol=1e-12, atol=1e-15)
    expect_error(lambda: f([]), (ValueError,), "median_and_iqr([])")


@grader.check(points=3, needs=["measure"],
              hint="warmup untimed calls first, then repetitions calls each timed alone with timer(); "
                   "return only the timed durations")
def measure_skips_warmup_and_times_each_call(ns):
    m = ns["measure"]
    for warmup, durations in [(3, [0.5, 0.25, 0.75, 1.0]), (0, [2.0]), (1, [0.125] * 7), (5, [1.5, 0.5])]:
        clock = FakeClock()
        got = m(clock.runner("f", [64.0] * warmup + durations), warmup, len(durations), clock)
        got = [float(t) for t in got]
        if 64.0 in got:
            raise GradingError(f"measure(warmup={warmup}): a warm-up run (64 s on the fake clock) was counted "
                               f"in the result {got}")
        if got != durations:
            raise GradingError(f"measure(warmup={warmup}, repetitions={len(durations)}) on a fake clock returned "
                               f"{got}, expected {durations}")
        if len(clock.calls) != warmup + len(durations):
            raise GradingError(f"measure(warmup={warmup}, repetitions={len(durations)}) called fn "
                               f"{len(clock.calls)} times, expected {warmup + len(durations)}")
        if [d for _, d in clock.calls[:warmup]] != [64.0] * warmup:
            raise GradingError("measure: the warm-up calls must come before the timed ones")


@grader.check(points=1, needs=["measure"],
              hint="TypeError when fn is not callable; ValueError when repetitions < 1 or warmup < 0")
def measure_rejects_bad_arguments(ns):
    m = ns["measure"]
    clock = FakeClock()
    f = clock.runner("f", [1.0] * 10)
    expect_error(lambda: m(None, 0, 1, clock), (TypeError,), "measure(None, 0, 1)")
    expect_error(lambda: m(42, 0, 1, clock), (TypeError,), "measure(42, 0, 1)")
    expect_error(lambda: m(f, 0, 0, clock), (ValueError,), "measure(fn, warmup=0, repetitions=0)")
    expect_error(lambda: m(f, -1, 3, clock), (ValueError,), "measure(fn, warmup=-1, repetitions=3)")


@grader.check(points=3, needs=["interleaved_rounds"],
              hint="warm-up rounds call every fn once (untimed); each timed round times every fn once in dict "
                   "order and appends its name to order")
def interleaved_rounds_order_and_values(ns):
    ir = ns["interleaved_rounds"]
    durations = {"A": [1.0, 2.0, 3.0], "B": [0.5, 0.25, 0.75], "C": [4.0, 4.0, 8.0]}
    for warmup in (0, 2):
        clock = FakeClock()
        fns = {k: clock.runner(k, [64.0] * warmup + v) for k, v in durations.items()}
        times, order = ir(fns, warmup, 3, clock)
        times = {k: [float(t) for t in v] for k, v in dict(times).items()}
        if times != durations:
            raise GradingError(f"interleaved_rounds(warmup={warmup}, repetitions=3) on a fake clock: times "
                               f"{times}, expected {durations}")
        if list(order) != ["A", "B", "C"] * 3:
            raise GradingError(f"interleaved_rounds: order of the timed runs {list(order)}, expected "
                               "['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C']")
        if [n for n, _ in clock.calls] != ["A", "B", "C"] * (warmup + 3):
            raise GradingError(f"interleaved_rounds(warmup={warmup}): the functions ran in the order "
                               f"{[n for n, _ in clock.calls]}; warm-up rounds must be interleaved too")


@grader.check(points=2, needs=["interleaved_rounds"],
              hint="A, B, A, B: identical candidates on a drifting machine must get medians one drift step apart")
def interleaving_cancels_drift(ns):
    ir = ns["interleaved_rounds"]
    clock = FakeClock()
    step = [0]

    def run():
        step[0] += 1
        clock.now += 1.0 + step[0] / 128.0

    times, _ = ir({"A": run, "B": run}, 1, 15, clock)
    gap = float(np.median(times["B"]) - np.median(times["A"]))
    if gap != 1 / 128.0:
        raise GradingError(f"interleaved_rounds: on a clock slowing by 1/128 s per run, identical candidates got "
                           f"medians {gap:.4f} s apart, expected one step (0.0078 s): the rounds are not interleaved")


@grader.check(points=3, needs=["bootstrap_speedup"],
              hint="point = median(baseline) / median(optimized); resample both lists with replacement n_boot "
                   "times, take the ratio of medians, and the (1-level)/2, (1+level)/2 percentiles")
def bootstrap_point_and_interval(ns):
    bs = ns["bootstrap_speedup"]
    base = [1.0, 1.25, 0.75, 4.0, 1.0, 1.125, 0.875]
    opt = [0.5, 0.5, 0.25, 0.5, 0.75, 0.625, 0.5]
    point, lo, hi = (float(v) for v in bs(base, opt, 0.95, 1000, 0))
    if point != 2.0:
        raise GradingError(f"bootstrap_speedup: point {point}, expected median(baseline) / median(optimized) = 2.0")
    if not (min(base) / max(opt) <= lo <= point <= hi <= max(base) / min(opt)):
        raise GradingError(f"bootstrap_speedup: interval [{lo}, {hi}] must contain the point 2.0 and lie inside "
                           f"the min/max range [{min(base) / max(opt)}, {max(base) / min(opt)}]")
    close(bs([3.0] * 5, [1.5] * 4, 0.95, 200, 1), [2.0, 2.0, 2.0], "bootstrap_speedup(no noise)", rtol=0, atol=0)
    again = tuple(float(v) for v in bs(base, opt, 0.95, 1000, 0))
    if again != (point, lo, hi):
        raise GradingError("bootstrap_speedup: the same seed gave a different interval; use "
                           "np.random.default_rng(seed)")
    # one very slow baseline run out of 21 cannot move a median: the interval must ignore it
    b = [1.0] * 10 + [1.0625] * 10 + [50.0]
    o = [0.5] * 21
    _, lo2, hi2 = (float(v) for v in bs(b, o, 0.95, 2000, 3))
    if hi2 > 2.2:
        raise GradingError(f"bootstrap_speedup: with one 50 s outlier among 21 baseline runs the upper end is "
                           f"{hi2:.2f}; the ratio of medians of resamples stays near 2 (are you using means or "
                           "min/max?)")
    # a wider level gives a wider interval (same seed)
    _, lo50, hi50 = (float(v) for v in bs(base, opt, 0.5, 1000, 0))
    if not (lo <= lo50 <= hi50 <= hi):
        raise GradingError(f"bootstrap_speedup: the 50% interval [{lo50}, {hi50}] should lie inside the 95% one "
                           f"[{lo}, {hi}]")


@grader.check(points=1, needs=["bootstrap_speedup"],
              hint="follow the recipe exactly: rng = default_rng(seed); baseline indices first, "
                   "rng.integers(0, n, size=(n_boot, n)); np.percentile of the ratios")
def bootstrap_matches_package(ns):
    bs = ns["bootstrap_speedup"]
    rng = np.random.default_rng(5)
    for n_b, n_o, level, n_boot, seed in [(7, 7, 0.95, 500, 7), (12, 5, 0.9, 300, 1), (30, 30, 0.8, 1000, 2)]:
        b = list(1.0 + rng.exponential(0.2, size=n_b))
        o = list(0.5 + rng.exponential(0.1, size=n_o))
        close(bs(b, o, level, n_boot, seed), speedup_interval(b, o, level, n_boot, seed),
              f"bootstrap_speedup({n_b} vs {n_o} runs, level={level}, n_boot={n_boot}, seed={seed})",
              rtol=1e-12, atol=0)


@grader.check(points=3, needs=["olympic_scores"],
              hint="baseline / optimized for latency, memory and size; optimized / baseline for accuracy; None "
                   "when a figure is missing or the denominator is 0")
def olympic_scores_match_engine(ns):
    scores = ns["olympic_scores"]
    cases = [
        ({"latency_s": 0.02, "memory_bytes": 8 << 20, "accuracy": 0.9, "size_bytes": 4_000_000},
         {"latency_s": 0.005, "memory_bytes": 2 << 20, "accuracy": 0.875, "size_bytes": 1_000_000}),
        ({"latency_s": 0.5, "memory_bytes": 100, "accuracy": 0.5, "size_bytes": 10},
         {"latency_s": 1.0, "memory_bytes": 400, "accuracy": 0.75, "size_bytes": 40}),     # optimized loses
        ({"latency_s": 1.0, "memory_bytes": 5}, {"latency_s": 0.25, "memory_bytes": 0}),  # missing, zero
        ({"latency_s": 3.0, "accuracy": 0.0, "size_bytes": None},
         {"latency_s": 1.5, "accuracy": 0.5, "size_bytes": 7}),
    ]
    for b, o in cases:
        got = dict(scores(b, o))
        want = {axis: a["ratio"] for axis, a in olympics_ratios(b, o).items()}
        if set(got) != set(want):
            raise GradingError(f"olympic_scores: keys {sorted(got)}, expected {sorted(want)}")
        for axis in want:
            if want[axis] is None:
                if got[axis] is not None:
                    raise GradingError(f"olympic_scores({b}, {o})[{axis!r}] = {got[axis]}, expected None "
                                       "(a figure is missing or the denominator is 0)")
            elif got[axis] is None or abs(float(got[axis]) - want[axis]) > 1e-12 * abs(want[axis]):
                raise GradingError(f"olympic_scores({b}, {o})[{axis!r}] = {got[axis]}, expected {want[axis]} "
                                   "(> 1 must mean the optimized model wins)")
