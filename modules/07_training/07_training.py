# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 07 — Training
#
# A model, a loss and an optimizer do nothing by themselves. Training is one
# short loop repeated thousands of times:
#
#     for each step:
#         prediction = model(X)              forward
#         loss = loss_fn(prediction, Y)      how wrong are we?
#         optimizer.zero_grad()              forget the previous step's gradients
#         loss.backward()                    d loss / d every parameter
#         optimizer.step()                   move every parameter downhill
#
# Real runs wrap that loop with a few guards, each a few lines, and each the
# difference between a run that trains and one that blows up:
#
# * **gradient clipping**: one unlucky batch can give a gradient a thousand
#   times larger than usual and throw the weights far away. Capping the
#   gradient's size (by its norm or elementwise) stops that.
# * **loss scaling**: in low precision (float16) small gradients round to
#   zero. Multiplying the loss by a large `S` multiplies every gradient by `S`
#   (the chain rule is linear), lifting them out of the underflow zone; divide
#   by `S` afterwards. If that overflowed to inf, skip the step.
# * **a learning-rate schedule**: a short warmup while the first gradients of
#   a random model are unreliable, then a slow decay so the weights settle.
#
# You write the loop and these four guards. The engine has all of them
# (`tinytorch.nn.utils`, `tinytorch.core.schedules`, `tinytorch.core.training.Trainer`),
# and the checks compare with it.

# %%
import math
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.schedules import CosineSchedule
from tinytorch.nn import utils as engine_utils

# %% [markdown]
# ## Worked example: one loop, written out
# Fit `y = 2x - 1` with a single `Linear(1, 1)`. Each pass prints the loss; it
# should fall towards 0 while the weight and bias approach 2 and -1.

# %%
tt.manual_seed(0)
X = tt.Tensor(np.linspace(-1, 1, 16, dtype=np.float32).reshape(16, 1))
Y = tt.Tensor(2 * np.asarray(X) - 1)
line = Linear(1, 1)
loss_fn = MSELoss()
opt = SGD(line.parameters(), lr=0.5)
for step in range(40):
    loss = loss_fn(line(X), Y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0:
        print(f"step {step:2d}: loss {loss.item():.5f}")
print("weight", float(np.asarray(line.weight).ravel()[0]), "bias", float(np.asarray(line.bias)[0]))
assert abs(float(np.asarray(line.weight).ravel()[0]) - 2) < 1e-3 and abs(float(np.asarray(line.bias)[0]) + 1) < 1e-3

# %% [markdown]
# ## Exercise 1: `train_steps(model, loss_fn, optimizer, X, Y, steps)`
#
# Run the loop above `steps` times on the same batch and return the list of
# the `steps` losses as Python floats (`float(loss.item())`), each taken
# *before* that step's update. The order inside a step is fixed: forward
# (`model(X)`, exactly once: a model with dropout draws random numbers on each
# call), `loss_fn(prediction, Y)`, `optimizer.zero_grad()`, `loss.backward()`,
# `optimizer.step()`. With the same seed, your loop must give exactly the
# losses of the engine's loop.

# %%
def train_steps(model, loss_fn, optimizer, X, Y, steps):
    """`steps` training steps on (X, Y); returns the losses (floats) before each update."""
    ### HINT: per step: loss = loss_fn(model(X), Y); zero_grad(); loss.backward(); step(); keep float(loss.item())
    ### BEGIN SOLUTION
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(X), Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses
    ### END SOLUTION


# %%
tt.manual_seed(0)
line = Linear(1, 1)
losses = train_steps(line, MSELoss(), SGD(line.parameters(), lr=0.5), X, Y, 40)
assert len(losses) == 40 and all(isinstance(v, float) for v in losses)
assert losses[-1] < 1e-6 < losses[0]

# the same run with the engine's own loop, from the same seed: identical losses
tt.manual_seed(0)
ref = Linear(1, 1)
ref_opt, ref_losses = SGD(ref.parameters(), lr=0.5), []
for _ in range(40):
    loss = MSELoss()(ref(X), Y)
    ref_opt.zero_grad()
    loss.backward()
    ref_opt.step()
    ref_losses.append(loss.item())
assert losses == ref_losses

# %% [markdown]
# ## Exercise 2: `clip_grad_norm(params, max_norm)`
#
# Treat all gradients as one long vector and compute its L2 norm
# `total = sqrt(sum over params of sum(grad ** 2))` (skip parameters whose
# `.grad` is `None`; none at all gives 0.0). If `total > max_norm`, multiply
# **every** gradient in place by `max_norm / (total + 1e-6)` (PyTorch's
# formula; the 1e-6 avoids dividing by zero). Return `total`, the norm
# *before* clipping, as a Python float.
#
# Scaling all gradients by one factor keeps the update's direction and only
# shortens it. In place means the same gradient Tensors change:
# `p.grad *= factor` works (a gradient does not require grad itself).
# Compute the sum of squares in float64 (e.g. `np.asarray(p.grad, dtype=np.float64)`)
# so float32 gradients with large entries do not lose precision.

# %%
def clip_grad_norm(params, max_norm):
    """Scales all gradients in place so their joint L2 norm is at most max_norm; returns the norm before."""
    ### HINT: total = sqrt(sum of squares of every grad); if total > max_norm: p.grad *= max_norm / (total + 1e-6)
    ### BEGIN SOLUTION
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float((np.asarray(g, dtype=np.float64) ** 2).sum()) for g in grads))
    if total > max_norm:
        factor = max_norm / (total + 1e-6)
        for g in grads:
            g *= factor
    return total
    ### END SOLUTION


# %% [markdown]
# By hand: gradients `[3, 0]` and `[4]` have joint norm 5. Clipped to 1 they
# become `[0.6, 0]` and `[0.8]` (times `5 / 5.000001`); the direction is kept.

# %%
a = tt.Tensor(np.array([1.0, 1.0]), requires_grad=True)
b = tt.Tensor(np.array([1.0]), requires_grad=True)
a.grad, b.grad = tt.Tensor(np.array([3.0, 0.0])), tt.Tensor(np.array([4.0]))
grad_a = a.grad
assert clip_grad_norm([a, b], 1.0) == 5.0
assert a.grad is grad_a                                         # in place
np.testing.assert_allclose(np.asarray(a.grad), [0.6 * 5 / 5.000001, 0.0], rtol=1e-6)
np.testing.assert_allclose(np.asarray(b.grad), [0.8 * 5 / 5.000001], rtol=1e-6)
assert abs(clip_grad_norm([a, b], 10.0) - 5 / 5.000001) < 1e-6        # already small: unchanged
np.testing.assert_allclose(np.asarray(b.grad), [0.8 * 5 / 5.000001], rtol=1e-6)

# %% [markdown]
# ## Exercise 3: `clip_grad_value(params, clip_value)`
#
# Clamp every gradient element in place into `[-clip_value, clip_value]`
# (skip `None` gradients; return `None`). Cruder than clipping the norm: it
# changes the direction of the update, but it is cheap and needs no global
# sum. Write the clamped values back into the same gradient Tensor, e.g.
# `p.grad.copy_(p.grad.clip(-c, c))`.

# %%
def clip_grad_value(params, clip_value):
    """Clamps every gradient element in place to [-clip_value, clip_value]."""
    ### HINT: for each p with a grad: p.grad.copy_(p.grad.clip(-clip_value, clip_value))
    ### BEGIN SOLUTION
    for p in params:
        if p.grad is not None:
            p.grad.copy_(p.grad.clip(-clip_value, clip_value))
    ### END SOLUTION


# %%
a.grad = tt.Tensor(np.array([-3.0, 0.25]))
grad_a = a.grad
clip_grad_value([a, b], 0.5)
assert a.grad is grad_a
np.testing.assert_array_equal(np.asarray(a.grad), [-0.5, 0.25])
np.testing.assert_array_equal(np.asarray(b.grad), [0.5])

# %% [markdown]
# ## Exercise 4: `scaled_backward(loss, params, scale)`
#
# Loss scaling, as a mixed-precision run does it:
#
# 1. `(loss * scale).backward()`: every gradient comes out multiplied by `scale`;
# 2. divide each parameter's gradient by `scale` in place (skip `None` grads);
# 3. if every gradient is finite (no inf, no NaN), return `True`;
# 4. otherwise the scale was too large and something overflowed: set **every**
#    parameter's `.grad` to `None` and return `False`. Our choice: `None`
#    rather than zeros, so an `optimizer.step()` that follows anyway skips
#    every parameter (zeros would still let momentum and weight decay move the
#    weights). The caller should lower the scale and try the next batch.
#
# Call it after `optimizer.zero_grad()`, as you would `loss.backward()`.
# With a power-of-two `scale` the division is exact, so the gradients equal
# those of a plain `loss.backward()` bit for bit.

# %%
def scaled_backward(loss, params, scale):
    """Backward on loss * scale, unscale the grads; True if all finite, else grads -> None and False."""
    ### HINT: (loss * scale).backward(); p.grad /= scale; check np.isfinite on every grad; on failure p.grad = None
    ### BEGIN SOLUTION
    (loss * scale).backward()
    finite = True
    for p in params:
        if p.grad is not None:
            p.grad /= scale
            finite = finite and bool(np.isfinite(np.asarray(p.grad)).all())
    if not finite:
        for p in params:
            p.grad = None
    return finite
    ### END SOLUTION


# %%
w = tt.Tensor(np.array([0.5, -1.5], dtype=np.float32), requires_grad=True)
assert scaled_backward((w * w).sum(), [w], 1024.0) is True
np.testing.assert_array_equal(np.asarray(w.grad), [1.0, -3.0])       # exact: 2w
w.grad = None
assert scaled_backward((w * w).sum(), [w], 2.0 ** 127) is False        # 2w * 2^127 overflows float32
assert w.grad is None

# %% [markdown]
# ## Exercise 5: `cosine_schedule(step, total_steps, lr_max, lr_min=0.0, warmup_steps=0)`
#
# The learning rate for step `step` (0-based), the same as the engine's
# `CosineSchedule(max_lr, min_lr, total_epochs=total_steps, warmup_epochs=warmup_steps)`:
#
#     step < W:        lr = lr_max * (step + 1) / W                     (linear warmup)
#     W <= step < T:   progress = (step - W) / (T - W)                  (0 -> 1)
#                      lr = lr_min + (lr_max - lr_min) * (1 + cos(pi * progress)) / 2
#     step >= T:       lr = lr_min
#
# with `W = warmup_steps`, `T = total_steps`. The warmup starts at
# `lr_max / W`, not 0, so the very first step already trains, and reaches
# `lr_max` at step `W - 1`; the cosine starts from `lr_max` at step `W` and
# arrives at `lr_min` at step `T`. Return a Python float.

# %%
def cosine_schedule(step, total_steps, lr_max, lr_min=0.0, warmup_steps=0):
    """Linear warmup for warmup_steps steps, then half a cosine from lr_max to lr_min at total_steps."""
    ### HINT: warmup lr_max * (step + 1) / W; then lr_min + (lr_max - lr_min) * (1 + cos(pi * p)) / 2; lr_min from T on
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return float(lr_max * (step + 1) / warmup_steps)
    if step >= total_steps:
        return float(lr_min)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return float(lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * progress)) / 2)
    ### END SOLUTION


# %%
assert cosine_schedule(0, 10, 1.0) == 1.0 and cosine_schedule(10, 10, 1.0) == 0.0
assert abs(cosine_schedule(5, 10, 1.0) - 0.5) < 1e-12                  # halfway: the midpoint
assert cosine_schedule(0, 20, 0.1, 0.01, warmup_steps=4) == 0.1 / 4   # warmup: 0.025, 0.05, 0.075, 0.1
assert abs(cosine_schedule(3, 20, 0.1, 0.01, warmup_steps=4) - 0.1) < 1e-15
assert cosine_schedule(99, 20, 0.1, 0.01, warmup_steps=4) == 0.01
sched = CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=20, warmup_epochs=4)
for s in range(25):
    assert abs(cosine_schedule(s, 20, 0.1, 0.01, warmup_steps=4) - sched(s)) < 1e-15, s

# %% [markdown]
# ## Putting it together
# Points in the plane, class 1 in the two "diagonal" quadrants (`x * y > 0`):
# no straight line separates them, so the model needs its hidden layer. Each
# step: the schedule sets `opt.lr`, the loss is scaled for backward, the
# gradients are clipped, then the optimizer steps.

# %%
tt.manual_seed(0)
r = np.random.default_rng(0)
pts = r.standard_normal((256, 2)).astype(np.float32)
labels = (pts[:, 0] * pts[:, 1] > 0).astype(np.int64)
Xq, Yq = tt.Tensor(pts), tt.Tensor(labels)
model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
params = model.parameters()
opt, loss_fn, total = Adam(params, lr=0.05), CrossEntropyLoss(), 150
history, norms = [], []
for step in range(total):
    opt.lr = cosine_schedule(step, total, 0.05, 0.001, warmup_steps=10)
    loss = loss_fn(model(Xq), Yq)
    opt.zero_grad()
    if scaled_backward(loss, params, 256.0):
        norms.append(clip_grad_norm(params, 0.25))
        opt.step()
    history.append(float(loss.item()))
accuracy = float((np.asarray(model(Xq)).argmax(-1) == labels).mean())
print(f"loss {history[0]:.3f} -> {history[-1]:.3f}, accuracy {accuracy:.3f}, "
      f"largest gradient norm before clipping {max(norms):.2f}")
assert history[-1] < history[0] / 3 and accuracy > 0.9

# %% [markdown]
# ## Systems: where a training step's time and memory go
# A step has three parts with very different costs: the forward pass, the
# backward pass (roughly twice the forward's FLOPs: for each matmul it needs
# a gradient for both inputs), and the optimizer step (a few passes over the
# parameters, no matmul). Clipping adds one pass over the gradients. Memory:
# weights, gradients (same size), Adam's two buffers (twice the size), plus
# the activations the forward saved for backward (these grow with the batch).

# %%
def median_ms(fn, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


tt.manual_seed(1)
big = Sequential(Linear(256, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10))
bp = big.parameters()
xb = tt.Tensor(np.random.default_rng(1).standard_normal((128, 256)).astype(np.float32))
yb = tt.Tensor(np.random.default_rng(2).integers(0, 10, 128))
bopt = Adam(bp, lr=1e-3)
n_params = sum(p.numel() for p in bp)
state = {}


def forward():
    state["loss"] = CrossEntropyLoss()(big(xb), yb)


def backward():
    bopt.zero_grad()
    forward()
    state["loss"].backward()


t_fwd = median_ms(forward)
t_fwd_bwd = median_ms(backward)
t_clip = median_ms(lambda: clip_grad_norm(bp, 1.0))
t_clip_engine = median_ms(lambda: engine_utils.clip_grad_norm_(bp, 1.0))
t_step = median_ms(bopt.step)
flops = 2 * 128 * (256 * 512 + 512 * 512 + 512 * 10)
print(f"{n_params} parameters: weights {4 * n_params / 1e6:.2f} MB, grads {4 * n_params / 1e6:.2f} MB, "
      f"Adam state {8 * n_params / 1e6:.2f} MB")
print(f"forward {t_fwd:.2f} ms ({flops / 1e6:.0f} MFLOP, {flops / t_fwd / 1e6:.1f} GFLOP/s); "
      f"backward ~{t_fwd_bwd - t_fwd:.2f} ms; Adam step {t_step:.2f} ms")
print(f"clip_grad_norm: yours {t_clip:.2f} ms, engine {t_clip_engine:.2f} ms")

# %% [markdown]
# ## Read the engine
# * `csrc/nn/grad_utils.cpp` — the norm, clamp, scale and is-finite passes over
#   a whole parameter list in one C++ call each (behind `tinytorch.nn.utils`,
#   which also has `GradScaler`, dynamic loss scaling that adapts `S`).
# * `csrc/autograd/engine.cpp` — what `loss.backward()` runs: the graph walked
#   in reverse, gradients accumulated into each leaf's `.grad`.
# * `csrc/nn/optimizers.cpp` — the fused `step()` of module 06.
# * `python/tinytorch/core/training.py` and `python/tinytorch/core/schedules.py` —
#   the engine's `Trainer` (epochs, evaluation, gradient accumulation,
#   checkpoints) and `CosineSchedule`.

# %%
print("module 07 checks passed")
