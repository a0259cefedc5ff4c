"""Plausible mistakes in module 02: relu' = 1 at x = 0, the textbook sigmoid that overflows exp, GELU's
derivative without the inner chain factor, softmax without the max subtracted, and softmax's derivative
taken as if it were elementwise (s (1 - s) g)."""
REPLACE = [
    ("(values > 0).astype(values.dtype)", "(values >= 0).astype(values.dtype)"),
    ("    z = np.exp(-np.abs(values))\n    return tt.Tensor(np.where(values >= 0, 1 / (1 + z), z / (1 + z)), dtype=dtype)\n",
     "    return tt.Tensor(1 / (1 + np.exp(-values)), dtype=dtype)\n"),
    ("    grad = 0.5 * (1 + t) + 0.5 * values * (1 - t ** 2) * GELU_C * (1 + 3 * 0.044715 * values ** 2)\n",
     "    grad = 0.5 * (1 + t) + 0.5 * values * (1 - t ** 2) * GELU_C\n"),
    ("    e = np.exp(values - values.max(axis=axis, keepdims=True))\n", "    e = np.exp(values)\n"),
    ("s * (gv - (gv * s).sum(axis=axis, keepdims=True))", "s * (1 - s) * gv"),
]
EXPECT_FAIL = ["relu_matches_engine", "sigmoid_matches_engine_without_overflow", "gelu_matches_engine",
               "softmax_matches_engine_and_is_stable", "softmax_grad_matches_engine_backward"]
