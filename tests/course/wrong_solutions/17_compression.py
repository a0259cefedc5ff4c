"""Plausible mistakes in module 17: a percentile threshold instead of an exact count, row norms instead of
column norms, the singular values all given to one factor, and the distillation loss without its T^2."""
REPLACE = [
    ("    order = np.argsort(np.abs(w).ravel(), kind=\"stable\")\n"
     "    keep = np.ones(w.size, dtype=bool)\n"
     "    keep[order[:k]] = False\n"
     "    return keep.reshape(w.shape)\n",
     "    return np.abs(w) >= np.percentile(np.abs(w), 100 * sparsity)\n"),
    ("    norms = np.sqrt((w * w).sum(axis=0))\n    k = int(round(fraction * norms.size))\n",
     "    norms = np.sqrt((w * w).sum(axis=1))[: w.shape[1]]\n    k = int(round(fraction * norms.size))\n"),
    ("    return u[:, :rank] * root, root[:, None] * vt[:rank]\n",
     "    return u[:, :rank] * root * root, vt[:rank]\n"),
    ("    soft = (log_p.exp() * (log_p - log_q)).sum() * (T * T / n)\n",
     "    soft = (log_p.exp() * (log_p - log_q)).sum() * (1.0 / n)\n"),
]
EXPECT_FAIL = ["magnitude_mask_matches_engine", "structured_mask_matches_engine", "low_rank_factors_are_optimal",
               "distillation_value_matches_engine", "distillation_gradient_matches_engine"]
