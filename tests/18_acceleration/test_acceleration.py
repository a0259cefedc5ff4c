"""Module 18: the counting and roofline functions, exact; the composed paths against the fused kernels.

Nothing here asserts a time: the measuring helpers are only checked for the
shape of what they return and for restoring the thread setting.
"""
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.attention import causal_mask
from tinytorch.core.transformer import TransformerBlock
from tinytorch.perf import acceleration as A

pytestmark = pytest.mark.module18


def test_matmul_counts_are_exact():
    assert A.matmul_flops(2, 3, 4) == 48                      # 2*4 outputs x 3 multiply-adds
    assert A.matmul_bytes(2, 3, 4) == 4 * (6 + 12 + 8) == 104
    assert A.matmul_bytes(2, 3, 4, itemsize=8) == 208
    n = 1024
    assert A.arithmetic_intensity(A.matmul_flops(n, n, n), A.matmul_bytes(n, n, n)) == pytest.approx(n / 6)


def test_elementwise_add_intensity_is_one_flop_per_twelve_bytes():
    assert A.elementwise_flops(1000) == 1000
    assert A.elementwise_bytes(1000) == 12000                 # two float32 reads, one write
    assert A.arithmetic_intensity(A.elementwise_flops(1000), A.elementwise_bytes(1000)) == 1 / 12
    assert A.elementwise_bytes(10, inputs=1, outputs=1, itemsize=8) == 160
    assert A.elementwise_flops(10, flops_per_element=8) == 80


@pytest.mark.parametrize("intensity,expected", [(0.0, 0.0), (1 / 12, 20 / 12), (5.0, 100.0), (10.0, 200.0),
                                                (100.0, 200.0)])
def test_roofline_bound_is_min_of_peak_and_intensity_times_bandwidth(intensity, expected):
    assert A.roofline_bound(intensity, peak_gflops=200.0, bandwidth_gbs=20.0) == pytest.approx(expected, rel=1e-15)
    assert A.ridge_point(200.0, 20.0) == 10.0


def test_roofline_row_from_given_time():
    row = A.roofline_row("matmul", A.matmul_flops(100, 100, 100), A.matmul_bytes(100, 100, 100), 1e-3,
                         peak_gflops=100.0, bandwidth_gbs=10.0)
    assert row["intensity"] == pytest.approx(2e6 / 120000)
    assert row["bound_gflops"] == pytest.approx(min(100.0, 10.0 * 2e6 / 120000))
    assert row["achieved_gflops"] == pytest.approx(2.0)
    assert row["limit"] == "compute" and row["fraction_of_bound"] == pytest.approx(2.0 / 100.0)
    add = A.roofline_row("add", 1000, 12000, 1e-6, 100.0, 10.0)
    assert add["limit"] == "memory" and add["bound_gflops"] == pytest.approx(10 / 12)


def test_peak_arithmetic():
    assert A.simd_flops_per_cycle("AVX-512 (F/BW/DQ/VL)") == 64
    assert A.simd_flops_per_cycle("AVX2") == 32
    assert A.simd_flops_per_cycle("SSE4.2") == 16
    assert A.theoretical_peak_gflops(2, 2.5, 64) == 320.0


def test_errors_name_the_function():
    with pytest.raises(ValueError, match="matmul_flops: k must be a positive integer"):
        A.matmul_flops(2, 0, 3)
    with pytest.raises(ValueError, match="arithmetic_intensity: nbytes must be a finite number > 0"):
        A.arithmetic_intensity(10, 0)
    with pytest.raises(ValueError, match="roofline_bound: peak_gflops must be"):
        A.roofline_bound(1.0, -5, 10)
    with pytest.raises(ValueError, match="roofline_bound: intensity must be"):
        A.roofline_bound(float("nan"), 5, 10)


def test_composed_layer_norm_equals_the_fused_kernel_values_and_gradients():
    rng = np.random.default_rng(0)
    x = tt.Tensor(rng.standard_normal((5, 7)), dtype=tt.float64, requires_grad=True)
    g = tt.Tensor(rng.standard_normal(7), dtype=tt.float64, requires_grad=True)
    b = tt.Tensor(rng.standard_normal(7), dtype=tt.float64, requires_grad=True)
    upstream = tt.Tensor(rng.standard_normal((5, 7)), dtype=tt.float64)
    (tt.layer_norm(x, g, b, 1e-5) * upstream).sum().backward()
    fused = [np.asarray(t.grad).copy() for t in (x, g, b)]
    for t in (x, g, b):
        t.grad = None
    out = A.composed_layer_norm(x, g, b, 1e-5)
    xs = np.asarray(x.data)
    ref = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5) * np.asarray(g.data) \
        + np.asarray(b.data)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12)
    (out * upstream).sum().backward()
    for f, t in zip(fused, (x, g, b)):
        np.testing.assert_allclose(np.asarray(t.grad), f, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_composed_block_equals_the_fused_block(causal):
    tt.manual_seed(3)
    block = TransformerBlock(16, 4, dropout_prob=0.0)
    x = tt.Tensor(np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32))
    fused = block(x, causal_mask(5) if causal else None)
    np.testing.assert_allclose(np.asarray(A.composed_block(block, x, causal)), np.asarray(fused), atol=2e-5)


def test_thread_scaling_restores_the_setting_and_reports_each_count():
    before = tt.get_num_threads()
    rows = A.thread_scaling(n=64, threads=(1, 2), rounds=1)
    assert [r["threads"] for r in rows] == [1, 2] and tt.get_num_threads() == before
    assert all(r["matmul_s"] > 0 and r["add_s"] > 0 for r in rows)


def test_interleaved_medians_calls_in_rounds():
    calls = []
    out = A.interleaved_medians([lambda: calls.append("a"), lambda: calls.append("b")], rounds=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3 and len(out) == 2


def test_composed_block_gradients_equal_the_fused_block_in_float64():
    tt.manual_seed(4)
    block = TransformerBlock(8, 2, dropout_prob=0.0).double()
    rng = np.random.default_rng(2)
    x = tt.Tensor(rng.standard_normal((2, 3, 8)), dtype=tt.float64, requires_grad=True)
    up = tt.Tensor(rng.standard_normal((2, 3, 8)), dtype=tt.float64)
    (block(x, causal_mask(3)) * up).sum().backward()
    params = block.parameters()
    fused = [np.asarray(x.grad).copy()] + [np.asarray(p.grad).copy() for p in params]
    x.grad = None
    block.zero_grad()
    (A.composed_block(block, x, causal=True) * up).sum().backward()
    composed = [np.asarray(x.grad)] + [np.asarray(p.grad) for p in params]
    for f, c in zip(fused, composed):
        np.testing.assert_allclose(c, f, rtol=1e-7, atol=1e-10)
