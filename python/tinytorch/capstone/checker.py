"""The capstone checker: validates a submission and prints its scorecard.

    tinytorch capstone check SUBMISSION        # SUBMISSION = the folder or its submission.json
    python -m tinytorch.capstone check SUBMISSION

What it does, in order (each failure is a line saying what and where):

1. **Schema.** The report parses and has every field with a valid type and range (``schema.validate``).
2. **Files.** Both checkpoints exist, their SHA-256 equals the report's, and they load: every tensor's own
   checksum, the model config, the encodings (a tampered file fails here).
3. **Evaluation text.** The report names this checker's held-out corpus and its exact SHA-256, and the
   vocabulary gives every held-out character its own id (unknown ones would all score as <UNK>).
4. **Re-measured claims.** Quality (held-out loss and next-token accuracy) and size (bytes stored) are
   deterministic: they must equal the claims (loss within 1e-4, accuracy within 1e-3: float sums may
   differ in the last bits between BLAS builds). Sparsity must equal what the weights hold.
   Speed is re-measured (baseline and optimized generation timed interleaved, medians). Timing moves
   between runs and machines (a shared 2-core machine swings a median by 30% or more), so a claimed
   speedup is refused only when it is more than SPEED_TOLERANCE (50%) above the best case measured here
   (slowest baseline round over fastest optimized round, module 19's speedup_range); absolute tokens/s
   are shown, not judged. The rules use the median speedup measured here. A listed magnitude pruning must
   be in the weights (their measured sparsity at least the listed one).
5. **Rules.** Quality within tolerance of the baseline (next-token accuracy drops by at most 0.02 and the
   held-out loss rises by at most 10%), the optimized model beats the baseline by at least 10% in speed or
   size, and the report's improvements are the ratios of its own measurements.

Exit status: 0 when every check passes, 1 when any fails, 2 when the submission cannot be read at all.
"""
import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ..benchmarking import speedup_range
from ..core.safetensors_io import CheckpointError
from . import measure, pipeline
from .corpus import CORPUS_NAME, corpus_sha256, corpus_text
from .schema import validate

__all__ = ["Scorecard", "check_submission", "format_scorecard", "main", "SPEED_TOLERANCE",
           "MAX_ACCURACY_DROP", "MAX_LOSS_INCREASE", "MIN_IMPROVEMENT"]

SPEED_TOLERANCE = 0.5      # a claimed speedup may exceed the re-measured one by this fraction
MAX_ACCURACY_DROP = 0.02   # next-token accuracy: optimized >= baseline - 0.02
MAX_LOSS_INCREASE = 0.10   # held-out loss: optimized <= baseline * 1.10
MIN_IMPROVEMENT = 1.10     # speedup or compression ratio at least this
LOSS_ATOL, ACCURACY_ATOL, RATIO_RTOL = 1e-4, 1e-3, 1e-6


@dataclass
class Scorecard:
    path: str
    checks: list = field(default_factory=list)     # (name, passed, message)
    table: list = field(default_factory=list)      # (metric, baseline, optimized, claimed, measured)
    improvements: dict = field(default_factory=dict)
    readable: bool = True

    def add(self, name, passed, message=""):
        self.checks.append((name, bool(passed), message))
        return passed

    @property
    def passed(self):
        return self.readable and all(ok for _, ok, _ in self.checks)

    @property
    def failures(self):
        return [f"{name}: {msg}" for name, ok, msg in self.checks if not ok]


def _resolve(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        return path, os.path.join(path, "submission.json")
    return os.path.dirname(os.path.abspath(path)), path


def _close(claimed, measured, atol):
    return abs(claimed - measured) <= atol


def check_submission(path, rounds=9, measure_speed=True):
    """Check the submission at `path` (its folder or its submission.json); returns a Scorecard."""
    folder, report_path = _resolve(path)
    card = Scorecard(report_path)
    try:
        with open(report_path) as f:
            report = json.load(f)
    except (OSError, ValueError) as err:
        card.readable = False
        card.add("report", False, f"cannot read {report_path}: {err}")
        return card
    problems = validate(report)
    if not card.add("schema", not problems, "; ".join(problems)):
        card.readable = False
        return card

    # files: hashes first (a changed byte anywhere), then loading (each tensor's checksum, shapes, encodings)
    for side in ("baseline", "optimized"):
        file = os.path.join(folder, report[side]["checkpoint"])
        if not os.path.isfile(file):
            card.add(f"{side} file", False, f"{file} does not exist")
            continue
        digest = pipeline.file_sha256(file)
        card.add(f"{side} file", digest == report[side]["sha256"],
                 f"{report[side]['checkpoint']}: SHA-256 {digest[:12]}... differs from the report's "
                 f"{report[side]['sha256'][:12]}... (the file was changed after the report was written)")
    if not card.passed:
        return card
    try:
        baseline, optimized, sparsity = pipeline.load_models(folder, report)
    except (CheckpointError, ValueError) as err:
        card.add("load", False, str(err))
        return card
    except ImportError as err:
        card.add("load", False, f"an optimization needs a module this tinytorch lacks ({err})")
        return card
    card.add("load", True)

    ev = report["eval"]
    heldout = corpus_text("heldout")
    card.add("eval text", ev["dataset"] == CORPUS_NAME and ev["split"] == "heldout"
             and ev["sha256"] == corpus_sha256(heldout) and ev["seq_len"] == pipeline.SEQ_LEN,
             f"the report evaluates on {ev['dataset']}/{ev['split']} (sha256 {ev['sha256'][:12]}..., seq_len "
             f"{ev['seq_len']}); this checker measures on {CORPUS_NAME}/heldout (sha256 "
             f"{corpus_sha256(heldout)[:12]}..., seq_len {pipeline.SEQ_LEN})")

    # every held-out character must have its own id: unknown ones all map to <UNK>, which is easy to predict
    missing = sorted(set(heldout) - set(report["model"]["vocab"]))
    card.add("vocab", not missing, f"the vocabulary lacks {len(missing)} character(s) of the held-out text "
                                   f"({''.join(missing)!r}); they would all be scored as <UNK>")
    tokenizer = pipeline.make_tokenizer(report["model"]["vocab"])
    claims = {side: report[side]["measurements"] for side in ("baseline", "optimized")}
    models = {"baseline": baseline, "optimized": optimized}
    ids = pipeline.eval_ids(tokenizer)
    base_path = os.path.join(folder, report["baseline"]["checkpoint"])
    opt_path = os.path.join(folder, report["optimized"]["checkpoint"])
    measured = {side: {**measure.quality(models[side], ids, pipeline.SEQ_LEN),
                       "size_bytes": measure.stored_bytes(base_path if side == "baseline" else opt_path),
                       "sparsity": pipeline.sparsity_of(baseline) if side == "baseline" else sparsity}
                for side in models}
    for side in models:
        c, m = claims[side], measured[side]
        card.add(f"{side} size", c["size_bytes"] == m["size_bytes"],
                 f"claims {c['size_bytes']:,} bytes, the file stores {m['size_bytes']:,}")
        card.add(f"{side} loss", _close(c["val_loss"], m["val_loss"], LOSS_ATOL),
                 f"claims held-out loss {c['val_loss']:.4f}, measured {m['val_loss']:.4f}")
        card.add(f"{side} accuracy", _close(c["next_token_accuracy"], m["next_token_accuracy"], ACCURACY_ATOL),
                 f"claims next-token accuracy {c['next_token_accuracy']:.4f}, measured "
                 f"{m['next_token_accuracy']:.4f}")
        card.add(f"{side} sparsity", _close(c["sparsity"], m["sparsity"], 1e-6),
                 f"claims sparsity {c['sparsity']:.4f}, the weights hold {m['sparsity']:.4f}")

    if measure_speed:
        gen = report["generation"]
        times = pipeline.generation_times(models, tokenizer, rounds=rounds, prompt_tokens=gen["prompt_tokens"],
                                          new_tokens=gen["new_tokens"])
        for side in models:
            measured[side]["tokens_per_s"] = gen["new_tokens"] / float(np.median(times[side]))
        claimed_speedup = claims["optimized"]["tokens_per_s"] / claims["baseline"]["tokens_per_s"]
        measured_speedup, _, best_case = speedup_range(times["baseline"], times["optimized"])
        card.add("speedup claim", claimed_speedup <= best_case * (1 + SPEED_TOLERANCE),
                 f"claims {claimed_speedup:.2f}x, measured {measured_speedup:.2f}x here (median of {rounds} "
                 f"interleaved rounds; {best_case:.2f}x at best, pairing the slowest baseline round with the "
                 f"fastest optimized one): the claim is more than {SPEED_TOLERANCE:.0%} above even that best case. "
                 f"Timing varies between runs and machines, so only a claim beyond this margin is refused")
    else:
        measured_speedup = claims["optimized"]["tokens_per_s"] / claims["baseline"]["tokens_per_s"]

    # a listed pruning must be in the weights (int8 is checked on load: the codes; kv_cache: that it can run)
    for opt in report["optimized"]["optimizations"]:
        if opt["name"] == "magnitude_prune":
            card.add("optimizations", sparsity >= opt["sparsity"] - 1e-3,
                     f"lists magnitude_prune at sparsity {opt['sparsity']}, but only {sparsity:.4f} of the "
                     f"weights are zero")

    # the report's normalized improvements must be its own measurements' ratios
    stated = report["improvements"]
    own = pipeline.improvements(claims["baseline"], claims["optimized"])
    wrong = [k for k in own if not math.isclose(stated[k], own[k], rel_tol=RATIO_RTOL, abs_tol=1e-9)]
    card.add("improvements", not wrong, ", ".join(f"{k} says {stated[k]:.4f} but its measurements give "
                                                  f"{own[k]:.4f}" for k in wrong))

    # rules, on the re-measured figures
    b, o = measured["baseline"], measured["optimized"]
    drop = b["next_token_accuracy"] - o["next_token_accuracy"]
    card.add("rule: accuracy", drop <= MAX_ACCURACY_DROP,
             f"next-token accuracy fell by {drop:.4f} ({b['next_token_accuracy']:.4f} -> "
             f"{o['next_token_accuracy']:.4f}), more than the {MAX_ACCURACY_DROP} allowed")
    card.add("rule: loss", o["val_loss"] <= b["val_loss"] * (1 + MAX_LOSS_INCREASE),
             f"held-out loss rose from {b['val_loss']:.4f} to {o['val_loss']:.4f}, more than "
             f"{MAX_LOSS_INCREASE:.0%}")
    compression = b["size_bytes"] / o["size_bytes"]
    card.add("rule: improvement", max(compression, measured_speedup) >= MIN_IMPROVEMENT,
             f"speedup {measured_speedup:.2f}x and compression {compression:.2f}x: neither reaches "
             f"{MIN_IMPROVEMENT:.2f}x")
    card.improvements = {"speedup": measured_speedup, "compression_ratio": compression,
                         "accuracy_delta": o["next_token_accuracy"] - b["next_token_accuracy"],
                         "loss_delta": o["val_loss"] - b["val_loss"]}
    for key, fmt in (("tokens_per_s", "{:,.0f}"), ("size_bytes", "{:,}"), ("val_loss", "{:.4f}"),
                     ("next_token_accuracy", "{:.4f}"), ("sparsity", "{:.3f}")):
        if key in measured["baseline"]:
            card.table.append((key, *(fmt.format(claims[s][key]) for s in models),
                               *(fmt.format(measured[s][key]) for s in models)))
    return card


def format_scorecard(card):
    lines = [f"capstone scorecard: {card.path}"]
    if card.table:
        lines.append(f"  {'metric':<20} {'claimed base':>14} {'claimed opt':>14} {'measured base':>14} "
                     f"{'measured opt':>14}")
        lines += [f"  {row[0]:<20} " + " ".join(f"{v:>14}" for v in row[1:]) for row in card.table]
    if card.improvements:
        i = card.improvements
        lines.append(f"  improvements (measured): speedup {i['speedup']:.2f}x, "
                     f"compression {i['compression_ratio']:.2f}x, "
                     f"accuracy {i['accuracy_delta']:+.4f}, loss {i['loss_delta']:+.4f}")
    for name, ok, msg in card.checks:
        lines.append(f"  {'PASS' if ok else 'FAIL'}  {name}" + ("" if ok else f": {msg}"))
    lines.append("submission passes" if card.passed else f"submission FAILS ({len(card.failures)} check(s))")
    return "\n".join(lines)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="tinytorch capstone", description="check a capstone submission")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="validate a submission and print its scorecard")
    p.add_argument("submission", help="the submission folder or its submission.json")
    p.add_argument("--rounds", type=int, default=9, help="timed rounds per model (default 9)")
    p.add_argument("--no-speed", action="store_true",
                   help="skip the speed re-measurement (the rules then take the claimed speedup)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    card = check_submission(args.submission, rounds=args.rounds, measure_speed=not args.no_speed)
    print(format_scorecard(card))
    return 0 if card.passed else (2 if not card.readable else 1)


if __name__ == "__main__":
    sys.exit(main())
