"""The Python face of Tensor: construction, numpy interop, DLPack, printing and item access."""
import io

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import Tensor

pytestmark = pytest.mark.module01


def test_both_import_paths_give_the_same_class():
    from tinytorch.core.tensor import Tensor as T2
    assert T2 is Tensor


@pytest.mark.parametrize("data,dtype,shape", [
    (3.5, np.float32, ()),
    (3, np.float32, ()),          # Python numbers default to float32, as in TinyTorch
    ([1, 2, 3], np.float32, (3,)),
    ([[1.0, 2.0], [3.0, 4.0]], np.float32, (2, 2)),
    ([True, False], np.bool_, (2,)),
    (np.arange(6, dtype=np.int64).reshape(2, 3), np.int64, (2, 3)),
    (np.arange(6, dtype=np.int32), np.int64, (6,)),
    (np.ones(3, dtype=np.float64), np.float32, (3,)),  # float data defaults to float32
])
def test_constructor_dtypes_and_shapes(data, dtype, shape):
    t = Tensor(data)
    assert t.dtype == dtype
    assert t.shape == shape
    np.testing.assert_array_equal(t.data, np.asarray(data).astype(dtype))


def test_explicit_dtype_float64_and_int64():
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert Tensor([1.7, -2.7], dtype=tt.int64).data.tolist() == [1, -2]
    assert Tensor([1, 2], dtype="float64").dtype == np.float64


def test_unsupported_dtypes_raise_type_error():
    with pytest.raises(TypeError, match="unsupported dtype"):
        Tensor([1, 2], dtype=np.complex64)
    with pytest.raises(TypeError, match="cannot make a tensor"):
        Tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.arange(3), requires_grad=True)


def test_numpy_array_is_shared_without_copy_when_dtype_matches():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = Tensor(a)
    assert np.shares_memory(t.data, a)
    a[0, 0] = 42.0
    assert t.data[0, 0] == 42.0
    # a non-contiguous (sliced) array is shared too, with its strides
    b = np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2]
    tb = Tensor(b)
    assert np.shares_memory(tb.data, b)
    np.testing.assert_array_equal(tb.data, b)


def test_numpy_array_is_copied_when_dtype_differs_or_readonly():
    a = np.arange(4, dtype=np.float64)
    t = Tensor(a)
    assert not np.shares_memory(t.data, a)
    r = np.arange(4, dtype=np.float32)
    r.flags.writeable = False
    tr = Tensor(r)
    assert not np.shares_memory(tr.data, r)
    tr.data[0] = 9  # our copy is writable
    assert r[0] == 0


def test_data_writes_are_seen_by_the_tensor_and_assignment_replaces():
    t = tt.zeros(2, 2)
    t.data[1, 1] = 5.0
    assert t.sum().item() == 5.0
    t.data = np.ones((3,), dtype=np.float64)
    assert t.shape == (3,) and t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), [1, 1, 1])


def test_numpy_accepts_tensors_everywhere():
    t = Tensor([[1.0, -2.0], [3.0, 4.0]])
    assert np.asarray(t).dtype == np.float32
    assert np.shares_memory(np.asarray(t), t.data)
    assert np.allclose(t, [[1, -2], [3, 4]])
    assert np.abs(t).max() == 4.0
    mv = memoryview(t)
    assert mv.shape == (2, 2) and mv.format == "f"
    assert np.array(t, dtype=np.float64).dtype == np.float64


def test_numpy_array_op_tensor_defers_to_tensor():
    r = np.ones(3, dtype=np.float32) + Tensor([1.0, 2.0, 3.0])
    assert isinstance(r, Tensor)
    np.testing.assert_array_equal(r.data, [2, 3, 4])


def test_dlpack_shares_memory_with_numpy():
    t = tt.arange(6.0).reshape(2, 3)
    assert t.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))
    a[0, 1] = 100.0
    assert t.data[0, 1] == 100.0
    tt_T = t.T
    b = np.from_dlpack(tt_T)  # strided view
    np.testing.assert_array_equal(b, t.data.T)
    for dt in (np.float64, np.int64, np.bool_):
        x = Tensor(np.array([1, 0, 1]), dtype=dt)
        np.testing.assert_array_equal(np.from_dlpack(x), np.array([1, 0, 1]).astype(dt))


def test_dlpack_with_torch_shares_memory():
    from conftest import torch_or_skip
    torch = torch_or_skip()
    t = tt.ones(2, 3)
    pt = torch.from_dlpack(t)
    pt[0, 0] = 7.0
    assert t.data[0, 0] == 7.0
    back = tt.from_dlpack(torch.arange(4.0))
    np.testing.assert_array_equal(back.data, [0, 1, 2, 3])


def test_properties_len_iter_item_tolist():
    t = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert t.size == 6 and t.size() == (2, 3) and t.size(1) == 3
    assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert len(t) == 2
    rows = [r.tolist() for r in t]
    assert rows == [[0, 1, 2], [3, 4, 5]]
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    assert Tensor(np.array([7])).item() == 7 and isinstance(Tensor(np.array([7])).item(), int)
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_repr_looks_like_numpy():
    assert repr(Tensor([1.0, 2.5])) == "Tensor([1. , 2.5])"
    assert repr(Tensor([1, 2], dtype=np.int64)) == "Tensor([1, 2], dtype=int64)"
    x = Tensor([1.0], requires_grad=True)
    assert repr(x) == "Tensor([1.], requires_grad=True)"
    assert repr(x * 2) == "Tensor([2.], grad_fn=<MulBackward>)"


def test_astype_float_long():
    t = Tensor([1.5, -2.5, 0.0])
    assert t.long().dtype == np.int64 and t.long().tolist() == [1, -2, 0]
    assert t.astype(np.float64).dtype == np.float64
    assert t.long().float().dtype == np.float32
    assert t.bool().tolist() == [True, True, False]


def test_getitem_basic_views_share_memory():
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = Tensor(base.copy())
    cases = [(1,), (-1,), (slice(None, None, 2),), (slice(None), 1), (Ellipsis, 2), (None, 0),
             (0, slice(None, None, -1)), (slice(1, None), slice(None), slice(0, 4, 3)), (Ellipsis, None)]
    for key in cases:
        v = t[key]
        np.testing.assert_array_equal(v.data, base[key])
        assert np.shares_memory(v.data, t.data)


def test_getitem_advanced_integer_arrays_and_masks():
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = Tensor(base)
    np.testing.assert_array_equal(t[[0, 2]].data, base[[0, 2]])
    np.testing.assert_array_equal(t[np.array([2, 2, 0])].data, base[[2, 2, 0]])
    np.testing.assert_array_equal(t[np.arange(3), np.array([0, 1, 3])].data, base[np.arange(3), [0, 1, 3]])
    mask = base > 5
    np.testing.assert_array_equal(t[mask].data, base[mask])
    np.testing.assert_array_equal(t[Tensor(mask)].data, base[mask])


def test_getitem_out_of_range_raises_index_error():
    t = tt.zeros(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        t[3]
    with pytest.raises(IndexError, match="out of bounds"):
        t[0, -5]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[[0, 7]]


def test_setitem_basic_advanced_and_broadcast():
    t = tt.zeros(3, 4)
    t[0] = 1.0
    t[1, ::2] = Tensor([5.0, 6.0])
    t[2] = np.arange(4)
    t[t > 5] = -1.0
    expected = np.zeros((3, 4), np.float32)
    expected[0] = 1
    expected[1, ::2] = [5, 6]
    expected[2] = np.arange(4)
    expected[expected > 5] = -1
    np.testing.assert_array_equal(t.data, expected)
    with pytest.raises(ValueError, match="broadcast"):
        t[0] = Tensor([1.0, 2.0, 3.0])


def test_setitem_on_leaf_requiring_grad_is_refused():
    x = tt.zeros(3, requires_grad=False)
    x.requires_grad = True
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x[0] = 1.0
    with tt.no_grad():
        x[0] = 1.0
    assert x.data[0] == 1.0


def test_show_config_reports_blas_core_threads_and_simd(capsys):
    info = tt.show_config()
    out = capsys.readouterr().out
    assert "tinytorch 0.1.0" in out
    assert "BLAS core" in out and info["blas_core"] in out
    assert "BLAS threads" in out and str(info["blas_threads"]) in out
    assert "SIMD" in out and info["simd"] in out


def test_choose_coretype_from_cpu_flags():
    from tinytorch._blas_setup import choose_coretype
    assert choose_coretype({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}) == "SkylakeX"
    assert choose_coretype({"avx512f", "avx2", "fma"}) == "Haswell"  # AVX-512 without BW/DQ/VL
    assert choose_coretype({"avx2", "fma"}) == "Haswell"
    assert choose_coretype({"sse4_2"}) is None


# The kernel families at least as recent as the one each CPU level needs (OpenBLAS's core names).
_CORES_AT_LEAST = {"haswell": {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"},
                   "skylakex": {"skylakex", "cooperlake", "sapphirerapids"}}


def test_openblas_core_is_not_the_fallback_on_avx2_machines():
    from tinytorch._blas_setup import _cpu_flags, choose_coretype
    info = tt._C._build_info()
    want = choose_coretype(_cpu_flags())
    if want is None:
        pytest.skip("CPU has no AVX2/FMA: OpenBLAS picks its own core")
    import os
    if os.environ.get("OPENBLAS_CORETYPE", want) != want:
        pytest.skip("the user chose OPENBLAS_CORETYPE")
    # The system OpenBLAS gets exactly the forced core; the BLAS wheel detects the CPU itself
    # and may pick a newer family than the forced one would be (Sapphire Rapids, ...).
    assert info["blas_core"].lower() in _CORES_AT_LEAST[want.lower()], info["blas_core"]


def test_missing_cpu_flags_of_each_march_level():
    from tinytorch._blas_setup import missing_cpu_flags
    v3 = {"sse4_1", "sse4_2", "ssse3", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"}
    assert missing_cpu_flags("x86-64-v3", v3 | {"avx512f"}) == set()
    assert missing_cpu_flags("x86-64-v3", v3 - {"avx2", "fma"}) == {"avx2", "fma"}
    assert missing_cpu_flags("x86-64-v4", v3) == {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
    assert missing_cpu_flags("native", {"sse2"}) == set()  # built on the machine that runs it
    assert missing_cpu_flags("", {"sse2"}) == set()
    assert missing_cpu_flags("x86-64-v3", set()) == set()  # no /proc/cpuinfo: cannot tell, let it load


def test_import_refuses_a_build_this_cpu_cannot_run(monkeypatch):
    # A wheel's kernels on an older CPU would die on an illegal instruction: the import stops first.
    from tinytorch import _blas_setup
    monkeypatch.setattr(_blas_setup, "build_config", lambda: ("scipy-openblas32", "x86-64-v3"))
    monkeypatch.setattr(_blas_setup, "_cpu_flags", lambda: {"sse2", "sse4_1", "sse4_2", "ssse3", "popcnt", "avx"})
    with pytest.raises(ImportError, match=r"^tinytorch: this build was compiled for x86-64-v3 and this CPU "
                                          r"lacks avx2, bmi1, bmi2, f16c, fma, movbe; build it .*pip install \."):
        _blas_setup.prepare()


def test_the_recorded_blas_is_the_one_loaded():
    # One BLAS per build: the library _C runs on is the one _build_config.py names.
    info = tt.show_config(file=io.StringIO())
    if info["blas"] is None:
        pytest.skip("extension copied in by hand: no build record")
    with open("/proc/self/maps") as f:
        maps = f.read()
    if info["blas"] == "scipy-openblas32":
        import scipy_openblas32
        assert "libscipy_openblas.so" in maps
        assert info["blas_config"].startswith("OpenBLAS " + ".".join(scipy_openblas32.__version__.split(".")[:3]))
    else:
        assert info["blas"] == "system"
        assert "libopenblas" in maps and "OpenBLAS 0.3." in info["blas_config"]
