"""Plausible mistakes in module 05: size-1 axes left un-summed, the minus sign of d(a/b)/db dropped, the batch
axes transposed instead of the matrix axes, Sum's reduced axes not put back, and the embedding gradient
assigned (the last repeated id wins) instead of scatter-added."""
REPLACE = [
    ("        if size == 1 and grad.shape[i] != 1:\n            grad = grad.sum(i, keepdims=True)\n",
     "        pass\n"),
    ("unbroadcast(g * a / (b * b) * -1.0, b.shape)", "unbroadcast(g * a / (b * b), b.shape)"),
    ("grad_a = unbroadcast(g @ b2.transpose(-1, -2), a2.shape)", "grad_a = unbroadcast(g @ b2.transpose(0, 1), a2.shape)"),
    ("                kept.insert(ax, 1)\n", "                pass\n"),
    ("        np.add.at(table, ctx.indices, grad_np)\n", "        table[ctx.indices] = grad_np\n"),
]
EXPECT_FAIL = ["unbroadcast_sums_back", "div_matches_engine", "matmul_matches_engine", "sum_matches_engine",
               "embedding_scatter_adds"]
