"""Plausible mistakes in module 16: the range not widened to include 0, truncation instead of rounding,
TinyTorch's old dequantize formula (scale * q + zero_point * scale), per-channel scales over the wrong
axis, and the K * za * zb term of the zero-point correction forgotten."""
REPLACE = [
    ("    lo, hi = min(float(x_min), 0.0), max(float(x_max), 0.0)\n",
     "    lo, hi = float(x_min), float(x_max)\n"),
    ("    codes = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point\n",
     "    codes = np.trunc(np.asarray(x, dtype=np.float64) / scale) + zero_point\n"),
    ("    return (scale * (np.asarray(q, dtype=np.float64) - zero_point)).astype(np.float32)\n",
     "    return (scale * np.asarray(q, dtype=np.float64) + zero_point * scale).astype(np.float32)\n"),
    ("    amax = np.abs(np.asarray(w, dtype=np.float64)).max(axis=0)\n",
     "    amax = np.abs(np.asarray(w, dtype=np.float64)).max(axis=1)[: np.shape(w)[1]]\n"),
    ("    return (acc - za * col_sums - row_sums * zb + k * za * zb).astype(np.int32)\n",
     "    return (acc - za * col_sums - row_sums * zb).astype(np.int32)\n"),
]
EXPECT_FAIL = ["scale_zero_point_by_hand", "scale_zero_point_matches_engine", "quantize_codes", "dequantize_round_trip",
               "per_channel", "zero_point_matmul"]
