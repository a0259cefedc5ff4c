"""Convolution and pooling (tinytorch.core.spatial) vs PyTorch, forward + backward.

    python benchmarks/bench_conv.py [--rounds N] [--quick]

Milliseconds per call (forward, sum, backward from a fresh input that requires grad),
the median of interleaved rounds (tinytorch, PyTorch, tinytorch, ...); > 1 means tinytorch
is faster. Both run the same number of threads (--threads, default tinytorch's). The shapes are those of small
CNNs: the LeNet-style milestone's two layers, a wider 32x32 one and a 64-channel 3x3 layer on
32x32. Each shape is measured as Conv2d + MaxPool2d(2) (the layer as a CNN uses it) and as
Conv2d alone. The first layer (1 input channel) runs tinytorch's column GEMM, the other three
its Winograd F(2x2, 3x3) kernel (csrc/ops/conv_winograd.cpp); docs/performance.md has the
attempts behind both.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import config_header, interleaved_medians  # noqa: E402

CASES = [  # (batch, in_channels, size, out_channels, kernel, padding)
    (64, 1, 16, 8, 3, 1),
    (64, 8, 8, 16, 3, 1),
    (32, 16, 32, 32, 3, 1),
    (32, 64, 32, 64, 3, 1),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: tinytorch's)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    if rounds < 1:
        parser.error("--rounds must be >= 1")
    import tinytorch as tt
    from tinytorch.core.spatial import Conv2d, MaxPool2d
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        tt.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(tt.get_num_threads())
    except ImportError:
        torch = None
        print("# torch is not installed: tinytorch only (pip install torch==2.13.0 for the comparison)")
    print(config_header(torch))
    print("| layer, fwd+bwd | tinytorch ms | PyTorch ms | speedup |")
    print("|---|---|---|---|")
    for n, c, size, o, k, p in CASES:
        x = np.random.default_rng(0).random((n, c, size, size), dtype=np.float32)
        tt.manual_seed(0)
        conv, pool = Conv2d(c, o, k, padding=p), MaxPool2d(2)
        if torch:
            tconv, tpool = torch.nn.Conv2d(c, o, k, padding=p), torch.nn.MaxPool2d(2)
        # calls per timing: about 20 ms of work per round at the small shapes, fewer at the large
        number = max(2, min(20, int(2e8 // (n * c * o * size * size * k * k))))
        for with_pool in (True, False):
            def tt_step():
                xt = tt.Tensor(x, requires_grad=True)
                y = conv(xt)
                (pool(y) if with_pool else y).sum().backward()
            fns = {"tinytorch": tt_step}
            if torch:
                def torch_step():
                    xt = torch.tensor(x, requires_grad=True)
                    y = tconv(xt)
                    (tpool(y) if with_pool else y).sum().backward()
                fns["torch"] = torch_step
            t = {k_: v * 1e3 for k_, v in interleaved_medians(fns, number, rounds).items()}
            name = (f"Conv2d({c}, {o}, {k}, padding={p}){' + MaxPool2d(2)' if with_pool else ''} "
                    f"on {n}x{c}x{size}x{size}")
            print(f"| {name} | {t['tinytorch']:.2f} | {t['torch']:.2f} | {t['torch'] / t['tinytorch']:.2f}x |"
                  if torch else f"| {name} | {t['tinytorch']:.2f} | - | - |")


if __name__ == "__main__":
    main()
