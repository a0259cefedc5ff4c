"""__dlpack__ follows the array-API spec: copy=, dl_device=, stream=, and no negative strides."""
import numpy as np
import pytest

import tinytorch as tt

pytestmark = pytest.mark.module01


def test_from_dlpack_copy_true_does_not_share_memory():
    t = tt.arange(4.0)
    a = np.from_dlpack(t, copy=True)
    t.fill_(7.0)
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0, 3.0])
    b = np.from_dlpack(t, copy=False)
    t.fill_(1.0)
    np.testing.assert_array_equal(b, [1.0, 1.0, 1.0, 1.0])


def test_non_cpu_device_and_streams_are_refused():
    t = tt.ones(2)
    with pytest.raises(BufferError, match="CPU"):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match="CPU"):
        t.__dlpack__(dl_device=(1, 3))
    with pytest.raises(ValueError, match="stream must be None"):
        t.__dlpack__(stream=1)
    t.__dlpack__(dl_device=(1, 0), stream=None, max_version=(1, 0), copy=False)


def test_negative_strides_raise_buffer_error():
    t = tt.arange(4.0)[::-1]
    with pytest.raises(BufferError, match=r"negative strides .*\.contiguous\(\)"):
        t.__dlpack__()
    np.testing.assert_array_equal(np.from_dlpack(t.contiguous()), [3.0, 2.0, 1.0, 0.0])


def test_torch_refuses_cleanly_instead_of_aborting():
    from conftest import torch_or_skip
    torch = torch_or_skip()
    with pytest.raises(BufferError):
        torch.from_dlpack(tt.arange(4.0)[::-1])
    np.testing.assert_array_equal(torch.from_dlpack(tt.arange(4.0)[::2]).numpy(), [0.0, 2.0])
