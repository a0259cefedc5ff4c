"""Plausible mistakes in module 19: the median as the middle element (wrong for even counts), warm-up runs
timed and returned, candidates run back to back instead of interleaved, means instead of medians in the
bootstrap, and the memory ratio turned upside down."""
REPLACE = [
    ("    return quantile(0.5), quantile(0.75) - quantile(0.25)\n",
     "    return s[len(s) // 2], quantile(0.75) - quantile(0.25)\n"),
    ("    for _ in range(warmup):\n        fn()\n    times = []\n    for _ in range(repetitions):\n",
     "    times = []\n    for _ in range(warmup + repetitions):\n"),
    ("    for _ in range(repetitions):\n        for name, fn in fns.items():\n",
     "    for name, fn in fns.items():\n        for _ in range(repetitions):\n"),
    ("    mb = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)\n"
     "    mo = np.median(o[rng.integers(0, o.size, size=(n_boot, o.size))], axis=1)\n",
     "    mb = np.mean(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)\n"
     "    mo = np.mean(o[rng.integers(0, o.size, size=(n_boot, o.size))], axis=1)\n"),
    ('            "memory": ratio(b.get("memory_bytes"), o.get("memory_bytes")),\n',
     '            "memory": ratio(o.get("memory_bytes"), b.get("memory_bytes")),\n'),
]
EXPECT_FAIL = ["median_iqr_matches_numpy", "measure_skips_warmup_and_times_each_call",
               "interleaved_rounds_order_and_values", "interleaving_cancels_drift", "bootstrap_point_and_interval",
               "bootstrap_matches_package", "olympic_scores_match_engine"]
