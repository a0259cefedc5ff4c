"""Module 06: SGD, Adam and AdamW.

Each update is checked against the formula written out independently in
numpy (exact in float64), against torch.optim step for step (when torch is
installed), on random shapes and non-contiguous parameters and gradients,
and for the state_dict round trip and the error cases.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch as tt
from tinytorch.core.optimizers import SGD, Adam, AdamW, Optimizer

from conftest import torch_or_skip

pytestmark = pytest.mark.module06


# ----------------------------------------------------------------------------
# Reference implementations (the documented formulas, in float64 numpy)
# ----------------------------------------------------------------------------

class RefSGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        self.p = [np.array(x, dtype=np.float64) for x in params]
        self.lr, self.mom, self.wd, self.damp, self.nesterov = lr, momentum, weight_decay, dampening, nesterov
        self.buf = [None] * len(self.p)

    def step(self, grads):
        for i, g in enumerate(grads):
            if g is None:
                continue
            g = g + self.wd * self.p[i]
            if self.mom:
                self.buf[i] = g.copy() if self.buf[i] is None else self.mom * self.buf[i] + (1 - self.damp) * g
                g = g + self.mom * self.buf[i] if self.nesterov else self.buf[i]
            self.p[i] = self.p[i] - self.lr * g


class RefAdam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        self.p = [np.array(x, dtype=np.float64) for x in params]
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.decoupled = lr, betas, eps, weight_decay, decoupled
        self.m = [np.zeros_like(x) for x in self.p]
        self.v = [np.zeros_like(x) for x in self.p]
        self.t = [0] * len(self.p)

    def step(self, grads):
        for i, g in enumerate(grads):
            if g is None:
                continue
            self.t[i] += 1
            t = self.t[i]
            if self.decoupled:
                self.p[i] = self.p[i] * (1 - self.lr * self.wd)
            else:
                g = g + self.wd * self.p[i]
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            m_hat = self.m[i] / (1 - self.b1 ** t)
            v_hat = self.v[i] / (1 - self.b2 ** t)
            self.p[i] = self.p[i] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


SHAPES = [(3, 4), (5,), (2, 3, 2)]


def make_problem(seed, dtype=np.float64, steps=20, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def run_tinytorch(cls, init, grads, dtype, **kw):
    params = [tt.Tensor(x.copy(), requires_grad=True, dtype=dtype) for x in init]
    opt = cls(params, **kw)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.copy()
        opt.step()
    return params, opt


CONFIGS = [
    (SGD, RefSGD, dict(lr=0.1), {}),
    (SGD, RefSGD, dict(lr=0.05, momentum=0.9), dict(momentum=0.9)),
    (SGD, RefSGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01), dict(momentum=0.9, weight_decay=0.01)),
    (SGD, RefSGD, dict(lr=0.05, momentum=0.5, dampening=0.3), dict(momentum=0.5, dampening=0.3)),
    (SGD, RefSGD, dict(lr=0.05, momentum=0.9, nesterov=True), dict(momentum=0.9, nesterov=True)),
    (Adam, RefAdam, dict(lr=0.01), {}),
    (Adam, RefAdam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (Adam, RefAdam, dict(lr=0.01, betas=(0.3, 0.9)), dict(betas=(0.3, 0.9))),  # lerp weight >= 0.5
    (AdamW, RefAdam, dict(lr=0.01), dict(weight_decay=0.01, decoupled=True)),
    (AdamW, RefAdam, dict(lr=0.01, weight_decay=0.2, betas=(0.5, 0.9)),
     dict(weight_decay=0.2, betas=(0.5, 0.9), decoupled=True)),
]


def ref_kwargs(tt_kw, extra):
    kw = {"lr": tt_kw["lr"]}
    kw.update(extra)
    return kw


# ----------------------------------------------------------------------------
# The formulas
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls,ref_cls,kw,ref_extra", CONFIGS)
def test_matches_reference_formula_float64(cls, ref_cls, kw, ref_extra):
    init, grads = make_problem(1)
    params, _ = run_tinytorch(cls, init, grads, np.float64, **kw)
    ref = ref_cls(init, **ref_kwargs(kw, ref_extra))
    for g in grads:
        ref.step(g)
    for p, r in zip(params, ref.p):
        np.testing.assert_allclose(p.numpy(), r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls,ref_cls,kw,ref_extra", CONFIGS)
def test_matches_reference_formula_float32(cls, ref_cls, kw, ref_extra):
    init, grads = make_problem(2, np.float32)
    params, _ = run_tinytorch(cls, init, grads, np.float32, **kw)
    ref = ref_cls(init, **ref_kwargs(kw, ref_extra))
    for g in grads:
        ref.step([x.astype(np.float64) for x in g])
    for p, r in zip(params, ref.p):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), r, rtol=2e-5, atol=2e-6)


def test_sgd_exact_values():
    # TinyTorch's worked examples.
    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    p.grad = tt.Tensor([0.1, 0.2])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.99, 1.98], rtol=1e-6)
    assert opt.step_count == 1

    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = tt.Tensor([0.1, 0.2])
    opt.step()  # buf = g
    np.testing.assert_allclose(opt.momentum_buffers[0].numpy(), [0.1, 0.2], rtol=1e-6)
    p.grad = tt.Tensor([0.1, 0.2])
    opt.step()  # buf = 0.9 * g + g
    np.testing.assert_allclose(opt.momentum_buffers[0].numpy(), [0.19, 0.38], rtol=1e-6)
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.01 - 0.019, 2.0 - 0.02 - 0.038], rtol=1e-6)

    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1, weight_decay=0.01)
    p.grad = tt.Tensor([0.1, 0.2])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 * 0.11, 2.0 - 0.1 * 0.22], rtol=1e-6)


def test_adam_first_step_moves_each_parameter_by_lr():
    # After bias correction the first Adam step is lr * g / (|g| + eps'), i.e. lr * sign(g).
    p = tt.Tensor(np.zeros(4), requires_grad=True, dtype=np.float64)
    opt = Adam([p], lr=0.5, eps=0.0)
    p.grad = np.array([3.0, -0.001, 7.0, -2.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [-0.5, 0.5, -0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(opt.m_buffers[0].numpy(), 0.1 * np.array([3.0, -0.001, 7.0, -2.0]), rtol=1e-12)
    np.testing.assert_allclose(opt.v_buffers[0].numpy(), 0.001 * np.array([9.0, 1e-6, 49.0, 4.0]), rtol=1e-12)


def test_adamw_decay_is_decoupled_from_the_gradient():
    # With a zero gradient Adam's moments stay 0, so AdamW only shrinks the weights.
    p = tt.Tensor([2.0, -4.0], requires_grad=True, dtype=np.float64)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        p.grad = np.zeros(2)
        opt.step()
    np.testing.assert_allclose(p.numpy(), np.array([2.0, -4.0]) * 0.95 ** 3, rtol=1e-12)
    # Adam's L2 decay goes through the gradient instead: the step is lr * sign(p).
    q = tt.Tensor([2.0, -4.0], requires_grad=True, dtype=np.float64)
    opt = Adam([q], lr=0.1, weight_decay=0.5)
    q.grad = np.zeros(2)
    opt.step()
    np.testing.assert_allclose(q.numpy(), [1.9, -3.9], rtol=1e-7)


def test_parameters_without_grad_are_skipped_and_keep_their_own_step_count():
    init, grads = make_problem(3)
    grads[2][0] = None  # parameter 0 gets no gradient on steps 2 and 5
    grads[5][0] = None
    grads[0][1] = None
    for cls, ref_cls, kw, extra in [(Adam, RefAdam, dict(lr=0.01), {}),
                                    (SGD, RefSGD, dict(lr=0.1, momentum=0.9), dict(momentum=0.9))]:
        params, opt = run_tinytorch(cls, init, grads, np.float64, **kw)
        ref = ref_cls(init, **ref_kwargs(kw, extra))
        for g in grads:
            ref.step(g)
        for p, r in zip(params, ref.p):
            np.testing.assert_allclose(p.numpy(), r, rtol=1e-12, atol=1e-14)
        if cls is Adam:
            assert opt.state_dict()["state"][0]["step"] == 18
            assert opt.state_dict()["state"][1]["step"] == 19


def test_no_gradients_at_all_changes_nothing():
    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = Adam([p])
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])
    assert opt.m_buffers == [None] and opt.v_buffers == [None]
    assert opt.step_count == 1


def test_lr_can_change_between_steps():
    init, grads = make_problem(4)
    params = [tt.Tensor(x.copy(), requires_grad=True, dtype=np.float64) for x in init]
    opt = SGD(params, lr=0.1, momentum=0.9)
    ref = RefSGD(init, lr=0.1, momentum=0.9)
    for k, step_grads in enumerate(grads):
        opt.lr = ref.lr = 0.1 * 0.9 ** k
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
        ref.step(step_grads)
    for p, r in zip(params, ref.p):
        np.testing.assert_allclose(p.numpy(), r, rtol=1e-12)


# ----------------------------------------------------------------------------
# Against PyTorch, step for step
# ----------------------------------------------------------------------------

TORCH_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.3, 0.9), weight_decay=0.1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", TORCH_CONFIGS)
def test_matches_torch_step_for_step(name, kw, dtype):
    torch = torch_or_skip()
    init, grads = make_problem(5, dtype)
    grads[3][1] = None  # a parameter without gradient in one step
    ours = [tt.Tensor(x.copy(), requires_grad=True, dtype=dtype) for x in init]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    opt = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name](ours, **kw)
    topt = getattr(torch.optim, name)(theirs, **kw)
    rtol, atol = (1e-6, 1e-7) if dtype == np.float32 else (1e-12, 1e-15)
    for k, step_grads in enumerate(grads):
        if k == 10:  # a schedule changes the learning rate
            opt.lr = kw["lr"] / 2
            for group in topt.param_groups:
                group["lr"] = kw["lr"] / 2
        for p, t, g in zip(ours, theirs, step_grads):
            p.grad = None if g is None else g.copy()
            t.grad = None if g is None else torch.tensor(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{name} {kw} step {k}")
    if name != "SGD":
        for i, t in enumerate(theirs):
            state = topt.state[t]
            np.testing.assert_allclose(opt.m_buffers[i].numpy(), state["exp_avg"].numpy(), rtol=rtol, atol=atol)
            np.testing.assert_allclose(opt.v_buffers[i].numpy(), state["exp_avg_sq"].numpy(), rtol=rtol, atol=atol)
            assert opt.state_dict()["state"][i]["step"] == int(state["step"])


def test_sgd_matches_torch_bit_for_bit_in_float32():
    # Our SGD rounds exactly where PyTorch's CPU kernels do (fused multiply-adds included).
    torch = torch_or_skip()
    init, grads = make_problem(6, np.float32)
    ours = [tt.Tensor(x.copy(), requires_grad=True) for x in init]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    opt = SGD(ours, lr=0.05, momentum=0.9, weight_decay=0.01, dampening=0.1)
    topt = torch.optim.SGD(theirs, lr=0.05, momentum=0.9, weight_decay=0.01, dampening=0.1)
    for step_grads in grads:
        for p, t, g in zip(ours, theirs, step_grads):
            p.grad, t.grad = g.copy(), torch.tensor(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.numpy(), t.detach().numpy())


def test_training_a_model_matches_torch():
    # Real gradients from backward(), not assigned ones: a 2-layer MLP trained 20 steps with Adam.
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 5))
    y = rng.standard_normal((16, 1))
    w1, b1 = rng.standard_normal((5, 8)) * 0.5, np.zeros(8)
    w2, b2 = rng.standard_normal((8, 1)) * 0.5, np.zeros(1)
    ours = [tt.Tensor(a.copy(), requires_grad=True, dtype=np.float64) for a in (w1, b1, w2, b2)]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in (w1, b1, w2, b2)]
    opt, topt = Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    xt, yt = tt.Tensor(x, dtype=np.float64), tt.Tensor(y, dtype=np.float64)
    xT, yT = torch.tensor(x), torch.tensor(y)
    for _ in range(20):
        opt.zero_grad()
        topt.zero_grad()
        h = tt.tanh(xt @ ours[0] + ours[1])
        loss = (((h @ ours[2] + ours[3]) - yt) ** 2).mean()
        loss.backward()
        hT = torch.tanh(xT @ theirs[0] + theirs[1])
        lossT = (((hT @ theirs[2] + theirs[3]) - yT) ** 2).mean()
        lossT.backward()
        np.testing.assert_allclose(loss.item(), lossT.item(), rtol=1e-12)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------
# Random shapes, non-contiguous parameters and gradients
# ----------------------------------------------------------------------------

@st.composite
def param_and_grads(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=5))
    elems = st.floats(-3, 3, allow_nan=False, width=64)
    p = draw(hnp.arrays(np.float64, shape, elements=elems))
    gs = [draw(hnp.arrays(np.float64, shape, elements=elems)) for _ in range(3)]
    return p, gs


@settings(max_examples=40, deadline=None)
@given(data=param_and_grads(), which=st.sampled_from(["sgd", "adam", "adamw"]),
       transposed_param=st.booleans(), grad_layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_random_shapes_and_layouts(data, which, transposed_param, grad_layout):
    p0, grads = data
    if transposed_param:
        # The parameter is a transposed view of its storage; updates must land in that storage.
        base = tt.Tensor(np.ascontiguousarray(p0.T), dtype=np.float64)
        param = base.T
        param.requires_grad = True
        assert not param.is_contiguous()
    else:
        param = tt.Tensor(p0.copy(), requires_grad=True, dtype=np.float64)
    if which == "sgd":
        opt, ref = SGD([param], lr=0.1, momentum=0.9), RefSGD([p0], lr=0.1, momentum=0.9)
    elif which == "adam":
        opt, ref = Adam([param], lr=0.05, weight_decay=0.01), RefAdam([p0], lr=0.05, weight_decay=0.01)
    else:
        opt, ref = AdamW([param], lr=0.05), RefAdam([p0], lr=0.05, weight_decay=0.01, decoupled=True)
    for g in grads:
        if grad_layout == "contiguous":
            param.grad = tt.Tensor(g.copy(), dtype=np.float64)
        elif grad_layout == "transposed":
            param.grad = tt.Tensor(np.ascontiguousarray(g.T), dtype=np.float64).T
        else:  # every other element of a wider buffer
            wide = np.zeros(g.shape[:-1] + (2 * g.shape[-1],))
            wide[..., ::2] = g
            param.grad = tt.Tensor(wide, dtype=np.float64)[..., ::2]
        opt.step()
        ref.step([g])
    np.testing.assert_allclose(param.numpy(), ref.p[0], rtol=1e-12, atol=1e-14)
    if transposed_param:
        np.testing.assert_allclose(base.numpy(), ref.p[0].T, rtol=1e-12, atol=1e-14)


def test_mixed_float32_and_float64_parameters():
    a = tt.Tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    b = tt.Tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0], dtype=np.float32)
    b.grad = np.array([1.0, -1.0])
    opt.step()
    assert a.dtype == np.float32 and opt.m_buffers[0].dtype == np.float32
    assert b.dtype == np.float64 and opt.m_buffers[1].dtype == np.float64
    np.testing.assert_allclose(a.numpy(), [0.9, 2.1], rtol=1e-6)
    step = 0.1 / (1 + 1e-8)  # the first step is lr * g / (|g| + eps)
    np.testing.assert_allclose(b.numpy(), [1 - step, 2 + step], rtol=1e-14)


def test_gradient_that_is_the_parameter_itself():
    # p.grad = p must not corrupt the update (it is read before p is written).
    p = tt.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, dtype=np.float64)
    opt = SGD([p], lr=0.5)
    p.grad = p
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.5, -1.0, 1.5], rtol=1e-15)


# ----------------------------------------------------------------------------
# zero_grad, versions, state dicts
# ----------------------------------------------------------------------------

def test_zero_grad_sets_none_or_zeros():
    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p])
    p.grad = np.array([3.0, 4.0], dtype=np.float32)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_constructor_enables_requires_grad_and_keeps_existing_grads():
    p = tt.Tensor([1.0, 2.0])
    p.grad = np.array([3.0, 4.0], dtype=np.float32)
    opt = Optimizer([p])
    assert p.requires_grad and opt.step_count == 0 and opt.params[0] is p
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, 4.0])  # created after backward(): still applied
    SGD([p], lr=1.0).step()
    np.testing.assert_array_equal(p.numpy(), [-2.0, -2.0])
    with pytest.raises(NotImplementedError, match="Optimizer.*step"):
        opt.step()


def test_step_bumps_the_version_of_parameters():
    # A graph that saved the parameter before the step must refuse to backpropagate through it.
    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    v0 = p._version
    p.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    assert p._version > v0


def test_state_dict_round_trip_continues_identically():
    init, grads = make_problem(8)
    for cls, kw in [(Adam, dict(lr=0.01, weight_decay=0.01)), (AdamW, dict(lr=0.01)),
                    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True))]:
        full, _ = run_tinytorch(cls, init, grads, np.float64, **kw)
        first, opt = run_tinytorch(cls, init, grads[:7], np.float64, **kw)
        sd = opt.state_dict()
        # The state dict is plain data, independent of the optimizer.
        for entry in sd["state"]:
            for value in entry.values():
                assert isinstance(value, (int, np.ndarray))
        resumed = [tt.Tensor(p.numpy().copy(), requires_grad=True, dtype=np.float64) for p in first]
        opt2 = cls(resumed, lr=123.0)  # hyperparameters come from the state dict
        opt2.load_state_dict(sd)
        assert opt2.lr == kw["lr"] and opt2.step_count == 7
        for step_grads in grads[7:]:
            for p, g in zip(resumed, step_grads):
                p.grad = g.copy()
            opt2.step()
        for p, q in zip(full, resumed):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_dict_copies_buffers():
    p = tt.Tensor([1.0], requires_grad=True)
    opt = Adam([p])
    p.grad = np.array([1.0], dtype=np.float32)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"][0] = 99.0
    assert opt.m_buffers[0].numpy()[0] != 99.0


def test_load_state_dict_errors_change_nothing():
    params = [tt.Tensor(np.ones((2, 3)), requires_grad=True), tt.Tensor(np.ones(4), requires_grad=True)]
    opt = Adam(params, lr=0.01)
    for p in params:
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    good = opt.state_dict()
    before = [b.numpy().copy() for b in opt.m_buffers]

    bad_shape = opt.state_dict()
    bad_shape["state"][1]["exp_avg"] = np.zeros(5)
    bad_shape["hyperparameters"]["lr"] = 0.5
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg'\] has shape \(5,\).*\(4,\)"):
        opt.load_state_dict(bad_shape)
    assert opt.lr == 0.01

    with pytest.raises(ValueError, match="saved by a SGD optimizer"):
        opt.load_state_dict(SGD([tt.Tensor([1.0])]).state_dict())
    fewer = dict(good, state=good["state"][:1])
    with pytest.raises(ValueError, match="1 parameter entries but this optimizer has 2 parameters"):
        opt.load_state_dict(fewer)
    bad_hyper = dict(good, hyperparameters=dict(good["hyperparameters"], betas=[0.9, 1.5]))
    with pytest.raises(ValueError, match="beta2 must be >= 0.0 and < 1.0"):
        opt.load_state_dict(bad_hyper)
    for b, old in zip(opt.m_buffers, before):
        np.testing.assert_array_equal(b.numpy(), old)


def test_sgd_momentum_state_api():
    p = tt.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    assert opt.has_momentum() and not SGD([tt.Tensor([1.0])]).has_momentum()
    p.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    saved = opt.get_momentum_state()
    np.testing.assert_array_equal(saved[0], [1.0, 1.0])
    opt2 = SGD([p], lr=0.1, momentum=0.9)
    opt2.set_momentum_state(saved)
    np.testing.assert_array_equal(opt2.momentum_buffers[0].numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match="2 buffers but the optimizer has 1 parameters"):
        opt2.set_momentum_state(saved + saved)


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------

def test_constructor_errors():
    p = tt.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor; wrap it in a list"):
        SGD(p)
    with pytest.raises(TypeError, match="parameter 1 is a list, not a Tensor"):
        SGD([p, [1.0]])
    with pytest.raises(TypeError, match="parameter 0 has dtype int64"):
        SGD([tt.Tensor(np.array([1, 2]))])
    with pytest.raises(ValueError, match="parameter 1 appears more than once"):
        Adam([p, p])
    with pytest.raises(ValueError, match="lr must be >= 0.0, got -0.1"):
        SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="beta1 must be >= 0.0 and < 1.0, got 1.0"):
        Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="betas must be a pair"):
        AdamW([p], betas=0.9)
    with pytest.raises(ValueError, match="eps must be >= 0.0"):
        Adam([p], eps=-1.0)
    with pytest.raises(ValueError, match="nesterov momentum requires momentum > 0"):
        SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        Adam([p]).lr = float("nan")


def test_step_errors_leave_everything_unchanged():
    a = tt.Tensor(np.ones(3), requires_grad=True)
    b = tt.Tensor(np.ones(2), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.ones(3, dtype=np.float32)
    b.grad = np.ones(2, dtype=np.float32)
    opt.v_buffers[1] = tt.zeros(5)  # corrupted state for the second parameter
    opt.m_buffers[1] = tt.zeros(5)
    with pytest.raises(ValueError, match=r"Adam.step: the first-moment buffer \(exp_avg\) of parameter 1 has "
                                         r"shape \(5,\) but the parameter has shape \(2,\)"):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), np.ones(3))  # parameter 0 was not updated either
    assert opt.m_buffers[0] is None

    opt2 = SGD([a], momentum=0.9)
    opt2.momentum_buffers[0] = tt.zeros(3, dtype=np.float64)
    with pytest.raises(TypeError, match="momentum buffer of parameter 0 has dtype float64 but the parameter "
                                        "has dtype float32"):
        opt2.step()
    opt3 = AdamW([a])
    opt3.m_buffers[0] = "oops"
    a.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match=r"m_buffers\[0\] must be a Tensor or None, got str"):
        opt3.step()
