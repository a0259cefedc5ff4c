"""Module 14, profiling: where the parameters, FLOPs, memory and time go.

Two kinds of numbers live here:

* Analytic ones, from a layer's shapes alone (TinyTorch's `Profiler` API):
  `count_parameters`, `count_flops` (Linear, Conv2d, attention, transformer
  blocks, GPT, Sequential), `measure_memory`, `measure_latency` (warm-up,
  median, percentiles), `profile_layer`, `profile_forward_pass`,
  `profile_backward_pass`.
* Measured ones, from the C++ engine's recorder (csrc/core/profiler.h):
  `with Profiler() as prof:` (or `with prof.profile():`) switches it on;
  every backward node is timed, every recorded forward op counted, every
  forward kernel timed (`add`, `exp`, `sum`, `softmax`, `index_select`,
  `layer_norm`, `attention`, `linear`, ... and matmul with its FLOPs), and
  the storage allocator counts bytes. Kernels nest (a fused `linear` calls
  `matmul`; a backward node calls forward kernels): each row's total time
  includes what ran inside it, its self time does not. Then
  `prof.table()` (sorted by total time), `prof.export_chrome_trace(path)`
  (Chrome's "traceEvents" JSON: open it in Perfetto or chrome://tracing) and
  `prof.memory_stats()` (from the allocator, not tracemalloc: tensor memory
  is not Python memory).

FLOPs count a multiply-add as 2, over the whole input (batch included),
and only the matrix products (Linear, Conv2d, attention's QK^T and PV) plus
one per element for activations: that is the work the engine's matmul
recorder measures, so the two can be compared exactly.
"""
import contextlib
import json
import math
import numbers
import os
import time

import numpy as np

from .. import _C

__all__ = ["Profiler", "profile", "record_function", "linear_flops", "conv2d_flops", "attention_flops",
           "machine_peak_gflops", "MB"]

MB = 1024 * 1024  # the *_mb figures are MiB
_ELEMENTWISE = {"ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"}
_SORT_KEYS = ("total", "calls", "name")


# ---- FLOP formulas (multiply-add = 2) ----
def _check_shape(shape, where):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{where}: input_shape must be a tuple of ints, got {type(shape).__name__}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape):
        raise ValueError(f"{where}: input_shape must be a non-empty tuple of positive ints, got {shape!r}")
    return tuple(int(d) for d in shape)


def linear_flops(input_shape, in_features, out_features):
    """x (..., in) @ W (in, out): 2 * rows * in * out (the bias add is not counted)."""
    shape = _check_shape(input_shape, "linear_flops")
    if shape[-1] != in_features:
        raise ValueError(f"linear_flops: input_shape {shape} does not end in in_features={in_features}")
    return 2 * math.prod(shape[:-1]) * in_features * out_features


def _conv_out(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def conv2d_flops(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """(N, C, H, W) -> (N, C_out, H_out, W_out); each output is a C*kh*kw dot product."""
    shape = _check_shape(input_shape, "conv2d_flops")
    if len(shape) != 4:
        raise ValueError(f"conv2d_flops: input_shape must be (N, C, H, W), got {shape}")
    n, c, h, w = shape
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    ho, wo = _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw)
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d_flops: a {kh}x{kw} kernel does not fit input {shape} with padding {padding}")
    return 2 * n * out_channels * ho * wo * c * kh * kw


def attention_flops(input_shape, embed_dim):
    """Multi-head self-attention on (B, T, D): four D x D projections (8BTD^2),
    scores Q K^T and the weighted sum P V (2BT^2D each); softmax not counted."""
    shape = _check_shape(input_shape, "attention_flops")
    if len(shape) != 3 or shape[2] != embed_dim:
        raise ValueError(f"attention_flops: input_shape must be (batch, seq_len, {embed_dim}), got {shape}")
    b, t, d = shape
    return 8 * b * t * d * d + 4 * b * t * t * d


def machine_peak_gflops(n=384, reps=1, rounds=40):
    """The practical matmul peak of this machine: the engine's own float32 matmul (OpenBLAS
    kernels, tinytorch's threads) on n x n matrices, the best of `rounds` rounds of `reps`
    products. Short rounds and the best of many, because on a shared machine a long
    measurement is mostly other processes' time slices: here (2 cores, load ~15) one 512^3
    product took 7-22 GFLOP/s when timed alone and 98 GFLOP/s as the best of 40 at 384^3.
    Small matmuls are set against this."""
    for name, v, lo in (("n", n, 16), ("reps", reps, 1), ("rounds", rounds, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"machine_peak_gflops: {name} must be an int >= {lo}, got {v!r}")
    a = _C.ones((n, n))
    b = _C.ones((n, n))
    a @ b  # warm-up: first touch of the output blocks and BLAS's own setup
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2.0 * n ** 3 / best / 1e9


# ---- the engine recorder ----
@contextlib.contextmanager
def record_function(name):
    """Marks a range (e.g. "optimizer.step") in the trace and the table while a profiler records."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"record_function: name must be a non-empty str, got {name!r}")
    start = _C._profiler_now_ns()
    try:
        yield
    finally:
        _C._profiler_record(name, start, _C._profiler_now_ns())


def _display_name(name, kind):
    if kind == "forward" and name.endswith("Backward"):
        return name[: -len("Backward")]  # the node MatmulBackward is recorded by the forward op Matmul
    return name


def _self_ns(events):
    """Each event's own time: its duration minus that of the events nested directly inside it
    on the same thread (a `linear` kernel minus its `matmul`, a backward node minus its kernels).
    Events nest properly on a thread (RAII timers, ranges), so one stack per thread finds parents."""
    own = [dur for _, _, _, dur, _, _ in events]
    order = sorted(range(len(events)), key=lambda i: (events[i][5], events[i][2], -events[i][3]))
    stack, thread = [], None
    for i in order:
        _, kind, start, dur, _, tid = events[i]
        if tid != thread:
            stack, thread = [], tid
        if kind == "forward":  # an instant (the op recorded its node): no duration to take away
            continue
        while stack and events[stack[-1]][2] + events[stack[-1]][3] <= start:
            stack.pop()
        if stack:
            own[stack[-1]] -= dur
        stack.append(i)
    return own


def _stats(samples_ms, percentiles):
    a = np.asarray(samples_ms, dtype=np.float64)
    out = {"median_ms": float(np.median(a)), "mean_ms": float(a.mean()), "std_ms": float(a.std()),
           "min_ms": float(a.min()), "max_ms": float(a.max()), "iterations": int(a.size)}
    for p in percentiles:
        out[f"p{p:g}_ms"] = float(np.percentile(a, p))  # numpy's linear interpolation
    out["samples_ms"] = a.tolist()
    return out


def _check_count(value, name, where, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _dummy_input(model, shape):
    """A seeded input of `shape`: token ids (zeros) for models that embed tokens, float32 otherwise."""
    if type(model).__name__ in ("GPT", "Embedding") or hasattr(model, "token_embedding"):
        return _C.Tensor(np.zeros(shape, dtype=np.int64))
    return _C.Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))


def _call(model, x):
    return model.forward(x) if hasattr(model, "forward") else model(x)


class Profiler:
    """TinyTorch's Profiler, with real numbers from the engine.

    Analytic: count_parameters, count_flops, measure_memory, measure_latency,
    latency_stats, profile_layer, profile_forward_pass, profile_backward_pass.
    Recording: `with Profiler() as prof:` / `with prof.profile():`, then
    table(), summary(), events(), memory_stats(), export_chrome_trace(path).
    """

    _active = None  # the Profiler whose session is recording (one at a time: the recorder is global)

    def __init__(self):
        self._events = []
        self._memory = None
        self._recording = False

    # -- parameters and FLOPs --
    def count_parameters(self, model):
        """Number of scalars in the model's trainable parameters (a Module or anything with .parameters())."""
        if hasattr(model, "parameters") and callable(model.parameters):
            return int(sum(int(np.prod(p.shape)) for p in model.parameters()))
        if hasattr(model, "weight"):  # a bare layer-like object (weight, optional bias)
            bias = getattr(model, "bias", None)
            return int(np.prod(model.weight.shape)) + (int(np.prod(bias.shape)) if bias is not None else 0)
        raise TypeError(f"count_parameters: expected a Module (something with .parameters()), "
                        f"got {type(model).__name__}")

    def count_flops(self, model, input_shape):
        """FLOPs of one forward pass on an input of input_shape (batch included)."""
        return self._flops_and_shape(model, _check_shape(input_shape, "count_flops"))[0]

    def _flops_and_shape(self, model, shape):
        kind = type(model).__name__
        if kind == "Linear":
            d_in, d_out = model.weight.shape
            return linear_flops(shape, d_in, d_out), shape[:-1] + (d_out,)
        if kind == "Conv2d":
            f = conv2d_flops(shape, model.out_channels, model.kernel_size, model.stride, model.padding)
            n, _, h, w = shape
            (kh, kw), (sh, sw), (ph, pw) = (_pair(model.kernel_size), _pair(model.stride), _pair(model.padding))
            return f, (n, model.out_channels, _conv_out(h, kh, sh, ph), _conv_out(w, kw, sw, pw))
        if kind == "MultiHeadAttention":
            return attention_flops(shape, model.embed_dim), shape
        if kind == "MLP":
            f1, s1 = self._flops_and_shape(model.linear1, shape)
            f2, s2 = self._flops_and_shape(model.linear2, s1)
            return f1 + math.prod(s1) + f2, s2  # GELU: one per hidden element
        if kind == "TransformerBlock":
            return self._flops_and_shape(model.attention, shape)[0] + self._flops_and_shape(model.mlp, shape)[0], shape
        if kind == "GPT":
            if len(shape) != 2:
                raise ValueError(f"count_flops: GPT takes token ids of shape (batch, seq_len), got {shape}")
            x = shape + (model.embed_dim,)
            f = sum(self._flops_and_shape(b, x)[0] for b in model.blocks)
            return f + linear_flops(x, model.embed_dim, model.vocab_size), shape + (model.vocab_size,)
        if hasattr(model, "layers"):  # Sequential: the shape flows through
            total = 0
            for layer in model.layers:
                f, shape = self._flops_and_shape(layer, shape)
                total += f
            return total, shape
        if kind in _ELEMENTWISE:
            return math.prod(shape), shape
        return 0, shape  # reshapes, dropout at inference, pooling: no multiply-adds

    # -- memory, from the allocator --
    def measure_memory(self, model, input_shape):
        """Memory of one forward pass, counted by the engine's storage allocator.

        parameter_memory_mb: the parameters' bytes; activation_memory_mb: bytes
        allocated during the forward and still held after it (the output and
        what autograd saved for backward); peak_memory_mb: the most held at once
        during the forward; memory_efficiency: (parameters + activations) /
        (parameters + peak). Exact byte figures are returned too.
        """
        shape = _check_shape(input_shape, "measure_memory")
        x = _dummy_input(model, shape)
        param_bytes = int(sum(p.data.nbytes for p in model.parameters())) if hasattr(model, "parameters") else 0
        with self._session():
            out = _call(model, x)
        mem = self._memory
        del out
        useful = param_bytes + mem["live_bytes"]
        return {"parameter_memory_mb": param_bytes / MB, "activation_memory_mb": mem["live_bytes"] / MB,
                "peak_memory_mb": mem["peak_live_bytes"] / MB,
                "memory_efficiency": min(1.0, useful / max(param_bytes + mem["peak_live_bytes"], 1)),
                "parameter_bytes": param_bytes, "activation_bytes": mem["live_bytes"],
                "peak_bytes": mem["peak_live_bytes"], "allocations": mem["allocations"]}

    # -- latency --
    def latency_stats(self, fn, warmup=10, iterations=100, percentiles=(50, 90, 95, 99), clock=None):
        """Times fn() `iterations` times after `warmup` untimed calls; clock() returns seconds
        (time.perf_counter by default; a fake clock makes the statistics testable)."""
        if not callable(fn):
            raise TypeError(f"latency_stats: fn must be callable, got {type(fn).__name__}")
        warmup = _check_count(warmup, "warmup", "latency_stats", 0)
        iterations = _check_count(iterations, "iterations", "latency_stats", 1)
        for p in percentiles:
            if not isinstance(p, numbers.Real) or not 0 <= p <= 100:
                raise ValueError(f"latency_stats: percentiles must lie in [0, 100], got {p!r}")
        clock = clock or time.perf_counter
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(iterations):
            t0 = clock()
            fn()
            samples.append((clock() - t0) * 1e3)
        return _stats(samples, percentiles)

    def measure_latency(self, model, input_tensor, warmup=10, iterations=100, clock=None):
        """Median forward latency in milliseconds (TinyTorch's return value); latency_stats has the rest."""
        return self.latency_stats(lambda: _call(model, input_tensor), warmup, iterations, clock=clock)["median_ms"]

    # -- combined reports --
    def profile_layer(self, layer, input_shape, warmup=3, iterations=10):
        shape = _check_shape(input_shape, "profile_layer")
        x = _dummy_input(layer, shape)
        flops = self.count_flops(layer, shape)
        latency = self.measure_latency(layer, x, warmup, iterations)
        return {"layer_type": type(layer).__name__, "parameters": self.count_parameters(layer), "flops": flops,
                "latency_ms": latency, "gflops_per_second": flops / 1e9 / max(latency / 1e3, 1e-9),
                **self.measure_memory(layer, shape)}

    def profile_forward_pass(self, model, input_tensor, warmup=5, iterations=20):
        shape = tuple(input_tensor.shape)
        flops = self.count_flops(model, shape)
        latency = self.measure_latency(model, input_tensor, warmup, iterations)
        memory = self.measure_memory(model, shape)
        gflops = flops / 1e9 / max(latency / 1e3, 1e-9)
        return {"parameters": self.count_parameters(model), "flops": flops, "latency_ms": latency,
                "gflops_per_second": gflops, **memory}

    def profile_backward_pass(self, model, input_tensor):
        """One forward + backward (of the output's sum) under the engine recorder: measured, not estimated."""
        with self._session():
            with record_function("forward"):
                out = _call(model, input_tensor)
            with record_function("backward"):
                out.sum().backward()
        rows = {(r["name"], r["kind"]): r for r in self.summary()}
        fwd, bwd = rows[("forward", "user")], rows[("backward", "user")]
        matmul_bwd = sum(e[4] for e in self._events if e[0] == "matmul" and e[2] >= bwd["first_start_ns"])
        grad_bytes = sum(np.asarray(p.grad).nbytes for p in model.parameters() if p.grad is not None)
        return {"forward_flops": self.count_flops(model, tuple(input_tensor.shape)),
                "backward_matmul_flops": int(matmul_bwd),
                "forward_latency_ms": fwd["total_ms"], "backward_latency_ms": bwd["total_ms"],
                "gradient_memory_mb": grad_bytes / MB, "peak_memory_mb": self._memory["peak_live_bytes"] / MB,
                "backward_ops": {r["name"]: r["calls"] for r in self.summary() if r["kind"] == "backward"}}

    # -- the engine recorder --
    @contextlib.contextmanager
    def _session(self):
        if Profiler._active is not None:
            raise RuntimeError("Profiler: another profiling session is already recording; the engine has one "
                               "recorder, so finish that `with` block first")
        Profiler._active = self
        _C._profiler_reset()
        _C._profiler_set_enabled(True)
        self._recording = True
        try:
            yield self
        finally:
            _C._profiler_set_enabled(False)
            self._recording = False
            Profiler._active = None
            self._events = _C._profiler_events()
            self._memory = _C._profiler_memory()

    def profile(self):
        """`with prof.profile():` records the engine's work until the block ends."""
        return self._session()

    def __enter__(self):
        self._cm = self._session()
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    def _require_session(self, where):
        if self._recording:
            raise RuntimeError(f"Profiler.{where}: still recording; call it after the `with` block ends")
        if self._memory is None:
            raise RuntimeError(f"Profiler.{where}: nothing recorded yet; run your code inside "
                               f"`with Profiler() as prof:` (or `with prof.profile():`) first")

    def events(self):
        """Raw events: (name, kind, start_ns, dur_ns, flops, thread), kind in forward/backward/kernel/user."""
        self._require_session("events")
        return list(self._events)

    def memory_stats(self):
        """The allocator's counters for the session: allocations, requested_bytes, block_bytes, frees,
        live_bytes (this session's blocks still held when it ended), peak_live_bytes."""
        self._require_session("memory_stats")
        return dict(self._memory)

    def summary(self, sort_by="total"):
        """One row per (op, kind): calls, total_ms, self_ms, mean_us, flops, gflops_per_second, first_start_ns.

        total_ms includes the kernels nested inside (a `linear`'s `matmul`); self_ms does not, so
        the self_ms of all timed rows add up to the recorded time without counting anything twice."""
        self._require_session("summary")
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"Profiler.summary: sort_by must be one of {_SORT_KEYS}, got {sort_by!r}")
        rows = {}
        for (name, kind, start, dur, flops, _), own in zip(self._events, _self_ns(self._events)):
            key = (_display_name(name, kind), kind)
            r = rows.setdefault(key, {"name": key[0], "kind": kind, "calls": 0, "total_ns": 0, "self_ns": 0,
                                      "flops": 0.0, "first_start_ns": start})
            r["calls"] += 1
            r["total_ns"] += dur
            r["self_ns"] += own
            r["flops"] += flops
        out = []
        for r in rows.values():
            total_s = r.pop("total_ns") / 1e9
            r["total_ms"] = total_s * 1e3
            r["self_ms"] = r.pop("self_ns") / 1e6
            r["mean_us"] = total_s * 1e6 / r["calls"]
            r["gflops_per_second"] = r["flops"] / 1e9 / total_s if r["flops"] and total_s > 0 else None
            out.append(r)
        key = {"total": lambda r: (-r["total_ms"], r["name"]), "calls": lambda r: (-r["calls"], r["name"]),
               "name": lambda r: (r["name"], r["kind"])}[sort_by]
        return sorted(out, key=key)

    def table(self, sort_by="total", row_limit=25, peak_gflops=None):
        """The summary as text, sorted by total time; with peak_gflops, each kernel's share of it."""
        self._require_session("table")
        rows = self.summary(sort_by)
        if isinstance(row_limit, bool) or not isinstance(row_limit, int) or row_limit < 1:
            raise ValueError(f"Profiler.table: row_limit must be a positive int, got {row_limit!r}")
        lines = [f"{'op':<24}{'kind':<10}{'calls':>7}{'total ms':>11}{'self ms':>10}{'mean us':>10}{'GFLOP/s':>10}"
                 + (f"{'% peak':>8}" if peak_gflops else "")]
        for r in rows[:row_limit]:
            timed = r["kind"] != "forward"  # forward ops are counted where they record their node, not timed
            g = r["gflops_per_second"]
            line = (f"{r['name'][:23]:<24}{r['kind']:<10}{r['calls']:>7}"
                    + (f"{r['total_ms']:>11.3f}{r['self_ms']:>10.3f}{r['mean_us']:>10.1f}" if timed
                       else f"{'-':>11}{'-':>10}{'-':>10}")
                    + (f"{g:>10.1f}" if g else f"{'':>10}"))
            if peak_gflops:
                line += f"{100 * g / peak_gflops:>7.1f}%" if g else ""
            lines.append(line)
        lines.append("total ms includes the kernels nested inside a row (a linear's matmul, a backward node's "
                     "kernels); self ms does not")
        m = self._memory
        lines.append(f"allocator: {m['allocations']} allocations, {m['requested_bytes']} bytes requested, "
                     f"peak held {m['peak_live_bytes']} bytes, still held {m['live_bytes']} bytes")
        return "\n".join(lines)

    def export_chrome_trace(self, path):
        """Writes Chrome's trace format ({"traceEvents": [...]}, times in microseconds)."""
        self._require_session("export_chrome_trace")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"Profiler.export_chrome_trace: path must be a str or path, got {type(path).__name__}")
        pid = os.getpid()
        trace = []
        for name, kind, start, dur, flops, tid in self._events:
            ev = {"name": _display_name(name, kind), "cat": kind, "pid": pid, "tid": tid, "ts": start / 1e3}
            if kind == "forward":
                ev.update(ph="i", s="t")  # an instant: the op recorded its graph node here
            else:
                ev.update(ph="X", dur=dur / 1e3)
            if flops:
                ev["args"] = {"flops": flops, "gflops_per_second": flops / max(dur, 1)}
            trace.append(ev)
        doc = {"traceEvents": trace, "displayTimeUnit": "ms", "otherData": {"allocator": dict(self._memory)}}
        with open(path, "w") as f:
            json.dump(doc, f)
        return str(path)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def profile():
    """`with profile() as prof:` is `with Profiler() as prof:`."""
    return Profiler()
