"""Grader for module 14: parameter and FLOP counts against the engine's profiler, latency statistics on a
fake clock (never a wall-clock threshold), activation bytes against the storage allocator."""
import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.spatial import Conv2d
from tinytorch.core.transformer import GPT
from tinytorch.course.grading import Grader, GradingError
from tinytorch.profiling.profiler import Profiler

grader = Grader("14")


def _engine_matmul_flops(fn):
    """FLOPs of every GEMM the engine ran inside fn(), from its profiler (matmul, and the fused conv2d)."""
    with Profiler() as prof:
        fn()
    return int(sum(r["flops"] for r in prof.summary() if r["name"] in ("matmul", "conv2d")))


def _same(got, expected, what):
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)) or int(got) != expected:
        raise GradingError(f"{what}: got {got!r}, expected {expected}")


@grader.check(points=1, needs=["count_parameters"],
              hint="sum over model.parameters() of the product of each shape; biases count too")
def parameter_counts(ns):
    count = ns["count_parameters"]
    tt.manual_seed(14)
    models = [("Linear(8, 16)", Linear(8, 16)), ("Linear(5, 3, bias=False)", Linear(5, 3, bias=False)),
              ("Conv2d(3, 8, 3)", Conv2d(3, 8, 3)), ("MultiHeadAttention(32, 4)", MultiHeadAttention(32, 4)),
              ("Sequential(Linear(8, 16), ReLU(), Linear(16, 4))", Sequential(Linear(8, 16), ReLU(), Linear(16, 4))),
              ("GPT(50, 32, 2, 4, max_seq_len=16)", GPT(50, 32, 2, 4, max_seq_len=16))]
    for name, model in models:
        expected = sum(int(np.asarray(p).size) for p in model.parameters())
        _same(count(model), expected, f"count_parameters({name})")


@grader.check(points=1, needs=["linear_flops"],
              hint="2 * rows * in_features * out_features, rows = product of input_shape[:-1]")
def linear_flops_match_engine(ns):
    flops = ns["linear_flops"]
    _same(flops((4, 8), 8, 16), 1024, "linear_flops((4, 8), 8, 16)")
    rng = np.random.default_rng(140)
    for shape, d_out in [((1, 5), 7), ((3, 4, 6), 2), ((2, 1, 3, 9), 11), ((64, 32), 16)]:
        layer = Linear(shape[-1], d_out)
        x = tt.Tensor(rng.standard_normal(shape).astype(np.float32))
        _same(flops(shape, shape[-1], d_out), _engine_matmul_flops(lambda: layer(x)),
              f"linear_flops({shape}, {shape[-1]}, {d_out}) (the engine's matmul recorder)")


@grader.check(points=2, needs=["conv2d_flops"],
              hint="H_out = (H + 2*padding - kernel_size) // stride + 1; 2 * N * C_out * H_out * W_out * C * k * k")
def conv2d_flops_match_engine(ns):
    flops = ns["conv2d_flops"]
    _same(flops((2, 3, 8, 8), 8, 3, padding=1), 55296, "conv2d_flops((2, 3, 8, 8), 8, 3, padding=1)")
    for shape, c_out, k, s, p in [((1, 1, 5, 5), 1, 3, 1, 0), ((2, 3, 9, 9), 4, 3, 2, 0), ((1, 2, 10, 7), 3, 4, 3, 1),
                                  ((2, 4, 6, 6), 5, 1, 1, 2), ((1, 3, 11, 11), 2, 5, 2, 2)]:
        conv = Conv2d(shape[1], c_out, k, stride=s, padding=p)
        x = tt.ones(shape)
        _same(flops(shape, c_out, k, stride=s, padding=p), _engine_matmul_flops(lambda: conv(x)),
              f"conv2d_flops({shape}, {c_out}, {k}, stride={s}, padding={p}) (the engine's matmul recorder)")


@grader.check(points=2, needs=["matmul_flops"],
              hint="np.broadcast_shapes on the batch dims (all but the last two); 2 * prod(batch) * M * N * K")
def matmul_flops_match_engine(ns):
    flops = ns["matmul_flops"]
    _same(flops((4, 3), (3, 5)), 120, "matmul_flops((4, 3), (3, 5))")
    for sa, sb in [((2, 1, 4, 3), (5, 3, 6)), ((3, 2, 7), (7, 4)), ((6, 5), (2, 3, 5, 2)), ((2, 4, 3, 3), (2, 4, 3, 8)),
                   ((1, 9, 1), (4, 1, 6))]:
        a, b = tt.ones(sa), tt.ones(sb)
        _same(flops(sa, sb), _engine_matmul_flops(lambda: a @ b),
              f"matmul_flops({sa}, {sb}) (the engine's matmul recorder)")


class _FakeClock:
    def __init__(self, durations_s):
        self.now, self.durations, self.calls = 0.0, list(durations_s), 0

    def __call__(self):
        return self.now

    def tick(self):
        if self.calls >= len(self.durations):
            raise GradingError(f"measure_latency called fn more than warmup + iterations = {len(self.durations)} "
                               "times")
        self.now += self.durations[self.calls]
        self.calls += 1


@grader.check(points=2, needs=["measure_latency"],
              hint="warm-up calls are not timed; samples in ms in call order; median, np.percentile(samples, 95), "
                   "mean")
def latency_statistics_on_a_fake_clock(ns):
    measure = ns["measure_latency"]
    rng = np.random.default_rng(141)
    for warmup, iterations in [(2, 5), (0, 4), (3, 1), (10, 37)]:
        timed = rng.uniform(0.0005, 0.05, size=iterations)
        clock = _FakeClock([7.0] * warmup + list(timed))  # a slow warm-up: must not be counted
        stats = measure(clock.tick, warmup=warmup, iterations=iterations, clock=clock)
        what = f"measure_latency(fn, warmup={warmup}, iterations={iterations}, clock=fake)"
        if clock.calls != warmup + iterations:
            raise GradingError(f"{what} called fn {clock.calls} times, expected {warmup + iterations}")
        if not isinstance(stats, dict):
            raise GradingError(f"{what} returned {type(stats).__name__}, expected a dict")
        ms = timed * 1e3
        expected = {"median_ms": np.median(ms), "p95_ms": np.percentile(ms, 95), "mean_ms": ms.mean()}
        for key, want in expected.items():
            if key not in stats:
                raise GradingError(f"{what}: no {key!r} in the result (keys: {sorted(stats)})")
            if not np.isclose(stats[key], want, rtol=1e-9, atol=1e-9):
                raise GradingError(f"{what}[{key!r}] = {stats[key]!r}, expected {want:.6f} (samples in ms: "
                                   f"{np.round(ms, 4).tolist()[:6]}...)")
        samples = np.asarray(stats.get("samples_ms", []), dtype=np.float64)
        if samples.shape != ms.shape or not np.allclose(samples, ms, rtol=1e-9, atol=1e-9):
            raise GradingError(f"{what}['samples_ms'] should be the {iterations} timed calls in ms, in call order")


@grader.check(points=2, needs=["mlp_activation_bytes"],
              hint="each hidden size appears twice (Linear output, ReLU output), the last size once; 4 bytes * batch")
def activation_bytes_match_allocator(ns):
    fn = ns["mlp_activation_bytes"]
    for batch, sizes in [(7, [10, 32, 16, 3]), (1, [4, 2]), (16, [8, 64, 64, 64, 10]), (3, [5, 1000, 2])]:
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(ReLU())
        net, x = Sequential(*layers), tt.ones((batch, sizes[0]))
        with Profiler() as prof:
            net(x)
        _same(fn(batch, sizes), prof.memory_stats()["requested_bytes"],
              f"mlp_activation_bytes({batch}, {sizes}) (bytes the engine's allocator handed out)")
