#!/usr/bin/env python3
"""Milestone 02 (1969) - Minsky and Papert's XOR: what one neuron cannot learn.

In "Perceptrons" (1969) Marvin Minsky and Seymour Papert proved that a
single-layer perceptron can only draw one straight line through its inputs,
so it cannot compute XOR: (0,0) and (1,1) are 0, (0,1) and (1,0) are 1, and no
line puts the two 1s on one side and the two 0s on the other. The book is
often blamed for the first "AI winter". The way out was known in principle -
add a hidden layer - but nobody yet knew how to train one well; that had to
wait for backpropagation (milestone 03).

This script trains both on the four XOR points, with the same optimizer,
learning rate and number of steps:

  1. a single layer, Linear(2, 1) + sigmoid: at best 3 of the 4 points (75%);
  2. a 2-layer MLP, Linear(2, hidden) + tanh + Linear(hidden, 1) + sigmoid,
     trained by backpropagation: all 4 points (100%).

    python milestones/02_1969_xor/minsky_xor.py
    python milestones/02_1969_xor/minsky_xor.py --hidden 2 --steps 2000 --seed 3
    python milestones/02_1969_xor/minsky_xor.py --quiet      # summary only
"""

import sys

import numpy as np

import tinytorch as tt
from tinytorch.milestone_kit import (milestone_parser, add_training_flags, check_training_flags, fit_full_batch,
                                    timed_training)
from tinytorch.core.activations import Sigmoid, Tanh
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import BinaryCrossEntropyLoss
from tinytorch.core.optimizers import Adam

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float32)


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    add_training_flags(parser, steps=500, lr=0.05,
                       steps_help="full-batch Adam steps for each model (default 500)",
                       lr_help="Adam learning rate (default 0.05)",
                       seed_help="seed for the initial weights, 0 <= seed < 2**32 (default 42)",
                       quiet_help="no progress bars or progress messages (the summary is still printed)")
    parser.add_argument("--hidden", type=int, default=4, help="hidden units of the MLP (default 4)")
    args = parser.parse_args(argv)
    check_training_flags(parser, args, counts=('steps', 'hidden'))
    return args


def train(model, x, y, args, desc):
    """Full-batch Adam on BCE. Returns (initial loss, final loss, probabilities after training)."""
    loss_fn = BinaryCrossEntropyLoss()  # takes probabilities (the sigmoid's output), not logits
    optimizer = Adam(model.parameters(), lr=args.lr)
    losses = fit_full_batch(model, loss_fn, optimizer, x, y, args.steps, args.quiet, desc)
    initial = losses[0]
    with tt.no_grad():
        probs = model(x)
        final = loss_fn(probs, y).item()
    return initial, final, probs.data.copy()


def accuracy(probs):
    return float(np.mean((probs >= 0.5) == (XOR_TARGETS >= 0.5)))


def show_truth_table(name, probs):
    print(f"\n  {name}:")
    print("     x1  x2 | target | p(1)   prediction")
    for (a, b), t, p in zip(XOR_INPUTS, XOR_TARGETS[:, 0], probs[:, 0]):
        pred = int(p >= 0.5)
        print(f"      {a:.0f}   {b:.0f} |   {t:.0f}    | {p:.3f}  {pred} {'✓' if pred == t else '✗'}")


def main(argv=None):
    args = parse_args(argv)
    x, y = tt.Tensor(XOR_INPUTS), tt.Tensor(XOR_TARGETS)

    tt.manual_seed(args.seed)
    np.random.seed(args.seed)
    single = Sequential(Linear(2, 1), Sigmoid())
    mlp = Sequential(Linear(2, args.hidden), Tanh(), Linear(args.hidden, 1), Sigmoid())

    if not args.quiet:
        print(f"XOR with the same budget for both models: {args.steps} Adam steps, lr={args.lr}.", flush=True)
    ((s_initial, s_final, s_probs), (m_initial, m_final, m_probs)), seconds = timed_training(
        lambda: (train(single, x, y, args, "single layer"), train(mlp, x, y, args, "2-layer MLP ")))
    s_acc, m_acc = accuracy(s_probs), accuracy(m_probs)

    show_truth_table("single layer, Linear(2, 1) + Sigmoid", s_probs)
    show_truth_table(f"2-layer MLP, Linear(2, {args.hidden}) + Tanh + Linear({args.hidden}, 1) + Sigmoid", m_probs)

    print("\nTraining summary")
    print(f"  optimizer                 : Adam(lr={args.lr:g}), {args.steps} steps per model, seed {args.seed}")
    print("  data                      : the 4 XOR points")
    print(f"  single-layer parameters   : {sum(p.size for p in single.parameters())}")
    print(f"  single-layer initial loss : {s_initial:.4f}")
    print(f"  single-layer final loss   : {s_final:.4f}   (ln 2 = {np.log(2):.4f}: it learns to say 0.5 everywhere)")
    print(f"  single-layer accuracy     : {100 * s_acc:.1f}%   (a straight line gets at most 3 of 4 = 75%)")
    print(f"  MLP parameters            : {sum(p.size for p in mlp.parameters())}")
    print(f"  MLP initial loss          : {m_initial:.4f}")
    print(f"  MLP final loss            : {m_final:.4f}")
    print(f"  MLP accuracy              : {100 * m_acc:.1f}%")
    print(f"  wall time                 : {seconds:.2f} s")
    print(f"  targets                   : single layer <= 75% {'✓' if s_acc <= 0.75 else '✗'}   "
          f"MLP 100% {'✓' if m_acc == 1.0 else '✗'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
