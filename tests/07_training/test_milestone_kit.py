"""The pieces the milestone scripts share (tinytorch.milestone_kit)."""
import argparse

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.layers import Linear
from tinytorch.core.losses import MSELoss
from tinytorch.core.optimizers import SGD
from tinytorch.milestone_kit import (add_training_flags, check_training_flags, evaluate_classifier, fit_full_batch,
                                    format_loss, timed_training)

pytestmark = pytest.mark.module07


def parser():
    p = argparse.ArgumentParser(prog="m")
    add_training_flags(p, steps=5, lr=0.1, steps_help="s", lr_help="l", seed_help="seed", quiet_help="q")
    return p


@pytest.mark.parametrize("argv,message", [(["--steps", "0"], "--steps must be >= 1"),
                                          (["--lr", "nan"], "--lr must be a finite number > 0"),
                                          (["--lr", "-1"], "--lr must be a finite number > 0"),
                                          (["--seed", "-1"], "--seed must be in")])
def test_bad_flags_are_argparse_errors(argv, message, capsys):
    p = parser()
    with pytest.raises(SystemExit) as exit_info:
        check_training_flags(p, p.parse_args(argv))
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_fit_full_batch_returns_every_loss_and_learns():
    tt.manual_seed(0)
    x = tt.Tensor(np.array([[1.0], [2.0], [3.0]], np.float32))
    y = tt.Tensor(np.array([[2.0], [4.0], [6.0]], np.float32))
    model = Linear(1, 1)
    losses = fit_full_batch(model, MSELoss(), SGD(model.parameters(), lr=0.05), x, y, steps=200, quiet=True)
    assert len(losses) == 200 and losses[-1] < 1e-3 < losses[0]


def test_fit_full_batch_stops_when_the_loss_is_not_finite():
    model = Linear(1, 1)
    x = tt.Tensor(np.ones((2, 1), np.float32))

    def nan_loss(pred, target):
        return (pred * float("nan")).sum()
    with pytest.raises(FloatingPointError, match="the loss became nan at step 0; try a smaller --lr"):
        fit_full_batch(model, nan_loss, SGD(model.parameters(), lr=0.1), x, x, steps=5, quiet=True)


def test_timed_training_returns_the_result_and_exits_1_on_divergence(capsys):
    result, seconds = timed_training(lambda: "done")
    assert result == "done" and seconds >= 0

    def diverge():
        raise FloatingPointError("training: the loss became nan at step 3; try a smaller --lr")
    with pytest.raises(SystemExit) as exit_info:
        timed_training(diverge)
    assert exit_info.value.code == 1
    assert "Training diverged: training: the loss became nan at step 3" in capsys.readouterr().err


def test_evaluate_classifier_and_format_loss():
    model = Linear(2, 3)
    with tt.no_grad():
        model.weight.copy_(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32))
        model.bias.copy_(np.zeros(3, np.float32))
    x = tt.Tensor(np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]], np.float32))
    y = tt.Tensor(np.array([0, 1, 1]), dtype=np.int64)
    from tinytorch.core.losses import CrossEntropyLoss
    loss, acc, predicted = evaluate_classifier(model, CrossEntropyLoss(), x, y)
    assert predicted.tolist() == [0, 1, 0] and acc == pytest.approx(2 / 3) and loss > 0
    assert format_loss(0.12345) == "0.1235" and format_loss(3.94e-05) == "3.94e-05"
