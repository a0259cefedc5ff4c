"""Module 17: pruning, masks that survive optimizer steps, low rank, distillation.

Exact counts for pruning, the removed weights checked to be the smallest
(ties by flat index), masks held through many fused SGD/Adam/AdamW steps
with momentum and weight decay, the low-rank error against numpy's SVD tail,
and the distillation loss and gradient against PyTorch and finite
differences.
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import gradcheck
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import SGD, Adam, AdamW
from tinytorch.core.spatial import Conv2d
from tinytorch.perf import compression as C
from tinytorch.perf.compression import (Compressor, KnowledgeDistillation, distillation_loss, get_masks,
                                        low_rank_approximate, low_rank_factorize, magnitude_prune,
                                        measure_sparsity, remove_masks, shrink_linear, structured_prune)

from conftest import torch_or_skip

pytestmark = pytest.mark.module17


def mlp(seed=0, sizes=(8, 16, 4)):
    tt.manual_seed(seed)
    return Sequential(Linear(sizes[0], sizes[1]), ReLU(), Linear(sizes[1], sizes[2]))


def set_weight(t, values):
    np.asarray(t.data)[...] = values


def train(model, opt, steps, seed=1):
    rng = np.random.default_rng(seed)
    loss_fn = CrossEntropyLoss()
    for _ in range(steps):
        x = tt.Tensor(rng.standard_normal((6, 8)).astype(np.float32))
        y = rng.integers(0, 4, size=6)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


# ------------------------------------------------------------------ sparsity and magnitude pruning
def test_measure_sparsity_counts_zero_weights_not_biases():
    m = mlp()
    set_weight(m[0].weight, 1.0)
    set_weight(m[2].weight, 1.0)
    np.asarray(m[0].weight.data)[:2] = 0      # 2 rows x 16 = 32 zeros of 128 + 64 = 192 weights
    assert measure_sparsity(m) == 32 / 192    # biases (all zero) do not count
    assert measure_sparsity(tt.Tensor(np.array([[0.0, 1.0], [0.0, 0.0]]))) == 0.75
    assert Compressor.measure_sparsity is measure_sparsity or Compressor().measure_sparsity(m) == 32 / 192


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.73, 0.9, 0.99])
def test_magnitude_prune_global_exact_count_and_smallest_removed(sparsity):
    m = mlp(3)
    before = np.concatenate([np.abs(np.asarray(p.data)).ravel() for p in (m[0].weight, m[2].weight)])
    masks = magnitude_prune(m, sparsity)
    assert set(masks) == {"layers.0.weight", "layers.2.weight"}
    keep = np.concatenate([masks["layers.0.weight"].ravel(), masks["layers.2.weight"].ravel()])
    removed = int(round(sparsity * before.size))
    assert (~keep).sum() == removed
    assert measure_sparsity(m) == removed / before.size
    if 0 < removed < before.size:
        assert before[~keep].max() <= before[keep].min()   # every removed |w| <= every kept |w|
    after = np.concatenate([np.asarray(p.data).ravel() for p in (m[0].weight, m[2].weight)])
    assert np.all(after[~keep] == 0) and np.all(after[keep] != 0)


def test_magnitude_prune_per_layer_prunes_each_tensor_to_the_sparsity():
    m = mlp(4)
    big = np.asarray(m[2].weight.data).copy()
    big += np.where(big >= 0, 10.0, -10.0)                 # |w| >= 10: global pruning spares this layer
    set_weight(m[2].weight, big)
    masks = magnitude_prune(m, 0.25, scope="layer")
    assert (~masks["layers.0.weight"]).sum() == 32 and (~masks["layers.2.weight"]).sum() == 16
    m2 = mlp(4)
    set_weight(m2[2].weight, big)
    g = magnitude_prune(m2, 0.25)
    assert (~g["layers.2.weight"]).sum() == 0 and (~g["layers.0.weight"]).sum() == 48


def test_magnitude_prune_ties_go_to_the_lower_flat_index():
    w = tt.Tensor(np.array([[1.0, -1.0, 2.0], [1.0, 3.0, -1.0]]), requires_grad=True)
    keep = magnitude_prune([w], 0.5)["0"]
    # |w| = [1, 1, 2, 1, 3, 1]: four tied ones, the first three in row-major order go
    np.testing.assert_array_equal(keep, [[False, False, True], [False, True, True]])
    np.testing.assert_array_equal(np.asarray(w.data), [[0, 0, 2], [0, 3, -1]])


def test_pruned_weights_stay_pruned_when_pruning_again():
    m = mlp(5)
    first = magnitude_prune(m, 0.5)
    set_weight(m[0].weight, np.where(first["layers.0.weight"], np.asarray(m[0].weight.data), 0))
    second = magnitude_prune(m, 0.3)                      # less than before: nothing grows back
    assert measure_sparsity(m) == 0.5
    for name in first:
        assert not np.any(second[name] & ~first[name])


# ------------------------------------------------------------------ masks survive optimizer steps
OPTIMIZERS = [
    ("sgd", lambda ps: SGD(ps, lr=0.1)),
    ("sgd-momentum-wd", lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd-nesterov", lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
    ("adam-wd", lambda ps: Adam(ps, lr=0.05, weight_decay=0.1)),
    ("adamw", lambda ps: AdamW(ps, lr=0.05, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_masks_survive_steps_even_with_optimizer_history(name, make):
    m = mlp(6)
    opt = make(m.parameters())
    train(m, opt, 5)                 # momentum / Adam state is nonzero everywhere before pruning
    masks = magnitude_prune(m, 0.6)
    smasks = structured_prune(m, 0.25, layers=[m[0]])
    train(m, opt, 20, seed=2)
    for p, keep in [(m[0].weight, masks["layers.0.weight"] & smasks["layers.0.weight"]),
                    (m[2].weight, masks["layers.2.weight"]), (m[0].bias, smasks["layers.0.bias"])]:
        values = np.asarray(p.data)
        assert np.all(values[~keep] == 0), name
    assert np.count_nonzero(np.asarray(m[2].weight.data)[masks["layers.2.weight"]]) > 0   # the rest still trains
    for buffers in ("momentum_buffers", "m_buffers", "v_buffers"):
        for p, buf in zip(opt.params, getattr(opt, buffers, [])):
            if p is m[2].weight and buf is not None:
                assert np.all(np.asarray(buf.data)[~masks["layers.2.weight"]] == 0)


def test_optimizer_created_after_pruning_and_gradients_are_masked():
    m = mlp(7)
    masks = magnitude_prune(m, 0.5)
    opt = Adam(m.parameters(), lr=0.05)
    x = tt.Tensor(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
    CrossEntropyLoss()(m(x), [0, 1, 2, 3]).backward()
    assert np.all(np.asarray(m[0].weight.grad)[~masks["layers.0.weight"]] == 0)   # the gradient hook
    opt.step()
    assert measure_sparsity(m) == 0.5


def test_remove_masks_lets_weights_regrow():
    m = mlp(8)
    magnitude_prune(m, 0.5)
    assert set(get_masks(m)) == {"layers.0.weight", "layers.2.weight"}
    remove_masks(m)
    assert get_masks(m) == {}
    train(m, SGD(m.parameters(), lr=0.1), 3)
    assert measure_sparsity(m) < 0.1


def test_step_post_hooks_run_and_can_be_removed():
    from tinytorch.core.optimizers import register_optimizer_step_post_hook
    p = tt.Tensor(np.ones(3), requires_grad=True)
    opt = SGD([p], lr=0.1)
    calls = []
    h1 = opt.register_step_post_hook(lambda o, a, k: calls.append(("own", o.step_count, a, k)))
    h2 = register_optimizer_step_post_hook(lambda o, a, k: calls.append(("all", o is opt)))
    p.grad = np.ones(3)
    opt.step()
    assert calls == [("own", 1, (), {}), ("all", True)]
    h1.remove()
    h2.remove()
    opt.step()
    assert len(calls) == 2
    with pytest.raises(TypeError, match="register_step_post_hook: hook must be callable"):
        opt.register_step_post_hook(3)


# ------------------------------------------------------------------ structured pruning
def test_structured_prune_linear_removes_smallest_columns_and_bias():
    layer = Linear(3, 4)
    set_weight(layer.weight, np.array([[1, 0.1, 3, 0.2], [1, 0.1, 3, 0.2], [1, 0.1, 3, 0.2]]))
    np.asarray(layer.bias.data)[...] = [1, 2, 3, 4]
    masks = structured_prune(layer, 0.5)
    np.testing.assert_array_equal(masks["bias"], [True, False, True, False])
    np.testing.assert_array_equal(np.asarray(layer.weight.data)[:, [1, 3]], 0)
    np.testing.assert_array_equal(np.asarray(layer.bias.data), [1, 0, 3, 0])
    y = np.asarray(layer(tt.Tensor(np.ones((2, 3), np.float32))))
    assert np.all(y[:, [1, 3]] == 0)


def test_structured_prune_conv_channels_by_norm_and_fraction_alias():
    tt.manual_seed(0)
    conv = Conv2d(2, 6, 3)
    w = np.asarray(conv.weight.data)
    norms = np.sqrt((w.astype(np.float64) ** 2).reshape(6, -1).sum(1))
    masks = structured_prune(conv, fraction=1 / 3)
    gone = np.sort(np.argsort(norms, kind="stable")[:2])
    np.testing.assert_array_equal(np.flatnonzero(~masks["bias"]), gone)
    assert np.all(np.asarray(conv.weight.data)[gone] == 0)
    assert np.count_nonzero(np.asarray(conv.weight.data)[np.setdiff1d(np.arange(6), gone)] == 0) == 0


def test_shrink_linear_gives_the_same_outputs_on_kept_units():
    layer = Linear(5, 6)
    np.asarray(layer.bias.data)[...] = np.arange(6)
    keep = structured_prune(layer, 0.5)["bias"]
    small = shrink_linear(layer, keep)
    assert small.weight.shape == (5, 3)
    x = tt.Tensor(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(small(x)), np.asarray(layer(x))[:, keep], rtol=1e-6)


# ------------------------------------------------------------------ low rank
@pytest.mark.parametrize("rank", [1, 3, 6])
def test_low_rank_error_is_the_svd_tail(rank):
    tt.manual_seed(1)
    layer = Linear(10, 6)
    w = np.asarray(layer.weight.data).astype(np.float64)
    s = np.linalg.svd(w, compute_uv=False)
    lr = low_rank_factorize(layer, rank=rank)
    assert lr.first.shape == (10, rank) and lr.second.shape == (rank, 6)
    approx = np.asarray(lr.first.data).astype(np.float64) @ np.asarray(lr.second.data)
    np.testing.assert_allclose(np.linalg.norm(w - approx), np.sqrt((s[rank:] ** 2).sum()), atol=1e-5)
    x = tt.Tensor(np.random.default_rng(2).standard_normal((3, 10)).astype(np.float32))
    np.testing.assert_allclose(np.asarray(lr(x)), np.asarray(x) @ approx + np.asarray(layer.bias.data), atol=1e-5)
    assert sum(p.size for p in lr.parameters()) == rank * 16 + 6


def test_low_rank_energy_picks_the_fewest_values():
    w = np.diag([3.0, 2.0, 1.0, 0.0]).astype(np.float32)        # energies 9, 4, 1, 0 of 14
    layer = Linear(4, 4)
    set_weight(layer.weight, w)
    assert low_rank_factorize(layer, energy=9 / 14).rank == 1
    assert low_rank_factorize(layer, energy=0.9).rank == 2
    assert low_rank_factorize(layer, energy=1.0).rank == 3
    u, s, v = low_rank_approximate(w, rank_ratio=0.5)
    np.testing.assert_allclose(s, [3, 2])
    np.testing.assert_allclose(u @ np.diag(s) @ v, np.diag([3.0, 2.0, 0, 0]), atol=1e-12)


# ------------------------------------------------------------------ distillation
def _torch_distillation(torch, s, t, y, T, alpha):
    import torch.nn.functional as F
    st = torch.tensor(s, requires_grad=True)
    soft = F.kl_div(F.log_softmax(st / T, -1), F.log_softmax(torch.tensor(t) / T, -1), log_target=True,
                    reduction="batchmean") * T * T
    loss = alpha * soft + (1 - alpha) * F.cross_entropy(st, torch.tensor(y))
    loss.backward()
    return loss.item(), st.grad.numpy()


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (3.0, 0.7), (5.0, 1.0), (2.0, 0.0)])
def test_distillation_loss_and_gradient_match_pytorch(T, alpha):
    torch = torch_or_skip()
    rng = np.random.default_rng(int(T * 10 + alpha * 100))
    s, t = rng.standard_normal((5, 7)) * 3, rng.standard_normal((5, 7)) * 3
    y = rng.integers(0, 7, size=5)
    st = tt.Tensor(s, dtype=tt.float64, requires_grad=True)
    loss = distillation_loss(st, t, y, temperature=T, alpha=alpha)
    loss.backward()
    ref_loss, ref_grad = _torch_distillation(torch, s, t, y, T, alpha)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(st.grad), ref_grad, rtol=1e-9, atol=1e-12)


def test_distillation_soft_target_equals_soft_cross_entropy_minus_teacher_entropy():
    rng = np.random.default_rng(3)
    s, t = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    T = 2.5

    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))
    p = np.exp(log_softmax(t / T))
    soft_ce = -(p * log_softmax(s / T)).sum(1).mean()
    entropy = -(p * np.log(p)).sum(1).mean()
    got = distillation_loss(tt.Tensor(s, dtype=tt.float64), t, [0, 1, 2, 3], temperature=T, alpha=1.0).item()
    np.testing.assert_allclose(got, T * T * (soft_ce - entropy), rtol=1e-12)


def test_distillation_gradcheck_and_teacher_gets_no_gradient():
    rng = np.random.default_rng(4)
    s = tt.Tensor(rng.standard_normal((3, 4)), dtype=tt.float64, requires_grad=True)
    t = tt.Tensor(rng.standard_normal((3, 4)), dtype=tt.float64, requires_grad=True)
    gradcheck(lambda z: distillation_loss(z, t, [1, 0, 3], temperature=2.0, alpha=0.6), [s])
    distillation_loss(s, t, [1, 0, 3]).backward()
    assert t.grad is None


def test_knowledge_distillation_class_runs_the_teacher_without_gradients():
    teacher, student = mlp(1), mlp(2, (8, 4, 4))
    kd = KnowledgeDistillation(teacher, student, temperature=4.0, alpha=0.3)
    x = tt.Tensor(np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32))
    y = [0, 1, 2, 3, 0, 1]
    loss = kd.loss(x, y)
    expected = distillation_loss(student(x), teacher(x).detach(), y, 4.0, 0.3)
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)
    loss.backward()
    assert teacher[0].weight.grad is None and student[0].weight.grad is not None


def test_compress_model_reports_sparsity():
    m = mlp(9)
    report = C.compress_model(m, {"magnitude_prune": 0.5})
    assert report["sparsity_before"] == 0 and report["sparsity_after"] == 0.5
    assert Compressor.magnitude_prune is magnitude_prune and Compressor.structured_prune is structured_prune


# ------------------------------------------------------------------ errors
def test_errors_name_the_function_and_the_fix():
    m = mlp()
    with pytest.raises(ValueError, match=r"magnitude_prune: sparsity must be in \[0, 1\)"):
        magnitude_prune(m, 1.0)
    with pytest.raises(TypeError, match="magnitude_prune: sparsity must be a number"):
        magnitude_prune(m, "half")
    with pytest.raises(ValueError, match="magnitude_prune: scope must be 'global' or 'layer'"):
        magnitude_prune(m, 0.5, scope="row")
    with pytest.raises(TypeError, match="magnitude_prune: expected a Module"):
        magnitude_prune({"w": 1}, 0.5)
    with pytest.raises(ValueError, match="structured_prune: prune_ratio must be in"):
        structured_prune(m, -0.1)
    with pytest.raises(ValueError, match="measure_sparsity: the model has no weight"):
        measure_sparsity(Sequential(ReLU()))
    with pytest.raises(ValueError, match="low_rank_factorize: give exactly one of rank"):
        low_rank_factorize(Linear(4, 3))
    with pytest.raises(ValueError, match="low_rank_factorize: rank must be an int from 1 to 3"):
        low_rank_factorize(Linear(4, 3), rank=4)
    with pytest.raises(TypeError, match="low_rank_factorize: expected a Linear"):
        low_rank_factorize(Conv2d(1, 1, 1), rank=1)
    with pytest.raises(ValueError, match="distillation_loss: temperature must be"):
        distillation_loss(tt.Tensor(np.zeros((2, 3))), np.zeros((2, 3)), [0, 1], temperature=0)
    with pytest.raises(ValueError, match="distillation_loss: student and teacher logits"):
        distillation_loss(tt.Tensor(np.zeros((2, 3))), np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError, match=r"distillation_loss: labels must have shape \(2,\)"):
        distillation_loss(tt.Tensor(np.zeros((2, 3))), np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match="apply_masks: the model has no parameter named 'nope'"):
        C.apply_masks(m, {"nope": np.ones(3, bool)})
