"""Checkpoints in the safetensors format, written and read without pickle.

Why not pickle: unpickling a downloaded file can run arbitrary code. A
safetensors file is only data, and this reader checks every number in it
before trusting it, so a corrupt or hostile file raises ``CheckpointError``
instead of crashing or reading out of bounds.

The format (https://github.com/huggingface/safetensors, "Format"):

    [8 bytes]  N, unsigned little-endian 64-bit: size of the header
    [N bytes]  JSON header (UTF-8), starting with '{', may end with spaces:
                 {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                  ...,
                  "__metadata__": {"<str>": "<str>"}}      (optional)
    [rest]     byte buffer: every tensor's elements, row-major, little-endian.
               Offsets are relative to the start of the buffer, end is one past
               the last byte; the tensors cover the buffer exactly (no gaps,
               no overlaps, nothing after the last one).

``save_file`` writes atomically: an interrupted or failed save leaves the
previous file untouched.

Checksums: the layout checks catch a damaged header, but a flipped bit in
the data would load as a silently different weight. ``save_file`` therefore
stores the SHA-256 of every tensor's bytes in ``__metadata__`` under
``"tinytorch.sha256"`` (a JSON object name -> hex digest; other safetensors
readers ignore it, as the format allows any str -> str metadata), and
``load_file`` verifies every digest before returning and removes the key
from the metadata it returns. Files without the key -- written by other
safetensors tools or by older tinytorch versions -- still load, unverified:
refusing them would lock users out of weights they saved.

The tensor digests do not cover the header itself: a flipped bit in a
metadata string (``"lr": 0.01`` becoming ``0.03``) or in a shape of the same
byte size would still load. ``save_file`` therefore also stores
``"tinytorch.header_sha256"``: the SHA-256 of the whole header -- every
tensor entry and all metadata, the tensor digests included -- serialized
canonically (sorted keys, no spaces, ASCII) without this one key.
``load_file`` verifies it when present; ``load_file(path,
require_checksums=True)`` (what training checkpoints use) refuses a file
that lacks either digest, so a bit flip in a digest's own key name cannot
turn checking off.
"""

import hashlib
import json
import math
import os
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

__all__ = ["CheckpointError", "save_file", "load_file"]


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt or not in the safetensors format."""


# safetensors dtype name <-> numpy dtype (little-endian).
_NUMPY_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"), "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
}
_DTYPE_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in _NUMPY_DTYPES.items()}

# bfloat16 has no numpy type; it is the top half of a float32, so it is read
# as float32 exactly (PyTorch checkpoints often use it).
_BF16 = "BF16"

_HEADER_LENGTH_BYTES = 8
_MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit
_METADATA_KEY = "__metadata__"
_CHECKSUM_KEY = "tinytorch.sha256"  # inside __metadata__: {"<tensor name>": "<sha256 hex>"}
_HEADER_CHECKSUM_KEY = "tinytorch.header_sha256"  # inside __metadata__: SHA-256 of the canonical header
_RESERVED_KEYS = (_CHECKSUM_KEY, _HEADER_CHECKSUM_KEY)


def _digest(array: np.ndarray) -> str:
    """SHA-256 of the bytes the tensor occupies in the file."""
    return hashlib.sha256(memoryview(array).cast("B") if array.nbytes else b"").hexdigest()


def _header_digest(header: dict) -> str:
    """SHA-256 of the header (without its own digest) in one canonical serialization, so the
    writer and the reader hash the same bytes whatever the key order or spacing on disk."""
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------

def _dtype_name(array: np.ndarray, name: str) -> str:
    found = _DTYPE_NAMES.get((array.dtype.kind, array.dtype.itemsize))
    if found is None:
        supported = ", ".join(str(d) for d in _NUMPY_DTYPES.values())
        raise TypeError(f"save_file: tensor {name!r} has dtype {array.dtype}, which safetensors "
                        f"cannot store. Convert it to one of: {supported}")
    return found


def _prepare_tensors(tensors: Mapping[str, object]) -> Dict[str, np.ndarray]:
    """Validate names and convert every value to a C-contiguous little-endian array."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_file expects a dict of name -> array, got {type(tensors).__name__}")
    prepared = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {type(name).__name__} ({name!r})")
        if name == _METADATA_KEY:
            raise ValueError(f"save_file: {_METADATA_KEY!r} is reserved for metadata; "
                             f"pass metadata=... instead of a tensor with that name")
        array = np.asarray(value)  # tinytorch Tensors and lists too, via __array__
        dtype = _NUMPY_DTYPES[_dtype_name(array, name)]
        prepared[name] = np.asarray(array, dtype=dtype, order="C")  # keeps 0-d shapes
    return prepared


def _check_metadata(metadata) -> Optional[Dict[str, str]]:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save_file: metadata must be a dict of str -> str, got {type(metadata).__name__}")
    for reserved in _RESERVED_KEYS:
        if reserved in metadata:
            raise ValueError(f"save_file: the metadata key {reserved!r} is reserved for the tensors' "
                             f"checksums, which save_file computes itself; rename that key")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save_file: metadata must map str -> str, got {key!r}: {value!r} "
                            f"({type(key).__name__} -> {type(value).__name__}); "
                            f"convert values with str() or json.dumps()")
    return dict(metadata)


def _build_header(arrays: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]]) -> bytes:
    checksums = json.dumps({name: _digest(array) for name, array in arrays.items()}, separators=(",", ":"))
    header = {_METADATA_KEY: {**(metadata or {}), _CHECKSUM_KEY: checksums}}
    offset = 0
    for name, array in arrays.items():
        header[name] = {"dtype": _dtype_name(array, name),
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header[_METADATA_KEY][_HEADER_CHECKSUM_KEY] = _header_digest(header)
    encoded = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # Pad with spaces (allowed by the format) so the byte buffer starts at a
    # multiple of 8 bytes, which lets readers map tensors without copying.
    padding = -(_HEADER_LENGTH_BYTES + len(encoded)) % 8
    return encoded + b" " * padding


def _create_temp_file(directory: str, basename: str):
    """A new, uniquely named file next to the target. Created with mode 0o666 so
    the umask applies, exactly as for a file made by open() (tempfile.mkstemp
    would make it private to its owner)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        # The writer's pid is in the name: a later save can tell a dead writer's leftover from a live one's.
        temp_path = os.path.join(directory, f".{basename}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp_path, flags, 0o666), temp_path
        except FileExistsError:
            continue
    raise FileExistsError(f"save_file: could not create a temporary file in {directory!r}")


def save_file(tensors: Mapping[str, object], path, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write ``{name: array}`` (numpy arrays, tinytorch Tensors, anything ``np.asarray``
    accepts) and optional ``{str: str}`` metadata to ``path`` in safetensors format.

    Tensors are stored in the dict's order. The file is written to a temporary
    file in the same directory, flushed to disk, then renamed over ``path``
    (``os.replace`` is atomic), so readers see the old file or the new one,
    never half of one. On any error the temporary file is removed.
    """
    path = os.fspath(path)
    arrays = _prepare_tensors(tensors)
    header = _build_header(arrays, _check_metadata(metadata))

    directory = os.path.dirname(os.path.abspath(path))
    fd, temp_path = _create_temp_file(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for array in arrays.values():
                if array.nbytes:
                    f.write(memoryview(array).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):  # an overwritten checkpoint keeps its permissions
            os.chmod(temp_path, os.stat(path).st_mode & 0o7777)
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    _remove_orphaned_temp_files(directory, os.path.basename(path))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def _remove_orphaned_temp_files(directory: str, basename: str) -> None:
    """Delete temporary files left by saves to the same path whose process died mid-write
    (killed, power loss). A live writer's file (another process saving right now) is kept."""
    prefix, suffix = f".{basename}.", ".tmp"
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid_text, _, token = name[len(prefix):-len(suffix)].partition(".")
        if not (pid_text.isdigit() and len(token) == 12) or _process_alive(int(pid_text)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------

def _fail(path: str, message: str) -> None:
    raise CheckpointError(f"load_file: {path!r} is not a valid safetensors file: {message}")


def _reject_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise CheckpointError(f"duplicate key {key!r} in the JSON header")
        result[key] = value
    return result


def _parse_header(path: str, raw: bytes) -> dict:
    if not raw.startswith(b"{"):
        _fail(path, "the JSON header must start with '{' (is this a safetensors file?)")
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except UnicodeDecodeError as err:
        _fail(path, f"the header is not valid UTF-8 ({err})")
    except CheckpointError as err:
        _fail(path, str(err))
    except (ValueError, RecursionError) as err:  # json.JSONDecodeError, absurd nesting
        _fail(path, f"the header is not valid JSON ({type(err).__name__}: {err})")
    if not isinstance(header, dict):
        _fail(path, f"the header must be a JSON object, got {type(header).__name__}")
    return header


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: str, name: str, entry) -> Tuple[str, Tuple[int, ...], int, int]:
    """Validate one tensor entry -> (dtype name, shape, begin, end)."""
    if not isinstance(entry, dict):
        _fail(path, f"tensor {name!r}: expected an object, got {type(entry).__name__}")
    if set(entry) != {"dtype", "shape", "data_offsets"}:
        _fail(path, f"tensor {name!r}: expected exactly the keys dtype, shape, data_offsets; "
                    f"got {sorted(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _NUMPY_DTYPES and dtype != _BF16:
        _fail(path, f"tensor {name!r}: unsupported dtype {dtype!r} "
                    f"(supported: {', '.join(list(_NUMPY_DTYPES) + [_BF16])})")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        _fail(path, f"tensor {name!r}: shape must be a list of non-negative ints, got {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_int(o) for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
        _fail(path, f"tensor {name!r}: data_offsets must be [begin, end] with "
                    f"0 <= begin <= end, got {offsets!r}")
    itemsize = 2 if dtype == _BF16 else _NUMPY_DTYPES[dtype].itemsize
    begin, end = offsets
    expected = math.prod(shape) * itemsize
    if end - begin != expected:
        _fail(path, f"tensor {name!r}: shape {shape} of {dtype} needs {expected} bytes, "
                    f"but data_offsets {offsets} span {end - begin}")
    return dtype, tuple(shape), begin, end


def _check_metadata_entry(path: str, metadata) -> Dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        _fail(path, f"{_METADATA_KEY} must be an object mapping str to str, got {metadata!r}")
    return dict(metadata)


def _check_layout(path: str, entries: dict, buffer_size: int) -> None:
    """The tensors must tile the byte buffer exactly: no gap, no overlap, no trailing bytes."""
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap"
            _fail(path, f"tensor {name!r} at data_offsets [{begin}, {end}] {what} "
                        f"(expected it to start at byte {position} of the buffer)")
        position = end
    if position > buffer_size:
        _fail(path, f"the tensors need {position} bytes of data but the file has only "
                    f"{buffer_size} after the header (file truncated?)")
    if position < buffer_size:
        _fail(path, f"{buffer_size - position} unexpected bytes after the last tensor "
                    f"(trailing garbage or a wrong header)")


def _bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def load_file(path, *, require_checksums: bool = False) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read a safetensors file -> ``(tensors, metadata)``.

    ``tensors`` maps names to new, writable numpy arrays (in file order);
    ``metadata`` is the ``__metadata__`` dict (without the checksums), or ``{}``. BF16 tensors are
    returned as float32 (exact). Every size and offset is checked against the
    file before anything is read, and every tensor against its saved SHA-256 when the
    file has them; problems raise ``CheckpointError``. The header itself is checked
    against its saved digest too; ``require_checksums=True`` refuses files without digests.
    """
    tensors, metadata, _ = read_verified(path, require_checksums=require_checksums)
    return tensors, metadata


def read_verified(path, *, require_checksums: bool = False):
    """load_file, plus whether the file carried (and passed) both the header and the tensor digests."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size < _HEADER_LENGTH_BYTES:
            _fail(path, f"the file has {file_size} bytes, fewer than the 8-byte header length")
        (header_size,) = struct.unpack("<Q", f.read(_HEADER_LENGTH_BYTES))
        if header_size > _MAX_HEADER_BYTES:
            _fail(path, f"header length {header_size} exceeds the {_MAX_HEADER_BYTES}-byte limit")
        if header_size > file_size - _HEADER_LENGTH_BYTES:
            _fail(path, f"header length {header_size} is larger than the rest of the file "
                        f"({file_size - _HEADER_LENGTH_BYTES} bytes): the file is truncated or corrupt")
        header = _parse_header(path, f.read(header_size))
        header_verified = _verify_header_digest(path, header, require_checksums)

        metadata = _check_metadata_entry(path, header.pop(_METADATA_KEY, {}))
        metadata.pop(_HEADER_CHECKSUM_KEY, None)  # verified above
        if require_checksums and _CHECKSUM_KEY not in metadata:
            _fail(path, f"it carries no {_CHECKSUM_KEY!r} tensor checksums, which this file type requires")
        entries = {name: _check_entry(path, name, entry) for name, entry in header.items()}
        checksums = _pop_checksums(path, metadata, entries)
        buffer_start = _HEADER_LENGTH_BYTES + header_size
        _check_layout(path, entries, file_size - buffer_start)

        tensors = {}
        for name, (dtype, shape, begin, end) in entries.items():
            stored = np.dtype("<u2") if dtype == _BF16 else _NUMPY_DTYPES[dtype]
            try:
                array = np.empty(shape, dtype=stored)
            except (ValueError, MemoryError) as err:  # e.g. > 64 dims, or (0, 10**30)
                _fail(path, f"tensor {name!r}: numpy cannot create shape {list(shape)} ({err})")
            if end > begin:
                f.seek(buffer_start + begin)
                if f.readinto(memoryview(array).cast("B")) != end - begin:
                    _fail(path, f"tensor {name!r}: the file ended while reading its data")
            if dtype == "BOOL" and array.size and array.view(np.uint8).max() > 1:
                _fail(path, f"tensor {name!r}: BOOL data must be bytes 0 or 1")
            if checksums is not None and _digest(array) != checksums[name]:
                raise CheckpointError(f"load_file: {path!r}: the data of tensor {name!r} does not match the "
                                      f"checksum saved with it: the file was corrupted after it was written "
                                      f"(disk or transfer error?). Restore it from a backup or re-download it")
            tensors[name] = _bf16_to_float32(array) if dtype == _BF16 else array
    return tensors, metadata, header_verified and checksums is not None


def _pop_checksums(path: str, metadata: Dict[str, str], names) -> Optional[Dict[str, str]]:
    """The saved digests (None for a file without them), checked to cover exactly the tensors."""
    if _CHECKSUM_KEY not in metadata:
        return None
    try:
        checksums = json.loads(metadata.pop(_CHECKSUM_KEY))
    except ValueError as err:
        _fail(path, f"the {_CHECKSUM_KEY!r} metadata is not valid JSON ({err})")
    if not isinstance(checksums, dict) or set(checksums) != set(names) \
            or not all(isinstance(v, str) for v in checksums.values()):
        _fail(path, f"the {_CHECKSUM_KEY!r} metadata must map every tensor name (and nothing else) to a "
                    f"SHA-256 digest; the header's tensors and the checksums disagree")
    return checksums


def _verify_header_digest(path: str, header: dict, required: bool) -> bool:
    """Compare the header (minus its digest) with the digest saved in it; False when it has none."""
    metadata = header.get(_METADATA_KEY)
    saved = metadata.get(_HEADER_CHECKSUM_KEY) if isinstance(metadata, dict) else None
    if saved is None:
        if required:
            _fail(path, f"it carries no {_HEADER_CHECKSUM_KEY!r} header checksum, which this file type requires")
        return False
    rest = {**header, _METADATA_KEY: {k: v for k, v in metadata.items() if k != _HEADER_CHECKSUM_KEY}}
    try:
        actual = _header_digest(rest)
    except (ValueError, RecursionError) as err:  # e.g. absurd nesting
        _fail(path, f"the header cannot be checked ({type(err).__name__}: {err})")
    if saved != actual:
        raise CheckpointError(f"load_file: {path!r}: the header (tensor names, shapes, dtypes or metadata) does "
                              f"not match the checksum saved with it: the file was corrupted or edited after it "
                              f"was written. Restore it from a backup or re-download it")
    return True
