"""What a capstone report claims, measured: quality on the held-out text, the
bytes a model file stores, generation speed (interleaved rounds, medians) and
the machine it ran on.

The report writer and the checker call these same functions, so an honest
submission re-measures to the same quality and size figures exactly, and to
the same speed up to timing noise (which is why speed gets a tolerance and
the others do not).
"""
import gc
import math
import os
import platform
import time

import numpy as np

from .. import _C
from ..autograd import no_grad
from ..core.safetensors_io import load_file

__all__ = ["quality", "stored_bytes", "time_interleaved", "summarize_times", "generation_speed",
           "peak_engine_bytes", "machine_description"]


def _windows(ids, seq_len):
    """Non-overlapping (inputs, targets) windows of seq_len tokens covering the text."""
    ids = np.asarray(ids, dtype=np.int64)
    count = (len(ids) - 1) // seq_len
    if count < 1:
        raise ValueError(f"quality: the text has {len(ids)} tokens, fewer than seq_len + 1 = {seq_len + 1}")
    used = count * seq_len
    return ids[:used].reshape(count, seq_len), ids[1:used + 1].reshape(count, seq_len)


def quality(model, token_ids, seq_len):
    """{"val_loss": mean next-token cross-entropy (nats), "next_token_accuracy": fraction of argmax hits}
    over the held-out token ids cut into windows of seq_len, without recording a graph."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"quality: seq_len must be a positive integer, got {seq_len!r}")
    inputs, targets = _windows(token_ids, int(seq_len))
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            logits = np.asarray(model(inputs), dtype=np.float64)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return {"val_loss": float(-picked.mean()),
            "next_token_accuracy": float((logits.argmax(axis=-1) == targets).mean())}


def stored_bytes(path):
    """Bytes of the model's tensors as stored in a safetensors file (the names under `model/`, or all
    tensors when none is): the deployable size, without the header, optimizer or generator state."""
    tensors, _ = load_file(os.fspath(path))
    model = {k: v for k, v in tensors.items() if k.startswith("model/")} or tensors
    return int(sum(v.nbytes for v in model.values()))


def time_interleaved(candidates, rounds=9, warmup=1, min_round_s=0.02):
    """{name: [seconds per call, one entry per round]} for callables run A, B, A, B, ...: each round
    calls every candidate, so a slow moment on a shared machine touches all of them, not one.

    `warmup` untimed rounds come first (first-call allocations, caches) and also set how many calls a
    round makes: enough for the slowest-to-fill candidate to take `min_round_s`, because a single
    millisecond call is mostly scheduler noise on a busy 2-core machine."""
    if not candidates:
        raise ValueError("time_interleaved: give at least one candidate")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"time_interleaved: rounds must be a positive integer, got {rounds!r}")
    fastest = float("inf")
    for _ in range(max(1, warmup)):
        for fn in candidates.values():
            start = time.perf_counter()
            fn()
            fastest = min(fastest, time.perf_counter() - start)
    number = max(1, min(1000, int(math.ceil(min_round_s / max(fastest, 1e-6)))))
    times = {name: [] for name in candidates}
    gc_was_on = gc.isenabled()
    gc.disable()                       # a collection inside one candidate's round would bill it alone
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                times[name].append((time.perf_counter() - start) / number)
    finally:
        if gc_was_on:
            gc.enable()
    return times


def summarize_times(seconds):
    """{"median_ms", "iqr_ms", "min_ms", "max_ms", "rounds"} of per-round times in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": float(med), "iqr_ms": float(q3 - q1), "min_ms": float(ms.min()),
            "max_ms": float(ms.max()), "rounds": int(ms.size)}


def generation_speed(generators, new_tokens, rounds=9, warmup=1):
    """{name: {"tokens_per_s", "latency_ms": summarize_times(...)}} for generate callables that each
    produce `new_tokens` tokens per call, timed interleaved (tokens/s from the median latency)."""
    times = time_interleaved(generators, rounds=rounds, warmup=warmup)
    out = {}
    for name, seconds in times.items():
        latency = summarize_times(seconds)
        out[name] = {"tokens_per_s": float(new_tokens / (latency["median_ms"] / 1e3)), "latency_ms": latency}
    return out


def peak_engine_bytes(fn):
    """Peak bytes held by the C++ storage allocator for blocks allocated while fn() runs (module 14's
    profiler reads the allocator's counters), or None when this build has no profiler."""
    try:
        from ..perf.profiling import Profiler
    except ImportError:
        return None
    prof = Profiler()
    try:
        with prof.record() if hasattr(prof, "record") else prof:
            fn()
    except (AttributeError, TypeError):
        return None
    for attr in ("peak_bytes", "peak_live_bytes"):
        value = getattr(prof, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, (int, np.integer)):
            return int(value)
    stats = getattr(prof, "memory", None)
    stats = stats() if callable(stats) else stats
    if isinstance(stats, dict) and "peak_live_bytes" in stats:
        return int(stats["peak_live_bytes"])
    return None


def machine_description():
    """Where the figures were measured: CPU, cores, BLAS core and threads, SIMD level, versions."""
    info = _C._build_info()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from .. import __version__
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "tinytorch": __version__,
            "blas_core": info["blas_core"], "blas_threads": int(info["blas_threads"]), "simd": info["simd"]}
