"""From a trained GPT to a submission: train, optimize, measure, write.

The order of a submission's optimizations is fixed because each needs the
previous one's output:

1. pruning (module 17) zeroes float32 weights; the zeros are baked into the
   optimized file (``model_io``), so they are not re-applied on load;
2. int8 (module 16) stores Linear weights as int8 + per-column scales, and on
   load swaps module 16's ``QuantizedLinear`` (the C++ int8 GEMM) into the model;
3. the KV cache (module 15) changes only how ``generate`` runs.

Every figure of the report is measured on the models *rebuilt from the files
just written* (``load_models``), with the same functions the checker calls,
so what the files hold is what the report describes.
"""
import hashlib
import json
import os

import numpy as np

from .. import manual_seed
from ..core.losses import CrossEntropyLoss
from ..core.optimizers import Adam
from ..core.tokenization import CharTokenizer
from ..core.transformer import GPT
from . import measure, model_io
from .corpus import CORPUS_NAME, corpus_sha256, corpus_text
from .schema import SCHEMA, SCHEMA_VERSION, validate

__all__ = ["make_tokenizer", "train_gpt", "prune", "apply_runtime", "load_models", "measure_models",
           "file_sha256", "write_submission", "generation_times", "sparsity_of", "PROMPT_TOKENS", "NEW_TOKENS",
           "SEQ_LEN"]

SEQ_LEN = 32          # held-out windows and training context
PROMPT_TOKENS = 8     # generation prompt: the held-out text's first characters
NEW_TOKENS = 32       # tokens generated per timed call


def make_tokenizer(vocab=None):
    """The character tokenizer of the capstone corpus (or of the characters in `vocab`, in that order)."""
    if vocab is None:
        vocab = "".join(sorted(set(corpus_text("train") + corpus_text("heldout"))))
    return CharTokenizer(list(vocab))


def train_gpt(steps=300, embed_dim=32, num_layers=1, num_heads=4, lr=3e-3, batch=16, seed=0):
    """(model, tokenizer, losses): a small character GPT trained on the capstone corpus's train split
    (random windows of SEQ_LEN characters, Adam). 300 steps take a few seconds on 2 cores."""
    tok = make_tokenizer()
    ids = np.asarray(tok.encode(corpus_text("train")), dtype=np.int64)
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GPT(tok.vocab_size, embed_dim, num_layers, num_heads, max_seq_len=64)
    opt, loss_fn, losses = Adam(model.parameters(), lr=lr), CrossEntropyLoss(), []
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - SEQ_LEN - 1, size=batch)
        x = np.stack([ids[s:s + SEQ_LEN] for s in starts])
        y = np.stack([ids[s + 1:s + SEQ_LEN + 1] for s in starts])
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), tok, losses


def sparsity_of(model):
    """Fraction of exact zeros among the weights with 2 or more dimensions (module 17's
    measure_sparsity: Linear weights and embedding tables; biases and norms excluded), read from the
    float32 model before any int8 layer is swapped in."""
    weights = [p for _, p in model.named_parameters() if p.ndim >= 2]
    total = sum(int(p.size) for p in weights)
    zeros = sum(int(np.count_nonzero(np.asarray(p.data) == 0)) for p in weights)
    return zeros / total if total else 0.0


def _by_name(optimizations):
    return {o["name"]: o for o in optimizations}


def prune(model, optimizations):
    """Apply the pruning step listed in `optimizations` (module 17) to a float32 GPT, in place."""
    opts = _by_name(optimizations)
    if "magnitude_prune" in opts or "structured_prune" in opts:
        from ..perf import compression
        if "magnitude_prune" in opts:
            compression.magnitude_prune(model, opts["magnitude_prune"]["sparsity"])
        else:
            compression.structured_prune(model, opts["structured_prune"]["fraction"])
    return model


def apply_runtime(model, optimizations):
    """Swap in the run-time optimizations the list names: int8 layers (module 16), then the KV cache
    (module 15). Returns the model (changed in place)."""
    opts = _by_name(optimizations)
    if "int8" in opts:
        from ..perf.quantization import quantize_model
        quantize_model(model)
    if "kv_cache" in opts:
        from ..perf.memoization import cache_usable, enable_kv_cache
        if not cache_usable(model):
            raise ValueError("apply_runtime: the cached decoder cannot run this model (it needs the stock fused "
                             "GPT in one float dtype; int8 layers are not among what it runs), so kv_cache would "
                             "silently recompute the whole context: drop kv_cache or int8 from the optimizations")
        enable_kv_cache(model)
    return model


def load_models(folder, report):
    """(baseline, optimized, optimized sparsity): the GPTs rebuilt from a submission's files, the optimized
    one with its run-time optimizations applied. Raises CheckpointError (a ValueError) naming a file that
    does not fit."""
    config = report["model"]["config"]
    baseline = model_io.load_baseline(os.path.join(folder, report["baseline"]["checkpoint"]), config)
    opt_path = os.path.join(folder, report["optimized"]["checkpoint"])
    optimized, _, codes = model_io.load_optimized(opt_path, config)
    sparsity = sparsity_of(optimized)
    optimizations = report["optimized"]["optimizations"]
    if bool(codes) != any(o["name"] == "int8" for o in optimizations):
        raise ValueError(f"load_models: the report {'does not list' if codes else 'lists'} int8 but "
                         f"{report['optimized']['checkpoint']} stores {len(codes)} int8 weights")
    apply_runtime(optimized, optimizations)
    if codes:
        model_io.check_int8_codes(optimized, codes, opt_path)
    return baseline, optimized, sparsity


def eval_ids(tokenizer):
    return np.asarray(tokenizer.encode(corpus_text("heldout")), dtype=np.int64)


def _generators(models, tokenizer, prompt_tokens, new_tokens):
    prompt = eval_ids(tokenizer)[:prompt_tokens].tolist()
    return {name: (lambda m=m: m.generate(prompt, max_new_tokens=new_tokens, temperature=0))
            for name, m in models.items()}


def generation_times(models, tokenizer, rounds=9, prompt_tokens=PROMPT_TOKENS, new_tokens=NEW_TOKENS):
    """{name: [seconds per generate call, one per round]}: greedy generation of new_tokens from the held-out
    text's first prompt_tokens characters, every model timed interleaved (module 19's Benchmark)."""
    return measure.time_interleaved(_generators(models, tokenizer, prompt_tokens, new_tokens), rounds=rounds)


def measure_models(models, tokenizer, rounds=9, prompt_tokens=PROMPT_TOKENS, new_tokens=NEW_TOKENS):
    """{name: measurements without size/sparsity} for {name: model}: generation speed of all models timed
    interleaved, the peak memory of one generate call, and held-out quality."""
    gens = _generators(models, tokenizer, prompt_tokens, new_tokens)
    times = measure.time_interleaved(gens, rounds=rounds)
    ids = eval_ids(tokenizer)
    out = {}
    for name, model in models.items():
        latency = measure.summarize_times(times[name])
        out[name] = {"tokens_per_s": float(new_tokens / (latency["median_ms"] / 1e3)), "latency_ms": latency,
                     "peak_memory_bytes": measure.peak_memory(model, gens[name]),
                     **measure.quality(model, ids, SEQ_LEN)}
    return out


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_submission(folder, baseline_model, tokenizer, optimizations, optimized_model=None, rounds=9):
    """Write folder/{baseline,optimized}.safetensors and folder/submission.json for a trained float32
    GPT and a list of optimizations (schema.OPTIMIZATIONS); returns the report dict.

    The optimized model is `optimized_model` when given (a float32 GPT already pruned, e.g. by your own
    pipeline), else a copy of the baseline pruned as `optimizations` says. Both are measured after being
    rebuilt from the files."""
    if not isinstance(baseline_model, GPT):
        raise TypeError(f"write_submission: baseline_model must be a float32 GPT, got {type(baseline_model).__name__}")
    probe = validate({"optimized": {"optimizations": list(optimizations)}})
    bad = [p for p in probe if p.startswith("optimized.optimizations")]
    if bad:
        raise ValueError("write_submission: " + "; ".join(bad))
    os.makedirs(folder, exist_ok=True)
    config = model_io.gpt_config(baseline_model)
    base_path, opt_path = os.path.join(folder, "baseline.safetensors"), os.path.join(folder, "optimized.safetensors")
    model_io.save_baseline(base_path, baseline_model)
    if optimized_model is None:
        optimized_model = prune(model_io.load_baseline(base_path, config), optimizations)
    int8 = any(o["name"] == "int8" for o in optimizations)
    model_io.save_optimized(opt_path, optimized_model, int8=int8)

    report = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
              "model": {"type": "GPT", "config": config, "vocab": "".join(tokenizer.vocab[1:])},
              "eval": {"dataset": CORPUS_NAME, "split": "heldout", "sha256": corpus_sha256(corpus_text("heldout")),
                       "seq_len": SEQ_LEN},
              "generation": {"prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS, "temperature": 0},
              "baseline": {"checkpoint": "baseline.safetensors", "sha256": file_sha256(base_path)},
              "optimized": {"checkpoint": "optimized.safetensors", "sha256": file_sha256(opt_path),
                            "optimizations": [dict(o) for o in optimizations]}}
    baseline, optimized, sparsity = load_models(folder, report)
    measured = measure_models({"baseline": baseline, "optimized": optimized}, tokenizer, rounds=rounds)
    measured["baseline"].update(size_bytes=measure.stored_bytes(base_path), sparsity=sparsity_of(baseline))
    measured["optimized"].update(size_bytes=measure.stored_bytes(opt_path), sparsity=sparsity)
    for side in ("baseline", "optimized"):
        report[side]["measurements"] = measured[side]
    report["improvements"] = improvements(measured["baseline"], measured["optimized"])
    report["machine"] = measure.machine_description()
    with open(os.path.join(folder, "submission.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def improvements(base, opt):
    """The normalized figures: speedup and compression ratio (> 1 is better), quality deltas
    (optimized minus baseline: accuracy > 0 and loss < 0 are better)."""
    return {"speedup": opt["tokens_per_s"] / base["tokens_per_s"],
            "compression_ratio": base["size_bytes"] / opt["size_bytes"],
            "accuracy_delta": opt["next_token_accuracy"] - base["next_token_accuracy"],
            "loss_delta": opt["val_loss"] - base["val_loss"]}
