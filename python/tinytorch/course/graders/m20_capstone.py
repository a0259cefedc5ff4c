"""Grader for module 20: normalized improvements, the optimization pipeline with its quality guard, the
submission report and the claim checker, against the package's reference (tinytorch.capstone) and a
trained GPT."""
import copy as _copy

import numpy as np

from tinytorch.capstone import checker, measure, model_io, pipeline, schema
from tinytorch.course.grading import Grader, GradingError, expect_error

grader = Grader("20")

_TRAINED = {}


def _trained():
    """A small GPT trained once per grading run (150 steps, about a second) and its held-out ids."""
    if not _TRAINED:
        model, tok, _ = pipeline.train_gpt(steps=150)
        _TRAINED.update(model=model, tok=tok, ids=pipeline.eval_ids(tok))
    return _TRAINED["model"], _TRAINED["tok"], _TRAINED["ids"]


def _m(tps, size, acc, loss):
    return {"tokens_per_s": tps, "size_bytes": size, "next_token_accuracy": acc, "val_loss": loss}


@grader.check(points=2, needs=["normalized_improvements"],
              hint="speedup = optimized/baseline tokens/s, compression = baseline/optimized bytes, deltas are "
                   "optimized - baseline")
def improvements_by_hand(ns):
    f = ns["normalized_improvements"]
    cases = [(_m(1000.0, 4000, 0.80, 0.50), _m(2000.0, 1000, 0.79, 0.52)),
             (_m(300.0, 1000, 0.5, 1.5), _m(100.0, 3000, 0.6, 1.0)),
             (_m(1.0, 7, 1.0, 0.0), _m(1.0, 7, 1.0, 0.0))]
    for b, o in cases:
        got, want = f(b, o), pipeline.improvements(b, o)
        if not isinstance(got, dict) or set(got) < set(want):
            raise GradingError(f"normalized_improvements returned {got!r}; expected the keys {sorted(want)}")
        for k, v in want.items():
            if not np.isclose(got[k], v, rtol=1e-12, atol=1e-15):
                raise GradingError(f"normalized_improvements({b}, {o})[{k!r}] = {got[k]}, expected {v}")


@grader.check(points=1, needs=["normalized_improvements"],
              hint="raise ValueError when a tokens_per_s or size_bytes is 0 or negative")
def improvements_reject_non_positive(ns):
    f = ns["normalized_improvements"]
    good = _m(10.0, 10, 0.5, 1.0)
    for side, key, bad in (("baseline", "size_bytes", 0), ("optimized", "tokens_per_s", -5.0),
                           ("optimized", "size_bytes", 0), ("baseline", "tokens_per_s", 0.0)):
        args = {"baseline": dict(good), "optimized": dict(good)}
        args[side][key] = bad
        expect_error(lambda: f(args["baseline"], args["optimized"]), ValueError,
                     f"normalized_improvements with {side} {key}={bad}")


def _shipped_quality(model, optimizations, ids):
    shipped = model_io.build_gpt(model_io.gpt_config(model))
    shipped.load_state_dict(model.state_dict())
    if {"name": "int8"} in optimizations:
        from tinytorch.perf.quantization import quantize_model
        quantize_model(shipped)
    return measure.quality(shipped.eval(), ids, pipeline.SEQ_LEN)


@grader.check(points=3, needs=["optimize"],
              hint="try the sparsities from the largest down on copies, keep the first one whose held-out quality "
                   "passes the guard; int8 only if it passes too; never modify the model you were given")
def optimize_keeps_the_quality_guard(ns):
    model, _, ids = _trained()
    before = {n: np.array(p.data) for n, p in model.named_parameters()}
    base = measure.quality(model, ids, pipeline.SEQ_LEN)
    for drop, rise in ((0.02, 0.10), (0.05, 0.30)):
        out = ns["optimize"](model, ids, max_accuracy_drop=drop, max_loss_increase=rise)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise GradingError(f"optimize returned {type(out).__name__}, expected (model, optimizations)")
        opt_model, opts = out
        if not all(np.array_equal(before[n], np.asarray(p.data)) for n, p in model.named_parameters()):
            raise GradingError("optimize changed the weights of the model it was given: work on copies")
        bad = [p for p in schema.validate({"optimized": {"optimizations": opts}})
               if p.startswith("optimized.optimizations")]
        if bad:
            raise GradingError(f"optimize returned optimizations {opts}: {'; '.join(bad)}")
        if model_io.gpt_config(opt_model) != model_io.gpt_config(model):
            raise GradingError("optimize must return a GPT of the same configuration")
        q = _shipped_quality(opt_model, opts, ids)
        if base["next_token_accuracy"] - q["next_token_accuracy"] > drop + 1e-9 or \
                q["val_loss"] > base["val_loss"] * (1 + rise) + 1e-9:
            raise GradingError(f"optimize(max_accuracy_drop={drop}, max_loss_increase={rise}) returned {opts} whose "
                               f"held-out quality {q} breaks the guard (baseline {base})")
        # the largest sparsity that passes must be chosen
        for s in (0.5, 0.3, 0.2, 0.1):
            trial = model_io.build_gpt(model_io.gpt_config(model))
            trial.load_state_dict(model.state_dict())
            from tinytorch.perf.compression import magnitude_prune
            magnitude_prune(trial, s)
            q = measure.quality(trial.eval(), ids, pipeline.SEQ_LEN)
            if base["next_token_accuracy"] - q["next_token_accuracy"] <= drop and \
                    q["val_loss"] <= base["val_loss"] * (1 + rise):
                want = {"name": "magnitude_prune", "sparsity": s}
                if not opts or opts[0] != want:
                    raise GradingError(f"optimize(max_accuracy_drop={drop}, max_loss_increase={rise}) returned "
                                       f"{opts}; sparsity {s} passes the guard, so it should start with {want}")
                break


@grader.check(points=2, needs=["optimize"],
              hint="prefer='speed' adds the KV cache (never together with int8), prefer='size' tries int8; "
                   "anything else is a ValueError")
def optimize_chooses_cache_or_int8(ns):
    model, _, ids = _trained()
    _, fast = ns["optimize"](model, ids, prefer="speed")
    if {"name": "kv_cache"} not in fast or {"name": "int8"} in fast:
        raise GradingError(f"optimize(prefer='speed') returned {fast}: it should add kv_cache and not int8 "
                           "(the cached decoder cannot run int8 layers)")
    _, small = ns["optimize"](model, ids, prefer="size", max_accuracy_drop=1.0, max_loss_increase=10.0)
    if {"name": "int8"} not in small or {"name": "kv_cache"} in small:
        raise GradingError(f"optimize(prefer='size') with a loose guard returned {small}: it should add int8")
    if small[0] != {"name": "magnitude_prune", "sparsity": 0.5}:
        raise GradingError(f"optimize with a guard nothing fails returned {small}: the largest sparsity, 0.5, "
                           "should be chosen")
    expect_error(lambda: ns["optimize"](model, ids, prefer="fast"), ValueError, "optimize(prefer='fast')")


def _report_inputs():
    config = {"vocab_size": 40, "embed_dim": 32, "num_layers": 1, "num_heads": 4, "max_seq_len": 64}
    lat = {"median_ms": 2.0, "iqr_ms": 0.1, "min_ms": 1.9, "max_ms": 2.5, "rounds": 5}
    base = {"tokens_per_s": 16000.0, "latency_ms": dict(lat), "peak_memory_bytes": 150000, "size_bytes": 69504,
            "val_loss": 0.66, "next_token_accuracy": 0.76, "sparsity": 0.0}
    opt = dict(base, tokens_per_s=8000.0, latency_ms=dict(lat, median_ms=4.0, max_ms=4.5), size_bytes=28000,
               val_loss=0.67, next_token_accuracy=0.755, sparsity=0.2)
    opts = [{"name": "magnitude_prune", "sparsity": 0.2}, {"name": "int8"}]
    files = {"baseline": ("baseline.safetensors", "a" * 64), "optimized": ("optimized.safetensors", "b" * 64)}
    machine = {"cpu": "test cpu", "blas_core": "SkylakeX", "cores": 2}
    vocab = "".join(chr(c) for c in range(60, 99))
    return config, vocab, opts, {"baseline": base, "optimized": opt}, files, machine


@grader.check(points=2, needs=["build_report", "normalized_improvements"],
              hint="follow the schema in tinytorch.capstone.schema: every section, the held-out text's sha256, "
                   "the improvements from your normalized_improvements")
def report_follows_the_schema(ns):
    config, vocab, opts, meas, files, machine = _report_inputs()
    report = ns["build_report"](_copy.deepcopy(config), vocab, _copy.deepcopy(opts), _copy.deepcopy(meas),
                                dict(files), dict(machine))
    problems = schema.validate(report)
    if problems:
        raise GradingError("build_report: the report does not validate: " + "; ".join(problems[:5]))
    from tinytorch.capstone.corpus import CORPUS_NAME, corpus_sha256, corpus_text
    expect = {("model", "config"): config, ("model", "vocab"): vocab, ("eval", "dataset"): CORPUS_NAME,
              ("eval", "sha256"): corpus_sha256(corpus_text("heldout")), ("eval", "seq_len"): pipeline.SEQ_LEN,
              ("generation", "new_tokens"): pipeline.NEW_TOKENS,
              ("generation", "prompt_tokens"): pipeline.PROMPT_TOKENS,
              ("optimized", "optimizations"): opts, ("baseline", "checkpoint"): "baseline.safetensors",
              ("optimized", "sha256"): "b" * 64, ("baseline", "measurements"): meas["baseline"],
              ("optimized", "measurements"): meas["optimized"], ("machine", "cpu"): "test cpu"}
    for (a, b), want in expect.items():
        if report[a].get(b) != want:
            raise GradingError(f"build_report: report[{a!r}][{b!r}] is {report[a].get(b)!r:.80}, expected {want!r:.80}")
    imp = pipeline.improvements(meas["baseline"], meas["optimized"])
    for k, v in imp.items():
        if not np.isclose(report["improvements"][k], v, rtol=1e-12):
            raise GradingError(f"build_report: improvements[{k!r}] = {report['improvements'][k]}, expected {v}")


def _claims():
    _, _, _, meas, _, _ = _report_inputs()
    return meas


@grader.check(points=3, needs=["check_claims"],
              hint="size must match exactly, loss within 1e-4, accuracy within 1e-3; the claimed speedup at most "
                   "(1 + speed_tolerance) times the measured one; then the rules on the measured figures")
def claims_are_checked(ns):
    f = ns["check_claims"]
    meas = _claims()
    if f(_copy.deepcopy(meas), _copy.deepcopy(meas)) != []:
        raise GradingError(f"check_claims(honest, same measurements) returned {f(meas, meas)}, expected []")
    noisy = _copy.deepcopy(meas)
    noisy["optimized"]["tokens_per_s"] *= 0.8           # measured 20% slower: within the 50% tolerance
    noisy["baseline"]["val_loss"] += 5e-5
    if f(_copy.deepcopy(meas), noisy) != []:
        raise GradingError("check_claims: a speed 20% below the claim and a loss 5e-5 off must be accepted")
    forgeries = [("optimized", "size_bytes", lambda v: v - 1, "size"),
                 ("baseline", "size_bytes", lambda v: v + 8, "size"),
                 ("optimized", "val_loss", lambda v: v - 0.01, "loss"),
                 ("baseline", "next_token_accuracy", lambda v: v - 0.01, "accuracy"),
                 ("optimized", "tokens_per_s", lambda v: v * 2, "speed")]
    for side, key, change, word in forgeries:
        claimed = _copy.deepcopy(meas)
        claimed[side][key] = change(claimed[side][key])
        problems = f(claimed, _copy.deepcopy(meas))
        if not problems or not any(word in str(p).lower() for p in problems):
            raise GradingError(f"check_claims: a claim with {side} {key} changed to {claimed[side][key]} gave "
                               f"{problems}; expected a problem mentioning {word!r}")
    if f(_copy.deepcopy(meas), _copy.deepcopy(meas), speed_tolerance=0.0) != []:
        raise GradingError("check_claims(..., speed_tolerance=0.0) must accept an exact speed claim")


@grader.check(points=2, needs=["check_claims"],
              hint="apply the rules to the measured figures: accuracy may drop by checker.MAX_ACCURACY_DROP, the "
                   "loss may rise by the fraction checker.MAX_LOSS_INCREASE")
def rules_are_applied(ns):
    f = ns["check_claims"]
    for acc_drop, loss_rise, words in ((0.019, 0.09, []), (0.03, 0.0, ["accuracy"]), (0.0, 0.12, ["loss"]),
                                       (0.05, 0.5, ["accuracy", "loss"])):
        meas = _claims()
        meas["optimized"]["next_token_accuracy"] = meas["baseline"]["next_token_accuracy"] - acc_drop
        meas["optimized"]["val_loss"] = meas["baseline"]["val_loss"] * (1 + loss_rise)
        problems = f(_copy.deepcopy(meas), _copy.deepcopy(meas))
        text = " ".join(str(p).lower() for p in problems)
        if (not words and problems) or any(w not in text for w in words):
            raise GradingError(f"check_claims: accuracy down {acc_drop}, loss up {loss_rise:.0%} gave {problems}; "
                               f"expected problems mentioning {words or 'nothing'} (limits: accuracy "
                               f"{checker.MAX_ACCURACY_DROP}, loss {checker.MAX_LOSS_INCREASE:.0%})")
