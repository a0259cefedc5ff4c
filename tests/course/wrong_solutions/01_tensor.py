"""Plausible mistakes in module 01: shapes aligned from the left, column-major (Fortran) strides, and a
reshape rule that gives up on every non-contiguous input (x.T.reshape(2, 2, 3) is still a view)."""
REPLACE = [
    ("        padded = (1,) * (ndim - len(s)) + tuple(s)\n", "        padded = tuple(s) + (1,) * (ndim - len(s))\n"),
    ("    for i in range(len(shape) - 1, -1, -1):\n", "    for i in range(len(shape)):\n"),
    ("    chunks = []                                   # [size, stride of its innermost axis], left to right\n",
     "    if strides != contiguous_strides(shape):\n        return None\n    chunks = []\n"),
]
EXPECT_FAIL = ["broadcast_shape_matches_engine", "contiguous_strides_match_engine", "reshape_of_views_matches_engine"]
