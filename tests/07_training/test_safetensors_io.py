"""Module 07: checkpoints in the safetensors format (no pickle, atomic writes, bounds checks)."""

import ast
import hashlib
import inspect
import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.core import safetensors_io
from tinytorch.core.safetensors_io import CheckpointError, load_file, save_file

pytestmark = pytest.mark.module07

# numpy dtype -> the name the safetensors specification gives it
SPEC_DTYPES = {
    np.bool_: "BOOL", np.uint8: "U8", np.int8: "I8", np.uint16: "U16", np.int16: "I16",
    np.uint32: "U32", np.int32: "I32", np.uint64: "U64", np.int64: "I64",
    np.float16: "F16", np.float32: "F32", np.float64: "F64",
}
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


def same_array(loaded, original):
    """Same dtype, shape and bytes (so NaN payloads and -0.0 survive too)."""
    original = np.asarray(original)
    assert loaded.dtype == original.dtype.newbyteorder("=")
    assert loaded.shape == original.shape
    assert loaded.tobytes() == original.astype(loaded.dtype).tobytes()


def parse_by_hand(path):
    """Read a file following the specification, independently of load_file."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    return raw, n, header, raw[8 + n:]


def write_raw(path, header, data=b"", header_bytes=None):
    """Write a file by the specification with an arbitrary (possibly broken) header."""
    if header_bytes is None:
        header_bytes = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + data)
    return path


def sample_tensors():
    return {
        "weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bias": np.array([-1.5, 0.0, 2.25], dtype=np.float64),
        "step": np.array(7, dtype=np.int64),
        "mask": np.array([[True, False], [False, True]]),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


# ----------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------

class TestRoundTrip:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(list(SPEC_DTYPES)).flatmap(lambda dt: hnp.arrays(dt, shapes)))
    def test_any_dtype_and_shape(self, tmp_path, array):
        path = tmp_path / "one.safetensors"
        save_file({"x": array}, path)
        tensors, metadata = load_file(path)
        assert list(tensors) == ["x"] and metadata == {}
        same_array(tensors["x"], array)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.dictionaries(st.text(min_size=0, max_size=10).filter(lambda s: s != "__metadata__"),
                           st.sampled_from(list(SPEC_DTYPES)).flatmap(lambda dt: hnp.arrays(dt, shapes)),
                           max_size=5),
           st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
    def test_many_tensors_and_metadata(self, tmp_path, tensors, metadata):
        path = tmp_path / "many.safetensors"
        save_file(tensors, path, metadata=metadata)
        loaded, loaded_metadata = load_file(path)
        assert list(loaded) == list(tensors)  # order is kept
        for name, array in tensors.items():
            same_array(loaded[name], array)
        assert loaded_metadata == (metadata or {})

    def test_all_dtypes_together_with_exact_values(self, tmp_path):
        arrays = {SPEC_DTYPES[dt]: np.arange(-3, 3).astype(dt).reshape(2, 3) for dt in SPEC_DTYPES}
        arrays["nan"] = np.array([np.nan, -0.0, np.inf, -np.inf], dtype=np.float32)
        save_file(arrays, tmp_path / "all.safetensors", metadata={"format": "pt", "epoch": "3"})
        loaded, metadata = load_file(tmp_path / "all.safetensors")
        assert metadata == {"format": "pt", "epoch": "3"}
        for name, array in arrays.items():
            same_array(loaded[name], array)

    def test_zero_dim_and_empty_shapes(self, tmp_path):
        arrays = {"scalar": np.array(3.5, dtype=np.float32), "bool0": np.array(True),
                  "e1": np.zeros(0, np.int64), "e3": np.zeros((2, 0, 5), np.float64)}
        save_file(arrays, tmp_path / "z.safetensors")
        loaded, _ = load_file(tmp_path / "z.safetensors")
        for name, array in arrays.items():
            same_array(loaded[name], array)
        assert loaded["scalar"].shape == () and loaded["scalar"][()] == 3.5

    def test_non_contiguous_and_big_endian_inputs(self, tmp_path):
        base = np.arange(24, dtype=np.float64).reshape(4, 6)
        arrays = {"transposed": base.T, "strided": base[::2, ::3], "broadcast": np.broadcast_to(base[0], (3, 6)),
                  "big_endian": np.arange(5, dtype=">i4"), "reversed": base[::-1]}
        save_file(arrays, tmp_path / "nc.safetensors")
        loaded, _ = load_file(tmp_path / "nc.safetensors")
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype.newbyteorder("=")
        _, _, header, data = parse_by_hand(tmp_path / "nc.safetensors")
        begin, end = header["big_endian"]["data_offsets"]
        assert data[begin:end] == struct.pack("<5i", 0, 1, 2, 3, 4)  # stored little-endian

    def test_loaded_arrays_are_owned_and_writable(self, tmp_path):
        save_file(sample_tensors(), tmp_path / "w.safetensors")
        loaded, _ = load_file(tmp_path / "w.safetensors")
        for array in loaded.values():
            assert array.flags.writeable and array.flags.owndata and array.flags.c_contiguous
        loaded["weight"][0, 0] = 100.0
        again, _ = load_file(tmp_path / "w.safetensors")
        assert again["weight"][0, 0] == 0.0

    def test_accepts_objects_with_array_interface_and_lists(self, tmp_path):
        class TensorLike:  # what a tinytorch Tensor offers
            def __array__(self, dtype=None, copy=None):
                return np.array([[1.0, 2.0]], dtype=np.float32)

        save_file({"t": TensorLike(), "l": [1, 2, 3]}, str(tmp_path / "t.safetensors"))
        loaded, _ = load_file(str(tmp_path / "t.safetensors"))
        same_array(loaded["t"], np.array([[1.0, 2.0]], dtype=np.float32))
        same_array(loaded["l"], np.array([1, 2, 3]))

    def test_overwrite_replaces_file(self, tmp_path):
        path = tmp_path / "ckpt.safetensors"
        save_file({"a": np.ones(100)}, path)
        save_file({"b": np.zeros(2, np.int8)}, path)
        loaded, _ = load_file(path)
        assert list(loaded) == ["b"]
        assert os.listdir(tmp_path) == ["ckpt.safetensors"]


# ----------------------------------------------------------------------------
# The bytes on disk follow the specification
# ----------------------------------------------------------------------------

class TestFormat:
    def test_bytes_match_specification(self, tmp_path):
        tensors = sample_tensors()
        path = tmp_path / "spec.safetensors"
        save_file(tensors, path, metadata={"note": "héllo"})
        raw, n, header, data = parse_by_hand(path)
        assert raw[8:9] == b"{"
        assert (8 + n) % 8 == 0  # padded with spaces so the data is 8-byte aligned
        assert raw[8:8 + n].decode("utf-8").rstrip(" ").endswith("}")
        metadata = header.pop("__metadata__")
        checksums = json.loads(metadata.pop("tinytorch.sha256"))  # SHA-256 of each tensor's bytes
        header_digest = metadata.pop("tinytorch.header_sha256")  # SHA-256 of the canonical header without it
        canonical = json.dumps({**header, "__metadata__": {**metadata, "tinytorch.sha256": json.dumps(
            checksums, separators=(",", ":"))}}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert header_digest == hashlib.sha256(canonical.encode()).hexdigest()
        assert metadata == {"note": "héllo"}
        assert list(header) == list(tensors) == list(checksums)
        position = 0
        for name, array in tensors.items():
            entry = header[name]
            assert set(entry) == {"dtype", "shape", "data_offsets"}
            assert entry["dtype"] == SPEC_DTYPES[array.dtype.type]
            assert entry["shape"] == list(array.shape)
            assert entry["data_offsets"] == [position, position + array.nbytes]
            expected = array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")
            assert data[position:position + array.nbytes] == expected
            assert checksums[name] == hashlib.sha256(expected).hexdigest()
            position += array.nbytes
        assert len(data) == position  # nothing after the last tensor

    def test_reads_a_file_written_by_hand(self, tmp_path):
        # Entry order differs from data order, metadata comes last, no padding.
        data = struct.pack("<3f", 1.0, 2.0, 3.0) + struct.pack("<2q", -5, 9)
        header = {"b": {"dtype": "I64", "shape": [2], "data_offsets": [12, 28]},
                  "a": {"dtype": "F32", "shape": [3, 1], "data_offsets": [0, 12]},
                  "__metadata__": {"k": "v"}}
        tensors, metadata = load_file(write_raw(tmp_path / "hand.safetensors", header, data))
        assert metadata == {"k": "v"}
        same_array(tensors["a"], np.array([[1.0], [2.0], [3.0]], dtype=np.float32))
        same_array(tensors["b"], np.array([-5, 9], dtype=np.int64))

    def test_header_may_be_padded_with_spaces(self, tmp_path):
        header_bytes = json.dumps({"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}).encode() + b"    "
        tensors, _ = load_file(write_raw(tmp_path / "pad.safetensors", None, b"\x07\x08", header_bytes))
        same_array(tensors["x"], np.array([7, 8], dtype=np.uint8))

    def test_bf16_is_read_as_float32(self, tmp_path):
        # bfloat16 = top 16 bits of a float32: 1.0 -> 0x3F80, -2.5 -> 0xC020
        header = {"h": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}
        tensors, _ = load_file(write_raw(tmp_path / "bf16.safetensors", header, struct.pack("<2H", 0x3F80, 0xC020)))
        same_array(tensors["h"], np.array([1.0, -2.5], dtype=np.float32))

    def test_only_numpy_and_standard_library_no_pickle(self):
        tree = ast.parse(inspect.getsource(safetensors_io))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Attribute):
                assert node.attr not in {"load", "loads"} or ast.unparse(node) == "json.loads"
        assert imported <= {"hashlib", "json", "math", "os", "struct", "typing", "numpy"}


# ----------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------

class TestAtomicWrite:
    @pytest.fixture
    def existing(self, tmp_path):
        path = tmp_path / "model.safetensors"
        save_file(sample_tensors(), path, metadata={"version": "1"})
        return path, path.read_bytes()

    def assert_untouched(self, path, before):
        assert path.read_bytes() == before
        assert os.listdir(path.parent) == [path.name]  # no temporary file left behind

    @pytest.mark.parametrize("bad_value", [np.array(["text"]), np.array([1 + 2j]), np.array([object()]),
                                           [[1, 2], [3]]], ids=["str", "complex", "object", "ragged"])
    def test_unconvertible_value_leaves_file_unchanged(self, existing, bad_value):
        path, before = existing
        with pytest.raises((TypeError, ValueError)):
            save_file({"good": np.ones(3), "bad": bad_value}, path)
        self.assert_untouched(path, before)

    def test_error_names_the_tensor_and_dtype(self, tmp_path):
        with pytest.raises(TypeError, match=r"tensor 'bad' has dtype complex128"):
            save_file({"bad": np.array([1j])}, tmp_path / "x.safetensors")

    def test_value_raising_during_conversion_leaves_file_unchanged(self, existing):
        class Exploding:
            def __array__(self, dtype=None, copy=None):
                raise RuntimeError("boom")

        path, before = existing
        with pytest.raises(RuntimeError, match="boom"):
            save_file({"a": np.ones(2), "b": Exploding()}, path)
        self.assert_untouched(path, before)

    @pytest.mark.parametrize("failing", ["fsync", "replace"])
    def test_failure_while_writing_leaves_file_unchanged(self, existing, monkeypatch, failing):
        path, before = existing

        def disk_error(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(safetensors_io.os, failing, disk_error)
        with pytest.raises(OSError, match="No space left"):
            save_file({"new": np.zeros(1000)}, path)
        monkeypatch.undo()
        self.assert_untouched(path, before)

    def test_interrupt_while_writing_leaves_file_unchanged(self, existing, monkeypatch):
        path, before = existing

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(safetensors_io.os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            save_file({"new": np.zeros(10)}, path)
        monkeypatch.undo()
        self.assert_untouched(path, before)

    def test_new_file_gets_normal_permissions(self, tmp_path):
        umask = os.umask(0)
        os.umask(umask)
        path = tmp_path / "perm.safetensors"
        save_file({"a": np.ones(1)}, path)
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask

    def test_overwrite_keeps_permissions(self, existing):
        path, _ = existing
        os.chmod(path, 0o600)
        save_file({"a": np.ones(1)}, path)
        assert os.stat(path).st_mode & 0o777 == 0o600

    def test_argument_errors(self, tmp_path):
        path = tmp_path / "x.safetensors"
        with pytest.raises(TypeError, match="tensor names must be str"):
            save_file({1: np.ones(1)}, path)
        with pytest.raises(ValueError, match="'__metadata__' is reserved"):
            save_file({"__metadata__": np.ones(1)}, path)
        with pytest.raises(TypeError, match="metadata must map str -> str"):
            save_file({"a": np.ones(1)}, path, metadata={"epoch": 3})
        with pytest.raises(ValueError, match="'tinytorch.sha256' is reserved for the tensors' checksums"):
            save_file({"a": np.ones(1)}, path, metadata={"tinytorch.sha256": "{}"})
        with pytest.raises(TypeError, match="expects a dict"):
            save_file([np.ones(1)], path)
        assert not path.exists()


# ----------------------------------------------------------------------------
# Corrupt files
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "valid.safetensors"
    save_file(sample_tensors(), path, metadata={"k": "v"})
    return path.read_bytes()


@pytest.fixture
def valid_file(tmp_path, valid_bytes):
    return rewrite(tmp_path / "valid.safetensors", valid_bytes)


def rewrite(path, raw):
    path.write_bytes(raw)
    return path


class TestCorruptFiles:
    def test_is_a_value_error(self):
        assert issubclass(CheckpointError, ValueError)

    def test_every_truncation_is_detected(self, valid_file):
        raw = valid_file.read_bytes()
        for size in range(len(raw)):
            rewrite(valid_file, raw[:size])
            with pytest.raises(CheckpointError):
                load_file(valid_file)

    def test_truncation_messages(self, valid_file):
        raw = valid_file.read_bytes()
        _, n, _, _ = parse_by_hand(valid_file)
        with pytest.raises(CheckpointError, match="fewer than the 8-byte header length"):
            load_file(rewrite(valid_file, raw[:5]))
        with pytest.raises(CheckpointError, match=r"header length \d+ is larger than the rest of the file"):
            load_file(rewrite(valid_file, raw[:8 + n - 1]))
        with pytest.raises(CheckpointError, match="file truncated"):
            load_file(rewrite(valid_file, raw[:-1]))

    @pytest.mark.parametrize("extra", [b"\x00", b" ", b"garbage" * 10])
    def test_trailing_garbage(self, valid_file, extra):
        with pytest.raises(CheckpointError, match="unexpected bytes after the last tensor"):
            load_file(rewrite(valid_file, valid_file.read_bytes() + extra))

    def test_every_flipped_header_byte_is_detected(self, valid_file):
        raw = valid_file.read_bytes()
        _, n, _, _ = parse_by_hand(valid_file)
        for position in range(8 + n):
            corrupted = bytearray(raw)
            corrupted[position] ^= 0xFF
            rewrite(valid_file, bytes(corrupted))
            with pytest.raises(CheckpointError):
                load_file(valid_file)

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
    def test_random_byte_changes_never_crash(self, valid_file, valid_bytes, changes):
        """Either the change left a well-formed file (it hit tensor data, or a byte of a name) or CheckpointError."""
        raw = bytearray(valid_bytes)
        for position, value in changes:
            raw[position % len(raw)] = value
        rewrite(valid_file, bytes(raw))
        try:
            tensors, _ = load_file(valid_file)
        except CheckpointError:
            return
        # A changed name byte can still be valid JSON and UTF-8 ("weight" -> " eight"): same count of tensors.
        assert len(tensors) == len(sample_tensors())
        assert all(isinstance(v, np.ndarray) for v in tensors.values())

    def test_huge_header_length(self, tmp_path):
        path = tmp_path / "huge.safetensors"
        path.write_bytes(struct.pack("<Q", 2**64 - 1) + b"{}")
        with pytest.raises(CheckpointError, match="exceeds the 100000000-byte limit"):
            load_file(path)

    @pytest.mark.parametrize("header_bytes, message", [
        (b"[1, 2]", "must start with '{'"),
        (b"not json", "must start with '{'"),
        (b"{\"a\": ", "not valid JSON"),
        (b"{\"a\": 1} trailing", "not valid JSON"),
        (b"{\"\xff\": 1}", "not valid UTF-8"),
        (b"{\"a\":" * 100000, "not valid JSON"),
        (b"{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, "
         b"\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", "duplicate key 'a'"),
    ])
    def test_bad_json(self, tmp_path, header_bytes, message):
        path = write_raw(tmp_path / "bad.safetensors", None, b"\x00", header_bytes)
        with pytest.raises(CheckpointError, match=message):
            load_file(path)

    @pytest.mark.parametrize("entries, data_size, message", [
        ({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, 1, "unsupported dtype 'F8_E4M3'"),
        ({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}}, 4, "unsupported dtype 'f32'"),
        ({"a": {"dtype": "F32", "shape": [1]}}, 4, "expected exactly the keys"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, 4, "expected exactly the keys"),
        ({"a": [1, 2]}, 0, "expected an object"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, 4, "shape must be a list of non-negative ints"),
        ({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}, 4, "shape must be a list"),
        ({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, 4, "shape must be a list"),
        ({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}}, 4, "shape must be a list"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, 4, r"0 <= begin <= end"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, 4, r"0 <= begin <= end"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, 4, r"\[begin, end\]"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4.0]}}, 4, r"\[begin, end\]"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 4, "needs 8 bytes, but data_offsets"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}, 8, "needs 4 bytes"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, 12, "leaves a gap"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12, "overlaps the previous tensor"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 8, "overlaps the previous tensor"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 2, "need 4 bytes of data but the file has only 2"),
        ({"a": {"dtype": "F64", "shape": [10**12], "data_offsets": [0, 8 * 10**12]}}, 8, "file truncated"),
        ({"a": {"dtype": "F32", "shape": [0, 10**30], "data_offsets": [0, 0]}}, 0, "numpy cannot create shape"),
        ({"a": {"dtype": "U8", "shape": [1] * 70, "data_offsets": [0, 1]}}, 1, "numpy cannot create shape"),
        ({"__metadata__": {"k": 1}}, 0, "__metadata__ must be an object mapping str to str"),
        ({"__metadata__": ["k"]}, 0, "__metadata__ must be an object"),
    ])
    def test_bad_entries(self, tmp_path, entries, data_size, message):
        path = write_raw(tmp_path / "bad.safetensors", entries, b"\x00" * data_size)
        with pytest.raises(CheckpointError, match=message):
            load_file(path)

    def test_bool_bytes_must_be_zero_or_one(self, tmp_path):
        header = {"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}
        with pytest.raises(CheckpointError, match="BOOL data must be bytes 0 or 1"):
            load_file(write_raw(tmp_path / "b.safetensors", header, b"\x00\x01\x02"))

    def test_message_names_the_file(self, tmp_path):
        path = tmp_path / "named.safetensors"
        path.write_bytes(b"\x01")
        with pytest.raises(CheckpointError, match="named.safetensors.*is not a valid safetensors file"):
            load_file(path)

    def test_missing_file_is_file_not_found(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_file(tmp_path / "missing.safetensors")



# ----------------------------------------------------------------------------
# Checksums: a flipped bit in the data is an error, not a silently different weight
# ----------------------------------------------------------------------------

class TestChecksums:
    @pytest.mark.parametrize("name", ["weight", "bias", "step", "mask"])
    def test_any_changed_data_byte_is_detected(self, tmp_path, name):
        path = tmp_path / "c.safetensors"
        save_file(sample_tensors(), path)
        raw, n, header, _ = parse_by_hand(path)
        begin = 8 + n + header[name]["data_offsets"][0]
        bad = bytearray(raw)
        bad[begin] ^= 0x01  # bool 1 -> 0 stays a valid bool: only the digest tells
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match=rf"c\.safetensors': the data of tensor '{name}' does not match"):
            load_file(path)

    def test_checksum_metadata_must_cover_exactly_the_tensors(self, tmp_path):
        data = struct.pack("<2f", 1.0, 2.0)
        entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
        digest = hashlib.sha256(data).hexdigest()
        good = write_raw(tmp_path / "g.safetensors",
                         {"x": entry, "__metadata__": {"tinytorch.sha256": json.dumps({"x": digest}), "k": "v"}}, data)
        tensors, metadata = load_file(good)
        assert metadata == {"k": "v"} and tensors["x"].tolist() == [1.0, 2.0]
        for checksums in ('{"y": "00"}', '{}', '[1]', 'not json', json.dumps({"x": digest, "z": digest})):
            bad = write_raw(tmp_path / "b.safetensors",
                            {"x": entry, "__metadata__": {"tinytorch.sha256": checksums}}, data)
            with pytest.raises(CheckpointError, match="'tinytorch.sha256' metadata"):
                load_file(bad)

    def test_files_without_checksums_load_unverified(self, tmp_path):
        """Other safetensors writers store no digests: such files must stay loadable."""
        data = struct.pack("<2f", 1.0, 2.0)
        path = write_raw(tmp_path / "other.safetensors",
                         {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, data)
        tensors, metadata = load_file(path)
        assert metadata == {} and tensors["x"].tolist() == [1.0, 2.0]
