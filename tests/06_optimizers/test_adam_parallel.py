"""Adam and AdamW split across tinytorch's threads (csrc/nn/optimizers.cpp).

One parallel region updates every parameter's elements in chunks of 65536. Adam is
elementwise, so the split must not change one bit: the same step on 1 and on 2 threads
gives identical parameters and moments, and both agree with torch.optim to float32
rounding. The shapes straddle chunk and SIMD boundaries (a 3-chunk tensor with a
5-element tail, one smaller than a chunk, one smaller than a SIMD batch), and one
parameter has no gradient (skipped, unchanged).
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.optimizers import Adam, AdamW

from conftest import torch_or_skip

SHAPES = [(3 * 65536 + 5,), (300, 257), (7,), (4, 5)]
NO_GRAD = 3  # index of the parameter left without a gradient


def run(cls, kw, init, grads, threads):
    old = tt.get_num_threads()
    tt.set_num_threads(threads)
    try:
        ours = [tt.Tensor(x.copy(), requires_grad=True) for x in init]
        opt = cls(ours, **kw)
        for step_grads in grads:
            for i, (p, g) in enumerate(zip(ours, step_grads)):
                p.grad = None if i == NO_GRAD else g.copy()
            opt.step()
        return ([p.numpy().copy() for p in ours], [m.numpy().copy() for m in opt.m_buffers[:NO_GRAD]],
                [v.numpy().copy() for v in opt.v_buffers[:NO_GRAD]])
    finally:
        tt.set_num_threads(old)


@pytest.mark.parametrize("name, kw", [
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, betas=(0.8, 0.95))),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
])
def test_threaded_adam_is_bitwise_the_serial_one_and_matches_torch(name, kw):
    torch = torch_or_skip()
    rng = np.random.default_rng(11)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(3)]
    cls = {"Adam": Adam, "AdamW": AdamW}[name]
    serial, threaded = run(cls, kw, init, grads, 1), run(cls, kw, init, grads, 2)
    for a_list, b_list in zip(serial, threaded):
        for a, b in zip(a_list, b_list):
            np.testing.assert_array_equal(a, b)

    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    topt = getattr(torch.optim, name)(theirs, **kw)
    for step_grads in grads:
        for i, (t, g) in enumerate(zip(theirs, step_grads)):
            t.grad = None if i == NO_GRAD else torch.tensor(g.copy())
        topt.step()
    params, ms, vs = threaded
    for i, t in enumerate(theirs):
        np.testing.assert_allclose(params[i], t.detach().numpy(), rtol=1e-6, atol=1e-6)
        if i == NO_GRAD:
            np.testing.assert_array_equal(params[i], init[i])
        else:
            np.testing.assert_allclose(ms[i], topt.state[t]["exp_avg"].numpy(), rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(vs[i], topt.state[t]["exp_avg_sq"].numpy(), rtol=1e-6, atol=1e-9)
