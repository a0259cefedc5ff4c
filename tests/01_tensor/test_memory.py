"""Creating and dropping many small tensors must not grow the process (no leaked storage or metadata)."""
import os

import numpy as np
import pytest
from conftest import RSS_UNDER_ASAN

import tinytorch as tt

pytestmark = pytest.mark.module01


def rss_mb():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.not_under_sanitizer(reason=RSS_UNDER_ASAN)
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read RSS")
def test_million_small_tensors_keep_rss_flat():
    a = tt.ones(4, 4)
    arr = np.ones((4, 4), dtype=np.float32)
    for _ in range(20000):  # warm up allocator caches and pybind11's instance registry
        (a + 1.0).sum()
    before = rss_mb()
    for i in range(1_000_000 // 4):
        b = a * 2.0                 # op result
        c = tt.Tensor(arr)          # zero-copy wrap of a numpy array
        d = b[1:, ::2].reshape(-1)  # views
        e = tt.zeros(3)             # factory
        del b, c, d, e
    grown = rss_mb() - before
    assert grown < 4.0, f"RSS grew by {grown:.1f} MB over a million tensors"


CHANGING_SIZES = r"""
import os
import tinytorch as tt

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

a = tt.ones(150_000_000)           # 572 MiB in use: the peak
del a                              # cached (the cache may hold up to the peak)
b = tt.ones(149_000_000)           # another size: a miss, so the cached block must be given back first
print(rss_mb())
"""


@pytest.mark.not_under_sanitizer(reason=RSS_UNDER_ASAN)
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read RSS")
def test_the_large_block_cache_never_holds_more_than_the_peak_in_use():
    """csrc/core/allocator.cpp caches freed large blocks up to the peak in use; a new size must not
    stack on top of cached blocks it cannot use (that held 572 + 568 MiB here before the fix)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", CHANGING_SIZES], capture_output=True, text=True, check=True)
    rss = float(out.stdout.strip().splitlines()[-1])
    assert rss < 572 + 300, f"RSS {rss:.0f} MB: the cached 572 MiB block was kept next to the new 568 MiB one"
