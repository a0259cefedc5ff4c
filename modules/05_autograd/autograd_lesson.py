# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 05 — Autograd
#
# Every differentiable op that sees an input with `requires_grad=True`
# records a *node*: its backward function, pointing at the nodes that made
# its inputs. `backward()` walks those nodes in reverse (in C++:
# `csrc/autograd/engine.cpp`; every rule is in `csrc/autograd/backward.h`).

# %%
import numpy as np

import tinytorch as tt
from tinytorch.autograd import Function, gradcheck

x = tt.Tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x * x - x / 2).sum()
print(type(y.grad_fn).__name__, [type(f).__name__ for f, _ in y.grad_fn.next_functions])

# %% [markdown]
# d/dx (x^2 - x/2) = 2x - 1/2. The engine sums the two paths that reach `x`.

# %%
y.backward()
np.testing.assert_allclose(x.grad, 2 * np.array([1.0, 2.0, 3.0]) - 0.5)

# %% [markdown]
# ## Plug in your own backward
# A `Function` runs its forward without recording, and the C++ engine calls
# its `backward` in the right order alongside the built-in nodes.

# %%
class Cube(Function):
    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t * t * t

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        return grad * 3 * t * t


a = tt.Tensor(np.array([0.5, -1.0, 2.0]), dtype=tt.float64, requires_grad=True)
assert gradcheck(lambda t: Cube.apply(t).sum(), [a])  # finite differences agree

# %% [markdown]
# ## Second derivatives
# With `create_graph=True` the backward pass is itself recorded, so it can be
# differentiated again: d²/dx² of x³ is 6x.

# %%
(g,) = tt.autograd.grad(Cube.apply(a).sum(), a, create_graph=True)
(h,) = tt.autograd.grad(g.sum(), a)
np.testing.assert_allclose(h, 6 * np.array([0.5, -1.0, 2.0]))
print("module 05 checks passed")
