"""Models and data shared by the DDP workers and the single-process references in the tests: both sides
build them from the same seeds, so they start from the same numbers."""
import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.transformer import GPT

BATCH = 8  # global batch; each of 2 ranks takes half


def mlp(seed=0):
    tt.manual_seed(seed)
    return Sequential(Linear(6, 16), ReLU(), Linear(16, 16), ReLU(), Linear(16, 3))


def mlp_data(step=0):
    rng = np.random.default_rng([7, step])
    return (rng.standard_normal((BATCH, 6)).astype(np.float32), rng.standard_normal((BATCH, 3)).astype(np.float32))


def gpt(seed=0):
    tt.manual_seed(seed)
    return GPT(vocab_size=23, embed_dim=16, num_layers=2, num_heads=2, max_seq_len=8)


def gpt_data(step=0):
    rng = np.random.default_rng([11, step])
    x = rng.integers(0, 23, (BATCH, 8)).astype(np.int64)
    return x, np.roll(x, -1, axis=1)


CASES = {"mlp": (mlp, mlp_data, MSELoss), "gpt": (gpt, gpt_data, CrossEntropyLoss)}


def as_tensors(x, y):
    return (tt.Tensor(x, dtype=x.dtype), tt.Tensor(y, dtype=y.dtype))


def shard(array, rank, world):
    per = len(array) // world
    return array[rank * per:(rank + 1) * per]
