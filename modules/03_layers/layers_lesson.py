# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 03 — Layers
#
# A layer is a function with memory: its parameters. `Linear` stores a
# weight of shape (in_features, out_features) — TinyTorch's layout, the
# transpose of PyTorch's — so the forward pass is just y = x @ W + b, one
# GEMM in C++ (`csrc/nn/linear.cpp`).

# %%
import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Dropout, Linear, Sequential

tt.manual_seed(0)
lin = Linear(3, 2)
assert lin.weight.shape == (3, 2) and lin.bias.shape == (2,)
assert np.asarray(lin.bias).tolist() == [0.0, 0.0]        # bias starts at zero

x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
lin.bias = tt.Tensor([0.5, -1.0], requires_grad=True)      # make b visible
y = lin(tt.Tensor(x))
W, b = np.asarray(lin.weight), np.asarray(lin.bias)
np.testing.assert_allclose(y, x @ W + b, rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## Sequential: layers in a row
# `Sequential` calls its layers in order. Its parameters are found by looking
# at its attributes, so they get names like `layers.0.weight`.

# %%
tt.manual_seed(0)
net = Sequential(Linear(3, 4), ReLU(), Linear(4, 1))
names = [n for n, _ in net.named_parameters()]
assert names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
assert len(net.parameters()) == 4 and net.num_parameters() == 3 * 4 + 4 + 4 * 1 + 1
h = np.maximum(x @ np.asarray(net[0].weight) + np.asarray(net[0].bias), 0)
np.testing.assert_allclose(net(tt.Tensor(x)), h @ np.asarray(net[2].weight) + np.asarray(net[2].bias),
                           rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## Dropout: noise in training, identity at test time
# While training, each element is zeroed with probability p and the survivors
# are scaled by 1/(1-p), so the *expected* output equals the input. In
# `eval()` mode nothing is dropped and nothing is scaled.

# %%
tt.manual_seed(0)
drop = Dropout(p=0.25)
out = np.asarray(drop(tt.ones(10_000)))
assert set(np.unique(out).tolist()) == {0.0, np.float32(1 / 0.75)}
assert abs((out == 0).mean() - 0.25) < 0.02
assert abs(out.mean() - 1.0) < 0.03                       # expectation preserved

drop.eval()
assert np.asarray(drop(tt.Tensor(x))).tolist() == x.tolist()
assert drop.training is False

# %% [markdown]
# ## Saving and restoring: the state dict
# `state_dict()` is an ordered mapping name -> numpy copy. `load_state_dict`
# writes the values back *in place*, so a second model built with a
# different seed becomes an exact clone.

# %%
sd = net.state_dict()
assert list(sd) == names
tt.manual_seed(123)
clone = Sequential(Linear(3, 4), ReLU(), Linear(4, 1))
assert not np.array_equal(np.asarray(clone(tt.Tensor(x))), np.asarray(net(tt.Tensor(x))))
result = clone.load_state_dict(sd)
assert result.missing_keys == [] and result.unexpected_keys == []
assert np.asarray(clone(tt.Tensor(x))).tolist() == np.asarray(net(tt.Tensor(x))).tolist()

# %% [markdown]
# ## Your turn
# 1. `state_dict()` returns *copies*: change `sd` and show `net` is untouched.
# 2. A wrong shape must be refused, and the model left unchanged.

# %%
before = np.asarray(net[0].weight).copy()
sd["layers.0.weight"][:] = 0.0
assert np.array_equal(np.asarray(net[0].weight), before)
try:
    net.load_state_dict({**sd, "layers.0.weight": np.zeros((4, 3))})
    raise AssertionError("a (4, 3) weight should not load into a (3, 4) parameter")
except ValueError as err:
    assert "size mismatch for layers.0.weight" in str(err)
assert np.array_equal(np.asarray(net[0].weight), before)
print("module 03 checks passed")
