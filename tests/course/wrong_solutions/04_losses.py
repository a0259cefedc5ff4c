"""Plausible mistakes in module 04: MSE summed instead of averaged, log-softmax without the max subtracted
(inf for large logits), padding positions counted in cross-entropy's mean, and BCE without the clamp (log 0)."""
REPLACE = [
    ("    return (diff * diff).mean()\n", "    return (diff * diff).sum()\n"),
    ("    shifted = x - m\n", "    shifted = x\n"),
    ("    return picked * -1.0 / float(counted.sum())", "    return picked * -1.0 / float(ids.size)"),
    ("    p = tt.clip(predictions, BCE_EPS, 1 - BCE_EPS)\n", "    p = predictions\n"),
]
EXPECT_FAIL = ["mse_matches_engine", "log_softmax_matches_engine_and_is_stable", "cross_entropy_ignores_padding",
               "bce_is_finite_at_saturation"]
