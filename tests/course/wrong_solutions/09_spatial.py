"""Plausible mistakes in module 09: im2col rows ordered (i, j, c) instead of (c, i, j); conv2d built on the
numpy im2col (no gradient reaches x); max pooling with stride 1 when stride is None."""
REPLACE = [
    ("    cols = np.stack(windows, axis=2)                     # (N, C, kh*kw, OH, OW)\n",
     "    cols = np.stack(windows, axis=1)                     # (N, kh*kw, C, OH, OW)\n"),
    ("    cols = _C.im2col(x, (kh, kw), (sh, sw), (ph, pw))        # (N, C*kh*kw, OH*OW)\n",
     "    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))         # my own numpy im2col\n"),
    ("    sh, sw = (kh, kw) if stride is None else pair(stride)\n",
     "    sh, sw = (1, 1) if stride is None else pair(stride)\n"),
]
EXPECT_FAIL = ["im2col_fixed_values", "im2col_matches_engine", "conv2d_matches_layer", "conv2d_gradients",
               "max_pool2d_matches_engine", "max_pool2d_gradients"]
