# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 17 — Compression: pruning, low rank, distillation
#
# A trained network has more numbers than it needs. Three ways to use fewer:
#
# * **Pruning** sets weights to zero. *Unstructured* (magnitude) pruning
#   removes the individual weights with the smallest `|w|`, anywhere.
#   *Structured* pruning removes whole output neurons (a column of a Linear's
#   `(in, out)` weight) or whole conv channels, so the layer can be rebuilt
#   smaller.
# * **Low-rank factorization** replaces a weight `W (in, out)` by a product
#   `A (in, r) @ B (r, out)`: `r * (in + out)` numbers instead of `in * out`.
#   The SVD gives the best such product (Eckart–Young), and its error is
#   exactly the size of the singular values it drops.
# * **Knowledge distillation** trains a small *student* to imitate a big
#   *teacher*'s softened output distribution, not only the hard labels.
#
# And one systems question decides which of these is worth anything on a CPU:
# does the smaller model actually *run* faster? (Spoiler: zeros in a dense
# matrix are multiplied like any other number.)

# %%
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.perf import compression as engine

tt.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Worked example: the engine's pruning keeps its zeros through training
# `engine.magnitude_prune(model, sparsity)` zeroes the smallest weights of the
# whole model (biases are never pruned) and returns the keep-masks. The hard
# part is keeping them zero: Adam's running averages `m` and `v` still
# remember gradients from before pruning, so even with a zero gradient the
# next step would move a pruned weight. The engine registers a post-step hook
# with every optimizer that multiplies the weights by their masks again and
# clears the optimizer's state at the pruned positions.

# %%
model = Sequential(Linear(8, 16), ReLU(), Linear(16, 4))
opt = Adam(model.parameters(), lr=0.05, weight_decay=0.01)
x_demo = tt.Tensor(rng.standard_normal((32, 8)).astype(np.float32))
y_demo = rng.integers(0, 4, size=32)
loss_fn = CrossEntropyLoss()
for _ in range(5):                                  # build up Adam's history first
    opt.zero_grad(); loss_fn(model(x_demo), y_demo).backward(); opt.step()
masks = engine.magnitude_prune(model, 0.75)
print({name: f"{(~keep).sum()} of {keep.size} pruned" for name, keep in masks.items()})
for _ in range(20):
    opt.zero_grad(); loss_fn(model(x_demo), y_demo).backward(); opt.step()
print("sparsity after 20 more Adam steps:", engine.measure_sparsity(model))
assert engine.measure_sparsity(model) == 0.75

# %% [markdown]
# ## Exercise 1: `magnitude_mask(weight, sparsity)`
#
# Return a **bool keep-mask** of the same shape as the numpy array `weight`:
# `False` for the `round(sparsity * weight.size)` entries of smallest `|w|`,
# `True` for the rest.
#
# * The count must be exact. A threshold such as
#   `np.abs(w) >= np.percentile(np.abs(w), 100 * sparsity)` is not: the
#   percentile interpolates, and ties at the threshold keep too many.
# * Ties: rank the flattened `|w|` with a **stable** sort
#   (`np.argsort(..., kind="stable")`), so among equal magnitudes the lower
#   flat index (row-major order) is removed first. That is the engine's rule.
# * `sparsity` must be in `[0, 1)`: raise `ValueError` otherwise.

# %%
def magnitude_mask(weight, sparsity):
    """Bool array shaped like `weight`: False at the round(sparsity * size) smallest |w| (stable ties)."""
    ### HINT: order = np.argsort(np.abs(w).ravel(), kind="stable"); set keep[order[:k]] = False
    ### BEGIN SOLUTION
    if not 0 <= sparsity < 1:
        raise ValueError(f"magnitude_mask: sparsity must be in [0, 1), got {sparsity}")
    w = np.asarray(weight)
    k = int(round(sparsity * w.size))
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    keep = np.ones(w.size, dtype=bool)
    keep[order[:k]] = False
    return keep.reshape(w.shape)
    ### END SOLUTION


# %% [markdown]
# Check: exact counts, ties by position, and the same mask as the engine's
# per-layer pruning.

# %%
w_small = np.array([[1.0, -1.0, 2.0], [1.0, 3.0, -1.0]])
np.testing.assert_array_equal(magnitude_mask(w_small, 0.5), [[False, False, True], [False, True, True]])
w_rand = rng.standard_normal((20, 30))
for s in (0.0, 0.1, 0.5, 0.9):
    mine = magnitude_mask(w_rand, s)
    assert (~mine).sum() == round(s * w_rand.size)
    ref = engine.magnitude_prune([tt.Tensor(w_rand.copy(), requires_grad=True)], s, scope="layer")["0"]
    np.testing.assert_array_equal(mine, ref)
try:
    magnitude_mask(w_rand, 1.0)
    raise AssertionError("sparsity 1.0 should raise ValueError")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## Exercise 2: `structured_mask(weight, fraction)`
#
# `weight` is a Linear's `(in, out)` weight: **column** `j` holds every
# weight feeding output neuron `j`. Score each column by its L2 norm
# `sqrt(sum_i w[i, j]^2)`, remove the `round(fraction * out)` columns of
# smallest norm (stable ties: the lower column index first), and return a
# bool keep-mask **over the columns**, shape `(out,)`.

# %%
def structured_mask(weight, fraction):
    """Bool (out,) mask of the columns of a (in, out) weight kept after removing the lowest-norm fraction."""
    ### HINT: norms = np.sqrt((w ** 2).sum(axis=0)); drop the first round(fraction * out) of a stable argsort
    ### BEGIN SOLUTION
    w = np.asarray(weight, dtype=np.float64)
    norms = np.sqrt((w * w).sum(axis=0))
    k = int(round(fraction * norms.size))
    keep = np.ones(norms.size, dtype=bool)
    keep[np.argsort(norms, kind="stable")[:k]] = False
    return keep
    ### END SOLUTION


# %% [markdown]
# Check by hand (columns of norms `sqrt(3)`, `0.1 sqrt(3)`, `3 sqrt(3)`,
# `0.2 sqrt(3)`), then against the engine's `structured_prune` on a Linear.

# %%
w_cols = np.array([[1, 0.1, 3, 0.2]] * 3)
np.testing.assert_array_equal(structured_mask(w_cols, 0.5), [True, False, True, False])
layer = Linear(12, 10)
w_layer = np.asarray(layer.weight.data).copy()
ref = engine.structured_prune(layer, 0.3)["bias"]
np.testing.assert_array_equal(structured_mask(w_layer, 0.3), ref)

# %% [markdown]
# ## Exercise 3: `low_rank_factors(weight, rank)`
#
# Return `(A, B)`, numpy arrays of shapes `(in, rank)` and `(rank, out)`,
# such that `A @ B` is the best rank-`rank` approximation of `weight`:
#
#     W = U diag(s) V^T          (np.linalg.svd(W, full_matrices=False))
#     A = U[:, :r] * sqrt(s[:r])       B = sqrt(s[:r])[:, None] * V^T[:r]
#
# Splitting `sqrt(s)` between the two keeps both factors of similar size
# (good for training them afterwards). The Frobenius error
# `||W - A @ B||` is then `sqrt(s[r]^2 + s[r+1]^2 + ...)`, the singular
# values you dropped. Raise `ValueError` unless `1 <= rank <= min(in, out)`.

# %%
def low_rank_factors(weight, rank):
    """(A (in, rank), B (rank, out)) with A @ B the best rank-`rank` approximation of weight (via the SVD)."""
    ### HINT: u, s, vt = np.linalg.svd(w, full_matrices=False); split sqrt(s[:rank]) between u and vt
    ### BEGIN SOLUTION
    w = np.asarray(weight, dtype=np.float64)
    if not 1 <= rank <= min(w.shape):
        raise ValueError(f"low_rank_factors: rank must be in 1..{min(w.shape)}, got {rank}")
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]
    ### END SOLUTION


# %% [markdown]
# Check: the error is the SVD tail, and the product is the engine's
# `low_rank_factorize` (its `first @ second`).

# %%
w_lr = rng.standard_normal((16, 10))
s_all = np.linalg.svd(w_lr, compute_uv=False)
for r in (1, 4, 10):
    A, B = low_rank_factors(w_lr, r)
    assert A.shape == (16, r) and B.shape == (r, 10)
    np.testing.assert_allclose(np.linalg.norm(w_lr - A @ B), np.sqrt((s_all[r:] ** 2).sum()), atol=1e-10)
lin = Linear(16, 10)
lr_layer = engine.low_rank_factorize(lin, rank=3)
A, B = low_rank_factors(np.asarray(lin.weight.data), 3)
np.testing.assert_allclose(A @ B, np.asarray(lr_layer.first.data) @ np.asarray(lr_layer.second.data), atol=1e-5)

# %% [markdown]
# ## Exercise 4: `distillation_loss(student_logits, teacher_logits, labels, temperature, alpha)`
#
# Hinton's distillation loss for a batch of `N` rows:
#
#     p = softmax(teacher / T)              q = softmax(student / T)
#     soft = T^2 * (1/N) * sum_rows sum_c p_c (log p_c - log q_c)      (KL(p || q))
#     loss = alpha * soft + (1 - alpha) * cross_entropy(student, labels)
#
# * `student_logits` is a Tensor (N, C) that may require grad; the loss must
#   be a scalar Tensor built from tinytorch ops so `backward()` reaches it.
#   `teacher_logits` is a constant (a Tensor or an array): no gradient.
# * A large `T` flattens both distributions, so the student also learns how
#   the teacher ranks the *wrong* classes ("dark knowledge"). The gradient of
#   the soft term shrinks like `1/T^2`; multiplying by `T^2` undoes that.
# * Use `tt.log_softmax(x, -1)` (stable), `.exp()`, `.sum()` and
#   `tt.cross_entropy(logits, labels)` for the hard part. Do not call
#   `engine.distillation_loss`: that is what the grader compares with.

# %%
def distillation_loss(student_logits, teacher_logits, labels, temperature=3.0, alpha=0.7):
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) (batch mean) + (1 - alpha) * CE(s, labels); a Tensor."""
    ### HINT: log_p = tt.log_softmax(teacher / T, -1) (a constant), log_q = tt.log_softmax(student * (1/T), -1)
    ### BEGIN SOLUTION
    T = float(temperature)
    n = student_logits.shape[0]
    teacher = np.asarray(teacher_logits.detach().data if isinstance(teacher_logits, tt.Tensor) else teacher_logits)
    log_p = tt.log_softmax(tt.Tensor(teacher / T, dtype=student_logits.dtype), -1)
    log_q = tt.log_softmax(student_logits * (1.0 / T), -1)
    soft = (log_p.exp() * (log_p - log_q)).sum() * (T * T / n)
    hard = tt.cross_entropy(student_logits, tt.Tensor(np.asarray(labels), dtype=tt.int64))
    return soft * alpha + hard * (1.0 - alpha)
    ### END SOLUTION


# %% [markdown]
# Check: the engine's value and gradient, and two limits you can verify in
# your head: with `alpha = 0` it is the plain cross-entropy; a student equal
# to the teacher has a soft term of exactly 0.

# %%
s_log = tt.Tensor(rng.standard_normal((6, 5)), dtype=tt.float64, requires_grad=True)
t_log = rng.standard_normal((6, 5)) * 2
labels = rng.integers(0, 5, size=6)
mine = distillation_loss(s_log, t_log, labels, temperature=4.0, alpha=0.6)
mine.backward()
s_ref = tt.Tensor(np.asarray(s_log.data).copy(), dtype=tt.float64, requires_grad=True)
ref = engine.distillation_loss(s_ref, t_log, labels, temperature=4.0, alpha=0.6)
ref.backward()
np.testing.assert_allclose(mine.item(), ref.item(), rtol=1e-12)
np.testing.assert_allclose(np.asarray(s_log.grad), np.asarray(s_ref.grad), rtol=1e-10, atol=1e-14)
np.testing.assert_allclose(distillation_loss(s_ref, t_log, labels, alpha=0.0).item(),
                           tt.cross_entropy(s_ref, tt.Tensor(labels, dtype=tt.int64)).item(), rtol=1e-12)
same = distillation_loss(tt.Tensor(t_log, dtype=tt.float64), t_log, labels, alpha=1.0).item()
assert abs(same) < 1e-12, same

# %% [markdown]
# ## Systems: what compression buys on this machine
#
# ### Sparsity against accuracy
# An MLP on TinyDigits (8x8 digit images made by `tinytorch.data`), trained
# for a few seconds, then pruned globally by magnitude **without
# retraining**, then (at 90 %) fine-tuned for 100 Adam steps with the masks
# held by the engine.

# %%
from tinytorch.data import load_tiny_digits

xtr, ytr = load_tiny_digits("train")
xte, yte = load_tiny_digits("test")
xtr_t, xte_t = tt.Tensor(xtr.reshape(-1, 64)), tt.Tensor(xte.reshape(-1, 64))


def accuracy(net):
    return float((np.asarray(net(xte_t)).argmax(1) == yte).mean())


def fit(net, steps, lr=0.01):
    o = Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        o.zero_grad(); loss_fn(net(xtr_t), ytr).backward(); o.step()
    return net


tt.manual_seed(1)
dense = fit(Sequential(Linear(64, 128), ReLU(), Linear(128, 10)), 150)
base_state = dense.state_dict()
print(f"dense: {accuracy(dense):.3f} test accuracy, {dense.num_parameters()} parameters")
for s in (0.5, 0.8, 0.9, 0.95, 0.98):
    dense.load_state_dict(base_state)
    engine.magnitude_prune(dense, s)
    print(f"  pruned to {engine.measure_sparsity(dense):.2f} sparsity: {accuracy(dense):.3f}")
    engine.remove_masks(dense)
dense.load_state_dict(base_state)
engine.magnitude_prune(dense, 0.9)
fit(dense, 100)
print(f"90% pruned + 100 fine-tuning steps: {accuracy(dense):.3f}, sparsity still {engine.measure_sparsity(dense):.2f}")

# %% [markdown]
# ### Low rank: parameters and bytes
# A 512 x 512 Linear factorized at several ranks (float32, 4 bytes each).
# A random matrix has no low-rank structure, so the error is large; trained
# weights usually concentrate their energy in fewer singular values.

# %%
big = Linear(512, 512)
for r in (16, 64, 128, 256):
    f = engine.low_rank_factorize(big, rank=r)
    n_lr = f.first.size + f.second.size
    w64 = np.asarray(big.weight.data).astype(np.float64)
    err = np.linalg.norm(w64 - np.asarray(f.first.data) @ np.asarray(f.second.data)) / np.linalg.norm(w64)
    print(f"rank {r:3d}: {n_lr:7d} weights ({n_lr * 4 / 1024:6.0f} KiB) vs {512 * 512} "
          f"({512 * 512 * 4 / 1024:.0f} KiB), relative error {err:.3f}")

# %% [markdown]
# The trained digits model is another story: its first layer (64 x 128)
# keeps its accuracy at a fraction of the rank.

# %%
engine.remove_masks(dense)
dense.load_state_dict(base_state)
for r in (4, 8, 16, 32):
    small = Sequential(engine.low_rank_factorize(dense.layers[0], rank=r), ReLU(), dense.layers[2])
    print(f"first layer at rank {r:2d}: {r * (64 + 128):5d} weights instead of {64 * 128}, "
          f"test accuracy {accuracy(small):.3f}")

# %% [markdown]
# ### Does sparsity make the matmul faster?
# The engine's matmul calls OpenBLAS `sgemm`, a dense kernel: it multiplies
# every entry, zero or not. So a 90 %-zero weight costs the same time as the
# dense one. Structured pruning is different: remove half the output neurons
# and the GEMM itself has half the columns. (Medians of a few runs; numbers
# depend on your machine; interleaved rounds, medians.)

# %%
def interleaved_medians(fns, rounds=9):
    """Median time of each function, run in interleaved rounds (A, B, C, A, B, C, ...) after a warm-up,
    so a noisy neighbour on the machine slows all of them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [sorted(t)[len(t) // 2] for t in times]


xb = tt.Tensor(rng.standard_normal((256, 512)).astype(np.float32))
w_dense = rng.standard_normal((512, 512)).astype(np.float32)
w_sparse = w_dense * magnitude_mask(w_dense, 0.9)
w_half = np.ascontiguousarray(w_dense[:, structured_mask(w_dense, 0.5)])
wd, ws, wh = tt.Tensor(w_dense), tt.Tensor(w_sparse), tt.Tensor(w_half)
t_dense, t_sparse, t_half = interleaved_medians([lambda: xb @ wd, lambda: xb @ ws, lambda: xb @ wh])
print(f"dense  (256x512) @ (512x512): {t_dense * 1e6:7.0f} us")
print(f"90% zeros, same shape       : {t_sparse * 1e6:7.0f} us  ({t_sparse / t_dense:.2f}x the dense time)")
print(f"half the columns (512x256)  : {t_half * 1e6:7.0f} us  ({t_half / t_dense:.2f}x the dense time)")

# %% [markdown]
# Unstructured sparsity saves *storage* only if you store it sparsely (CSR:
# a value and a column index per nonzero, so it pays off only beyond about
# 50 % zeros) and *time* only with a sparse kernel, which on a CPU beats a
# tuned dense GEMM only at very high sparsity. Structured pruning, low rank
# and distillation all give a smaller *dense* model, which every kernel runs
# faster.
#
# ## Read the engine
# * `csrc/ops/matmul.cpp`: the dense `cblas_sgemm` call every Linear ends in;
#   it has no idea which entries are zero.
# * `csrc/nn/optimizers.cpp`: the fused SGD/Adam steps. Pruning does not
#   change them: `python/tinytorch/core/optimizers.py` runs post-step hooks
#   after the C++ step, and `python/tinytorch/perf/compression.py` uses one to
#   re-apply masks and clear the optimizer state at pruned positions.
# * `csrc/autograd/fused_ops.cpp` (`linear`) and `csrc/autograd/fused_backward.cpp`
#   (`LinearBackward`): the fused Linear forward/backward a `LowRankLinear` calls twice.

# %%
print("module 17 checks passed")
