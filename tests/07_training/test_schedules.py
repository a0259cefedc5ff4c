"""Module 07: CosineSchedule values against the formula written out by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinytorch.core.schedules import CosineSchedule

pytestmark = pytest.mark.module07


def expected_lr(epoch, max_lr, min_lr, total, warmup=0):
    """The documented formula, written independently of the implementation."""
    if epoch < warmup:
        return max_lr * min(epoch + 1, warmup) / warmup
    if epoch >= total:
        return min_lr
    progress = (epoch - warmup) / (total - warmup)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def test_tinytorch_docstring_example():
    schedule = CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=100)
    assert schedule.get_lr(0) == pytest.approx(0.1, rel=1e-15)
    assert schedule.get_lr(50) == pytest.approx(0.055, rel=1e-12)
    assert schedule.get_lr(100) == 0.01
    assert schedule.get_lr(250) == 0.01


def test_defaults():
    schedule = CosineSchedule()
    assert (schedule.max_lr, schedule.min_lr, schedule.total_epochs, schedule.warmup_epochs) == (0.1, 0.01, 100, 0)


def test_hand_computed_values():
    schedule = CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=100)
    # 0.01 + 0.09 * (1 + cos(pi/4)) / 2 = 0.01 + 0.045 * 1.7071067811865475
    assert schedule.get_lr(25) == pytest.approx(0.08681980515339464, rel=1e-12)
    # 0.01 + 0.045 * (1 + cos(3pi/4))
    assert schedule.get_lr(75) == pytest.approx(0.023180194846605363, rel=1e-12)
    # 0.01 + 0.045 * (1 + cos(0.99 pi)) = 0.01 + 0.045 * (1 - 0.9995065603657316)
    assert schedule.get_lr(99) == pytest.approx(0.010022204783542078, rel=1e-12)


@pytest.mark.parametrize("epoch", [0, 1, 2, 10, 33, 50, 66.5, 99, 100, 101, 1000])
def test_matches_formula_without_warmup(epoch):
    schedule = CosineSchedule(max_lr=0.3, min_lr=0.002, total_epochs=100)
    assert schedule.get_lr(epoch) == pytest.approx(expected_lr(epoch, 0.3, 0.002, 100), rel=1e-13, abs=0)
    assert schedule(epoch) == schedule.get_lr(epoch)


def test_warmup_values():
    schedule = CosineSchedule(max_lr=1.0, min_lr=0.0, total_epochs=10, warmup_epochs=4)
    assert [schedule(e) for e in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule(4) == 1.0  # the cosine starts at max_lr
    assert schedule(5) == pytest.approx((1 + math.cos(math.pi / 6)) / 2, rel=1e-14)  # 0.9330127...
    assert schedule(7) == pytest.approx(0.5, rel=1e-14)  # halfway through epochs 4..10
    assert schedule(10) == 0.0
    assert schedule(3.5) == 1.0  # fractional epochs never overshoot max_lr
    assert schedule(0.5) == pytest.approx(0.375, rel=1e-15)


def test_warmup_as_long_as_training():
    schedule = CosineSchedule(max_lr=0.4, min_lr=0.1, total_epochs=2, warmup_epochs=2)
    assert [schedule(0), schedule(1), schedule(2)] == [0.2, 0.4, 0.1]


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 10.0), st.floats(0.0, 10.0), st.integers(1, 200), st.data())
def test_matches_formula_and_stays_in_range(max_lr, min_lr, total, data):
    warmup = data.draw(st.integers(0, total))
    epoch = data.draw(st.integers(0, total + 5) | st.floats(0.0, total + 5.0))
    schedule = CosineSchedule(max_lr, min_lr, total, warmup_epochs=warmup)
    lr = schedule.get_lr(epoch)
    assert isinstance(lr, float)
    assert lr == pytest.approx(expected_lr(epoch, max_lr, min_lr, total, warmup), rel=1e-12, abs=1e-300)
    low, high = min(0.0 if epoch < warmup else min_lr, max_lr), max(min_lr, max_lr)
    assert low - 1e-12 <= lr <= high + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.floats(0.001, 1.0), st.floats(0.0, 0.001), st.integers(1, 100), st.integers(0, 20))
def test_decreases_after_warmup_and_increases_during_it(max_lr, min_lr, total, warmup):
    warmup = min(warmup, total)
    schedule = CosineSchedule(max_lr, min_lr, total, warmup_epochs=warmup)
    lrs = [schedule(e) for e in range(total + 3)]
    assert all(a <= b for a, b in zip(lrs[:warmup], lrs[1:warmup]))
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))


def test_accepts_numpy_numbers():
    schedule = CosineSchedule(max_lr=np.float32(0.5), min_lr=0.0, total_epochs=np.int64(4))
    assert schedule(np.int64(2)) == pytest.approx(0.25, rel=1e-7)
    assert type(schedule(np.float64(1.0))) is float


@pytest.mark.parametrize("kwargs, message", [
    (dict(total_epochs=0), "total_epochs must be an int >= 1"),
    (dict(total_epochs=10.0), "total_epochs must be an int"),
    (dict(warmup_epochs=-1), "warmup_epochs must be an int >= 0"),
    (dict(total_epochs=5, warmup_epochs=6), "warmup_epochs=6 is longer than total_epochs=5"),
    (dict(max_lr=-0.1), "max_lr must be a finite number >= 0"),
    (dict(min_lr=float("nan")), "min_lr must be a finite number"),
    (dict(max_lr="0.1"), "max_lr must be a finite number"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CosineSchedule(**kwargs)


@pytest.mark.parametrize("epoch", [-1, -0.5, float("nan"), float("inf"), "3", None])
def test_bad_epoch(epoch):
    with pytest.raises(ValueError, match="CosineSchedule.get_lr: epoch must be a finite number >= 0"):
        CosineSchedule().get_lr(epoch)
