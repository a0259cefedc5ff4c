"""Plausible mistakes in module 18: b indexed as if it were transposed, the broadcast summed over the wrong
axis, block products assigned instead of accumulated, the output write forgotten in the traffic, max instead
of min in the roofline, and GELU without its factor 0.5."""
REPLACE = [
    ("                s += a[i, p] * b[p, j]\n", "                s += a[i, p] * b[j % b.shape[0], p % b.shape[1]]\n"),
    ("    return (a[:, :, None] * b[None, :, :]).sum(axis=1)\n",
     "    return (a[:, :, None] * b[None, :, :]).sum(axis=0)\n"),
    ("                out[i:i + tile, j:j + tile] += a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]\n",
     "                out[i:i + tile, j:j + tile] = a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]\n"),
    ("    return 2 * m * k * n / (itemsize * (m * k + k * n + m * n))\n",
     "    return 2 * m * k * n / (itemsize * (m * k + k * n))\n"),
    ("    return min(peak_gflops, intensity * bandwidth_gbs)\n",
     "    return max(peak_gflops, intensity * bandwidth_gbs)\n"),
    ("    return u * 0.5 * (tt.tanh(inner) + 1.0)\n", "    return u * (tt.tanh(inner) + 1.0)\n"),
]
EXPECT_FAIL = ["naive_matmul_matches_engine", "vectorized_matmul_matches_engine", "tiled_matmul_matches_engine",
               "intensities_are_exact", "roofline_bound_is_exact", "linear_gelu_matches_fused_kernel"]
