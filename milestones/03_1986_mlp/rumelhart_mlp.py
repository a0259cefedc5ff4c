#!/usr/bin/env python3
"""Milestone 03 (1986) - Rumelhart, Hinton and Williams: backpropagation trains hidden layers.

"Learning representations by back-propagating errors" (Nature, 1986) showed
how to train the hidden layers Minsky and Papert had asked for: run the chain
rule backwards through the network, from the loss to every weight, and step
each weight downhill. The hidden units then invent their own features. The
idea had been found before (Linnainmaa 1970, Werbos 1974), but this paper's
demonstrations made multi-layer networks the working tool they still are.

This script trains an MLP, Linear(2, H) + ReLU + Linear(H, H) + ReLU +
Linear(H, 3), with softmax cross-entropy and Adam, to tell apart three
interleaved spirals in the plane - a problem no straight line (and no single
layer) can solve. It holds out 20% of the points and reports the accuracy on
them as well as on the training points.

    python milestones/03_1986_mlp/rumelhart_mlp.py
    python milestones/03_1986_mlp/rumelhart_mlp.py --hidden 16 --steps 2000 --seed 7
    python milestones/03_1986_mlp/rumelhart_mlp.py --quiet      # summary only
"""

import sys

import numpy as np

import tinytorch as tt
from tinytorch.milestone_kit import (milestone_parser, add_training_flags, check_training_flags, evaluate_classifier,
                                    fit_full_batch, format_loss, timed_training)
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam

CLASSES = 3            # spiral arms
POINTS_PER_CLASS = 100
TURNS = 1.0            # how far each arm winds around the center
ANGLE_NOISE = 0.2      # radians of Gaussian noise on each point's angle
TEST_FRACTION = 0.2
TARGET_TEST_ACCURACY = 0.95


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    add_training_flags(parser, steps=1000, lr=0.01,
                       steps_help="full-batch Adam steps (default 1000)",
                       lr_help="Adam learning rate (default 0.01)",
                       seed_help="seed for the data, the split and the initial weights, 0 <= seed < 2**32 (default 42)")
    parser.add_argument("--hidden", type=int, default=64, help="units in each of the two hidden layers (default 64)")
    args = parser.parse_args(argv)
    check_training_flags(parser, args, counts=('steps', 'hidden'))
    return args


def make_spirals(rng):
    """CLASSES interleaved spiral arms: x (N, 2) float32 and labels y (N,) int64, shuffled.

    Arm k holds the points r * (cos a, sin a) for r evenly spaced in [0.1, 1] and
    a = 2 pi (k / CLASSES + TURNS * r) plus Gaussian noise.
    """
    xs, ys = [], []
    r = np.linspace(0.1, 1.0, POINTS_PER_CLASS)
    for k in range(CLASSES):
        angle = 2 * np.pi * (k / CLASSES + TURNS * r) + rng.normal(0.0, ANGLE_NOISE, POINTS_PER_CLASS)
        xs.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
        ys.append(np.full(POINTS_PER_CLASS, k))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_np, y_np = make_spirals(rng)
    n_test = int(round(TEST_FRACTION * len(x_np)))
    n_train = len(x_np) - n_test
    x_train, y_train = tt.Tensor(x_np[:n_train]), tt.Tensor(y_np[:n_train], dtype=np.int64)
    x_test, y_test = tt.Tensor(x_np[n_train:]), tt.Tensor(y_np[n_train:], dtype=np.int64)

    tt.manual_seed(args.seed)
    np.random.seed(args.seed)
    h = args.hidden
    model = Sequential(Linear(2, h), ReLU(), Linear(h, h), ReLU(), Linear(h, CLASSES))
    loss_fn = CrossEntropyLoss()  # takes logits: the softmax is inside the loss
    optimizer = Adam(model.parameters(), lr=args.lr)

    if not args.quiet:
        print(f"Training a 2-hidden-layer MLP ({h} units each) on {CLASSES} spirals: {n_train} training and "
              f"{n_test} test points, Adam lr={args.lr}.", flush=True)
    losses, seconds = timed_training(
        lambda: fit_full_batch(model, loss_fn, optimizer, x_train, y_train, args.steps, args.quiet))

    train_loss, train_acc, _ = evaluate_classifier(model, loss_fn, x_train, y_train)
    test_loss, test_acc, _ = evaluate_classifier(model, loss_fn, x_test, y_test)
    print("\nTraining summary")
    print(f"  model         : Linear(2, {h}) + ReLU + Linear({h}, {h}) + ReLU + Linear({h}, {CLASSES}), "
          f"{sum(p.size for p in model.parameters()):,} parameters")
    print(f"  optimizer     : Adam(lr={args.lr:g}), seed {args.seed}")
    print(f"  data          : {CLASSES} spirals ({TURNS:g} turn, angle noise {ANGLE_NOISE} rad), "
          f"{n_train} train / {n_test} test points")
    print(f"  steps         : {len(losses)}")
    print(f"  initial loss  : {losses[0]:.4f}   (ln {CLASSES} = {np.log(CLASSES):.4f}: a uniform guess)")
    print(f"  final loss    : {format_loss(train_loss)}")
    print(f"  test loss     : {format_loss(test_loss)}")
    print(f"  train accuracy: {100 * train_acc:.1f}%")
    print(f"  test accuracy : {100 * test_acc:.1f}%")
    print(f"  speed         : {len(losses) / seconds:,.0f} steps/s" if seconds > 0 else "  speed         : n/a")
    print(f"  wall time     : {seconds:.2f} s")
    print(f"  target        : test accuracy >= {TARGET_TEST_ACCURACY:.0%} "
          f"{'✓' if test_acc >= TARGET_TEST_ACCURACY else '✗'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
