#!/usr/bin/env python3
"""Milestone 04 (1998) - LeCun, Bottou, Bengio and Haffner: convolutional networks read images.

"Gradient-based learning applied to document recognition" (Proc. IEEE, 1998)
presented LeNet-5, which read the digits on millions of bank cheques. Its
ideas are the ones every vision network still uses: small shared filters
slid over the image (convolution: a pattern is recognised wherever it
appears, with few weights), pooling that trades exact position for
robustness, and a stack of both that turns pixels into features a final
linear layer can separate. Backpropagation (milestone 03) trains it all.

This script trains a small LeNet, Conv2d(1, 8, 3, padding=1) + ReLU +
MaxPool2d(2) + Conv2d(8, 16, 3, padding=1) + ReLU + MaxPool2d(2) + Flatten +
Linear(256, 6), with
softmax cross-entropy and minibatch Adam, to name the stroke drawn in a
noisy 16x16 image: a horizontal bar, a vertical bar, a diagonal, an
anti-diagonal, a cross or a box, of random size at a random place. The
images are generated (seeded), so nothing is downloaded. It holds out 20%
of them and reports the accuracy on them as well as on the training images.

    python milestones/04_1998_cnn/lecun_cnn.py
    python milestones/04_1998_cnn/lecun_cnn.py --steps 500 --batch-size 32 --seed 7
    python milestones/04_1998_cnn/lecun_cnn.py --quiet      # summary only
"""

import sys

import numpy as np

import tinytorch as tt
from tinytorch.milestone_kit import (milestone_parser, add_training_flags, check_training_flags, evaluate_classifier,
                                    fit, format_loss, timed_training)
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.spatial import Conv2d, Flatten, MaxPool2d

SHAPES = ["horizontal bar", "vertical bar", "diagonal", "anti-diagonal", "cross", "box"]
IMAGE_SIZE = 16
MIN_STROKE, MAX_STROKE = 6, 11   # side of the square the stroke is drawn in, in pixels
NOISE = 0.3                      # standard deviation of the Gaussian pixel noise (strokes have intensity ~1)
IMAGES_PER_CLASS = 800
TEST_FRACTION = 0.2
TARGET_TEST_ACCURACY = 0.95


def parse_args(argv=None):
    parser = milestone_parser(__doc__)
    add_training_flags(parser, steps=1000, lr=0.01,
                       steps_help="minibatch Adam steps (default 1000)",
                       lr_help="Adam learning rate (default 0.01)",
                       seed_help="seed for the images, the split, the batches and the initial weights, "
                                 "0 <= seed < 2**32 (default 42)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per minibatch (default 64)")
    args = parser.parse_args(argv)
    check_training_flags(parser, args, counts=("steps", "batch_size"))
    return args


def draw(shape, size):
    """A size x size float32 stroke of the given kind (1 on the stroke, 0 elsewhere)."""
    img = np.zeros((size, size), dtype=np.float32)
    mid, idx = size // 2, np.arange(size)
    if shape == "horizontal bar":
        img[mid, :] = 1
    elif shape == "vertical bar":
        img[:, mid] = 1
    elif shape == "diagonal":
        img[idx, idx] = 1
    elif shape == "anti-diagonal":
        img[idx, size - 1 - idx] = 1
    elif shape == "cross":
        img[mid, :] = img[:, mid] = 1
    elif shape == "box":
        img[0, :] = img[-1, :] = img[:, 0] = img[:, -1] = 1
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return img


def make_images(rng):
    """IMAGES_PER_CLASS noisy images of every shape: x (N, 1, 16, 16) float32 and labels y (N,) int64, shuffled.

    Each stroke has a random size in [MIN_STROKE, MAX_STROKE], a random place,
    a random brightness in [0.7, 1.3] and Gaussian noise of std NOISE on every pixel.
    """
    n = IMAGES_PER_CLASS * len(SHAPES)
    x = rng.normal(0.0, NOISE, (n, 1, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    y = np.repeat(np.arange(len(SHAPES)), IMAGES_PER_CLASS)
    for i, label in enumerate(y):
        size = int(rng.integers(MIN_STROKE, MAX_STROKE + 1))
        top, left = (int(v) for v in rng.integers(0, IMAGE_SIZE - size + 1, 2))
        x[i, 0, top:top + size, left:left + size] += rng.uniform(0.7, 1.3) * draw(SHAPES[label], size)
    order = rng.permutation(n)
    return x[order], y[order].astype(np.int64)


def build_model():
    # padding=1 keeps the size through each 3x3 convolution; each pooling halves it: 16 -> 8 -> 4
    side = IMAGE_SIZE // 2 // 2
    return Sequential(Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
                      Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2),
                      Flatten(), Linear(16 * side * side, len(SHAPES)))


def minibatches(x, y, batch_size, rng):
    """next_batch(step) for milestone_kit.fit: batches over reshuffled epochs (a last partial batch
    is folded into the next epoch)."""
    order = np.empty(0, dtype=np.int64)

    def next_batch(step):
        nonlocal order
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(x))])
        batch, order = order[:batch_size], order[batch_size:]
        return tt.Tensor(x[batch]), tt.Tensor(y[batch], dtype=np.int64)
    return next_batch


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_np, y_np = make_images(rng)
    n_test = int(round(TEST_FRACTION * len(x_np)))
    n_train = len(x_np) - n_test
    x_train, y_train = x_np[:n_train], y_np[:n_train]
    x_test, y_test = tt.Tensor(x_np[n_train:]), tt.Tensor(y_np[n_train:], dtype=np.int64)

    tt.manual_seed(args.seed)
    model = build_model()
    loss_fn = CrossEntropyLoss()  # takes logits: the softmax is inside the loss
    optimizer = Adam(model.parameters(), lr=args.lr)

    if not args.quiet:
        print(f"Training a LeNet-style CNN on {len(SHAPES)} kinds of noisy {IMAGE_SIZE}x{IMAGE_SIZE} strokes: "
              f"{n_train} training and {n_test} test images, batches of {args.batch_size}, Adam lr={args.lr}.",
              flush=True)
    losses, seconds = timed_training(
        lambda: fit(model, loss_fn, optimizer, minibatches(x_train, y_train, args.batch_size, rng), args.steps,
                    args.quiet))

    train_loss, train_acc, _ = evaluate_classifier(model, loss_fn, tt.Tensor(x_train), tt.Tensor(y_train, dtype=np.int64))
    test_loss, test_acc, predicted = evaluate_classifier(model, loss_fn, x_test, y_test)
    per_class = [float(np.mean(predicted[y_test.data == k] == k)) for k in range(len(SHAPES))]
    epochs = args.steps * args.batch_size / n_train
    print("\nTraining summary")
    print("  model         : Conv2d(1, 8, 3, padding=1) + ReLU + MaxPool2d(2) + Conv2d(8, 16, 3, padding=1) + ReLU "
          f"+ MaxPool2d(2) + Flatten + Linear({model[7].in_features}, {len(SHAPES)}), "
          f"{model.num_parameters():,} parameters")
    print(f"  optimizer     : Adam(lr={args.lr:g}), batch size {args.batch_size}, seed {args.seed}")
    print(f"  data          : {len(SHAPES)} strokes on {IMAGE_SIZE}x{IMAGE_SIZE} images (noise std {NOISE}), "
          f"{n_train} train / {n_test} test images")
    print(f"  steps         : {len(losses)}   ({epochs:.1f} epochs)")
    print(f"  initial loss  : {losses[0]:.4f}   (ln {len(SHAPES)} = {np.log(len(SHAPES)):.4f}: a uniform guess)")
    print(f"  final loss    : {format_loss(train_loss)}")
    print(f"  test loss     : {format_loss(test_loss)}")
    print(f"  train accuracy: {100 * train_acc:.1f}%")
    print(f"  test accuracy : {100 * test_acc:.1f}%")
    print("  per class     : " + ", ".join(f"{name} {100 * acc:.0f}%" for name, acc in zip(SHAPES, per_class)))
    print(f"  speed         : {len(losses) / seconds:,.0f} steps/s" if seconds > 0 else "  speed         : n/a")
    print(f"  wall time     : {seconds:.2f} s")
    print(f"  target        : test accuracy >= {TARGET_TEST_ACCURACY:.0%} "
          f"{'✓' if test_acc >= TARGET_TEST_ACCURACY else '✗'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
