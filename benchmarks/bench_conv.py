"""Convolution and pooling (tinytorch.core.spatial: im2col + matmul) vs PyTorch, forward + backward.

    python benchmarks/bench_conv.py

Milliseconds per call, best of 5 rounds; > 1 means tinytorch is faster.
The shapes are those of small CNNs (the LeNet-style milestone's two layers,
and a wider 32x32 one).
"""
import os

import numpy as np

from timing import best_time

CASES = [  # (batch, in_channels, size, out_channels, kernel, padding)
    (64, 1, 16, 8, 3, 1),
    (64, 8, 8, 16, 3, 1),
    (32, 16, 32, 32, 3, 1),
]


def main():
    import tinytorch as tt
    from tinytorch.core.spatial import Conv2d, MaxPool2d
    try:
        import torch
        torch.set_num_threads(tt.get_num_threads())
    except ImportError:
        torch = None
    info = tt._C._build_info()
    print(f"# OpenBLAS core {info['blas_core']} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), "
          f"{tt.get_num_threads()} threads; torch {torch.__version__ if torch else 'not installed'}")
    print("| layer, fwd+bwd | tinytorch ms | PyTorch ms | speedup |")
    print("|---|---|---|---|")
    for n, c, size, o, k, p in CASES:
        x = np.random.default_rng(0).random((n, c, size, size), dtype=np.float32)
        tt.manual_seed(0)
        conv, pool = Conv2d(c, o, k, padding=p), MaxPool2d(2)

        def tt_step():
            xt = tt.Tensor(x, requires_grad=True)
            pool(conv(xt)).sum().backward()
        t_tt = best_time(tt_step, 20) * 1e3
        t_torch = None
        if torch:
            tconv, tpool = torch.nn.Conv2d(c, o, k, padding=p), torch.nn.MaxPool2d(2)

            def torch_step():
                xt = torch.tensor(x, requires_grad=True)
                tpool(tconv(xt)).sum().backward()
            t_torch = best_time(torch_step, 20) * 1e3
        name = f"Conv2d({c}, {o}, {k}, padding={p}) + MaxPool2d(2) on {n}x{c}x{size}x{size}"
        print(f"| {name} | {t_tt:.2f} | {t_torch:.2f} | {t_torch / t_tt:.2f}x |" if t_torch
              else f"| {name} | {t_tt:.2f} | - | - |")


if __name__ == "__main__":
    main()
