# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 20 — Capstone: an optimized TinyGPT, submitted and checked
#
# Modules 14 to 19 each gave you one tool: a profiler, a KV cache, int8
# layers, pruning, the engine's fast paths, a fair benchmark harness. A real
# deployment uses them *together*, and that is where the surprises are:
#
# * optimizations **interact**: the KV cache runs the stock fused GPT in C++,
#   so once int8 layers replace its Linear layers the cache has nothing to run;
# * every optimization **costs quality** somewhere, so a pipeline needs a
#   *guard* that measures and backs off;
# * a claim is worth nothing unless someone else can **re-measure** it.
#
# MLPerf's answer to the last point is a submission: a report of what was
# measured, plus the artifacts that produced it, checked by rules everybody
# agreed on. This module builds exactly that for a small character GPT:
#
# 1. normalized improvements (speedup, compression, quality deltas);
# 2. `optimize(model)`: pruning + int8 or KV cache, with a quality guard;
# 3. `build_report(...)`: the submission's JSON report (versioned schema);
# 4. `check_claims(...)`: the heart of a checker: do the claims match what
#    you measure, and do they obey the rules?
#
# The package already has a reference checker, `tinytorch capstone check
# SUBMISSION`; at the end you run it on the submission you built.

# %%
import json
import os
import tempfile
import time

import numpy as np

from tinytorch.capstone import checker, measure, model_io, pipeline, schema
from tinytorch.perf.compression import magnitude_prune
from tinytorch.perf.quantization import quantize_model

# %% [markdown]
# ## Worked example: the baseline
# A 1-layer GPT (embed 32, 4 heads) trained for 300 steps on small Python-like
# programs that the package generates (`tinytorch.capstone.corpus`: a fixed
# train split and a fixed **held-out** split, never downloaded). Quality is
# measured on the held-out text only: the mean next-character cross-entropy
# and the fraction of characters the model's top guess gets right.

# %%
t0 = time.perf_counter()
model, tok, losses = pipeline.train_gpt(steps=300)
print(f"trained in {time.perf_counter() - t0:.1f} s: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
eval_ids = pipeline.eval_ids(tok)
base_quality = measure.quality(model, eval_ids, pipeline.SEQ_LEN)
print("held-out:", {k: round(v, 4) for k, v in base_quality.items()})
assert base_quality["val_loss"] < 0.6 * np.log(tok.vocab_size)      # far better than a uniform guess
print(f"the checker's rules: accuracy may drop by {checker.MAX_ACCURACY_DROP}, the loss may rise by "
      f"{checker.MAX_LOSS_INCREASE:.0%}, and speed or size must improve {checker.MIN_IMPROVEMENT}x")

# %% [markdown]
# A measurement is a dict with the same keys everywhere in this module (the
# report's schema, `tinytorch.capstone.schema`):
# `tokens_per_s`, `latency_ms` (median, IQR, min, max, rounds),
# `peak_memory_bytes`, `size_bytes`, `val_loss`, `next_token_accuracy`,
# `sparsity`.
#
# ## Exercise 1: `normalized_improvements(baseline, optimized)`
#
# Raw numbers do not compare across models or machines; ratios do. Return a
# dict with
#
# * `speedup` = optimized tokens/s divided by baseline tokens/s (> 1: faster),
# * `compression_ratio` = baseline size_bytes divided by optimized size_bytes
#   (> 1: smaller),
# * `accuracy_delta` = optimized accuracy minus baseline accuracy (< 0: worse),
# * `loss_delta` = optimized val_loss minus baseline val_loss (> 0: worse).
#
# Raise `ValueError` (naming the field) if a `tokens_per_s` or `size_bytes`
# is not positive: a ratio with a zero in it is not a measurement.

# %%
def normalized_improvements(baseline, optimized):
    """speedup, compression_ratio (> 1 = better), accuracy_delta, loss_delta (optimized - baseline)."""
    ### HINT: check tokens_per_s and size_bytes > 0, then two ratios (mind their direction) and two differences
    ### BEGIN SOLUTION
    for side, m in (("baseline", baseline), ("optimized", optimized)):
        for key in ("tokens_per_s", "size_bytes"):
            if not m[key] > 0:
                raise ValueError(f"normalized_improvements: {side} {key} must be > 0, got {m[key]!r}")
    return {"speedup": optimized["tokens_per_s"] / baseline["tokens_per_s"],
            "compression_ratio": baseline["size_bytes"] / optimized["size_bytes"],
            "accuracy_delta": optimized["next_token_accuracy"] - baseline["next_token_accuracy"],
            "loss_delta": optimized["val_loss"] - baseline["val_loss"]}
    ### END SOLUTION


# %% [markdown]
# Check by hand: twice as fast, a quarter of the size, one point of accuracy lost.

# %%
b = {"tokens_per_s": 1000.0, "size_bytes": 4000, "next_token_accuracy": 0.80, "val_loss": 0.50}
o = {"tokens_per_s": 2000.0, "size_bytes": 1000, "next_token_accuracy": 0.79, "val_loss": 0.52}
imp = normalized_improvements(b, o)
assert imp["speedup"] == 2.0 and imp["compression_ratio"] == 4.0
assert abs(imp["accuracy_delta"] + 0.01) < 1e-12 and abs(imp["loss_delta"] - 0.02) < 1e-12
assert imp == pipeline.improvements(b, o)                         # the package's own definition
try:
    normalized_improvements(b, dict(o, size_bytes=0))
    raise AssertionError("size_bytes=0 should raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `optimize(model, eval_ids, ...)` with a quality guard
#
# Build the optimized model **without touching `model`**:
#
# 1. Work on copies: `model_io.build_gpt(model_io.gpt_config(model))` then
#    `copy.load_state_dict(model.state_dict())`.
# 2. **Pruning**: try each of `sparsities` from the largest down; keep the
#    first copy that, after `magnitude_prune(copy, s)`, passes the guard. If
#    none passes, do not prune.
# 3. `prefer="size"`: try int8 on a copy of the chosen model
#    (`quantize_model(copy)`); add `{"name": "int8"}` only if that copy passes
#    the guard. `prefer="speed"`: add `{"name": "kv_cache"}` instead (the KV
#    cache changes no output, so it needs no guard, but it cannot run on int8
#    layers, so the two exclude each other). Anything else: `ValueError`.
# 4. The guard compares `measure.quality(m, eval_ids, pipeline.SEQ_LEN)` with
#    the baseline's: accuracy may drop by at most `max_accuracy_drop`, the loss
#    may rise by at most the fraction `max_loss_increase`.
#
# Return `(float32 model, optimizations)`: the pruned copy (before int8: the
# submission stores int8 itself) and the list, pruning first, e.g.
# `[{"name": "magnitude_prune", "sparsity": 0.2}, {"name": "int8"}]`.

# %%
def optimize(model, eval_ids, max_accuracy_drop=0.02, max_loss_increase=0.10,
             sparsities=(0.5, 0.3, 0.2, 0.1), prefer="size"):
    """(pruned float32 copy, optimizations): the largest sparsity and int8 (prefer="size") or the KV cache
    (prefer="speed") that keep held-out quality within the guard; `model` is left unchanged."""
    ### HINT: copies: build_gpt(gpt_config(model)) + load_state_dict; the guard compares measure.quality with the base
    ### BEGIN SOLUTION
    if prefer not in ("size", "speed"):
        raise ValueError(f"optimize: prefer must be 'size' or 'speed', got {prefer!r}")
    base = measure.quality(model, eval_ids, pipeline.SEQ_LEN)

    def copy(m):
        c = model_io.build_gpt(model_io.gpt_config(m))
        c.load_state_dict(m.state_dict())
        return c.eval()

    def passes(m):
        q = measure.quality(m, eval_ids, pipeline.SEQ_LEN)
        return (base["next_token_accuracy"] - q["next_token_accuracy"] <= max_accuracy_drop
                and q["val_loss"] <= base["val_loss"] * (1 + max_loss_increase))

    chosen, optimizations = copy(model), []
    for s in sorted(sparsities, reverse=True):
        trial = copy(model)
        magnitude_prune(trial, s)
        if passes(trial):
            chosen, optimizations = trial, [{"name": "magnitude_prune", "sparsity": float(s)}]
            break
    if prefer == "size":
        trial = quantize_model(copy(chosen))
        if passes(trial):
            optimizations.append({"name": "int8"})
    else:
        optimizations.append({"name": "kv_cache"})
    return chosen, optimizations
    ### END SOLUTION


# %% [markdown]
# Check: the guard holds, the original is untouched, and a guard of zero
# tolerance prunes less than a loose one.

# %%
before = {n: np.array(p.data) for n, p in model.named_parameters()}
opt_model, opts = optimize(model, eval_ids)
print("optimizations:", opts)
assert all(np.array_equal(before[n], np.asarray(p.data)) for n, p in model.named_parameters())
problems = schema.validate({"optimized": {"optimizations": opts}})
assert [p for p in problems if p.startswith("optimized.optimizations")] == []
shipped = model_io.build_gpt(model_io.gpt_config(opt_model))
shipped.load_state_dict(opt_model.state_dict())
if {"name": "int8"} in opts:
    quantize_model(shipped)
q = measure.quality(shipped.eval(), eval_ids, pipeline.SEQ_LEN)
assert base_quality["next_token_accuracy"] - q["next_token_accuracy"] <= 0.02
assert q["val_loss"] <= base_quality["val_loss"] * 1.10
_, strict = optimize(model, eval_ids, max_accuracy_drop=0.0, max_loss_increase=0.0, prefer="speed")
_, loose = optimize(model, eval_ids, max_accuracy_drop=1.0, max_loss_increase=10.0, prefer="speed")
print("strict:", strict, " loose:", loose)
assert loose[0] == {"name": "magnitude_prune", "sparsity": 0.5} and loose[-1] == {"name": "kv_cache"}
assert strict == [{"name": "kv_cache"}] or strict[0]["sparsity"] < 0.5

# %% [markdown]
# ## Exercise 3: `build_report(...)`: the submission's JSON
#
# A report names everything a checker needs to reproduce the figures. Return
# a dict with exactly the schema's sections (see `tinytorch.capstone.schema`'s
# docstring):
#
# * `"schema"`: `schema.SCHEMA`, `"schema_version"`: `schema.SCHEMA_VERSION`;
# * `"model"`: `{"type": "GPT", "config": config, "vocab": vocab}`;
# * `"eval"`: `{"dataset": corpus.CORPUS_NAME, "split": "heldout", "sha256": the
#   held-out text's hash, "seq_len": pipeline.SEQ_LEN}`;
# * `"generation"`: `{"prompt_tokens": pipeline.PROMPT_TOKENS, "new_tokens":
#   pipeline.NEW_TOKENS, "temperature": 0}`;
# * `"baseline"` / `"optimized"`: `{"checkpoint": file name, "sha256": its
#   hash, "measurements": the side's measurements}`, and the optimized side
#   also `"optimizations"`;
# * `"improvements"`: your `normalized_improvements`; `"machine"`: `machine`.
#
# `checkpoints` is `{"baseline": (file name, sha256), "optimized": (...)}`.

# %%
from tinytorch.capstone.corpus import CORPUS_NAME, corpus_sha256, corpus_text


def build_report(config, vocab, optimizations, measurements, checkpoints, machine):
    """The submission report (schema version 1) as a dict."""
    ### HINT: one dict literal; the held-out hash is corpus_sha256(corpus_text("heldout"))
    ### BEGIN SOLUTION
    report = {"schema": schema.SCHEMA, "schema_version": schema.SCHEMA_VERSION,
              "model": {"type": "GPT", "config": dict(config), "vocab": vocab},
              "eval": {"dataset": CORPUS_NAME, "split": "heldout", "sha256": corpus_sha256(corpus_text("heldout")),
                       "seq_len": pipeline.SEQ_LEN},
              "generation": {"prompt_tokens": pipeline.PROMPT_TOKENS, "new_tokens": pipeline.NEW_TOKENS,
                             "temperature": 0}}
    for side in ("baseline", "optimized"):
        name, digest = checkpoints[side]
        report[side] = {"checkpoint": name, "sha256": digest, "measurements": dict(measurements[side])}
    report["optimized"]["optimizations"] = [dict(o) for o in optimizations]
    report["improvements"] = normalized_improvements(measurements["baseline"], measurements["optimized"])
    report["machine"] = dict(machine)
    return report
    ### END SOLUTION


# %% [markdown]
# The report is only half a submission: the files come first, and every
# figure is measured on the models **rebuilt from those files**, so the report
# describes what was shipped, not what was in memory.

# %%
folder = tempfile.mkdtemp(prefix="capstone-")
model_io.save_baseline(os.path.join(folder, "baseline.safetensors"), model)
model_io.save_optimized(os.path.join(folder, "optimized.safetensors"), opt_model,
                        int8=any(o["name"] == "int8" for o in opts))
files = {s: (f"{s}.safetensors", pipeline.file_sha256(os.path.join(folder, f"{s}.safetensors")))
         for s in ("baseline", "optimized")}
stub = {"model": {"config": model_io.gpt_config(model)}, "baseline": {"checkpoint": files["baseline"][0]},
        "optimized": {"checkpoint": files["optimized"][0], "optimizations": opts}}
base_m, opt_m, opt_sparsity = pipeline.load_models(folder, stub)
measured = pipeline.measure_models({"baseline": base_m, "optimized": opt_m}, tok, rounds=5)
for side, path, sp in (("baseline", "baseline.safetensors", 0.0), ("optimized", "optimized.safetensors", opt_sparsity)):
    measured[side].update(size_bytes=measure.stored_bytes(os.path.join(folder, path)), sparsity=sp)
report = build_report(model_io.gpt_config(model), "".join(tok.vocab[1:]), opts, measured, files,
                      measure.machine_description())
assert schema.validate(report) == [], schema.validate(report)
with open(os.path.join(folder, "submission.json"), "w") as f:
    json.dump(report, f, indent=2)
print(json.dumps(report["improvements"], indent=1))

# %% [markdown]
# ## Exercise 4: `check_claims(claimed, measured, speed_tolerance=0.5)`
#
# The core of a checker. `claimed` and `measured` are both
# `{"baseline": M, "optimized": M}`. Return a list of problems (strings),
# empty when the submission is sound:
#
# * **deterministic claims must match**: `size_bytes` exactly; `val_loss`
#   within 1e-4; `next_token_accuracy` within 1e-3 (both sides). The problem
#   names the side and the field, e.g. `"optimized size_bytes: claims 1000,
#   measured 30112"`;
# * **speed gets a tolerance**: the claimed speedup (ratio of the claimed
#   tokens/s) may exceed the measured one by at most `speed_tolerance`
#   (0.5 = 50%): mention `"speedup"` in the problem;
# * **the rules**, on the *measured* figures: accuracy drops by at most
#   `checker.MAX_ACCURACY_DROP` (mention `"accuracy"`), the loss rises by at
#   most the fraction `checker.MAX_LOSS_INCREASE` (mention `"loss"`).

# %%
def check_claims(claimed, measured, speed_tolerance=0.5):
    """Problems (strings) with a submission's claims against what was re-measured, and with the rules."""
    ### HINT: loop over sides and fields with their tolerances (size: 0); speedup = optimized / baseline tokens/s
    ### BEGIN SOLUTION
    problems = []
    for side in ("baseline", "optimized"):
        for key, tol in (("size_bytes", 0), ("val_loss", 1e-4), ("next_token_accuracy", 1e-3)):
            c, m = claimed[side][key], measured[side][key]
            if abs(c - m) > tol:
                problems.append(f"{side} {key}: claims {c}, measured {m}")
    claimed_speedup = claimed["optimized"]["tokens_per_s"] / claimed["baseline"]["tokens_per_s"]
    measured_speedup = measured["optimized"]["tokens_per_s"] / measured["baseline"]["tokens_per_s"]
    if claimed_speedup > measured_speedup * (1 + speed_tolerance):
        problems.append(f"speedup: claims {claimed_speedup:.2f}x, measured {measured_speedup:.2f}x")
    b, o = measured["baseline"], measured["optimized"]
    if b["next_token_accuracy"] - o["next_token_accuracy"] > checker.MAX_ACCURACY_DROP:
        problems.append(f"rule: accuracy fell from {b['next_token_accuracy']:.4f} to {o['next_token_accuracy']:.4f}")
    if o["val_loss"] > b["val_loss"] * (1 + checker.MAX_LOSS_INCREASE):
        problems.append(f"rule: loss rose from {b['val_loss']:.4f} to {o['val_loss']:.4f}")
    return problems
    ### END SOLUTION


# %% [markdown]
# Check: the honest claims pass, each forgery is named.

# %%
claims = {s: report[s]["measurements"] for s in ("baseline", "optimized")}
assert check_claims(claims, measured) == []
forged = json.loads(json.dumps(claims))
forged["optimized"]["size_bytes"] = 1000
forged["optimized"]["tokens_per_s"] *= 10
problems = check_claims(forged, measured)
print(problems)
assert any("optimized size_bytes" in p for p in problems) and any("speedup" in p for p in problems)
worse = json.loads(json.dumps(measured))
worse["optimized"]["next_token_accuracy"] -= 0.05
assert any("accuracy" in p for p in check_claims(worse, worse))

# %% [markdown]
# ## Systems: baseline against optimized, measured on the engine
#
# The reference checker re-measures everything from the files: quality and
# size must match exactly, speed within its tolerance (it times both models
# interleaved with module 19's `Benchmark`, so a busy moment on this shared
# machine hits both). Then the three configurations side by side: the
# baseline, KV cache alone, and your optimized model (medians of interleaved
# rounds on *this* machine; run it again and the speed figures move a little,
# the sizes and qualities do not).

# %%
card = checker.check_submission(folder, rounds=5)
print(checker.format_scorecard(card))
assert all(ok for name, ok, _ in card.checks if not name.startswith(("speedup", "rule: improvement")))

cached = model_io.build_gpt(model_io.gpt_config(model))
cached.load_state_dict(model.state_dict())
pipeline.apply_runtime(cached.eval(), [{"name": "kv_cache"}])
rows = pipeline.measure_models({"baseline": base_m, "kv_cache": cached, "optimized": opt_m}, tok, rounds=5)
sizes = {"baseline": measured["baseline"]["size_bytes"], "kv_cache": measured["baseline"]["size_bytes"],
         "optimized": measured["optimized"]["size_bytes"]}
print(f"\n{'model':<10} {'tokens/s':>9} {'latency ms':>11} {'peak memory':>12} {'size':>9} {'loss':>7} {'acc':>6}")
for name, m in rows.items():
    print(f"{name:<10} {m['tokens_per_s']:>9,.0f} {m['latency_ms']['median_ms']:>11.2f} "
          f"{m['peak_memory_bytes'] / 1024:>9.0f} KiB {sizes[name] / 1024:>6.0f} KiB {m['val_loss']:>7.3f} "
          f"{m['next_token_accuracy']:>6.3f}")
assert rows["kv_cache"]["val_loss"] == rows["baseline"]["val_loss"]    # the cache changes no output

# %% [markdown]
# What to read in that table:
#
# * **KV cache**: each new token runs one position through the network
#   instead of the whole context, so tokens/s rises with the length of the
#   generation; its memory holds `2 x layers x max_seq_len x embed_dim`
#   floats whether they are used or not.
# * **int8**: the Linear weights shrink 4x (plus one scale per column), but
#   the embeddings stay float32, so the whole file shrinks less. On a model
#   this small int8 is *slower* (several times, in the table above): the
#   int8 layers leave the fused C++ GPT path for the composed one (one call
#   per layer instead of one per forward), and quantizing the activations on
#   every call costs more than a 32-wide int8 matmul can save. int8 pays off
#   when the matmuls are large; here it buys size, not speed.
# * **Pruning** only saves bytes in a file that stores the zeros sparsely
#   (one mask bit per weight plus the nonzeros): dense kernels multiply zeros
#   as fast as anything else.
#
# ## Read the engine
# * `csrc/nn/kv_decode.cpp`: the cached decoder: one step per token, keys
#   and values appended to per-layer buffers.
# * `csrc/ops/qgemm.cpp`: the int8 x int8 -> int32 GEMM behind
#   `QuantizedLinear`.
# * `csrc/core/profiler.cpp`: the allocator counters behind
#   `peak_memory_bytes`.
# * `python/tinytorch/capstone/checker.py`: the reference checker, and
#   `tinytorch capstone check SUBMISSION` on the command line.

# %%
print("module 20 checks passed")
