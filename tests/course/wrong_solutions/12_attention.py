"""Plausible mistakes in module 12: a causal mask that also hides the diagonal, blocked scores set to -inf
(a fully blocked row turns into NaN), the softmax taken in numpy (no gradient reaches Q and K), and heads
split by a direct reshape to (B, H, T, Dh) (right shape, wrong layout)."""
REPLACE = [
    ("    return tt.Tensor(np.triu(np.full((seq_len, seq_len), -np.inf, dtype=np.float32), k=1))\n",
     "    return tt.Tensor(np.triu(np.full((seq_len, seq_len), -np.inf, dtype=np.float32), k=0))\n"),
    ("scores = scores.masked_fill(tt.Tensor(values == 0), MASK_VALUE)",
     "scores = scores.masked_fill(tt.Tensor(values == 0), -np.inf)"),
    ("    weights = tt.softmax(scores, axis=-1)\n    return weights @ V, weights\n",
     "    weights = tt.Tensor(np_softmax(np.asarray(scores)), dtype=scores.dtype)\n    return weights @ V, weights\n"),
    ("    return x.reshape(B_, T_, num_heads, E_ // num_heads).permute(0, 2, 1, 3)\n",
     "    return x.reshape(B_, num_heads, T_, E_ // num_heads)\n"),
]
EXPECT_FAIL = ["causal_mask_matches_engine", "sdpa_padding_mask", "sdpa_gradients", "split_merge_heads_layout",
               "heads_rebuild_multihead_attention"]
