"""Autograd overhead: tinytorch vs PyTorch eager, measured in one run.

    python benchmarks/bench_autograd.py

1. A 50-op elementwise chain on small (32x32) tensors, forward + backward:
   this measures per-op and per-node overhead (target: >= 2x PyTorch).
2. A 2-layer MLP (batch 64, 784-256-10, ReLU, cross-entropy), forward +
   backward (target: no slower than PyTorch).
Times are the median of several repeats; ratios > 1 mean tinytorch is faster.
"""
import os
import statistics
import time

import numpy as np

import tinytorch as tt

try:
    import torch
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))
except ImportError:
    torch = None


def timed(fn, iters, repeats=7):
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - t0) / iters)
    return statistics.median(samples)


def chain(lib, x, w):
    """50 elementwise ops alternating kinds, ending in a sum."""
    y = x
    for i in range(10):
        y = y * w
        y = y + 0.5
        y = lib.tanh(y)
        y = y - x
        y = y / 2.0
    return y.sum()


def main():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((32, 32)).astype(np.float32)
    ws = rng.standard_normal((32, 32)).astype(np.float32)
    rows = []

    tx = tt.Tensor(xs, requires_grad=True)
    tw = tt.Tensor(ws, requires_grad=True)

    def tt_chain():
        tx.grad = None
        tw.grad = None
        chain(tt, tx, tw).backward()

    t_tt = timed(tt_chain, 200)
    row = ["50-op chain 32x32, fwd+bwd (us)", t_tt * 1e6]
    if torch:
        px = torch.tensor(xs, requires_grad=True)
        pw = torch.tensor(ws, requires_grad=True)

        def pt_chain():
            px.grad = None
            pw.grad = None
            chain(torch, px, pw).backward()

        t_pt = timed(pt_chain, 200)
        np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-4, atol=1e-5)
        row += [t_pt * 1e6, t_pt / t_tt]
    rows.append(row)

    batch, d_in, d_h, d_out = 64, 784, 256, 10
    X = rng.standard_normal((batch, d_in)).astype(np.float32)
    y = rng.integers(0, d_out, batch)
    W1 = (rng.standard_normal((d_in, d_h)) * 0.05).astype(np.float32)
    b1 = np.zeros(d_h, np.float32)
    W2 = (rng.standard_normal((d_h, d_out)) * 0.05).astype(np.float32)
    b2 = np.zeros(d_out, np.float32)

    tparams = [tt.Tensor(p.copy(), requires_grad=True) for p in (W1, b1, W2, b2)]
    tX, ty = tt.Tensor(X), tt.Tensor(y, dtype=tt.int64)

    def tt_mlp():
        for p in tparams:
            p.grad = None
        h = tt.relu(tX @ tparams[0] + tparams[1])
        tt.cross_entropy(h @ tparams[2] + tparams[3], ty).backward()

    t_tt = timed(tt_mlp, 50)
    row = ["MLP 64x784-256-10 fwd+bwd (us)", t_tt * 1e6]
    if torch:
        pparams = [torch.tensor(p.copy(), requires_grad=True) for p in (W1, b1, W2, b2)]
        pX, py = torch.tensor(X), torch.tensor(y)

        def pt_mlp():
            for p in pparams:
                p.grad = None
            h = torch.relu(pX @ pparams[0] + pparams[1])
            torch.nn.functional.cross_entropy(h @ pparams[2] + pparams[3], py).backward()

        t_pt = timed(pt_mlp, 50)
        for a, b in zip(tparams, pparams):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=1e-5)
        row += [t_pt * 1e6, t_pt / t_tt]
    rows.append(row)

    info = tt._C._build_info()
    print(f"# OpenBLAS core {info['blas_core']}, threads {info['blas_threads']}; "
          f"torch {torch.__version__ if torch else 'not installed'} threads {torch.get_num_threads() if torch else '-'}")
    print("| benchmark | tinytorch | PyTorch | speedup |")
    print("|---|---|---|---|")
    for r in rows:
        if len(r) == 4:
            print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.2f}x |")
        else:
            print(f"| {r[0]} | {r[1]:.1f} | (torch not installed) | |")


if __name__ == "__main__":
    main()
