"""Plausible mistakes in module 15: update() that also advances seq_pos, attention without the 1/sqrt(d)
scale and with no causal mask among several new queries, a decode loop that re-runs the whole sequence
every step (right tokens, no cache), and a cache size that forgets the values."""
REPLACE = [
    ("        value_cache.data[:, :, self.seq_pos:self.seq_pos + n] = v\n",
     "        value_cache.data[:, :, self.seq_pos:self.seq_pos + n] = v\n        self.seq_pos += n\n"),
    ("    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(d)\n", "    scores = q @ np.swapaxes(k, -1, -2)\n"),
    ("    scores = np.where(blocked, -np.inf, scores)\n", ""),
    ("            logits = np.asarray(step(nxt[:, None], seq.shape[1] - 1))\n",
     "            logits = np.asarray(step(seq, 0))\n"),
    ("    return int(2 * num_layers *", "    return int(num_layers *"),
]
EXPECT_FAIL = ["cache_update_get_match_numpy", "one_query_matches_full_attention", "several_queries_are_causal",
               "decode_loop_matches_uncached_engine", "memory_formula"]
