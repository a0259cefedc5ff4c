"""Plausible mistakes in module 11: values copied through numpy (no gradient), negative ids not rejected,
and the pair index i used in the frequency exponent instead of the column index 2i."""
REPLACE = [
    ("    bad = (ids < 0) | (ids >= vocab)\n", "    bad = ids >= vocab\n"),
    ("    flat = tt.Tensor(ids.reshape(-1), dtype=tt.int64)\n"
     "    rows = tt.index_select(weight, 0, flat)                  # (N, D), backward: index_add (scatter-add)\n"
     "    return rows.reshape(*ids.shape, weight.shape[1])\n",
     "    return tt.Tensor(np.asarray(weight)[ids], dtype=weight.dtype)\n"),
    ("    freq = 1.0 / 10000.0 ** (np.arange(0, dim, 2, dtype=np.float64) / dim)",
     "    freq = 1.0 / 10000.0 ** (np.arange((dim + 1) // 2, dtype=np.float64) / dim)"),
]
EXPECT_FAIL = ["lookup_gradient_scatter_adds", "lookup_rejects_out_of_range", "pe_fixed_values", "pe_matches_engine"]
