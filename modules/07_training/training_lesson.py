# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 07 — Training
#
# Training is one loop repeated: forward, loss, backward, step, zero_grad.
# `tinytorch.core.training` adds the pieces every real run needs: a learning
# rate schedule, gradient clipping, a `Trainer` that runs the loop, and
# checkpoints so a run can stop and resume.

# %%
import math
import os
import tempfile

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.training import CosineSchedule, Trainer, clip_grad_norm

# %% [markdown]
# ## Cosine schedule with warmup
# Large steps early, small steps late. During warmup (W epochs) the rate
# climbs linearly to `max_lr`, because the first gradients of a random model
# are unreliable. After that it follows half a cosine down to `min_lr`.

# %%
sched = CosineSchedule(max_lr=0.05, min_lr=0.005, total_epochs=20, warmup_epochs=2)
assert sched.get_lr(0) == 0.05 * 1 / 2 and sched.get_lr(1) == 0.05
for epoch in (2, 11, 15):
    progress = (epoch - 2) / (20 - 2)
    expected = 0.005 + (0.05 - 0.005) * (1 + math.cos(math.pi * progress)) / 2
    assert abs(sched(epoch) - expected) < 1e-15
assert sched.get_lr(2) == 0.05 and abs(sched.get_lr(11) - 0.0275) < 1e-15
assert sched.get_lr(20) == sched.get_lr(99) == 0.005

# %% [markdown]
# ## Gradient clipping
# One bad batch can give a huge gradient and throw the weights far away.
# `clip_grad_norm` scales *all* gradients by the same factor so their joint
# norm is at most `max_norm`. The direction does not change.

# %%
a = tt.Tensor(np.array([3.0, 0.0]), dtype=tt.float64, requires_grad=True)
b = tt.Tensor(np.array([4.0]), dtype=tt.float64, requires_grad=True)
((a * a).sum() + (b * b).sum()).backward()          # grads 2a, 2b: norm 10
total = clip_grad_norm([a, b], max_norm=1.0)
assert total == 10.0
norm_after = np.sqrt((a.grad.numpy() ** 2).sum() + (b.grad.numpy() ** 2).sum())
assert abs(norm_after - 1.0) < 1e-6
np.testing.assert_allclose(a.grad.numpy() / b.grad.numpy()[0], [0.75, 0.0])  # same direction

# %% [markdown]
# ## The Trainer
# Data: 2-D points, class 1 when x*y > 0 (the two "diagonal" quadrants). A
# straight line cannot separate them, so we need the hidden ReLU layer. Any
# iterable of `(inputs, targets)` batches works as the data.

# %%
tt.manual_seed(0)
rng = np.random.default_rng(0)
X = rng.normal(size=(128, 2)).astype(np.float32)
y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
batches = [(tt.Tensor(X[i:i + 32]), y[i:i + 32]) for i in range(0, 128, 32)]

model = Sequential(Linear(2, 16), ReLU(), Linear(16, 2))
trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss(),
                  scheduler=sched, grad_clip_norm=1.0)
first_loss = trainer.train_epoch(batches)
for _ in range(19):
    trainer.train_epoch(batches)
loss, accuracy = trainer.evaluate(batches)      # no graph, no weight change
print(f"loss {first_loss:.3f} -> {loss:.3f}, accuracy {accuracy:.3f}")
assert loss < first_loss / 4 and accuracy > 0.95
assert trainer.epoch == 20 and trainer.step == 20 * 4    # 4 batches per epoch
assert trainer.history["learning_rates"] == [sched(e) for e in range(20)]

# %% [markdown]
# ## Checkpoints
# A checkpoint stores the weights, the optimizer state and the epoch/step.
# We load it into a *fresh* model with different random weights, and it must
# then give exactly the same outputs.

# %%
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "run.safetensors")
    trainer.save_checkpoint(path)
    tt.manual_seed(123)
    fresh = Sequential(Linear(2, 16), ReLU(), Linear(16, 2))
    restored = Trainer(fresh, Adam(fresh.parameters(), lr=0.05), CrossEntropyLoss())
    assert not np.array_equal(fresh(batches[0][0]).numpy(), model(batches[0][0]).numpy())
    restored.load_checkpoint(path)
np.testing.assert_array_equal(fresh(tt.Tensor(X)).numpy(), model(tt.Tensor(X)).numpy())
assert (restored.epoch, restored.step) == (20, 80)
print("module 07 checks passed")
