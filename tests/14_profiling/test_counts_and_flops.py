"""Parameter and FLOP counts of known layers, hand-computed, and against what the engine measures."""
import numpy as np
import pytest

import tinytorch as tt
from conftest import torch_or_skip
from tinytorch.core.activations import ReLU
from tinytorch.core.attention import MultiHeadAttention
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.spatial import Conv2d
from tinytorch.core.transformer import GPT
from tinytorch.profiling.profiler import Profiler, attention_flops, conv2d_flops, linear_flops

pytestmark = pytest.mark.module14


def matmul_flops_measured(fn):
    with Profiler() as prof:
        fn()
    # Conv2d's fused op (csrc/ops/conv.cpp) calls BLAS itself and records its GEMMs' FLOPs as "conv2d"
    return sum(r["flops"] for r in prof.summary() if r["name"] in ("matmul", "conv2d"))


def test_parameter_counts_by_hand():
    p = Profiler()
    assert p.count_parameters(Linear(8, 16)) == 8 * 16 + 16
    assert p.count_parameters(Linear(8, 16, bias=False)) == 128
    assert p.count_parameters(Conv2d(3, 8, 3)) == 3 * 8 * 9 + 8
    assert p.count_parameters(MultiHeadAttention(32, 4)) == 4 * (32 * 32 + 32)
    assert p.count_parameters(Sequential(Linear(8, 16), ReLU(), Linear(16, 4))) == 144 + 68
    # GPT(vocab 50, D 32, 2 blocks, 4 heads, 16 positions): embeddings, blocks (attention, two
    # LayerNorms, MLP 32 -> 128 -> 32), final LayerNorm, lm_head without bias.
    block = 4 * (32 * 32 + 32) + 2 * 64 + (32 * 128 + 128) + (128 * 32 + 32)
    expected = 50 * 32 + 16 * 32 + 2 * block + 64 + 32 * 50
    assert expected == 29184
    assert p.count_parameters(GPT(50, 32, 2, 4, max_seq_len=16)) == expected


def test_flop_formulas_by_hand():
    assert linear_flops((4, 8), 8, 16) == 2 * 4 * 8 * 16
    assert linear_flops((2, 3, 8), 8, 16) == 2 * 6 * 8 * 16
    assert conv2d_flops((2, 3, 8, 8), 8, 3, stride=1, padding=1) == 2 * 2 * 8 * 8 * 8 * 3 * 9  # 8x8 out
    assert conv2d_flops((2, 3, 9, 9), 8, 3, stride=2) == 2 * 2 * 8 * 4 * 4 * 3 * 9            # 4x4 out
    assert attention_flops((2, 16, 32), 32) == 8 * 2 * 16 * 32 * 32 + 4 * 2 * 16 * 16 * 32


def test_count_flops_of_models_by_hand():
    p = Profiler()
    assert p.count_flops(Linear(8, 16), (4, 8)) == 1024
    assert p.count_flops(Sequential(Linear(8, 16), ReLU(), Linear(16, 4)), (2, 8)) == 512 + 32 + 256
    assert p.count_flops(Conv2d(3, 8, 3, padding=1), (2, 3, 8, 8)) == 55296
    assert p.count_flops(MultiHeadAttention(32, 4), (2, 16, 32)) == 327680
    # per block: attention 327680 + MLP 2*32*32*128*2 + GELU 32*128; lm_head 2*32*32*50
    block = 327680 + 2 * 2 * 32 * 32 * 128 + 32 * 128
    assert p.count_flops(GPT(50, 32, 2, 4, max_seq_len=16), (2, 16)) == 2 * block + 2 * 32 * 32 * 50


def test_linear_and_conv_flops_equal_what_the_engine_measured():
    p = Profiler()
    lin = Linear(8, 16)
    x = tt.Tensor(np.ones((4, 8), np.float32))
    assert matmul_flops_measured(lambda: lin(x)) == p.count_flops(lin, (4, 8))
    conv = Conv2d(3, 8, 3, padding=1)
    xc = tt.Tensor(np.ones((2, 3, 8, 8), np.float32))
    assert matmul_flops_measured(lambda: conv(xc)) == p.count_flops(conv, (2, 3, 8, 8))


def test_flops_against_pytorchs_flop_counter():
    torch = torch_or_skip()
    from torch.utils.flop_counter import FlopCounterMode
    p = Profiler()
    for model, shape, tmodel in [
        (Linear(8, 16), (4, 8), torch.nn.Linear(8, 16)),
        (Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 9, 9), torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)),
    ]:
        with FlopCounterMode(display=False) as counter:
            tmodel(torch.ones(shape))
        assert p.count_flops(model, shape) == counter.get_total_flops()


def test_backward_matmul_flops_for_a_known_graph():
    # y = ((a @ b) @ c).sum(), a (4,3), b (3,5), c (5,2): forward 120 + 80; backward dh, dc 80 each,
    # da, db 120 each.
    a = tt.Tensor(np.ones((4, 3), np.float32), requires_grad=True)
    b = tt.Tensor(np.ones((3, 5), np.float32), requires_grad=True)
    c = tt.Tensor(np.ones((5, 2), np.float32), requires_grad=True)
    assert matmul_flops_measured(lambda: ((a @ b) @ c).sum().backward()) == 600
