# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 14 — Profiling: where the parameters, FLOPs, bytes and time go
#
# Modules 01-13 built a GPT. Modules 14-19 make it cheaper, and you cannot
# make something cheaper before you know what it costs. This module measures
# four things:
#
# * **Parameters**: how many numbers the model stores (memory for the weights,
#   twice or three times more with Adam's state).
# * **FLOPs**: how much arithmetic one forward pass does. A multiply-add counts
#   as 2 floating-point operations. Almost all of a network's FLOPs are in its
#   matrix products, so that is what we count.
# * **Bytes**: how much memory the activations take, measured where tensor
#   memory really comes from, the engine's storage allocator (Python's
#   `tracemalloc` does not see it: tensor memory is not Python memory).
# * **Time**: how long a call takes, measured like a scientist: warm-up runs
#   first, many samples, and the median and the 95th percentile rather than
#   a single number.
#
# The counts are exact formulas you can check by hand. The measurements come
# from the C++ engine's profiler, which you switch on with
# `with Profiler() as prof:`.

# %%
import os
import tempfile
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.spatial import Conv2d
from tinytorch.profiling.profiler import Profiler, machine_peak_gflops, record_function

# %% [markdown]
# ## Worked example: the engine profiler on a tiny graph
# `y = ((a @ b) @ c).sum()` with `a (4, 3)`, `b (3, 5)`, `c (5, 2)`. Inside the
# `with` block the engine records every backward node it runs (with its time),
# every forward op that records a graph node (counted), every forward kernel
# (`matmul` with its FLOPs, `sum`, `add`, ...; timed) and every allocation.

# %%
a = tt.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
b = tt.Tensor(np.ones((3, 5), np.float32), requires_grad=True)
c = tt.Tensor(np.ones((5, 2), np.float32), requires_grad=True)
with Profiler() as prof:
    ((a @ b) @ c).sum().backward()
print(prof.table())
calls = {(r["name"], r["kind"]): r["calls"] for r in prof.summary()}
assert calls[("MatmulBackward", "backward")] == 2 and calls[("matmul", "kernel")] == 6

# %% [markdown]
# Six matmul kernels for two `@` in the forward: each `MatmulBackward` needs
# one product per input (`dA = G B^T`, `dB = A^T G`). That is the rule of thumb
# "backward costs twice the forward" read straight off the engine.
#
# ## Exercise 1: `count_parameters(model)`
#
# Return the number of scalars in the model's trainable parameters, as an
# `int`. Every tinytorch layer has `.parameters()`, a list of Tensors; a
# Tensor of shape `(in, out)` holds `in * out` numbers. Do not forget the
# biases (and layers built with `bias=False` have none).

# %%
def count_parameters(model):
    """Total number of scalars in model.parameters() (an int)."""
    ### HINT: sum the product of each parameter's shape over model.parameters()
    ### BEGIN SOLUTION
    return int(sum(int(np.prod(p.shape)) for p in model.parameters()))
    ### END SOLUTION


# %% [markdown]
# Check: a `Linear(8, 16)` has `8 * 16` weights and 16 biases; the MLP below
# adds a second layer `16 * 4 + 4`; the engine's `Profiler` agrees.

# %%
assert count_parameters(Linear(8, 16)) == 144
assert count_parameters(Linear(8, 16, bias=False)) == 128
mlp = Sequential(Linear(8, 16), ReLU(), Linear(16, 4))
assert count_parameters(mlp) == 144 + 68 == Profiler().count_parameters(mlp)
assert count_parameters(Conv2d(3, 8, 3)) == 3 * 8 * 3 * 3 + 8

# %% [markdown]
# ## Exercise 2: `linear_flops(input_shape, in_features, out_features)`
#
# `Linear` computes `x @ W + b` for `x` of shape `(..., in_features)`. Every
# leading dimension is a row: there are `rows = prod(input_shape[:-1])` of
# them, and each output number is a dot product of length `in_features`,
# i.e. `in_features` multiply-adds = `2 * in_features` FLOPs. Count the
# matmul only (the bias add is `rows * out_features`, negligible, and the
# engine's matmul recorder does not include it either).

# %%
def linear_flops(input_shape, in_features, out_features):
    """FLOPs of Linear(in_features, out_features) on an input of input_shape (..., in_features)."""
    ### HINT: 2 * rows * in_features * out_features, rows = product of all but the last dimension
    ### BEGIN SOLUTION
    rows = int(np.prod(input_shape[:-1]))
    return 2 * rows * in_features * out_features
    ### END SOLUTION


# %% [markdown]
# Check by hand, then against what the engine measured when it ran the layer.

# %%
assert linear_flops((4, 8), 8, 16) == 1024
assert linear_flops((2, 3, 8), 8, 16) == 1536
layer = Linear(8, 16)
with Profiler() as prof:
    layer(tt.Tensor(np.ones((2, 3, 8), np.float32)))
measured = sum(r["flops"] for r in prof.summary() if r["name"] == "matmul")
assert linear_flops((2, 3, 8), 8, 16) == measured, measured

# %% [markdown]
# ## Exercise 3: `conv2d_flops(input_shape, out_channels, kernel_size, stride=1, padding=0)`
#
# A `Conv2d` on `(N, C, H, W)` produces `(N, out_channels, H_out, W_out)` with
#
#     H_out = (H + 2 * padding - kernel_size) // stride + 1     (same for W)
#
# and every output number is a dot product over a `C x k x k` window: `2 * C *
# k * k` FLOPs. (`H // stride` is a common shortcut, and it is wrong as soon as
# the kernel does not fit evenly.) `kernel_size`, `stride` and `padding` are
# ints here: square windows.

# %%
def conv2d_flops(input_shape, out_channels, kernel_size, stride=1, padding=0):
    """FLOPs of a Conv2d forward on (N, C, H, W) with a square kernel."""
    ### HINT: H_out = (H + 2*padding - kernel_size) // stride + 1; FLOPs = 2 * N * C_out * H_out * W_out * C * k * k
    ### BEGIN SOLUTION
    n, c, h, w = input_shape
    h_out = (h + 2 * padding - kernel_size) // stride + 1
    w_out = (w + 2 * padding - kernel_size) // stride + 1
    return 2 * n * out_channels * h_out * w_out * c * kernel_size * kernel_size
    ### END SOLUTION


# %% [markdown]
# Check: 8x8 input, 3x3 kernel, padding 1 keeps 8x8; a 9x9 input with stride 2
# gives 4x4. The engine computes a convolution as GEMMs over im2col columns
# (its fused `conv2d` kernel), so the FLOPs it records are exactly the convolution's.

# %%
assert conv2d_flops((2, 3, 8, 8), 8, 3, padding=1) == 2 * 2 * 8 * 8 * 8 * 3 * 9
assert conv2d_flops((2, 3, 9, 9), 8, 3, stride=2) == 2 * 2 * 8 * 4 * 4 * 3 * 9
conv = Conv2d(3, 8, 3, stride=2, padding=1)
with Profiler() as prof:
    conv(tt.Tensor(np.ones((2, 3, 9, 9), np.float32)))
measured = sum(r["flops"] for r in prof.summary() if r["name"] in ("matmul", "conv2d"))
assert conv2d_flops((2, 3, 9, 9), 8, 3, stride=2, padding=1) == measured, measured

# %% [markdown]
# ## Exercise 4: `matmul_flops(a_shape, b_shape)`
#
# `a @ b` with `a (..., M, K)` and `b (..., K, N)`, both at least 2-D: the
# leading (batch) dimensions broadcast like numpy's, and each of the
# `prod(batch)` products costs `2 * M * N * K`. Attention's `Q @ K^T` over
# `(batch, heads)` is exactly this.

# %%
def matmul_flops(a_shape, b_shape):
    """FLOPs of a @ b for shapes (..., M, K) and (..., K, N), batch dimensions broadcast."""
    ### HINT: np.broadcast_shapes(a_shape[:-2], b_shape[:-2]) gives the batch; 2 * prod(batch) * M * N * K
    ### BEGIN SOLUTION
    batch = np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
    m, k = a_shape[-2:]
    n = b_shape[-1]
    return 2 * int(np.prod(batch)) * m * n * k
    ### END SOLUTION


# %% [markdown]
# Check by hand (`(2, 1, 4, 3) @ (5, 3, 6)` broadcasts to 10 products of
# `4x3 @ 3x6`), then against the engine for the same shapes.

# %%
assert matmul_flops((4, 3), (3, 5)) == 120
assert matmul_flops((2, 1, 4, 3), (5, 3, 6)) == 2 * 10 * 4 * 6 * 3
x1, x2 = tt.ones((2, 1, 4, 3)), tt.ones((5, 3, 6))
with Profiler() as prof:
    x1 @ x2
assert matmul_flops((2, 1, 4, 3), (5, 3, 6)) == sum(r["flops"] for r in prof.summary() if r["name"] == "matmul")

# %% [markdown]
# ## Exercise 5: `measure_latency(fn, warmup=10, iterations=100, clock=time.perf_counter)`
#
# The first calls of anything are slow: caches are cold, the allocator has
# no free blocks yet, pages are touched for the first time. So:
#
# 1. call `fn()` `warmup` times and ignore how long it took;
# 2. then `iterations` times: read `clock()` (seconds), call `fn()`, read
#    `clock()` again, keep the difference in **milliseconds**;
# 3. return a dict with `"median_ms"`, `"p95_ms"` (`np.percentile(samples,
#    95)`, numpy's default interpolation), `"mean_ms"` and `"samples_ms"` (the
#    list, in call order).
#
# Why the median? One sample slowed down by another process moves the mean a
# lot and the median not at all. Why p95? Users feel the slow calls: a server
# that answers in 2 ms at the median and 40 ms at p95 feels slow. Taking the
# clock as an argument lets us test the statistics with a fake clock: timing
# code that cannot be tested deterministically is timing code that is wrong.

# %%
def measure_latency(fn, warmup=10, iterations=100, clock=time.perf_counter):
    """Warm up, then time `iterations` calls of fn(); median, p95, mean (ms) and the samples."""
    ### HINT: untimed warm-up loop first; then samples.append((clock() after - clock() before) * 1000)
    ### BEGIN SOLUTION
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        start = clock()
        fn()
        samples.append((clock() - start) * 1e3)
    arr = np.asarray(samples)
    return {"median_ms": float(np.median(arr)), "p95_ms": float(np.percentile(arr, 95)),
            "mean_ms": float(arr.mean()), "samples_ms": samples}
    ### END SOLUTION


# %% [markdown]
# Check with a fake clock: each `fn()` call moves time forward by the next
# duration in a list, so we know every sample in advance. The two slow
# warm-up calls must not show up.

# %%
class FakeClock:
    def __init__(self, durations_s):
        self.now, self.durations, self.calls = 0.0, list(durations_s), 0

    def __call__(self):
        return self.now

    def tick(self):  # the function being "timed"
        self.now += self.durations[self.calls]
        self.calls += 1


fake = FakeClock([9.0, 9.0, 0.004, 0.001, 0.003, 0.002, 0.020])
stats = measure_latency(fake.tick, warmup=2, iterations=5, clock=fake)
assert fake.calls == 7
np.testing.assert_allclose(stats["samples_ms"], [4, 1, 3, 2, 20])
assert abs(stats["median_ms"] - 3.0) < 1e-9 and abs(stats["mean_ms"] - 6.0) < 1e-9
assert abs(stats["p95_ms"] - np.percentile([4, 1, 3, 2, 20], 95)) < 1e-9
real = measure_latency(lambda: mlp(tt.ones((32, 8))), warmup=5, iterations=50)
print(f"MLP forward, batch 32: median {real['median_ms'] * 1e3:.1f} us, p95 {real['p95_ms'] * 1e3:.1f} us")

# %% [markdown]
# ## Exercise 6: `mlp_activation_bytes(batch, sizes)`
#
# An MLP `Linear(sizes[0], sizes[1]), ReLU(), Linear(sizes[1], sizes[2]),
# ReLU(), ..., Linear(sizes[-2], sizes[-1])` (a ReLU after every Linear but the
# last). A forward pass allocates one new float32 tensor per layer: each
# Linear's output `(batch, sizes[i+1])` and each ReLU's output of the same
# shape. Return the total bytes those outputs take (4 bytes per float32). The
# input is not allocated by the forward; it already exists.

# %%
def mlp_activation_bytes(batch, sizes):
    """Bytes of every layer output of one float32 forward pass of the MLP described by sizes."""
    ### HINT: hidden layers (sizes[1:-1]) have two outputs each (Linear, ReLU), the last Linear one; times 4 * batch
    ### BEGIN SOLUTION
    hidden = sum(sizes[1:-1])
    return 4 * batch * (2 * hidden + sizes[-1])
    ### END SOLUTION


# %% [markdown]
# Check against the engine's allocator: the bytes the forward requested.

# %%
def build_mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(*layers)


assert mlp_activation_bytes(7, [10, 32, 16, 3]) == 4 * 7 * (32 + 32 + 16 + 16 + 3)
net, xin = build_mlp([10, 32, 16, 3]), tt.ones((7, 10))
with Profiler() as prof:
    out = net(xin)
mem = prof.memory_stats()
print(mem)
assert mlp_activation_bytes(7, [10, 32, 16, 3]) == mem["requested_bytes"]

# %% [markdown]
# Two things the allocator shows that the formula does not:
#
# * `block_bytes > requested_bytes`: small tensors come from power-of-two size
#   classes (a 448-byte tensor takes a 512-byte block), large ones are rounded
#   to 4 KiB pages. That is the price of reusing freed blocks quickly
#   (`csrc/core/allocator.cpp` has the measurements behind that choice).
# * `live_bytes < block_bytes`: after the forward some outputs were already
#   freed. A Linear's output that feeds a ReLU is not needed for backward
#   (ReLU's rule needs only its own output), so it dies as soon as the ReLU
#   has run. What stays alive is what autograd saved: that is the activation
#   memory of training.

# %% [markdown]
# ## Systems: where a GPT training step's time goes
#
# A small GPT, one training step (forward, cross-entropy, backward, Adam),
# with `record_function` ranges around the phases. The table lists the
# backward nodes the engine ran and every kernel (`gpt_forward`, `layer_norm`,
# `attention`, `linear`, ...), the matmuls with their GFLOP/s. Kernels nest:
# `total ms` includes what ran inside (a `linear`'s `matmul`), `self ms` does
# not, so add self times, never totals, across rows. We
# set those against the machine's practical peak: the best of many 384x384
# float32 products through the same engine (`machine_peak_gflops`).

# %%
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.transformer import GPT

tt.manual_seed(0)
V, D, L, H, T, B = 64, 64, 2, 4, 32, 8
gpt = GPT(V, D, L, H, max_seq_len=T)
opt = Adam(gpt.parameters(), lr=1e-3)
loss_fn = CrossEntropyLoss()
rng = np.random.default_rng(0)
tokens = tt.Tensor(rng.integers(0, V, size=(B, T)), dtype=tt.int64)
targets = tt.Tensor(rng.integers(0, V, size=(B * T,)), dtype=tt.int64)


def train_step():
    with record_function("forward"):
        logits = gpt(tokens)
        loss = loss_fn(logits.reshape(B * T, V), targets)
    with record_function("backward"):
        opt.zero_grad()
        loss.backward()
    with record_function("optimizer.step"):
        opt.step()


train_step()  # warm-up: the first step allocates everything
with Profiler() as prof:
    train_step()
peak = machine_peak_gflops()
print(prof.table(row_limit=12, peak_gflops=peak))
phases = {r["name"]: r["total_ms"] for r in prof.summary() if r["kind"] == "user"}
step_ms = sum(phases.values())
for name, ms in phases.items():
    print(f"{name:15s} {ms:7.3f} ms  {100 * ms / step_ms:5.1f}% of the step")
mm = next(r for r in prof.summary() if r["name"] == "matmul")
print(f"matmul kernels: {mm['calls']} calls, {mm['flops'] / 1e6:.1f} MFLOP, {mm['gflops_per_second']:.1f} GFLOP/s "
      f"= {100 * mm['gflops_per_second'] / peak:.0f}% of this machine's matmul peak ({peak:.0f} GFLOP/s)")
print(f"matmul kernels (forward and backward) take {100 * mm['total_ms'] / step_ms:.0f}% of the step")
assert Profiler().count_parameters(gpt) == count_parameters(gpt)

# %% [markdown]
# What to read in these numbers (they depend on your machine):
#
# * The matmul kernels take most of the step (about 70% here): that is where
#   an optimization pays, and where modules 16 (int8) and 18 (tiling, fusion)
#   aim.
# * Backward takes longer than forward: about twice the matmul FLOPs, plus
#   the gradient accumulation (`AccumulateGrad`) into every parameter.
# * The matmuls of a model this small run far below the BLAS peak: a
#   `(256, 64) @ (64, 64)` product is too small to fill the vector units and
#   caches, so call overhead dominates. Bigger batches and wider layers
#   move the GFLOP/s toward the peak; this is why module 18 fuses work.
# * The trace shows the same story on a timeline. Open the file in
#   https://ui.perfetto.dev or `chrome://tracing`:

# %%
trace_path = os.path.join(tempfile.mkdtemp(), "gpt_step_trace.json")
prof.export_chrome_trace(trace_path)
print("trace written to", trace_path, f"({os.path.getsize(trace_path)} bytes)")

# %% [markdown]
# ## Read the engine
# * `csrc/core/profiler.h` and `csrc/core/profiler.cpp`: the recorder. One
#   relaxed atomic flag is tested at each choke point, so a program that does
#   not profile pays a load and a branch per op.
# * `csrc/autograd/engine.cpp`: the backward loop; each node's `apply` is
#   timed there and recorded under the node's name.
# * `csrc/autograd/node.cpp`: `set_history`, where every differentiable
#   forward op records its node, is where forward ops are counted.
# * `csrc/ops/elementwise.cpp`, `reduce.cpp`, `index.cpp`, ...,
#   `csrc/autograd/fused_ops.cpp` and `csrc/nn/*.cpp`: one
#   `prof::KernelTimer` at each forward kernel's entry
#   (`binary`, `unary`, `reduce`, `linear`, `attention`, ...) times it.
# * `csrc/ops/matmul.cpp`: the matmul kernel, timed with its `2 * M * N * K`
#   FLOPs per product (the number your `matmul_flops` computes).
# * `csrc/core/allocator.cpp`: where tensor memory comes from; the session
#   tag rides in the block's deleter context so a free is counted without
#   a lookup.
# * `python/tinytorch/perf/profiling.py`: `Profiler`, the table and the
#   Chrome trace writer.

# %%
print("module 14 checks passed")
