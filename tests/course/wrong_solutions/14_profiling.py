"""Plausible mistakes in module 14: biases forgotten, a multiply-add counted as one FLOP, TinyTorch's own
H // stride shortcut for the conv output size, broadcast batch dims ignored, the warm-up timed with the
samples, and the ReLU outputs left out of the activation memory."""
REPLACE = [
    ("    return int(sum(int(np.prod(p.shape)) for p in model.parameters()))\n",
     "    return int(sum(int(np.prod(p.shape)) for p in model.parameters() if len(p.shape) > 1))\n"),
    ("    return 2 * rows * in_features * out_features\n", "    return rows * in_features * out_features\n"),
    ("    h_out = (h + 2 * padding - kernel_size) // stride + 1\n"
     "    w_out = (w + 2 * padding - kernel_size) // stride + 1\n",
     "    h_out = h // stride\n    w_out = w // stride\n"),
    ("    return 2 * int(np.prod(batch)) * m * n * k\n", "    return 2 * int(np.prod(a_shape[:-2])) * m * n * k\n"),
    ("    for _ in range(warmup):\n        fn()\n"
     "    samples = []\n    for _ in range(iterations):\n        start = clock()\n",
     "    samples = []\n    for _ in range(iterations):\n        start = clock()\n"),
    ("    return 4 * batch * (2 * hidden + sizes[-1])\n", "    return 4 * batch * (hidden + sizes[-1])\n"),
]
EXPECT_FAIL = ["parameter_counts", "linear_flops_match_engine", "conv2d_flops_match_engine",
               "matmul_flops_match_engine", "latency_statistics_on_a_fake_clock", "activation_bytes_match_allocator"]
