"""Module 05: gradient modification (tinytorch.nn.utils): global norm, clipping by
norm and by value, scaling, and GradScaler's dynamic loss scaling.

Expected values are computed by hand or in numpy; clip_grad_norm_ and
clip_grad_value_ are also compared with torch.nn.utils when torch is installed.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch.core.optimizers import SGD
from tinytorch.nn import utils
from tinytorch.nn.utils import (GradScaler, clip_grad_norm, clip_grad_norm_, clip_grad_value_, get_total_norm,
                                grads_are_finite, scale_grads_)

from conftest import torch_or_skip

pytestmark = pytest.mark.module05


def with_grads(*grads, dtype=np.float64):
    params = []
    for g in grads:
        p = tt.Tensor(np.zeros(np.shape(g)), requires_grad=True, dtype=dtype)
        p.grad = np.asarray(g, dtype=dtype)
        params.append(p)
    return params


def global_norm(params):
    return math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in params if p.grad is not None))


# ----------------------------------------------------------------------------
# norms
# ----------------------------------------------------------------------------

def test_total_norm_exact_values():
    params = with_grads([3.0, 4.0], [[6.0], [-8.0]])
    assert get_total_norm(params) == math.sqrt(125.0)
    assert get_total_norm(params, 1) == 21.0
    assert get_total_norm(params, float("inf")) == 8.0
    assert get_total_norm(params, 0) == 4.0
    np.testing.assert_allclose(get_total_norm(params, 3), (27 + 64 + 216 + 512) ** (1 / 3), rtol=1e-15)
    # float32 gradients are summed in double precision
    p32 = with_grads(np.full(1000, 0.1), dtype=np.float32)
    np.testing.assert_allclose(get_total_norm(p32), math.sqrt(1000) * float(np.float32(0.1)), rtol=1e-14)


def test_total_norm_skips_missing_grads_and_accepts_any_iterable():
    params = with_grads([3.0, 4.0])
    params.append(tt.Tensor([100.0], requires_grad=True))  # no gradient
    assert get_total_norm(params) == 5.0
    assert get_total_norm(iter(params)) == 5.0
    assert get_total_norm(params[0]) == 5.0  # a single tensor
    assert get_total_norm([]) == 0.0
    assert clip_grad_norm_([], 1.0) == 0.0


def test_total_norm_of_nonfinite_gradients():
    assert math.isnan(get_total_norm(with_grads([1.0, np.nan])))
    assert math.isinf(get_total_norm(with_grads([1.0, np.inf])))
    assert math.isnan(get_total_norm(with_grads([np.nan, 1.0]), float("inf")))
    assert not grads_are_finite(with_grads([1.0], [np.inf]))
    assert grads_are_finite(with_grads([1.0], [2.0]))


# ----------------------------------------------------------------------------
# clip_grad_norm_
# ----------------------------------------------------------------------------

def test_clip_grad_norm_exact_values():
    params = with_grads([3.0, 4.0], [6.0, 8.0])  # norms 5 and 10, global sqrt(125)
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total == math.sqrt(125.0)
    coef = 1.0 / (math.sqrt(125.0) + 1e-6)
    np.testing.assert_allclose(params[0].grad.numpy(), [3 * coef, 4 * coef], rtol=1e-15)
    np.testing.assert_allclose(params[1].grad.numpy(), [6 * coef, 8 * coef], rtol=1e-15)
    # the norm after clipping is max_norm (to the 1e-6 of PyTorch's formula)
    np.testing.assert_allclose(global_norm(params), 1.0, rtol=1e-7)
    # the direction is kept
    np.testing.assert_allclose(params[1].grad.numpy() / params[0].grad.numpy(), [2.0, 2.0], rtol=1e-15)


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = with_grads([0.1, 0.2])
    total = clip_grad_norm(params, max_norm=1.0)  # TinyTorch's spelling
    np.testing.assert_allclose(total, math.sqrt(0.05), rtol=1e-15)
    np.testing.assert_array_equal(params[0].grad.numpy(), [0.1, 0.2])
    # exactly at the bound: max_norm / (total + 1e-6) < 1 scales very slightly, as PyTorch does
    params = with_grads([3.0, 4.0])
    clip_grad_norm_(params, 5.0)
    np.testing.assert_allclose(params[0].grad.numpy(), np.array([3.0, 4.0]) * 5 / (5 + 1e-6), rtol=1e-15)


def test_clip_grad_norm_tinytorch_course_example():
    p1 = tt.Tensor([1.0, 2.0], requires_grad=True)
    p1.grad = np.array([3.0, 4.0])
    p2 = tt.Tensor([3.0, 4.0], requires_grad=True)
    p2.grad = np.array([6.0, 8.0])
    original = clip_grad_norm([p1, p2], max_norm=1.0)
    assert original > 1.0
    assert abs(global_norm([p1, p2]) - 1.0) < 1e-6


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
def test_clip_grad_norm_other_norms(norm_type):
    params = with_grads([3.0, -4.0], [[1.0, 2.0], [0.5, -7.0]])
    grads = [p.grad.numpy().copy() for p in params]
    flat = np.concatenate([g.ravel() for g in grads])
    expected_total = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    total = clip_grad_norm_(params, 2.0, norm_type=norm_type)
    np.testing.assert_allclose(total, expected_total, rtol=1e-14)
    coef = 2.0 / (expected_total + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-14)
    np.testing.assert_allclose(get_total_norm(params, norm_type), 2.0, rtol=1e-6)


def test_clip_grad_norm_nonfinite():
    params = with_grads([1.0, np.nan], [2.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[1].grad.numpy(), [2.0])  # unchanged by the refusal
    total = clip_grad_norm_(params, 1.0)  # PyTorch's behaviour: scaled by max_norm / nan
    assert math.isnan(total)
    assert np.isnan(params[1].grad.numpy()).all()


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), min_size=1, max_size=4),
       max_norm=st.floats(0.01, 10.0), data=st.data())
def test_clip_grad_norm_random(shapes, max_norm, data):
    grads = [data.draw(hnp.arrays(np.float64, s, elements=st.floats(-5, 5, allow_nan=False))) for s in shapes]
    params = with_grads(*grads)
    total = clip_grad_norm_(params, max_norm)
    expected = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    np.testing.assert_allclose(total, expected, rtol=1e-13, atol=1e-300)
    coef = min(1.0, max_norm / (expected + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-13, atol=1e-300)
    assert global_norm(params) <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_non_contiguous_gradients():
    base = np.arange(24, dtype=np.float64).reshape(4, 6) - 10
    p = tt.Tensor(np.zeros((6, 4)), requires_grad=True, dtype=np.float64)
    p.grad = tt.Tensor(base.copy(), dtype=np.float64).T  # transposed view
    q = tt.Tensor(np.zeros(3), requires_grad=True, dtype=np.float64)
    q.grad = tt.Tensor(np.array([1.0, 99.0, 2.0, 99.0, 3.0]), dtype=np.float64)[::2]  # strided view
    total = clip_grad_norm_([p, q], 1.0)
    expected = math.sqrt(float((base ** 2).sum()) + 14.0)
    np.testing.assert_allclose(total, expected, rtol=1e-14)
    coef = 1.0 / (expected + 1e-6)
    np.testing.assert_allclose(p.grad.numpy(), base.T * coef, rtol=1e-14)
    np.testing.assert_allclose(q.grad.numpy(), np.array([1.0, 2.0, 3.0]) * coef, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (7,), (2, 2, 2)]]
    ours = with_grads(*grads, dtype=dtype)
    theirs = [torch.zeros(g.shape, dtype=torch.float32 if dtype == np.float32 else torch.float64,
                          requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g.copy())
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(total, ttotal.item(), rtol=rtol)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)


# ----------------------------------------------------------------------------
# clip_grad_value_ and scale_grads_
# ----------------------------------------------------------------------------

def test_clip_grad_value_exact():
    params = with_grads([-3.0, -0.5, 0.0, 0.25, 7.0], [[np.nan, 1.5]])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, -0.5, 0.0, 0.25, 1.0])
    g = params[1].grad.numpy()
    assert np.isnan(g[0, 0]) and g[0, 1] == 1.0
    utils.clip_grad_value(params, 0.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [0.0, 0.0, 0.0, 0.0, 0.0])


def test_clip_grad_value_matches_torch():
    torch = torch_or_skip()
    g = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32) * 3
    ours = with_grads(g, dtype=np.float32)
    t = torch.zeros(5, 6, requires_grad=True)
    t.grad = torch.tensor(g.copy())
    clip_grad_value_(ours, 1.25)
    torch.nn.utils.clip_grad_value_([t], 1.25)
    np.testing.assert_array_equal(ours[0].grad.numpy(), t.grad.numpy())


def test_scale_grads_exact_and_in_place():
    params = with_grads([1.0, -2.0], [[0.5]])
    held = params[0].grad  # gradients are modified in place: references see the change
    v0 = held._version
    scale_grads_(params, 0.25)
    np.testing.assert_array_equal(held.numpy(), [0.25, -0.5])
    np.testing.assert_array_equal(params[1].grad.numpy(), [[0.125]])
    assert held._version > v0
    p32 = with_grads([3.0], dtype=np.float32)
    utils.scale_grads(p32, 1 / 3)
    assert p32[0].grad.dtype == np.float32
    assert p32[0].grad.numpy()[0] == np.float32(3.0) * np.float32(1 / 3)


def test_utils_errors():
    params = with_grads([1.0])
    with pytest.raises(ValueError, match="clip_grad_norm_: max_norm must be a number >= 0, got -1"):
        clip_grad_norm_(params, -1)
    with pytest.raises(ValueError, match="norm_type must be a number >= 0"):
        clip_grad_norm_(params, 1.0, norm_type=-2)
    with pytest.raises(ValueError, match="clip_value must be a number >= 0"):
        clip_grad_value_(params, float("nan"))
    with pytest.raises(TypeError, match="parameter 1 is a ndarray, not a Tensor"):
        clip_grad_norm_([params[0], np.zeros(2)], 1.0)
    with pytest.raises(TypeError, match="must be a Tensor or an iterable of Tensors, got int"):
        get_total_norm(3)
    with pytest.raises(TypeError, match="factor must be a number"):
        scale_grads_(params, "2")


# ----------------------------------------------------------------------------
# GradScaler
# ----------------------------------------------------------------------------

def quadratic_problem(scale_input=1.0):
    w = tt.Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    x = tt.Tensor(np.array([0.3, 0.1, -0.2]) * scale_input)
    return w, x


def test_grad_scaler_gives_the_unscaled_step():
    # Reference: a plain step.
    w_ref, x = quadratic_problem()
    opt_ref = SGD([w_ref], lr=0.1)
    ((w_ref * x).sum() ** 2).backward()
    expected_grad = w_ref.grad.numpy().copy()
    opt_ref.step()

    w, x = quadratic_problem()
    opt = SGD([w], lr=0.1)
    scaler = GradScaler(init_scale=1024.0)
    loss = (w * x).sum() ** 2
    scaled = scaler.scale(loss)
    np.testing.assert_allclose(scaled.item(), loss.item() * 1024, rtol=1e-7)
    scaled.backward()
    np.testing.assert_allclose(w.grad.numpy(), expected_grad * 1024, rtol=1e-6)
    scaler.unscale_(opt)  # power-of-two scale: exact
    np.testing.assert_allclose(w.grad.numpy(), expected_grad, rtol=1e-6)
    with pytest.raises(RuntimeError, match="already called on this optimizer since the last update"):
        scaler.unscale_(opt)
    assert scaler.step(opt) is None  # SGD.step returns None; the step ran
    np.testing.assert_allclose(w.numpy(), w_ref.numpy(), rtol=1e-6)
    scaler.update()
    assert scaler.get_scale() == 1024.0


def test_grad_scaler_skips_overflowing_steps_and_adapts_the_scale():
    w = tt.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = SGD([w], lr=0.1)
    scaler = GradScaler(init_scale=8.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2)
    scales = []
    for grad in [[np.inf, 1.0], [1.0, 1.0], [1.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]:
        w.grad = np.array(grad, dtype=np.float32) * scaler.get_scale()
        before = w.numpy().copy()
        scaler.step(opt)
        if np.isfinite(grad).all():
            np.testing.assert_allclose(w.numpy(), before - 0.1 * np.array(grad), rtol=1e-6)
        else:
            np.testing.assert_array_equal(w.numpy(), before)  # skipped
        scaler.update()
        scales.append(scaler.get_scale())
    assert scales == [4.0, 4.0, 8.0, 4.0, 4.0]
    state = scaler.state_dict()
    other = GradScaler()
    other.load_state_dict(state)
    assert other.get_scale() == 4.0 and other.state_dict() == state


def test_grad_scaler_disabled_is_transparent():
    w = tt.Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([w], lr=1.0)
    scaler = GradScaler(enabled=False)
    loss = (w * 3.0).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), [-2.0])
    assert scaler.get_scale() == 1.0


def test_grad_scaler_errors():
    with pytest.raises(ValueError, match="init_scale must be a finite number > 0"):
        GradScaler(init_scale=0)
    with pytest.raises(ValueError, match="backoff_factor must be in \\(0, 1\\)"):
        GradScaler(backoff_factor=1.5)
    with pytest.raises(TypeError, match="expected a Tensor"):
        GradScaler().scale(3.0)
