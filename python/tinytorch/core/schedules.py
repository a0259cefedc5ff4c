"""Learning-rate schedules (module 07, training).

A large learning rate early makes fast progress; a small one late lets the
weights settle into a minimum instead of bouncing around it. A cosine
schedule moves smoothly between the two.
"""

import math
from numbers import Integral, Real

__all__ = ["CosineSchedule"]


def _check_rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"CosineSchedule: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"CosineSchedule: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class CosineSchedule:
    """Cosine annealing from ``max_lr`` to ``min_lr`` over ``total_epochs``, with optional warmup.

    ``schedule(epoch)`` (or ``schedule.get_lr(epoch)``) returns the learning rate::

        epoch < W:        lr = max_lr * min(epoch + 1, W) / W              (linear warmup)
        W <= epoch < T:   p  = (epoch - W) / (T - W)                       (0 -> 1)
                          lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * p)) / 2
        epoch >= T:       lr = min_lr

    with ``W = warmup_epochs`` and ``T = total_epochs``. Without warmup this is
    TinyTorch's schedule: ``get_lr(0) == max_lr``, ``get_lr(T/2)`` is the
    midpoint, ``get_lr(T) == min_lr``. The warmup starts at ``max_lr / W``
    rather than 0 so the first epoch already trains, and reaches ``max_lr`` at
    epoch ``W - 1``; the cosine then starts again from ``max_lr`` at epoch W.
    Fractional epochs (e.g. ``step / steps_per_epoch``) are accepted.
    """

    def __init__(self, max_lr: float = 0.1, min_lr: float = 0.01, total_epochs: int = 100,
                 warmup_epochs: int = 0):
        self.max_lr = _check_rate("max_lr", max_lr)
        self.min_lr = _check_rate("min_lr", min_lr)
        self.total_epochs = _check_count("total_epochs", total_epochs, 1)
        self.warmup_epochs = _check_count("warmup_epochs", warmup_epochs, 0)
        if self.warmup_epochs > self.total_epochs:
            raise ValueError(f"CosineSchedule: warmup_epochs={warmup_epochs} is longer than "
                             f"total_epochs={total_epochs}")

    def get_lr(self, epoch: float) -> float:
        """Learning rate for ``epoch`` (0-based)."""
        if isinstance(epoch, bool) or not isinstance(epoch, Real) or not math.isfinite(epoch) or epoch < 0:
            raise ValueError(f"CosineSchedule.get_lr: epoch must be a finite number >= 0, got {epoch!r}")
        if epoch < self.warmup_epochs:
            # min(): a fractional epoch in [W - 1, W) must not overshoot max_lr
            return float(self.max_lr * min(epoch + 1, self.warmup_epochs) / self.warmup_epochs)
        if epoch >= self.total_epochs:
            return self.min_lr
        progress = (epoch - self.warmup_epochs) / (self.total_epochs - self.warmup_epochs)
        cosine_factor = (1 + math.cos(math.pi * progress)) / 2
        return float(self.min_lr + (self.max_lr - self.min_lr) * cosine_factor)

    def __call__(self, epoch: float) -> float:
        return self.get_lr(epoch)

    def __repr__(self) -> str:
        return (f"CosineSchedule(max_lr={self.max_lr}, min_lr={self.min_lr}, "
                f"total_epochs={self.total_epochs}, warmup_epochs={self.warmup_epochs})")
