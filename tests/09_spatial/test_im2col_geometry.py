"""im2col / col2im on every small geometry (sizes, kernels, strides, paddings, including
windows that only partly overlap the image) against torch's unfold / fold, exactly."""
import itertools

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import _C

from conftest import torch_or_skip

pytestmark = pytest.mark.module09

GEOMETRIES = [g for g in itertools.product([1, 4, 7], [1, 5, 8], [1, 2, 3], [1, 3], [1, 2, 3], [1, 3], [0, 1, 2], [0, 1])
              if g[0] + 2 * g[6] >= g[2] and g[1] + 2 * g[7] >= g[3]]


def test_every_small_geometry_matches_unfold_and_fold():
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    for h, w, kh, kw, sh, sw, ph, pw in GEOMETRIES:
        x = rng.standard_normal((2, 2, h, w))
        cols = np.asarray(_C.im2col(tt.Tensor(x, dtype=np.float64), (kh, kw), (sh, sw), (ph, pw)))
        want = F.unfold(torch.tensor(x), (kh, kw), padding=(ph, pw), stride=(sh, sw)).numpy()
        np.testing.assert_array_equal(cols, want, err_msg=str((h, w, kh, kw, sh, sw, ph, pw)))
        back = np.asarray(_C.col2im(tt.Tensor(want, dtype=np.float64), (h, w), (kh, kw), (sh, sw), (ph, pw)))
        want_back = F.fold(torch.tensor(want), (h, w), (kh, kw), padding=(ph, pw), stride=(sh, sw)).numpy()
        np.testing.assert_allclose(back, want_back, rtol=1e-12, atol=1e-12, err_msg=str((h, w, kh, kw, sh, sw, ph, pw)))


def test_pad_value_fills_only_the_padding():
    x = tt.Tensor(np.arange(4.0).reshape(1, 1, 2, 2), dtype=np.float64)
    cols = np.asarray(_C.im2col(x, (2, 2), (1, 1), (1, 1), pad_value=-np.inf))  # 3x3 positions
    assert np.isinf(cols).sum() == 4 * 9 - 4 * 4  # each of the 4 inputs appears in 4 windows
    np.testing.assert_array_equal(np.sort(cols[np.isfinite(cols)]), np.repeat(np.arange(4.0), 4))
