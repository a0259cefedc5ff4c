#!/usr/bin/env python3
"""Milestone 05 (2017) - "Attention Is All You Need": a tiny GPT code copilot.

Vaswani et al. replaced recurrence with self-attention; GPT kept only the
transformer's decoder and trained it to predict the next token. This script
trains such a model, character by character, on five short Python snippets
until it knows them by heart, then asks it to complete each from a prefix:

    def add(  ->  def add(a, b):
                      return a + b

Everything runs on tinytorch's C++ core: one training step is a handful of
calls into C++ (GPT forward, cross-entropy, backward, one fused Adam step).

    python milestones/05_2017_transformer/vaswani_copilot.py            # train 500 steps, complete
    python milestones/05_2017_transformer/vaswani_copilot.py --steps 1000 --plot loss.png
    python milestones/05_2017_transformer/vaswani_copilot.py --checkpoint run.safetensors   # save at the end
    python milestones/05_2017_transformer/vaswani_copilot.py --checkpoint run.safetensors --resume --steps 800
    mpiexec -n 2 python milestones/05_2017_transformer/vaswani_copilot.py --distributed   # 2 processes

With --resume, --steps is the total: a run saved at step 500 and resumed with
--steps 800 trains 300 more steps and gives exactly the losses the
uninterrupted 800-step run would have given; a checkpoint already past
--steps is an error (it would otherwise train 0 steps silently). Ctrl-C during
training stops at the next step boundary, saves the checkpoint (when
--checkpoint is given) and exits with status 130.

With --distributed (under `mpiexec -n N`, after `pip install mpi4py mpich`)
each rank trains on its share of the five snippets, the gradients are averaged
across ranks during backward, and the run gives the one-process run's losses
(to float rounding); rank 0 prints and writes the checkpoint.
"""

import contextlib
import resource
import signal
import sys
import threading
import time

import numpy as np

import tinytorch as tt
from tinytorch.milestone_kit import (Ranks, add_distributed_flag, check_resume_step, check_training_flags,
                                     load_for_resume, milestone_parser, progress, pyplot_for)
from tinytorch.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.tokenization import CharTokenizer
from tinytorch.core.transformer import GPT
from tinytorch.data.code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch

MAX_SEQ_LEN = 64
PROMPTS = ("def add(", "def sub(", "for i in", "if x > 0", "numbers =")
TARGET_DECREASE = 0.80  # the milestone's bar: loss falls by more than 80% ...
TARGET_FINAL_LOSS = 0.1  # ... to below 0.1


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    parser.add_argument("--steps", type=int, default=500, help="training steps (total, when resuming; default 500)")
    parser.add_argument("--embed-dim", type=int, default=32, help="embedding width (default 32)")
    parser.add_argument("--layers", type=int, default=1, help="transformer blocks (default 1)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the initial weights, 0 <= seed < 2**32 (default 42)")
    parser.add_argument("--train-only", action="store_true", help="train and report, skip the completions")
    parser.add_argument("--checkpoint", metavar="PATH", help="save model + optimizer state here after training")
    parser.add_argument("--resume", action="store_true", help="continue the run saved at --checkpoint PATH")
    parser.add_argument("--plot", metavar="PATH", help="save the loss curve as a PNG (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress messages (the summary and completions are still printed)")
    add_distributed_flag(parser)
    args = parser.parse_args(argv)
    check_training_flags(parser, args, counts=("steps", "embed_dim", "layers", "heads"))
    if args.embed_dim % args.heads:
        parser.error(f"--embed-dim ({args.embed_dim}) must be divisible by --heads ({args.heads})")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the file to resume from)")
    return args


def build(args):
    """Tokenizer, data, model, optimizer and loss for this configuration."""
    tokenizer = CharTokenizer()
    tokenizer.build_vocab(list(CODE_SNIPPETS) + [END_OF_TEXT])
    inputs, targets = snippet_batch(tokenizer)
    tt.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = GPT(tokenizer.vocab_size, args.embed_dim, args.layers, args.heads, max_seq_len=MAX_SEQ_LEN)
    optimizer = Adam(model.parameters(), lr=args.lr)
    return (tokenizer, tt.Tensor(inputs, dtype=np.int64), tt.Tensor(targets, dtype=np.int64), model, optimizer,
            CrossEntropyLoss())


def config_of(args, tokenizer):
    """What a checkpoint must agree with to be resumed."""
    return {"vocab": "".join(tokenizer.vocab[1:]), "embed_dim": args.embed_dim, "layers": args.layers,
            "heads": args.heads, "max_seq_len": MAX_SEQ_LEN}


def train(model, optimizer, loss_fn, inputs, targets, first_step, steps, losses, quiet, ranks=None):
    """Full-batch training from first_step to steps; appends each step's loss to `losses`.

    Raises KeyboardInterrupt through (the caller saves a checkpoint); `losses`
    then holds exactly the completed steps. With `ranks` (--distributed), this
    rank trains on its rows of the batch and the ranks stop at the same step.
    """
    ranks = ranks or Ranks(False)
    x, y, weight = ranks.split(np.asarray(inputs), np.asarray(targets), ignore_index=loss_fn.ignore_index)
    x, y = tt.Tensor(x, dtype=np.int64), tt.Tensor(y, dtype=np.int64)
    bar = progress(range(first_step, steps), quiet, initial=first_step, total=steps)
    with _interrupt_between_steps() as interrupted:
        stop = lambda: ranks.total(float(interrupted())) > 0  # noqa: E731  (every rank stops at the same step)
        for step in bar:
            if stop():
                break
            _train_step(model, optimizer, loss_fn, x, y, step, steps, losses, bar, ranks, weight)
        bar.close()
        if stop():
            raise KeyboardInterrupt


def _train_step(model, optimizer, loss_fn, inputs, targets, step, steps, losses, bar, ranks, weight):
    loss = loss_fn(model(inputs), targets)
    optimizer.zero_grad()
    (loss * weight if weight != 1 else loss).backward()
    optimizer.step()
    value = ranks.total(loss.item() * weight / ranks.world)  # the whole batch's mean loss
    losses.append(value)
    if not np.isfinite(value):
        bar.close()
        raise FloatingPointError(f"the loss became {value} at step {step}; try a smaller --lr")
    if step % 10 == 0 or step == steps - 1:
        bar.set_postfix(loss=f"{value:.4f}", refresh=False)


@contextlib.contextmanager
def _interrupt_between_steps():
    """Ctrl-C sets a flag that the loop checks between steps, so a saved checkpoint
    never holds weights updated by a step that is missing from its loss history
    (the resumed run would then differ). A second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda: False
        return
    pressed = []

    def on_sigint(signum, frame):
        pressed.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def complete(model, tokenizer, prompt, max_new_tokens):
    """Greedy continuation of `prompt`, up to the end-of-text marker."""
    end_id = tokenizer.encode(END_OF_TEXT)[0]
    ids = model.generate(tokenizer.encode(prompt), max_new_tokens=max_new_tokens, temperature=0)
    ids = list(ids)
    new = ids[len(prompt):]
    if end_id in new:
        new = new[:new.index(end_id)]
    return prompt + tokenizer.decode(new)


def show_completions(model, tokenizer):
    print("\nCompletions (greedy decoding, the model's most likely next character each time):")
    longest = max(len(s) for s in CODE_SNIPPETS)
    matches = 0
    for prompt in PROMPTS:
        text = complete(model, tokenizer, prompt, max_new_tokens=longest - len(prompt) + 1)
        ok = text in CODE_SNIPPETS
        matches += ok
        print(f"\n  {'✓' if ok else '✗'} prompt {prompt!r}" + ("" if ok else "  (not one of the training snippets)"))
        for line in text.split("\n"):
            print(f"      {line}")
    print(f"\n{matches}/{len(PROMPTS)} completions reproduce the training snippets.")
    return matches


def save_plot(losses, path, quiet):
    plt = pyplot_for(path, "the loss curve")
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(losses) + 1), losses, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (log scale)")
    ax.set_title("Tiny GPT memorizing five code snippets")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    if not quiet:
        print(f"Loss curve written to {path}")


def peak_memory_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def print_summary(args, model, inputs, losses, trained_steps, seconds):
    n_params = sum(p.size for p in model.parameters())
    print("\nTraining summary")
    print(f"  model         : GPT(vocab={model.vocab_size}, embed_dim={args.embed_dim}, layers={args.layers}, "
          f"heads={args.heads}, max_seq_len={MAX_SEQ_LEN}), {n_params:,} parameters")
    print(f"  optimizer     : Adam(lr={args.lr:g}), seed {args.seed}")
    print(f"  data          : {len(CODE_SNIPPETS)} snippets, batch {inputs.shape[0]} x {inputs.shape[1]} characters")
    print(f"  steps         : {len(losses)}" + (f" ({trained_steps} in this run)" if trained_steps != len(losses) else ""))
    if not losses:
        print("  (no training steps were run)")
        return
    initial, final = losses[0], losses[-1]
    decrease = (initial - final) / initial if initial > 0 else 0.0
    print(f"  initial loss  : {initial:.4f}   (ln(vocab) = {np.log(model.vocab_size):.4f}: a uniform guess)")
    print(f"  final loss    : {final:.4f}")
    print(f"  loss decrease : {100 * decrease:.1f}%")
    print(f"  speed         : {trained_steps / seconds:,.0f} steps/s" if seconds > 0 and trained_steps else
          "  speed         : n/a")
    print(f"  wall time     : {seconds:.2f} s")
    print(f"  peak memory   : {peak_memory_mb():.0f} MB (max RSS)")
    ok_decrease, ok_final = decrease > TARGET_DECREASE, final < TARGET_FINAL_LOSS
    print(f"  targets       : decrease > {TARGET_DECREASE:.0%} {'✓' if ok_decrease else '✗'}   "
          f"final loss < {TARGET_FINAL_LOSS} {'✓' if ok_final else '✗'}")


def main(argv=None):
    args = parse_args(argv)
    ranks = Ranks(args.distributed)
    args.quiet = args.quiet or not ranks.is_main  # one progress bar, rank 0's
    tokenizer, inputs, targets, model, optimizer, loss_fn = build(args)
    config = config_of(args, tokenizer)
    losses = []
    if args.resume:
        info, code = load_for_resume(args, model, optimizer)
        if code:
            return code
        extra = info["extra"] or {}
        if extra.get("config") != config:
            print(f"--resume: {args.checkpoint} was trained with {extra.get('config')}, "
                  f"but this run uses {config}; pass the same --embed-dim/--layers/--heads", file=sys.stderr)
            return 1
        losses = [float(v) for v in extra.get("losses", [])]
        if check_resume_step(args, info["step"]):
            return 2

    if not args.quiet:
        print(f"Training a {args.layers}-layer GPT (embed {args.embed_dim}, {args.heads} heads, "
              f"vocab {tokenizer.vocab_size}) on {len(CODE_SNIPPETS)} code snippets, Adam lr={args.lr}"
              + (f", {ranks.world} ranks." if ranks.distributed else "."), flush=True)
    first_step = len(losses)
    start = time.perf_counter()
    interrupted = False
    try:
        train(ranks.wrap(model), optimizer, loss_fn, inputs, targets, first_step, args.steps, losses, args.quiet,
              ranks)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\nInterrupted at step {len(losses)}.")
    except FloatingPointError as err:
        print(f"\nTraining diverged: {err}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start

    if args.checkpoint and (len(losses) > first_step or not args.resume):
        ranks.save_checkpoint(args.checkpoint, model, optimizer, step=len(losses),
                              extra={"config": config, "losses": losses})
        if not args.quiet:
            print(f"Checkpoint saved to {args.checkpoint} (step {len(losses)}).")
    if interrupted:
        return 130
    if not ranks.is_main:
        return 0

    print_summary(args, model, inputs, losses, len(losses) - first_step, seconds)
    if args.plot:
        save_plot(losses, args.plot, args.quiet)
    if not args.train_only:
        with no_grad():
            show_completions(model, tokenizer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
