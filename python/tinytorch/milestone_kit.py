"""What the historic milestone scripts (milestones/*/) share: their common
training flags with the same checks, the progress bar, and what --distributed
changes (`Ranks`)."""
import argparse
import math
import numbers
import sys
import time

import numpy as np

__all__ = ["milestone_parser", "add_training_flags", "check_training_flags", "progress", "fit", "fit_full_batch",
           "timed_training", "evaluate_classifier", "format_loss", "load_for_resume", "check_resume_step", "pyplot_for",
           "add_distributed_flag", "Ranks"]


QUIET_HELP = "no progress bar or progress messages (the summary is still printed)"


def milestone_parser(doc):
    """An argument parser described by the first paragraph of a script's docstring; --help shows it whole."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)


def add_training_flags(parser, steps, lr, steps_help, lr_help, seed_help, quiet_help=QUIET_HELP):
    """--steps, --lr, --seed (default 42) and --quiet, with the given defaults and help."""
    parser.add_argument("--steps", type=int, default=steps, help=steps_help)
    parser.add_argument("--lr", type=float, default=lr, help=lr_help)
    parser.add_argument("--seed", type=int, default=42, help=seed_help)
    parser.add_argument("--quiet", action="store_true", help=quiet_help)


def check_training_flags(parser, args, counts=("steps",)):
    """argparse errors (exit status 2) for bad values: each of `counts` must be >= 1,
    --lr a finite number > 0 (float() accepts 'nan' and 'inf'), --seed in numpy's [0, 2**32)."""
    if not isinstance(parser, argparse.ArgumentParser) or not all(
            hasattr(args, name) for name in (*counts, "lr", "seed")):
        raise TypeError(f"check_training_flags: expected the parser from milestone_parser() and the args it "
                        f"parsed (with {', '.join((*counts, 'lr', 'seed'))}), got {type(parser).__name__} and "
                        f"{type(args).__name__}")
    for name in counts:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not (0 < args.lr and math.isfinite(args.lr)):
        parser.error(f"--lr must be a finite number > 0, got {args.lr}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2**32 - 1], got {args.seed}")


class _NoBar:
    """Stands in for a tqdm bar when tqdm is missing."""

    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


def progress(iterable, quiet, desc="training", **tqdm_args):
    """A tqdm bar over iterable ("step" units), hidden when quiet; a bare stand-in without tqdm."""
    if not hasattr(iterable, "__iter__"):
        raise TypeError(f"progress: expected an iterable (e.g. range(steps)), got {type(iterable).__name__}")
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency of tinytorch, but a bare environment still trains
        return _NoBar(iterable)
    return tqdm(iterable, unit="step", disable=quiet, dynamic_ncols=True, desc=desc, leave=True, **tqdm_args)


def fit(model, loss_fn, optimizer, next_batch, steps, quiet, desc="training"):
    """`steps` training steps (forward, loss, zero_grad, backward, step) under a progress bar,
    step k on the (inputs, targets) that next_batch(k) returns.

    Returns the loss of every step. Raises FloatingPointError naming the step when
    the loss stops being finite (the scripts tell the user to lower --lr).
    """
    _check_training_parts("fit", model, loss_fn, optimizer)
    if not callable(next_batch):
        raise TypeError(f"fit: next_batch must be a function step -> (inputs, targets), got "
                        f"{type(next_batch).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise TypeError(f"fit: steps must be an int >= 0, got {type(steps).__name__} ({steps!r})")
    losses = []
    bar = progress(range(steps), quiet, desc)
    try:
        for step in bar:
            x, y = next_batch(step)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                raise FloatingPointError(f"{desc}: the loss became {losses[-1]} at step {step}; try a smaller --lr")
            if step % 10 == 0 or step == steps - 1:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    finally:
        bar.close()
    return losses


def fit_full_batch(model, loss_fn, optimizer, x, y, steps, quiet, desc="training"):
    """fit() with the whole dataset (x, y) as every step's batch."""
    return fit(model, loss_fn, optimizer, lambda step: (x, y), steps, quiet, desc)


def timed_training(train):
    """(what train() returns, its wall time in seconds). A diverged run (FloatingPointError from
    fit) prints why and exits with status 1, as every milestone script does."""
    start = time.perf_counter()
    try:
        result = train()
    except FloatingPointError as err:
        print(f"\nTraining diverged: {err}", file=sys.stderr)
        raise SystemExit(1)
    return result, time.perf_counter() - start


def _check_training_parts(caller, model, loss_fn, optimizer=None, need_optimizer=True):
    """TypeError naming `caller` when the model, loss or optimizer is not what the helper needs."""
    for what, value in (("model", model), ("loss_fn", loss_fn)):
        if not callable(value):
            raise TypeError(f"{caller}: {what} must be callable (a layer or loss), got {type(value).__name__}")
    if need_optimizer and not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"{caller}: optimizer must have step() and zero_grad() (e.g. tinytorch SGD or Adam), "
                        f"got {type(optimizer).__name__}")


def evaluate_classifier(model, loss_fn, x, y):
    """(loss, accuracy, predicted classes) of a logits model on x, y, without recording a graph."""
    _check_training_parts("evaluate_classifier", model, loss_fn, need_optimizer=False)
    from . import no_grad
    with no_grad():
        logits = model(x)
        loss = loss_fn(logits, y).item()
    predicted = logits.data.argmax(axis=1)
    return loss, float((predicted == y.data).mean()), predicted


def format_loss(value):
    """4 decimals, or scientific notation once that would print 0.0000."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"format_loss: expected a number (a loss value), got {type(value).__name__} ({value!r})")
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.2e}"


def load_for_resume(args, model, optimizer):
    """--resume: loads args.checkpoint into model and optimizer.

    Returns (info, 0), or (None, exit code) after printing to stderr why the run cannot resume:
    2 when there is no checkpoint yet, 1 when the file is damaged or does not fit the model.
    """
    import os

    from .core.checkpoint import CheckpointError, load_checkpoint

    if not os.path.exists(args.checkpoint):
        print(f"--resume: no checkpoint at {args.checkpoint}; run once with --checkpoint {args.checkpoint} "
              f"(without --resume) to create it", file=sys.stderr)
        return None, 2
    try:
        return load_checkpoint(args.checkpoint, model, optimizer), 0
    except CheckpointError as err:
        print(f"--resume: {err}", file=sys.stderr)
        return None, 1


def check_resume_step(args, step):
    """--steps is the total: 0 when the run can continue from `step` (saying so), else exit code 2, printed."""
    if step > args.steps:
        print(f"--resume: {args.checkpoint} is already at step {step}, past --steps {args.steps} "
              f"(--steps is the total, not the number of extra steps); pass --steps larger than "
              f"{step} to train further", file=sys.stderr)
        return 2
    if step == args.steps:
        print(f"{args.checkpoint} is already at step {args.steps} = --steps: nothing to train "
              f"(pass a larger --steps to continue).")
    elif not args.quiet:
        print(f"Resumed from {args.checkpoint} at step {step}.")
    return 0


def pyplot_for(path, what):
    """matplotlib.pyplot on the file-only Agg backend for --plot, or None after saying why no plot is written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot: matplotlib is not installed, so no plot was written to {path}. "
              f"Install it with `pip install matplotlib` to get {what}.")
        return None
    return plt


DISTRIBUTED_HELP = ("data-parallel training over the processes of `mpiexec -n N` (needs `pip install mpi4py mpich`): "
                    "each rank takes its share of every batch, gradients are averaged across ranks, rank 0 prints "
                    "and saves; the result is the one-process run's")


def add_distributed_flag(parser):
    """--distributed (see DISTRIBUTED_HELP)."""
    parser.add_argument("--distributed", action="store_true", help=DISTRIBUTED_HELP)


class Ranks:
    """What --distributed changes in a training script, and nothing when it is off (a world of one).

    Every rank draws the same global batch; `split` gives this rank its rows and the weight that makes
    DistributedDataParallel's mean of the ranks' gradients equal the gradient of the global mean loss even
    when the rows (or their counted targets) do not divide evenly; `total` sums a number over the ranks.
    """

    def __init__(self, distributed):
        self.distributed = bool(distributed)
        self.rank, self.world = 0, 1
        if self.distributed:
            import tinytorch as tt
            from . import distributed as dist
            try:
                self.rank, self.world = dist.init()
            except ImportError as err:
                raise SystemExit(f"Ranks: --distributed needs MPI; {err}")
            tt.set_num_threads(dist.threads_per_rank())  # N ranks share the cores: one BLAS thread each on 2 cores
            self._dist = dist

    @property
    def is_main(self):
        """Rank 0 prints, plots, samples and writes checkpoints."""
        return self.rank == 0

    def wrap(self, model):
        """The model to train: DistributedDataParallel(model) under --distributed (rank 0's weights everywhere)."""
        return self._dist.DistributedDataParallel(model) if self.distributed else model

    def split(self, inputs, targets, ignore_index=None):
        """(this rank's inputs, its targets, loss weight) of a global batch (numpy arrays, rows = samples).

        Rows are split as evenly as possible (np.array_split). The weight is world * counted targets here /
        counted targets in the whole batch (targets equal to ignore_index do not count): multiply the rank's
        mean loss by it before backward.
        """
        if not self.distributed:
            return inputs, targets, 1.0
        if len(inputs) < self.world:
            raise SystemExit(f"Ranks.split: --distributed with {self.world} ranks but the batch has only {len(inputs)} rows; "
                             f"start fewer ranks (mpiexec -n {len(inputs)}) or use a larger batch")
        rows = np.array_split(np.arange(len(inputs)), self.world)[self.rank]
        counted = (lambda t: t.size if ignore_index is None else int((t != ignore_index).sum()))
        here, everywhere = counted(targets[rows]), counted(targets)
        return inputs[rows], targets[rows], self.world * here / everywhere

    def total(self, *values):
        """Each value summed over the ranks (float64); the values themselves without --distributed."""
        if not self.distributed:
            return values if len(values) > 1 else values[0]
        import tinytorch as tt
        buf = tt.Tensor(np.array(values, dtype=np.float64), dtype=np.float64)
        out = np.asarray(self._dist.all_reduce(buf)).tolist()
        return tuple(out) if len(out) > 1 else out[0]

    def save_checkpoint(self, path, model, optimizer, **kwargs):
        """Rank 0 writes, every rank returns once the file is complete (tinytorch.distributed.save_checkpoint)."""
        if self.distributed:
            self._dist.save_checkpoint(path, model, optimizer, **kwargs)
        else:
            from .core.checkpoint import save_checkpoint
            save_checkpoint(path, model, optimizer, **kwargs)
