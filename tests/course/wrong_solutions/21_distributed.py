"""Plausible mistakes in module 21: the longer chunks put last, the all-gather receiving the chunk the
reduce-scatter would (the finished chunks never arrive), and one phase counted in the bytes sent."""
REPLACE = [
    ("        stop = start + base + (1 if i < extra else 0)\n",
     "        stop = start + base + (1 if i >= p - extra else 0)\n"),
    ("        c, d = bounds[(rank - s) % p]\n        comm.Sendrecv(buffer[a:b], dest=right, recvbuf=buffer[c:d], source=left)\n",
     "        c, d = bounds[(rank - s - 1) % p]\n        comm.Sendrecv(buffer[a:b], dest=right, recvbuf=buffer[c:d], source=left)\n"),
    ("    return 2 * (p - 1) * nbytes / p\n", "    return (p - 1) * nbytes / p\n"),
]
EXPECT_FAIL = ["chunk_bounds_split_like_array_split", "ring_sums_on_simulated_ranks",
               "ring_matches_all_reduce_bit_for_bit_on_mpi", "ring_bytes_sent_formula"]
