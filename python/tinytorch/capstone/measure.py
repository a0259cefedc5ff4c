"""What a capstone report claims, measured: quality on the held-out text, the
bytes a model file stores, generation speed (interleaved rounds, medians) and
the machine it ran on.

The report writer and the checker call these same functions, so an honest
submission re-measures to the same quality and size figures exactly, and to
the same speed up to timing noise (which is why speed gets a tolerance and
the others do not).
"""
import math
import os
import time

import numpy as np

from ..benchmarking import Benchmark, machine_info
from ..core.tensor import Tensor
from ..core.autograd import no_grad
from ..core.safetensors_io import load_file

__all__ = ["quality", "stored_bytes", "time_interleaved", "summarize_times",
           "resident_bytes", "peak_engine_bytes", "peak_memory", "machine_description"]


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
    """{name: [seconds per call, one entry per round]}, timed by module 19's `Benchmark` with
    interleaved rounds (A, B, A, B, ...), so a slow moment on a shared machine touches every candidate.

    One untimed pass first sets how many calls a round makes: enough for the fastest candidate to take
    `min_round_s`, because a single millisecond call is mostly scheduler noise on a busy 2-core machine."""
    if not candidates:
        raise ValueError("time_interleaved: give at least one candidate")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"time_interleaved: rounds must be a positive integer, got {rounds!r}")
    fastest = float("inf")
    for fn in candidates.values():
        start = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - start)
    number = max(1, min(1000, int(math.ceil(min_round_s / max(fastest, 1e-6)))))

    def batched(fn):
        def run():
            for _ in range(number):
                fn()
        return run

    report = Benchmark({name: batched(fn) for name, fn in candidates.items()}, warmup_runs=warmup,
                       measurement_runs=rounds, interleave=True).run()
    return {name: [v / number for v in report.results[name].values] for name in candidates}


def summarize_times(seconds):
    """{"median_ms", "iqr_ms", "min_ms", "max_ms", "rounds"} of per-round times in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": float(med), "iqr_ms": float(q3 - q1), "min_ms": float(ms.min()),
            "max_ms": float(ms.max()), "rounds": int(ms.size)}


def resident_bytes(model):
    """Bytes the model keeps in memory between calls: every tensor and numpy array its modules hold
    (parameters, int8 weights and scales, packed int8 matrices) plus an attached KV cache, each once."""
    seen, total = set(), 0

    def add(value):
        nonlocal total
        if isinstance(value, (list, tuple)):
            for v in value:
                add(v)
        elif id(value) in seen:
            return
        elif isinstance(value, Tensor):
            seen.add(id(value))
            total += int(value.size) * np.dtype(value.dtype).itemsize
        elif isinstance(getattr(value, "nbytes", None), (int, np.integer)) and not callable(value):
            seen.add(id(value))          # numpy arrays, module 16's packed int8 matrices
            total += int(value.nbytes)

    for mod in model.modules():
        for value in vars(mod).values():
            add(value)
    cache = model.__dict__.get("_kv_cache")
    if cache is not None:
        total += int(cache.nbytes())
    return total


def peak_engine_bytes(fn):
    """Peak bytes held by the C++ storage allocator for blocks allocated while fn() runs, read by
    module 14's Profiler from the allocator's own counters."""
    from ..perf.profiling import Profiler
    with Profiler() as prof:
        fn()
    return int(prof.memory_stats()["peak_live_bytes"])


def peak_memory(model, fn):
    """What running fn() on `model` needs at its peak: the model's resident bytes plus the engine's peak
    allocation during the call (activations, logits, temporaries)."""
    return resident_bytes(model) + peak_engine_bytes(fn)


def machine_description():
    """Where the figures were measured (module 19's machine_info: CPU, cores, BLAS core and threads,
    SIMD level, versions)."""
    return machine_info()
