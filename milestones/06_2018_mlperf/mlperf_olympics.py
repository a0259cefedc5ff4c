#!/usr/bin/env python3
"""Milestone 06 (2018) - MLPerf: the optimization olympics on the transformer milestone's GPT.

MLPerf (2018) turned "my model is faster" into a measurement anyone can
repeat: a fixed model and task, a quality target every entry must still
reach, and the figures measured the same way for everybody. This script
holds that contest on tinytorch's own engine. It trains the tiny code
copilot of milestone 05 (five Python snippets learned by heart), then
measures each optimization of modules 15-17 against the float32 baseline:

    baseline        float32 GPT, every new token recomputes the whole context
    kv_cache        module 15: keys and values cached, one position per token
    int8            module 16: Linear layers on the C++ int8 GEMM, stored as int8
    pruned          module 17: the smallest |w| zeroed (--sparsity), fine-tuned with the zeros
                    kept (--finetune-steps), stored sparse
    pruned+kv_cache, pruned+int8: the combinations that can run together

For each: tokens/s of greedy generation (all variants timed interleaved,
medians, module 19's Benchmark), peak memory (resident weights and cache plus
the engine allocator's peak during one generate call, module 14's profiler),
the bytes the model file stores, and quality (next-character loss and
accuracy on the snippets, and how many of the 5 completions are exact). Every
figure is measured in this run. The quality target: a variant qualifies when
its next-character accuracy stays within 0.02 of the baseline's.

    python milestones/06_2018_mlperf/mlperf_olympics.py
    python milestones/06_2018_mlperf/mlperf_olympics.py --quick              # a short run (tests)
    python milestones/06_2018_mlperf/mlperf_olympics.py --plot olympics.png --json olympics.json
"""

import importlib.util
import json
import os
import sys
import tempfile
import time

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.capstone import measure, model_io
from tinytorch.data.code_snippets import CODE_SNIPPETS
from tinytorch.milestone_kit import milestone_parser, pyplot_for
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.perf.compression import magnitude_prune, measure_sparsity
from tinytorch.perf.memoization import cache_usable, enable_kv_cache
from tinytorch.perf.quantization import quantize_model

QUALITY_TARGET = 0.02     # a variant qualifies if its accuracy is within this of the baseline's
PROMPT = "def add("


def _copilot():
    """Milestone 05's script as a module (its build, train and completion functions are reused)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "05_2017_transformer",
                        "vaswani_copilot.py")
    spec = importlib.util.spec_from_file_location("vaswani_copilot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    parser.add_argument("--steps", type=int, default=500, help="training steps of the transformer (default 500)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds per variant (default 15)")
    parser.add_argument("--new-tokens", type=int, default=48, help="tokens generated per timed call (default 48)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="fraction of weights pruned (default 0.5)")
    parser.add_argument("--finetune-steps", type=int, default=150,
                        help="Adam steps on the snippets after pruning, the zeros kept (default 150)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the initial weights (default 42)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 200 steps, 50 fine-tuning steps, 5 rounds, 16 tokens")
    parser.add_argument("--plot", metavar="PATH", help="save the four olympic axes as a PNG (needs matplotlib)")
    parser.add_argument("--json", metavar="PATH", help="write every figure of the table as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.new_tokens = min(args.steps, 200), min(args.rounds, 5), min(args.new_tokens, 16)
        args.finetune_steps = min(args.finetune_steps, 50)
    if args.finetune_steps < 0:
        parser.error(f"--finetune-steps must be >= 0, got {args.finetune_steps}")
    for name in ("steps", "rounds", "new_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.sparsity < 1:
        parser.error(f"--sparsity must be in [0, 1), got {args.sparsity}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2**32 - 1], got {args.seed}")
    if len(PROMPT) + args.new_tokens > 64:
        parser.error(f"--new-tokens must be at most {64 - len(PROMPT)} (the model's context is 64 characters)")
    return args


def train_baseline(copilot, args):
    cfg = copilot.parse_args(["--steps", str(args.steps), "--seed", str(args.seed)])
    tokenizer, inputs, targets, model, optimizer, loss_fn = copilot.build(cfg)
    losses = []
    copilot.train(model, optimizer, loss_fn, inputs, targets, 0, args.steps, losses, args.quiet)
    return model.eval(), tokenizer, inputs, targets, losses


def copy_of(model):
    c = model_io.build_gpt(model_io.gpt_config(model))
    c.load_state_dict(model.state_dict())
    return c.eval()


def prune_and_finetune(copilot, baseline, inputs, targets, args):
    """A copy with --sparsity of its weights zeroed (global magnitude pruning), then --finetune-steps of
    Adam on the snippets: module 17's masks keep the zeros zero through every step."""
    pruned = copy_of(baseline).train()
    magnitude_prune(pruned, args.sparsity)
    if args.finetune_steps:
        optimizer = Adam(pruned.parameters(), lr=1e-3)
        copilot.train(pruned, optimizer, CrossEntropyLoss(), inputs, targets, 0, args.finetune_steps, [], args.quiet)
    pruned.eval()
    if measure_sparsity(pruned) + 1e-9 < args.sparsity:
        raise RuntimeError(f"fine-tuning lost the pruned zeros: sparsity {measure_sparsity(pruned):.3f} "
                           f"< {args.sparsity}")
    return pruned


def build_variants(baseline, pruned):
    """{name: (model, stored-as-int8?)}; the pruned weights are shared by the pruned variants."""
    variants = {"baseline": (baseline, False)}
    cached = copy_of(baseline)
    enable_kv_cache(cached)
    variants["kv_cache"] = (cached, False)
    variants["int8"] = (quantize_model(copy_of(baseline)), True)
    variants["pruned"] = (pruned, False)
    pruned_cached = copy_of(pruned)
    enable_kv_cache(pruned_cached)
    variants["pruned+kv_cache"] = (pruned_cached, False)
    variants["pruned+int8"] = (quantize_model(copy_of(pruned)), True)
    everything = quantize_model(copy_of(pruned))
    if cache_usable(everything):   # the cached decoder runs the stock fused GPT only (see the summary)
        enable_kv_cache(everything)
        variants["pruned+int8+kv_cache"] = (everything, True)
    return variants


def stored_size(model_for_file, int8, folder, name):
    path = os.path.join(folder, f"{name}.safetensors")
    model_io.save_optimized(path, model_for_file, int8=int8)
    return measure.stored_bytes(path)


def snippet_quality(model, inputs, targets):
    """Next-character loss and accuracy over the snippet batch, padding excluded."""
    with no_grad():
        logits = np.asarray(model(inputs), dtype=np.float64)
    y = np.asarray(targets)
    keep = y != -100
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(keep, y, 0)[..., None], axis=-1)[..., 0]
    return float(-picked[keep].mean()), float((logits.argmax(-1) == y)[keep].mean())


def completions_matched(copilot, model, tokenizer):
    longest = max(len(s) for s in CODE_SNIPPETS)
    return sum(copilot.complete(model, tokenizer, p, longest - len(p) + 1) in CODE_SNIPPETS for p in copilot.PROMPTS)


def measure_all(copilot, variants, pruned, tokenizer, inputs, targets, args):
    prompt = tokenizer.encode(PROMPT)
    gens = {name: (lambda m=m: m.generate(prompt, max_new_tokens=args.new_tokens, temperature=0))
            for name, (m, _) in variants.items()}
    reference = gens["baseline"]()
    times = measure.time_interleaved(gens, rounds=args.rounds)
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, int8) in variants.items():
            source = pruned if name.startswith("pruned") else variants["baseline"][0]
            latency = measure.summarize_times(times[name])
            loss, acc = snippet_quality(model, inputs, targets)
            rows[name] = {"tokens_per_s": args.new_tokens / (latency["median_ms"] / 1e3), "latency_ms": latency,
                          "peak_memory_bytes": measure.peak_memory(model, gens[name]),
                          "size_bytes": stored_size(source, int8, folder, name.replace("+", "_")),
                          "loss": loss, "accuracy": acc,
                          "completions": completions_matched(copilot, model, tokenizer),
                          "same_tokens_as_baseline": list(gens[name]()) == list(reference)}
    return rows


def print_table(rows, baseline):
    b = rows[baseline]
    print(f"\n{'variant':<22} {'tokens/s':>9} {'speedup':>8} {'latency ms (IQR)':>17} {'peak mem':>9} "
          f"{'size':>9} {'compr.':>7} {'loss':>7} {'acc':>6} {'5/5':>4}  qualifies")
    for name, r in rows.items():
        lat = r["latency_ms"]
        qualifies = b["accuracy"] - r["accuracy"] <= QUALITY_TARGET
        print(f"{name:<22} {r['tokens_per_s']:>9,.0f} {r['tokens_per_s'] / b['tokens_per_s']:>7.2f}x "
              f"{lat['median_ms']:>9.2f} ({lat['iqr_ms']:>5.2f}) {r['peak_memory_bytes'] / 1024:>5.0f} KiB "
              f"{r['size_bytes'] / 1024:>5.1f} KiB {b['size_bytes'] / r['size_bytes']:>6.2f}x {r['loss']:>7.4f} "
              f"{r['accuracy']:>6.3f} {r['completions']:>4}  {'✓' if qualifies else '✗'}")


def save_plot(rows, path, quiet):
    plt = pyplot_for(path, "the chart")
    if plt is None:
        return
    names = list(rows)
    axes_spec = [("tokens_per_s", "tokens/s (higher is better)", 1), ("peak_memory_bytes", "peak memory, KiB", 1024),
                 ("size_bytes", "stored size, KiB", 1024), ("accuracy", "next-char accuracy", 1)]
    fig, axes = plt.subplots(1, 4, figsize=(15, 4))
    for ax, (key, title, scale) in zip(axes, axes_spec):
        ax.bar(range(len(names)), [rows[n][key] / scale for n in names], color="#4c72b0")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("MLPerf-style olympics on the milestone 05 GPT (figures from one run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if not quiet:
        print(f"Chart written to {path}")


def main(argv=None):
    args = parse_args(argv)
    copilot = _copilot()
    if not args.quiet:
        print(f"Training the milestone 05 GPT for {args.steps} steps, then timing {args.new_tokens}-token greedy "
              f"generation in {args.rounds} interleaved rounds.", flush=True)
    start = time.perf_counter()
    try:
        model, tokenizer, inputs, targets, losses = train_baseline(copilot, args)
    except FloatingPointError as err:
        print(f"\nTraining diverged: {err}", file=sys.stderr)
        return 1
    train_s = time.perf_counter() - start
    if not args.quiet:
        print(f"Pruning {args.sparsity:.0%} of the weights, fine-tuning {args.finetune_steps} steps.", flush=True)
    pruned = prune_and_finetune(copilot, model, inputs, targets, args)
    variants = build_variants(model, pruned)
    if not args.quiet:
        print(f"Timing {len(variants)} variants interleaved, then memory, size and quality of each.", flush=True)
    rows = measure_all(copilot, variants, pruned, tokenizer, inputs, targets, args)
    wall = time.perf_counter() - start

    print_table(rows, "baseline")
    b = rows["baseline"]
    qualified = [n for n, r in rows.items() if n != "baseline" and b["accuracy"] - r["accuracy"] <= QUALITY_TARGET]
    fastest = max(qualified, key=lambda n: rows[n]["tokens_per_s"], default=None)
    smallest = min(qualified, key=lambda n: rows[n]["size_bytes"], default=None)
    machine = measure.machine_description()
    print("\nOlympics summary")
    print(f"  pruning       : {args.sparsity:.0%} of the weights (global magnitude), then {args.finetune_steps} "
          f"fine-tuning steps; sparsity kept {measure_sparsity(pruned):.3f}")
    print(f"  model         : GPT(vocab={model.vocab_size}, embed_dim={model.embed_dim}, layers={model.num_layers}, "
          f"heads={model.num_heads}), trained {args.steps} steps to loss {losses[-1]:.4f} in {train_s:.1f} s")
    print(f"  machine       : {machine['cpu']}, BLAS core {machine.get('blas_core')}, "
          f"{machine.get('blas_threads')} threads")
    print(f"  timing        : {args.rounds} interleaved rounds of {args.new_tokens}-token greedy generation, medians")
    print(f"  quality target: next-char accuracy within {QUALITY_TARGET} of the baseline's {b['accuracy']:.3f}")
    print(f"  qualified     : {len(qualified)}/{len(rows) - 1} variants ({', '.join(qualified) or 'none'})")
    if fastest:
        speedup = rows[fastest]["tokens_per_s"] / b["tokens_per_s"]
        print(f"  fastest       : {fastest}, {speedup:.2f}x the baseline's tokens/s")
        print(f"  smallest      : {smallest}, {b['size_bytes'] / rows[smallest]['size_bytes']:.2f}x smaller file")
    cache_same = rows["kv_cache"]["same_tokens_as_baseline"]
    print(f"  kv_cache      : generates {'the same' if cache_same else 'DIFFERENT'} tokens as the baseline")
    if "pruned+int8+kv_cache" not in rows:
        print("  note          : int8 and the KV cache do not combine: the cached decoder runs the fused float GPT "
              "only, so an int8 model would silently recompute the whole context")
    print(f"  wall time     : {wall:.1f} s")
    winners = [n for n in qualified
               if rows[n]["tokens_per_s"] > b["tokens_per_s"] or rows[n]["size_bytes"] < b["size_bytes"]]
    ok = bool(winners) and cache_same
    print(f"  success       : a qualifying variant is faster or smaller than the baseline ({len(winners)}), and the "
          f"cache changes no output {'✓' if ok else '✗'}")
    if args.plot:
        save_plot(rows, args.plot, args.quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "machine": machine, "quality_target": QUALITY_TARGET, "variants": rows},
                      f, indent=2)
        if not args.quiet:
            print(f"Figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
