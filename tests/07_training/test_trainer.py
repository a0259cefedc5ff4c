"""Module 07: the Trainer (train_epoch, evaluate, gradient accumulation, scheduling,
clipping) with exact expected values from hand-written float64 updates."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.layers import Linear
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.module import Module
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.schedules import CosineSchedule
from tinytorch.core.training import Trainer, clip_grad_norm
from tinytorch.nn.utils import clip_grad_norm_

pytestmark = pytest.mark.module07


class Affine(Module):
    """y = x @ w + b in float64, so expected values can be exact."""

    def __init__(self, w, b):
        super().__init__()
        self.w = tt.Tensor(np.array(w, dtype=np.float64), requires_grad=True, dtype=np.float64)
        self.b = tt.Tensor(np.array(b, dtype=np.float64), requires_grad=True, dtype=np.float64)

    def forward(self, x):
        return x @ self.w + self.b


def batches(xs, ys):
    return [(tt.Tensor(np.array(x, dtype=np.float64), dtype=np.float64),
             tt.Tensor(np.array(y, dtype=np.float64), dtype=np.float64)) for x, y in zip(xs, ys)]


def mse_grads(w, b, x, y):
    """d/dw, d/db of mean((x @ w + b - y)^2), by hand."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    r = x @ w + b - y
    scale = 2.0 / r.size
    return scale * x.T @ r, scale * r.sum(axis=0)


def test_init_state():
    model = Affine([[1.0]], [0.0])
    opt = SGD(model.parameters(), lr=0.1)
    sched = CosineSchedule(0.1, 0.01, 10)
    trainer = Trainer(model, opt, MSELoss(), sched, grad_clip_norm=1.0)
    assert trainer.model is model and trainer.optimizer is opt and trainer.scheduler is sched
    assert trainer.grad_clip_norm == 1.0 and trainer.epoch == 0 and trainer.step == 0
    assert trainer.training_mode is True
    assert trainer.history == {"train_loss": [], "eval_loss": [], "learning_rates": []}
    assert clip_grad_norm is clip_grad_norm_


def test_train_epoch_exact_sgd_updates():
    w0, b0 = np.array([[0.5], [-1.0]]), np.array([0.25])
    model = Affine(w0, b0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
    xs = [[[1.0, 2.0], [0.5, -1.0]], [[3.0, 0.0]]]
    ys = [[[1.0], [0.0]], [[2.0]]]
    loss = trainer.train_epoch(batches(xs, ys))

    w, b = w0.copy(), b0.copy()
    losses = []
    for x, y in zip(xs, ys):
        r = np.asarray(x) @ w + b - np.asarray(y)
        losses.append(float((r ** 2).mean()) * len(x))
        gw, gb = mse_grads(w, b, x, y)
        w, b = w - 0.1 * gw, b - 0.1 * gb
    np.testing.assert_allclose(model.w.numpy(), w, rtol=1e-14)
    np.testing.assert_allclose(model.b.numpy(), b, rtol=1e-14)
    np.testing.assert_allclose(loss, sum(losses) / 3, rtol=1e-14)  # mean per sample
    assert trainer.epoch == 1 and trainer.step == 2
    assert trainer.history["train_loss"] == [loss]
    assert all(p.grad is None for p in model.parameters())  # cleared after each step


def test_accumulation_weights_every_sample_equally():
    # Batches of 2 and 3 samples accumulated into one step == one batch of 5.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    w0, b0 = rng.standard_normal((3, 1)), rng.standard_normal(1)
    split = Affine(w0, b0)
    t1 = Trainer(split, SGD(split.parameters(), lr=0.05), MSELoss())
    loss_split = t1.train_epoch(batches([x[:2], x[2:]], [y[:2], y[2:]]), accumulation_steps=2)
    whole = Affine(w0, b0)
    t2 = Trainer(whole, SGD(whole.parameters(), lr=0.05), MSELoss())
    loss_whole = t2.train_epoch(batches([x], [y]))
    np.testing.assert_allclose(split.w.numpy(), whole.w.numpy(), rtol=1e-13)
    np.testing.assert_allclose(split.b.numpy(), whole.b.numpy(), rtol=1e-13)
    np.testing.assert_allclose(loss_split, loss_whole, rtol=1e-13)
    assert t1.step == 1 and t2.step == 1


def test_accumulation_tail_window_gets_its_own_step():
    # TinyTorch's example: one 1-sample batch with accumulation_steps=4 still steps, with weight 1.
    model = Linear(1, 1)
    model.weight.data[:] = 1.0
    model.bias.data[:] = 0.0
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
    loss = trainer.train_epoch([(tt.Tensor([[1.0]]), tt.Tensor([[0.0]]))], accumulation_steps=4)
    np.testing.assert_allclose(model.weight.numpy(), [[0.8]], rtol=1e-6)
    np.testing.assert_allclose(loss, 1.0, rtol=1e-6)
    assert trainer.step == 1
    with pytest.raises(ValueError, match="accumulation_steps must be an int >= 1, got 0"):
        trainer.train_epoch([], accumulation_steps=0)


def test_scheduler_sets_the_learning_rate_each_epoch():
    model = Affine([[1.0]], [0.0])
    opt = SGD(model.parameters(), lr=1.0)
    sched = CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=4)
    trainer = Trainer(model, opt, MSELoss(), scheduler=sched)
    data = batches([[[1.0]]], [[[0.0]]])
    for epoch in range(3):
        trainer.train_epoch(data)
        assert opt.lr == sched.get_lr(epoch)
    assert trainer.history["learning_rates"] == [sched.get_lr(e) for e in range(3)]


def test_gradient_clipping_before_the_step():
    model = Affine([[0.0], [0.0]], [0.0])
    trainer = Trainer(model, SGD(model.parameters(), lr=1.0), MSELoss(), grad_clip_norm=0.5)
    x, y = [[[3.0, 4.0]]], [[[10.0]]]
    gw, gb = mse_grads(np.zeros((2, 1)), np.zeros(1), x[0], y[0])
    total = np.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    coef = 0.5 / (total + 1e-6)
    trainer.train_epoch(batches(x, y))
    np.testing.assert_allclose(model.w.numpy(), -gw * coef, rtol=1e-14)
    np.testing.assert_allclose(model.b.numpy(), -gb * coef, rtol=1e-14)
    step = np.concatenate([model.w.numpy().ravel(), model.b.numpy()])
    np.testing.assert_allclose(np.linalg.norm(step), 0.5, rtol=1e-6)


def test_evaluate_regression_and_modes():
    model = Affine([[2.0]], [1.0])
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
    data = batches([[[1.0], [2.0]], [[0.0]]], [[[3.0], [4.0]], [[2.0]]])
    loss, acc = trainer.evaluate(data)
    # residuals 0, 1 (first batch, mean 0.5, 2 samples) and -1 (second batch): per-sample mean 2/3
    np.testing.assert_allclose(loss, 2.0 / 3.0, rtol=1e-14)
    assert acc == 0.0  # a single output column is regression: no accuracy
    assert trainer.training_mode is False and model.training is False
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_array_equal(model.w.numpy(), [[2.0]])
    assert trainer.history["eval_loss"] == [loss]
    trainer.train_epoch(data)
    assert model.training is True


def test_evaluate_classification_accuracy():
    # Logits = x (identity weights): argmax is the index of the largest input.
    model = Affine(np.eye(3), np.zeros(3))
    trainer = Trainer(model, SGD(model.parameters()), CrossEntropyLoss())
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [5.0, 0.0, 0.0]])
    labels = np.array([0, 1, 0, 2])  # 2 of 4 right
    data = [(tt.Tensor(x, dtype=np.float64), tt.Tensor(labels))]
    loss, acc = trainer.evaluate(data)
    assert acc == 0.5
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(loss, -logp[np.arange(4), labels].mean(), rtol=1e-12)
    one_hot = [(tt.Tensor(x, dtype=np.float64), tt.Tensor(np.eye(3)[labels]))]
    class OneHotLoss:  # the accuracy path must accept one-hot targets too
        def __call__(self, outputs, targets):
            return ((outputs - targets) ** 2).mean()
    trainer.loss_fn = OneHotLoss()
    assert trainer.evaluate(one_hot)[1] == 0.5


def test_evaluate_sequence_logits():
    # (B, T, V) logits with (B, T) targets: accuracy over all positions.
    class Lookup(Module):
        def __init__(self):
            super().__init__()
            self.table = tt.Tensor(np.eye(4) * 5, requires_grad=True, dtype=np.float64)

        def forward(self, tokens):
            return tt.index_select(self.table, 0, tokens.reshape(-1)).reshape(*tokens.shape, 4)

    model = Lookup()
    trainer = Trainer(model, Adam(model.parameters()), CrossEntropyLoss())
    tokens = tt.Tensor(np.array([[0, 1, 2], [3, 3, 0]]))
    targets = tt.Tensor(np.array([[0, 1, 0], [3, 2, 0]]))
    _, acc = trainer.evaluate([(tokens, targets)])
    assert acc == 4 / 6


def test_course_style_model_without_module_base():
    class DummyModel:
        def __init__(self):
            self.layer = Linear(2, 1)
            self.training = True

        def forward(self, x):
            return self.layer.forward(x)

        def parameters(self):
            return self.layer.parameters()

    model = DummyModel()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.01), MSELoss())
    data = [(tt.Tensor([[1.0, 0.5]]), tt.Tensor([[2.0]])), (tt.Tensor([[0.5, 1.0]]), tt.Tensor([[1.5]]))]
    loss = trainer.train_epoch(data)
    assert isinstance(loss, float) and np.isfinite(loss)
    _, acc = trainer.evaluate(data)
    assert acc == 0.0 and model.training is False


def test_training_reduces_the_loss():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4))
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.7
    model = Affine(np.zeros((4, 1)), np.zeros(1))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.1), MSELoss())
    data = batches(np.split(x, 4), np.split(y, 4))
    losses = [trainer.train_epoch(data) for _ in range(60)]
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(model.b.numpy(), [0.7], atol=0.05)
