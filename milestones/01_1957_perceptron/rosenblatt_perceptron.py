#!/usr/bin/env python3
"""Milestone 01 (1957) - Rosenblatt's perceptron: one neuron learns a line.

Frank Rosenblatt's perceptron (Cornell, 1957; the Mark I machine followed in
1958) was a single artificial neuron: a weighted sum of its inputs plus a
bias, thresholded to a yes/no answer, with weights that learn from mistakes.
His convergence theorem promised that when two classes can be split by a
straight line, the neuron finds one. This script trains the modern form of
that neuron, Linear(2, 1) followed by a sigmoid, with plain SGD on the binary
cross-entropy, on two Gaussian blobs of points in the plane, and reports the
line it found.

The data is linearly separable by construction (the theorem's premise): points
that fall within a margin of the true dividing line, or on its wrong side, are
drawn again. So the default run reaches 100% training accuracy.

    python milestones/01_1957_perceptron/rosenblatt_perceptron.py
    python milestones/01_1957_perceptron/rosenblatt_perceptron.py --steps 50 --lr 0.5 --seed 7
    python milestones/01_1957_perceptron/rosenblatt_perceptron.py --quiet      # summary only
"""

import sys

import numpy as np

import tinytorch as tt
from tinytorch.milestone_kit import (milestone_parser, add_training_flags, check_training_flags, fit_full_batch,
                                    timed_training)
from tinytorch.core.activations import Sigmoid
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import BinaryCrossEntropyLoss
from tinytorch.core.optimizers import SGD

POINTS_PER_CLASS = 100
CENTERS = ((-1.5, -1.0), (1.5, 1.0))  # blob means; the true dividing line is their perpendicular bisector
SPREAD = 0.8                          # standard deviation of each blob
MARGIN = 0.3                          # no point lies closer than this to the true line


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    add_training_flags(parser, steps=100, lr=0.5,
                       steps_help="full-batch SGD steps (default 100)",
                       lr_help="SGD learning rate (default 0.5)",
                       seed_help="seed for the data and the initial weights, 0 <= seed < 2**32 (default 42)")
    args = parser.parse_args(argv)
    check_training_flags(parser, args, counts=('steps',))
    return args


def make_blobs(rng):
    """Two Gaussian blobs, labels 0 and 1, separated by a margin around the bisector of their centers.

    Returns x (2 * POINTS_PER_CLASS, 2) float32 and y (2 * POINTS_PER_CLASS, 1) float32, shuffled.
    """
    c0, c1 = np.asarray(CENTERS[0]), np.asarray(CENTERS[1])
    normal = (c1 - c0) / np.linalg.norm(c1 - c0)  # the true line: normal . (p - midpoint) = 0
    midpoint = (c0 + c1) / 2
    xs, ys = [], []
    for label, center in ((0, c0), (1, c1)):
        points = np.empty((0, 2))
        while len(points) < POINTS_PER_CLASS:  # rejection sampling keeps the classes separable
            draw = rng.normal(center, SPREAD, size=(POINTS_PER_CLASS, 2))
            side = (draw - midpoint) @ normal * (1 if label else -1)
            points = np.concatenate([points, draw[side >= MARGIN]])
        xs.append(points[:POINTS_PER_CLASS])
        ys.append(np.full((POINTS_PER_CLASS, 1), label))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), y[order].astype(np.float32)


def accuracy(model, x, y):
    """Fraction of points on the right side: prediction 1 when the probability is >= 0.5."""
    with tt.no_grad():
        probs = model(x).data
    return float(np.mean((probs >= 0.5) == (y.data >= 0.5)))


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_np, y_np = make_blobs(rng)
    x, y = tt.Tensor(x_np), tt.Tensor(y_np)

    tt.manual_seed(args.seed)
    neuron = Linear(2, 1)
    model = Sequential(neuron, Sigmoid())
    loss_fn = BinaryCrossEntropyLoss()  # takes probabilities (the sigmoid's output), not logits
    optimizer = SGD(model.parameters(), lr=args.lr)

    if not args.quiet:
        print(f"Training a perceptron, Linear(2, 1) + sigmoid, on {len(x_np)} points in two blobs, "
              f"SGD lr={args.lr}.", flush=True)
    losses, seconds = timed_training(lambda: fit_full_batch(model, loss_fn, optimizer, x, y, args.steps, args.quiet))

    acc = accuracy(model, x, y)
    with tt.no_grad():
        final_loss = loss_fn(model(x), y).item()  # the loss of the trained weights
    (w1, w2), b = neuron.weight.data[:, 0], float(neuron.bias.data[0])
    print("\nTraining summary")
    print(f"  model         : Linear(2, 1) + Sigmoid, {sum(p.size for p in model.parameters())} parameters")
    print(f"  optimizer     : SGD(lr={args.lr:g}), seed {args.seed}")
    print(f"  data          : {len(x_np)} points, 2 Gaussian blobs (std {SPREAD}), separable with margin {MARGIN}")
    print(f"  steps         : {len(losses)}")
    print(f"  initial loss  : {losses[0]:.4f}   (a coin flip scores ln 2 = {np.log(2):.4f})")
    print(f"  final loss    : {final_loss:.4f}")
    print(f"  accuracy      : {100 * acc:.1f}%")
    print(f"  decision line : {w1:+.3f} x1 {w2:+.3f} x2 {b:+.3f} = 0")
    print(f"  wall time     : {seconds:.2f} s")
    print(f"  target        : 100% accuracy {'✓' if acc == 1.0 else '✗'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
