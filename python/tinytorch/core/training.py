"""Module 07 - Training: the loop that turns a model, a loss and an optimizer
into learning, plus the tools around it.

* ``CosineSchedule``  learning rate from large to small along a cosine (with warmup).
* ``clip_grad_norm``  caps the global gradient norm (from ``tinytorch.nn.utils``).
* ``Trainer``         runs epochs: forward, loss, backward, (clip), step, zero_grad;
                      evaluates without recording a graph; saves and restores
                      checkpoints (``tinytorch.core.checkpoint``: safetensors, atomic,
                      validated before anything is changed, RNG state included, so a
                      resumed run reproduces the uninterrupted one exactly).

The Trainer keeps TinyTorch's attributes: ``model optimizer loss_fn scheduler
grad_clip_norm epoch step training_mode history`` (``history`` has
``train_loss``, ``eval_loss`` and ``learning_rates``).
"""

import inspect
import os

import numpy as np

from .._C import Tensor
from .autograd import no_grad
from ..nn.utils import clip_grad_norm, clip_grad_norm_, clip_grad_value_, scale_grads_
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .losses import CrossEntropyLoss, MSELoss  # noqa: F401  (TinyTorch's import path; tinytorch/compat.py)
from .schedules import CosineSchedule

__all__ = ["CosineSchedule", "clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "Trainer",
           "CheckpointError"]


def _batch_size(inputs) -> int:
    shape = getattr(inputs, "shape", None)
    if shape is None:
        shape = np.shape(inputs)
    if len(shape) == 0:
        raise ValueError("Trainer: a batch's inputs must have a leading batch dimension, got a scalar")
    if shape[0] == 0:
        raise ValueError("Trainer: training batches must contain at least one sample")
    return int(shape[0])


def _as_array(x) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss_fn``.

    ``train_epoch(data, accumulation_steps=1)`` runs one pass over ``data`` (a
    DataLoader or any iterable of ``(inputs, targets)``) and returns the mean
    per-sample loss. With ``accumulation_steps = k`` gradients of k batches are
    summed (each batch weighted by its size) and averaged over the samples seen
    before each optimizer step. If a ``scheduler`` is given, ``optimizer.lr`` is
    set to ``scheduler.get_lr(epoch)`` at the start of every epoch. If
    ``grad_clip_norm`` is set, gradients are clipped to that global norm before
    every step.
    """

    def __init__(self, model, optimizer, loss_fn, scheduler=None, grad_clip_norm=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.grad_clip_norm = grad_clip_norm
        for p in model.parameters():  # layers may be built without requires_grad
            if isinstance(p, Tensor) and p.is_leaf and not p.requires_grad:
                p.requires_grad = True
        self.epoch = 0
        self.step = 0
        self.training_mode = True
        self.history = {"train_loss": [], "eval_loss": [], "learning_rates": []}
        self._forward_takes_flag = None

    # ---- one batch ----
    def _set_mode(self, training: bool) -> None:
        self.training_mode = training
        switch = getattr(self.model, "train" if training else "eval", None)
        if callable(switch):  # Module.train() / eval() reach every sub-module
            switch()
        else:
            self.model.training = training

    def _forward(self, inputs):
        """Run the model; a forward() that takes ``training=`` gets the current mode (course style)."""
        if self._forward_takes_flag is None:
            self._forward_takes_flag = "training" in _parameters(getattr(self.model, "forward", self.model))
        if self._forward_takes_flag:
            return self.model.forward(inputs, training=self.training_mode)
        return self.model(inputs) if callable(self.model) else self.model.forward(inputs)

    def _loss(self, outputs, targets):
        return self.loss_fn(outputs, targets) if callable(self.loss_fn) else self.loss_fn.forward(outputs, targets)

    def _process_batch(self, inputs, targets, weight: float = 1.0) -> float:
        """Forward, loss, backward with the mean loss scaled by ``weight``; returns loss * batch size."""
        batch = _batch_size(inputs)
        loss = self._loss(self._forward(inputs), targets)
        if weight == 1.0:
            loss.backward()
        else:
            loss.backward(np.full(loss.shape, weight, dtype=loss.dtype))
        return float(loss.item()) * batch

    def _optimizer_update(self, grad_scale: float = 1.0) -> None:
        """Scale the accumulated gradients, clip them if asked, step, clear."""
        params = self.optimizer.params if hasattr(self.optimizer, "params") else list(self.model.parameters())
        if grad_scale != 1.0:
            scale_grads_(params, grad_scale)
        if self.grad_clip_norm is not None:
            clip_grad_norm_(params, self.grad_clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad()

    # ---- epochs ----
    def train_epoch(self, dataloader, accumulation_steps: int = 1) -> float:
        """One pass over ``dataloader``; returns the sample-weighted mean training loss."""
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, (int, np.integer)) \
                or accumulation_steps < 1:
            raise ValueError(f"Trainer.train_epoch: accumulation_steps must be an int >= 1, "
                             f"got {accumulation_steps!r}")
        self._set_mode(True)
        self.optimizer.zero_grad()
        if self.scheduler is not None:
            get_lr = getattr(self.scheduler, "get_lr", self.scheduler)
            lr = float(get_lr(self.epoch))
            self.optimizer.lr = lr
            self.history["learning_rates"].append(lr)

        total_loss, total_samples = 0.0, 0
        pending_batches, pending_samples = 0, 0
        for inputs, targets in dataloader:
            batch = _batch_size(inputs)
            # One batch per step: the plain mean-loss gradient. Several: each
            # batch's gradient weighted by its size, divided by the window's
            # sample count at the step (so unequal batches count per sample).
            weight = 1.0 if accumulation_steps == 1 else float(batch)
            total_loss += self._process_batch(inputs, targets, weight)
            total_samples += batch
            pending_batches += 1
            pending_samples += batch
            if pending_batches == accumulation_steps:
                self._optimizer_update(1.0 if accumulation_steps == 1 else 1.0 / pending_samples)
                self.step += 1
                pending_batches, pending_samples = 0, 0
        if pending_batches:  # a short tail window still gets its step
            self._optimizer_update(1.0 / pending_samples)
            self.step += 1

        avg = total_loss / max(total_samples, 1)
        self.history["train_loss"].append(avg)
        self.epoch += 1
        return avg

    def evaluate(self, dataloader):
        """Loss and accuracy on ``dataloader`` without recording a graph or changing weights.

        Returns ``(mean_loss, accuracy)``; accuracy is the fraction of argmax
        predictions over the last axis that equal the targets (integer class
        ids, or one-hot rows), and 0.0 when the outputs have a single column
        (regression).
        """
        self._set_mode(False)
        total_loss, total_samples, correct, counted = 0.0, 0, 0, 0
        with no_grad():
            for inputs, targets in dataloader:
                batch = _batch_size(inputs)
                outputs = self._forward(inputs)
                loss = self._loss(outputs, targets)
                total_loss += float(loss.item()) * batch
                total_samples += batch
                out = _as_array(outputs)
                if out.ndim >= 2 and out.shape[-1] > 1:
                    predictions = out.argmax(axis=-1)
                    tgt = _as_array(targets)
                    if tgt.shape == out.shape:  # one-hot targets
                        tgt = tgt.argmax(axis=-1)
                    if tgt.shape == predictions.shape:
                        correct += int((predictions == tgt).sum())
                        counted += predictions.size
        avg = total_loss / total_samples if total_samples else 0.0
        self.history["eval_loss"].append(avg)
        return avg, (correct / counted if counted else 0.0)

    # ---- checkpoints ----
    def _scheduler_state(self):
        if self.scheduler is None:
            return None
        keys = ("max_lr", "min_lr", "total_epochs", "warmup_epochs")
        return {k: getattr(self.scheduler, k) for k in keys if hasattr(self.scheduler, k)}

    def save_checkpoint(self, path) -> None:
        """Save model, optimizer, epoch/step, history, scheduler settings and RNG
        states to ``path`` (safetensors, written atomically; parent folders are created)."""
        directory = os.path.dirname(os.path.abspath(os.fspath(path)))
        os.makedirs(directory, exist_ok=True)
        extra = {"history": self.history, "training_mode": self.training_mode, "scheduler": self._scheduler_state()}
        save_checkpoint(path, self.model, self.optimizer, step=self.step, epoch=self.epoch, extra=extra)

    def load_checkpoint(self, path) -> None:
        """Restore everything save_checkpoint wrote. The file is validated in full
        before anything changes; a damaged or mismatched file raises CheckpointError."""
        info = load_checkpoint(path, self.model, self.optimizer)
        extra = info["extra"] or {}
        self.epoch, self.step = info["epoch"], info["step"]
        history = extra.get("history")
        if isinstance(history, dict):
            self.history = {k: list(history.get(k, [])) for k in ("train_loss", "eval_loss", "learning_rates")}
        if "training_mode" in extra:
            self.training_mode = bool(extra["training_mode"])
        scheduler_state = extra.get("scheduler")
        if scheduler_state and self.scheduler is not None:
            for key, value in scheduler_state.items():
                if hasattr(self.scheduler, key):
                    setattr(self.scheduler, key, value)


def _parameters(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
