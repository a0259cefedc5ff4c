#!/usr/bin/env python3
"""Milestone 07 (2020) - TinyGPT: a character-level GPT that writes Python.

Radford et al.'s GPT papers (2018-2020) showed that one recipe, a decoder-only
transformer trained to predict the next token on a large pile of text, keeps
improving as model and data grow. This script runs the recipe at desk scale:
a character GPT trained on Python source code the machine already has, the
standard library's own files (a fixed list, found via sysconfig, so every run
on this machine sees the same text). It holds out the last 10% of the text,
reports the validation loss as it trains, and then writes new code, sampled
character by character with the KV cache (tinytorch.perf.memoization: the
prompt runs once, then one token per step in C++).

    python milestones/07_2020_tinygpt/radford_tinygpt.py                 # ~1.5 min of CPU on 2 idle cores
    python milestones/07_2020_tinygpt/radford_tinygpt.py --quick         # a few seconds (tests)
    python milestones/07_2020_tinygpt/radford_tinygpt.py --checkpoint run.safetensors
    python milestones/07_2020_tinygpt/radford_tinygpt.py --checkpoint run.safetensors --resume --steps 1200
    python milestones/07_2020_tinygpt/radford_tinygpt.py --plot curves.png
    mpiexec -n 2 python milestones/07_2020_tinygpt/radford_tinygpt.py --distributed   # 2 processes

With --resume, --steps is the total. Batches are drawn from a generator keyed
by (seed, step) and the learning-rate schedule spans --schedule-steps (default
--steps, saved in the checkpoint; past it the rate stays at its floor), so a run
started with --steps 300 --schedule-steps 1200 and resumed with --steps 1200
gives exactly the losses of the uninterrupted 1200-step run. Success: the
validation loss ends below TARGET_VAL_LOSS nats per character (a uniform
guess over the 96 characters is ln 96 = 4.56).

With --distributed (under `mpiexec -n N`, after `pip install mpi4py mpich`)
every rank draws the same --batch windows and trains on its share of them; the
gradients are averaged across ranks during backward, so the run gives the
one-process run's losses (to float rounding). The validation windows are
split across the ranks too; rank 0 prints, samples and writes the checkpoint.
"""

import os
import sys
import sysconfig
import time

import numpy as np

import tinytorch as tt
from tinytorch.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import AdamW
from tinytorch.core.transformer import GPT
from tinytorch.milestone_kit import (Ranks, add_distributed_flag, check_resume_step, check_training_flags,
                                     format_loss, load_for_resume, milestone_parser, progress, pyplot_for)
from tinytorch.perf.memoization import enable_kv_cache

# A fixed selection of plain-Python standard-library modules (those missing on
# a given Python are skipped; the summary prints how much text was found).
SOURCES = ("textwrap.py", "heapq.py", "bisect.py", "fnmatch.py", "glob.py", "shlex.py", "string.py", "copy.py",
           "functools.py", "contextlib.py", "dataclasses.py", "enum.py", "argparse.py", "calendar.py",
           "difflib.py", "fractions.py", "statistics.py", "pprint.py", "random.py", "tokenize.py", "inspect.py",
           "configparser.py", "csv.py", "ftplib.py", "gettext.py", "imaplib.py", "mailbox.py", "netrc.py",
           "numbers.py", "operator.py", "optparse.py", "pathlib.py", "pickle.py", "platform.py", "plistlib.py",
           "queue.py", "quopri.py", "sched.py", "selectors.py", "shutil.py", "smtplib.py", "socket.py",
           "subprocess.py", "tarfile.py", "tempfile.py", "threading.py", "timeit.py", "trace.py", "typing.py",
           "uuid.py", "wave.py", "weakref.py", "zipimport.py")
MAX_CHARS = 1_200_000      # text used (before the split), so a huge stdlib does not slow the start
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # newline + printable ASCII; anything else -> "?"
VAL_FRACTION = 0.1
TARGET_VAL_LOSS = 1.6       # the default run's bar (nats per character)
QUICK_TARGET_VAL_LOSS = 3.0  # --quick's bar: clearly better than a uniform guess (4.56)
PROMPTS = ("def ", "class ", "    for ", "import ")


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    parser.add_argument("--steps", type=int, default=None, help="training steps (total when resuming; default 1200, "
                                                               "--quick 60)")
    parser.add_argument("--embed-dim", type=int, default=128, help="embedding width (default 128)")
    parser.add_argument("--layers", type=int, default=3, help="transformer blocks (default 3)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--context", type=int, default=64, help="characters per training window = max_seq_len "
                                                                "(default 64)")
    parser.add_argument("--batch", type=int, default=16, help="windows per step (default 16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW peak learning rate (default 3e-3)")
    parser.add_argument("--schedule-steps", type=int, default=None, help="length of the warm-up + cosine "
                        "schedule (default --steps; when resuming, the checkpoint's)")
    parser.add_argument("--seed", type=int, default=42, help="seed for weights and batches, 0 <= seed < 2**32 "
                                                           "(default 42)")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validation losses (default 100)")
    parser.add_argument("--sample-chars", type=int, default=160, help="characters generated per prompt (default 160)")
    parser.add_argument("--quick", action="store_true", help="a short run for tests: 60 steps, small evaluation")
    parser.add_argument("--checkpoint", metavar="PATH", help="save model + optimizer state here after training")
    parser.add_argument("--resume", action="store_true", help="continue the run saved at --checkpoint PATH")
    parser.add_argument("--plot", metavar="PATH", help="save train/validation loss curves as a PNG (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (the summary and samples are printed)")
    add_distributed_flag(parser)
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 60 if args.quick else 1200
    if args.schedule_steps is None:
        args.schedule_steps = args.steps
    if args.quick:
        args.eval_every = min(args.eval_every, 20)
        args.sample_chars = min(args.sample_chars, 60)
    check_training_flags(parser, args, counts=("steps", "schedule_steps", "embed_dim", "layers", "heads", "context",
                                               "batch", "eval_every", "sample_chars"))
    if args.embed_dim % args.heads:
        parser.error(f"--embed-dim ({args.embed_dim}) must be divisible by --heads ({args.heads})")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the file to resume from)")
    return args


def stdlib_text():
    """(text, files used): the SOURCES found in this Python's standard library, in list order."""
    root = sysconfig.get_paths().get("stdlib") or os.path.dirname(os.__file__)
    parts, used = [], []
    for name in SOURCES:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
            used.append(name)
    text = "\n".join(parts)[:MAX_CHARS]
    if len(text) < 50_000:
        raise SystemExit(f"radford_tinygpt: found only {len(text)} characters of Python source under {root}; "
                         f"this milestone needs the standard library's .py files")
    return text, used


def encode(text):
    lookup = np.full(0x110000, VOCAB.index("?"), dtype=np.int64)
    lookup[[ord(c) for c in VOCAB]] = np.arange(len(VOCAB))
    lookup[ord("\t")] = VOCAB.index(" ")
    return lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]


def decode(ids):
    return "".join(VOCAB[int(i)] for i in ids)


def windows(ids, starts, context):
    """Inputs and next-character targets for windows starting at `starts`."""
    idx = np.asarray(starts)[:, None] + np.arange(context + 1)
    w = ids[idx]
    return w[:, :-1], w[:, 1:]


def train_batch(train_ids, step, args):
    """Step k's batch comes from a generator keyed by (seed, k): a resumed run sees the same batches."""
    rng = np.random.default_rng([args.seed, step])
    return windows(train_ids, rng.integers(0, len(train_ids) - args.context - 1, args.batch), args.context)


def val_windows(val_ids, args):
    """A fixed set of evenly spaced validation windows."""
    n = 16 if args.quick else 96
    return windows(val_ids, np.linspace(0, len(val_ids) - args.context - 2, n).astype(np.int64), args.context)


def evaluate(model, loss_fn, vx, vy, batch=32, ranks=None):
    """Mean loss over the validation windows (with --distributed, each rank takes its share of them)."""
    ranks = ranks or Ranks(False)
    rows = np.array_split(np.arange(len(vx)), ranks.world)[ranks.rank]
    total = 0.0
    with no_grad():
        for i in range(0, len(rows), batch):
            part = rows[i:i + batch]
            x, y = tt.Tensor(vx[part], dtype=np.int64), tt.Tensor(vy[part], dtype=np.int64)
            total += loss_fn(model(x), y).item() * len(x)
    return ranks.total(total) / len(vx)


def learning_rate(step, args):
    """Linear warm-up over 5% of the schedule, then cosine decay to 10% of --lr (and 10% after it)."""
    warm = max(1, args.schedule_steps // 20)
    if step < warm:
        return args.lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, args.schedule_steps - warm))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * t)))


def config_of(args):
    return {"vocab": VOCAB, "embed_dim": args.embed_dim, "layers": args.layers, "heads": args.heads,
            "context": args.context, "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "schedule_steps": args.schedule_steps}


def train(model, optimizer, loss_fn, train_ids, vx, vy, first_step, args, history, ranks=None):
    """Steps first_step .. args.steps; with `ranks` (--distributed) this rank trains on its rows of each batch."""
    ranks = ranks or Ranks(False)
    plain = getattr(model, "module", model)  # evaluation needs no gradient averaging
    bar = progress(range(first_step, args.steps), args.quiet, initial=first_step, total=args.steps)
    try:
        for step in bar:
            optimizer.lr = learning_rate(step, args)
            x, y, weight = ranks.split(*train_batch(train_ids, step, args))
            loss = loss_fn(model(tt.Tensor(x, dtype=np.int64)), tt.Tensor(y, dtype=np.int64))
            optimizer.zero_grad()
            (loss * weight if weight != 1 else loss).backward()
            optimizer.step()
            value = ranks.total(loss.item() * weight / ranks.world)  # the whole batch's mean loss
            if not np.isfinite(value):
                raise FloatingPointError(f"the loss became {value} at step {step}; try a smaller --lr")
            history["train"].append(value)
            if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
                history["val"].append([step + 1, evaluate(plain, loss_fn, vx, vy, ranks=ranks)])
                bar.set_postfix(loss=f"{value:.3f}", val=f"{history['val'][-1][1]:.3f}", refresh=False)
            elif step % 10 == 0:
                bar.set_postfix(loss=f"{value:.3f}", refresh=False)
    finally:
        bar.close()


def show_samples(model, args):
    """Samples from each prompt with the KV cache; returns (samples, tokens/s of generation)."""
    enable_kv_cache(model)
    tt.manual_seed(args.seed)
    samples, start, produced = [], time.perf_counter(), 0
    for prompt in PROMPTS:
        ids = model.generate(list(encode(prompt)), max_new_tokens=args.sample_chars, temperature=0.8, top_k=20)
        samples.append(decode(ids))
        produced += args.sample_chars
    rate = produced / (time.perf_counter() - start)
    print(f"\nSamples (temperature 0.8, top-k 20, {args.sample_chars} characters each, KV cache):")
    for prompt, text in zip(PROMPTS, samples):
        print(f"\n--- prompt {prompt!r} ---")
        print(text)
    return samples, rate


def save_plot(history, path, quiet):
    plt = pyplot_for(path, "the curves")
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(history["train"]) + 1), history["train"], linewidth=0.8, alpha=0.6, label="train batch")
    if history["val"]:
        steps, vals = zip(*history["val"])
        ax.plot(steps, vals, "o-", linewidth=1.5, label="validation")
    ax.axhline(TARGET_VAL_LOSS, color="gray", linestyle="--", linewidth=1, label=f"target {TARGET_VAL_LOSS}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title("TinyGPT on the Python standard library")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    if not quiet:
        print(f"Curves written to {path}")


def print_summary(args, model, n_train, n_val, files, history, trained, seconds, gen_rate):
    target = QUICK_TARGET_VAL_LOSS if args.quick else TARGET_VAL_LOSS
    print("\nTraining summary")
    print(f"  model         : GPT(vocab={model.vocab_size}, embed_dim={args.embed_dim}, layers={args.layers}, "
          f"heads={args.heads}, max_seq_len={args.context}), {model.num_parameters():,} parameters")
    print(f"  data          : {len(files)} standard-library files, {n_train:,} train / {n_val:,} validation characters")
    print(f"  optimizer     : AdamW(lr={args.lr:g}, warm-up + cosine), batch {args.batch} x {args.context}, "
          f"seed {args.seed}")
    print(f"  steps         : {len(history['train'])}" + (f" ({trained} in this run)"
                                                         if trained != len(history['train']) else ""))
    if history["train"]:
        print(f"  first loss    : {format_loss(history['train'][0])}   (ln(vocab) = {np.log(model.vocab_size):.4f}:"
              f" a uniform guess)")
        print(f"  train loss    : {format_loss(float(np.mean(history['train'][-20:])))}   (mean of the last 20 steps)")
    final_val = history["val"][-1][1] if history["val"] else float("nan")
    print(f"  val loss      : {format_loss(final_val)}")
    print(f"  speed         : {trained / seconds:,.1f} steps/s" if seconds > 0 and trained else "  speed         : n/a")
    print(f"  wall time     : {seconds:.1f} s")
    if gen_rate:
        print(f"  generation    : {gen_rate:,.0f} characters/s (KV cache; once a sample outgrows the "
              f"{args.context}-character context, each step re-runs the cropped window)")
    ok = final_val < target
    print(f"  target        : validation loss < {target} {'✓' if ok else '✗'}")
    return ok


def main(argv=None):
    args = parse_args(argv)
    ranks = Ranks(args.distributed)
    args.quiet = args.quiet or not ranks.is_main  # one progress bar, rank 0's
    text, files = stdlib_text()
    ids = encode(text)
    split = int(len(ids) * (1 - VAL_FRACTION))
    train_ids, val_ids = ids[:split], ids[split:]
    vx, vy = val_windows(val_ids, args)
    tt.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = GPT(len(VOCAB), args.embed_dim, args.layers, args.heads, max_seq_len=args.context)
    optimizer = AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    loss_fn = CrossEntropyLoss()
    history = {"train": [], "val": []}
    config = config_of(args)
    if args.resume:
        info, code = load_for_resume(args, model, optimizer)
        if code:
            return code
        extra = info["extra"] or {}
        saved = dict(extra.get("config") or {})
        args.schedule_steps = config["schedule_steps"] = saved.get("schedule_steps", args.schedule_steps)
        if saved != config:
            print(f"--resume: {args.checkpoint} was trained with {saved}, but this run uses {config}; pass the "
                  f"same model and training flags", file=sys.stderr)
            return 1
        history = extra.get("history") or history
        if check_resume_step(args, info["step"]):
            return 2
    if not args.quiet:
        print(f"Training a {args.layers}-layer character GPT (embed {args.embed_dim}, {args.heads} heads, "
              f"context {args.context}) on {len(files)} standard-library files, {args.steps} steps"
              + (f", {ranks.world} ranks." if ranks.distributed else "."), flush=True)

    first_step = len(history["train"])
    start = time.perf_counter()
    try:
        train(ranks.wrap(model), optimizer, loss_fn, train_ids, vx, vy, first_step, args, history, ranks)
    except FloatingPointError as err:
        print(f"\nTraining diverged: {err}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    if args.checkpoint and (len(history["train"]) > first_step or not args.resume):
        ranks.save_checkpoint(args.checkpoint, model, optimizer, step=len(history["train"]),
                              extra={"config": config, "history": history})
        if not args.quiet:
            print(f"Checkpoint saved to {args.checkpoint} (step {len(history['train'])}).")
    if not ranks.is_main:
        return 0
    _, gen_rate = show_samples(model, args)
    print_summary(args, model, len(train_ids), len(val_ids), files, history, len(history["train"]) - first_step,
                       seconds, gen_rate)
    if args.plot:
        save_plot(history, args.plot, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
