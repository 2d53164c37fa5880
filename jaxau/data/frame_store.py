"""Frame sets on disk: a directory of ``.npy`` files, written atomically, its images read lazily.

Layout of a store ``<name>.frames/``::

    meta.json      {"format": "jaxau.frames", "version": 1, "num_frames": N,
                    "fields": {field: {"dtype": ..., "shape": [...]}, ...}}
    image.npy      uint8 [N, S, S, 3], C order: row i is one contiguous byte range
    <field>.npy    every other field (au_intensity, subject, ..., au_names), small per frame

`read` returns a frame set whose ``image`` is a `jaxau.data.lazy_rows.NpyRows` (rows read on demand
by positional reads) and whose other fields are loaded: they cost tens of bytes per frame (labels,
subject, pose), ~1/1000 of an image at 64 px, so keeping them eager leaves selection, balancing and
scoring code unchanged.

Why uncompressed ``.npy`` rows read by ``preadv`` (``benchmarks/frame_memory.py``, 2-core CPU shared
with a test run, 64 px frames, batch 32, one epoch of the estimator's input pipeline over 8,192 and
32,768 frames = 100 / 400 MB): peak RSS 821 -> 826 MB (+0.5 %) with ``preadv``, 921 -> 1,211 MB
(+31.5 %) through ``np.load(mmap_mode='r')`` -- every page a run touches stays mapped and counted, the
same growth as holding the set in memory (920 -> 1,211 MB) -- and 873 -> 889 MB (+1.9 %) for a map
whose pages are dropped after each batch (``madvise(MADV_DONTNEED)``, the 'mmap_release' reader, which
also leans on numpy's private ``_mmap``). The rows land in a fresh batch buffer and the kernel's page
cache, not the process, holds the file. Throughput of that pipeline alone: 36k images/s with
``preadv``, 41-47k with 'mmap_release', 46-58k in memory; all are >70x what the train step consumes
here (~300-500 images/s), so training runs at the same rate from disk (the benchmark's ``train``
numbers). A shuffled batch is one read per row at a known offset with no decode step: gathering
random 32-row batches of the 400 MB set, ``NpyRows`` read 160k images/s, the same rows as an
ArrayRecord file (``group_size:1,uncompressed``, one record per image, ``reader.read(indices)``)
29k images/s, at the same peak RSS. TFRecord was not measured: it is not randomly addressable, which
the step-indexed sampler needs. The price
is disk space: images are stored raw (the same size as in memory; a compressed ``.npz`` is smaller).

Writing: the store is assembled in a hidden temporary directory beside its target and renamed into
place (`jaxau.io_utils.atomic_directory`), ``meta.json`` last, so a crash mid-write leaves only the
hidden directory, which no reader opens, and a rewrite replaces the old store whole. Images are
written in row blocks, so writing a lazy image (a view over chunk files, a normalised view) never
holds more than a block.

Names and old workdirs: `store_path` maps ``x.npz`` and ``x`` to ``x.frames``; `resolve` finds the
store, or else a legacy ``x.npz`` frame set written before stores existed, which still loads (whole,
eagerly, as it always did). Stage cache keys are therefore unchanged: an existing workdir's finished
stages stay valid and their ``.npz`` outputs are read by the same stages that now write stores.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable, Mapping

import numpy as np

from jaxau import io_utils
from jaxau.data import lazy_rows

SUFFIX = ".frames"
LEGACY_SUFFIX = ".npz"
META_FILE = "meta.json"
FORMAT, VERSION = "jaxau.frames", 1
# Fields read lazily; every other field is loaded whole (small per frame).
LAZY_FIELDS = ("image",)
READERS = {"pread": lazy_rows.NpyRows, "mmap": lazy_rows.MemmapRows,
           "mmap_release": lambda path: lazy_rows.MemmapRows(path, release=True)}


def _stem(path: str) -> str:
    path = path.rstrip("/")
    for suffix in (SUFFIX, LEGACY_SUFFIX):
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def store_path(path: str) -> str:
    """Where a frame set named ``path`` is stored: ``x.npz`` / ``x.frames`` / ``x`` -> ``x.frames``."""
    return _stem(path) + SUFFIX


def legacy_path(path: str) -> str:
    """The ``.npz`` file an older version wrote for the frame set named ``path``."""
    return _stem(path) + LEGACY_SUFFIX


def is_store(path: str) -> bool:
    return os.path.isfile(os.path.join(path, META_FILE))


def resolve(path: str) -> tuple[str, str] | None:
    """``('store', dir)`` or ``('npz', file)`` for the frame set named ``path``; None when neither exists.

    A store wins over a legacy file of the same name (the newer output of a re-run stage).
    """
    if is_store(path):
        return "store", path
    if is_store(store_path(path)):
        return "store", store_path(path)
    for candidate in (path, legacy_path(path)):
        if candidate.endswith(LEGACY_SUFFIX) and os.path.isfile(candidate):
            return "npz", candidate
    return None


def exists(path: str) -> bool:
    """Whether a frame set named ``path`` (store or legacy ``.npz``) exists."""
    return resolve(path) is not None


def _field_meta(shape, dtype) -> dict:
    """A field's entry in ``meta.json``."""
    return {"dtype": np.lib.format.dtype_to_descr(np.dtype(dtype)), "shape": [int(n) for n in shape]}


def _write_meta(directory: str, num_frames: int, fields: Mapping[str, dict]) -> None:
    """``meta.json``, written last: its presence marks a complete store (`is_store`)."""
    meta = {"format": FORMAT, "version": VERSION, "num_frames": int(num_frames), "fields": dict(fields)}
    io_utils.write_json(os.path.join(directory, META_FILE), meta)


def _write_npy(path: str, array, block_rows: int) -> dict:
    """Writes ``array`` (numpy or lazy) as a ``.npy`` file block by block; returns its meta entry."""
    shape, dtype = tuple(array.shape), np.dtype(array.dtype)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
        if len(shape) == 0:
            f.write(np.ascontiguousarray(array).tobytes())
        else:
            for lo in range(0, shape[0], block_rows):
                block = np.ascontiguousarray(array[lo:lo + block_rows], dtype=dtype)
                f.write(memoryview(block.reshape(-1).view(np.uint8)))
        f.flush()
        os.fsync(f.fileno())
    return _field_meta(shape, dtype)


def write(path: str, frames: Mapping[str, object], *, block_rows: int = lazy_rows.BLOCK_ROWS) -> str:
    """Writes a frame set (numpy or lazy fields) as a store at ``store_path(path)``; returns that path.

    Atomic: readers see the old store (or none) until the new one is complete.
    """
    target = store_path(path)
    num = len(frames["image"])
    with io_utils.atomic_directory(target) as tmp:
        fields = {}
        for name, value in frames.items():
            array = value if lazy_rows.is_lazy(value) else np.asarray(value)
            if array.dtype.hasobject:
                raise ValueError(f"{target}: field {name!r} holds Python objects; store strings as str arrays.")
            fields[name] = _write_npy(os.path.join(tmp, f"{name}.npy"), array, block_rows)
        _write_meta(tmp, num, fields)
    return target


# A streamed image file's header is written before its row count is known and rewritten at the end in
# the same space: 128 bytes hold any 4-d shape and keep the rows 64-byte aligned like numpy's own.
_STREAM_HEADER = 128


def _npy_header(shape: tuple, dtype: np.dtype) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    size = _STREAM_HEADER - 10  # magic (6) + version (2) + header length (2)
    if len(text) >= size:
        raise ValueError(f"shape {shape} does not fit a streamed .npy header.")
    return b"\x93NUMPY\x01\x00" + size.to_bytes(2, "little") + (text.ljust(size - 1) + "\n").encode("latin1")


def write_batches(path: str, batches: Iterable[Mapping[str, np.ndarray]],
                  finish: Callable[[dict], Mapping[str, np.ndarray]]) -> str:
    """Writes a store from row batches of unknown total count; returns its path (``store_path(path)``).

    Each batch's ``image`` rows go to disk as they come; its other fields are kept (small) and
    concatenated at the end. ``finish(frames)`` gets the whole set -- ``image`` lazy over the file
    being written, every other field concatenated -- and returns the fields to store besides the
    image (relabelled, with constants such as ``au_names`` added); raising there aborts the write.
    Atomic like `write`.
    """
    target = store_path(path)
    with io_utils.atomic_directory(target) as tmp:
        image_path = os.path.join(tmp, "image.npy")
        rows, row_shape, dtype, other = 0, None, None, {}
        with open(image_path, "wb") as f:
            f.write(b"\0" * _STREAM_HEADER)
            for batch in batches:
                image = np.ascontiguousarray(batch["image"])
                if row_shape is None:
                    row_shape, dtype = image.shape[1:], image.dtype
                if image.shape[1:] != row_shape or image.dtype != dtype:
                    raise ValueError(f"{target}: image rows {image.dtype} {image.shape[1:]} after {dtype} "
                                     f"{row_shape}; a frame set has one image size (resize when reading).")
                f.write(memoryview(image.reshape(-1).view(np.uint8)))
                rows += len(image)
                for k, v in batch.items():
                    if k != "image":
                        other.setdefault(k, []).append(np.asarray(v))
            if row_shape is None:
                raise ValueError(f"{target}: no frames to write.")
            f.seek(0)
            f.write(_npy_header((rows,) + tuple(row_shape), dtype))
            f.flush()
            os.fsync(f.fileno())
        frames = {k: np.concatenate(v) for k, v in other.items()}
        frames["image"] = lazy_rows.NpyRows(image_path)
        fields = {"image": _field_meta((rows, *row_shape), dtype)}
        for name, value in finish(frames).items():
            if name != "image":
                fields[name] = _write_npy(os.path.join(tmp, f"{name}.npy"), np.asarray(value), lazy_rows.BLOCK_ROWS)
        _write_meta(tmp, rows, fields)
    return target


def read(path: str, reader: str = "pread") -> dict:
    """The frame set of the store at ``path``: ``image`` lazy (`READERS[reader]`), the rest loaded."""
    with open(os.path.join(path, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
        raise ValueError(f"{path}: not a frame store this version reads ({meta.get('format')} "
                         f"v{meta.get('version')}).")
    out = {}
    for name, info in meta["fields"].items():
        file = os.path.join(path, f"{name}.npy")
        value = READERS[reader](file) if name in LAZY_FIELDS else np.load(file, allow_pickle=False)
        if list(value.shape) != list(info["shape"]) or np.lib.format.dtype_to_descr(value.dtype) != info["dtype"]:
            raise ValueError(f"{file} is {value.dtype} {value.shape}; {META_FILE} says {info['dtype']} "
                             f"{info['shape']}: the store is damaged, rerun the stage that wrote it.")
        out[name] = value
    return out
