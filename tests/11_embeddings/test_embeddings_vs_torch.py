"""Sinusoidal positional encodings against the paper's formula evaluated
independently in torch float64: PE[pos, 2i] = sin(pos / 10000^(2i/d)),
PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
import numpy as np
import pytest

from conftest import torch_or_skip
from tinytorch.core.embeddings import SinusoidalPositionalEncoding, create_sinusoidal_embeddings
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.module11


def torch_formula(torch, max_seq_len, d):
    pos = torch.arange(max_seq_len, dtype=torch.float64).unsqueeze(1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / d)  # a different route than exp/log
    pe = torch.zeros(max_seq_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe.numpy()


@pytest.mark.parametrize("max_seq_len, d", [(1, 2), (50, 16), (128, 7), (512, 64)])
def test_sinusoidal_encodings_match_the_formula_in_torch(max_seq_len, d):
    torch = torch_or_skip()
    expected = torch_formula(torch, max_seq_len, d)
    pe = np.asarray(create_sinusoidal_embeddings(max_seq_len, d))
    assert pe.dtype == np.float32 and pe.shape == (max_seq_len, d)
    np.testing.assert_allclose(pe, expected, rtol=0, atol=2e-7)  # float32 rounding of the float64 values
    x = np.random.default_rng(0).standard_normal((2, max_seq_len, d)).astype(np.float32)
    out = np.asarray(SinusoidalPositionalEncoding(max_seq_len, d)(Tensor(x)))
    np.testing.assert_allclose(out, x + expected, rtol=1e-6, atol=1e-6)
