"""Frame sets on disk: a directory of ``.npy`` files, written atomically, its images read lazily.

Layout of a store ``<name>.frames/``::

    meta.json      {"format": "jaxau.frames", "version": 1, "num_frames": N,
                    "fields": {field: {"dtype": ..., "shape": [...]}, ...}}
    image.npy      uint8 [N, S, S, 3], C order: row i is one contiguous byte range
    <field>.npy    every other field (au_intensity, subject, ..., au_names), small per frame

A sharded store (version 2) holds its image as ``image-00000.npy``, ``image-00001.npy``, ... whose
rows follow one another; ``meta.json``'s image entry adds ``"shards": [rows per shard]``. The
offline stages write one: their processes write each chunk's rows raw (`save_chunk`), and the store
links those files in (`write`), so process 0's assembly no longer passes over every image.

`read` returns a frame set whose ``image`` is a `jaxau.data.lazy_rows.NpyRows` (a sharded store's:
`jaxau.data.lazy_rows.NpyFiles`; rows read on demand by positional reads) and whose other fields
are loaded: they cost tens of bytes per frame (labels, subject, pose), ~1/1000 of an image at 64 px,
so keeping them eager leaves selection, balancing and scoring code unchanged.

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
import shutil
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from jaxau import io_utils
from jaxau.data import lazy_rows

SUFFIX = ".frames"
LEGACY_SUFFIX = ".npz"
META_FILE = "meta.json"
# Version 2 adds sharded images (``image-<k>.npy``); a store without shards is still written as 1.
FORMAT, VERSION = "jaxau.frames", 2
SHARD_FILE = "{name}-{index:05d}.npy"
# A stage's chunk ``x.npz`` keeps its image rows raw in ``x.image.npy`` (`save_chunk`).
CHUNK_IMAGE_SUFFIX = ".image.npy"
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
    version = 2 if any("shards" in f for f in fields.values()) else 1
    meta = {"format": FORMAT, "version": version, "num_frames": int(num_frames), "fields": dict(fields)}
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


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (no bytes copied), or a copy where the filesystem refuses one (another device)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        with open(target, "rb+") as f:
            os.fsync(f.fileno())


def _write_shards(directory: str, name: str, files: lazy_rows.NpyFiles) -> dict:
    """Links ``files`` into the store as ``<name>-<k>.npy``; returns the field's meta entry."""
    for k, f in enumerate(files.files):
        _link_or_copy(f.path, os.path.join(directory, SHARD_FILE.format(name=name, index=k)))
    return _field_meta(files.shape, files.dtype) | {"shards": [len(f) for f in files.files]}


def write(path: str, frames: Mapping[str, object], *, block_rows: int = lazy_rows.BLOCK_ROWS) -> str:
    """Writes a frame set (numpy or lazy fields) as a store at ``store_path(path)``; returns that path.

    An image held in ``.npy`` files (`lazy_rows.NpyFiles`: a stage's chunks, another sharded store) is
    linked in as the store's shards, not copied: assembling a stage's output from the chunks its
    processes wrote costs a link per chunk, not a pass over the images. Nothing here or in the stages
    writes a finished file in place (every write is a rename), so a store and the chunks it shares
    files with never change under each other. Atomic: readers see the old store (or none) until the
    new one is complete.
    """
    target = store_path(path)
    num = len(frames["image"])
    with io_utils.atomic_directory(target) as tmp:
        fields = {}
        for name, value in frames.items():
            if name in LAZY_FIELDS and isinstance(value, lazy_rows.NpyFiles):
                fields[name] = _write_shards(tmp, name, value)
                continue
            array = value if lazy_rows.is_lazy(value) else np.asarray(value)
            if array.dtype.hasobject:
                raise ValueError(f"{target}: field {name!r} holds Python objects; store strings as str arrays.")
            fields[name] = _write_npy(os.path.join(tmp, f"{name}.npy"), array, block_rows)
        _write_meta(tmp, num, fields)
    return target


def chunk_image_path(chunk: str) -> str:
    """Where the chunk file ``chunk`` (``x.npz``) keeps its image rows: ``x.image.npy``."""
    return (chunk[:-len(LEGACY_SUFFIX)] if chunk.endswith(LEGACY_SUFFIX) else chunk) + CHUNK_IMAGE_SUFFIX


def save_chunk(chunk: str, image: np.ndarray, **fields) -> None:
    """One finished chunk of a stage's frame set, resumable and ready to be linked into a store.

    The image rows go raw into `chunk_image_path` first, then every other field compressed into
    ``chunk`` (``.npz``); both writes are atomic and the ``.npz`` comes last, so its presence marks the
    chunk finished.
    """
    with io_utils.atomic_open(chunk_image_path(chunk), "wb") as f:
        np.save(f, np.ascontiguousarray(image), allow_pickle=False)
    io_utils.savez(chunk, **fields)


def chunk_images(chunks: Sequence[str], *, row_shape: tuple, dtype=np.uint8) -> lazy_rows.LazyRows:
    """The image rows of finished chunk files, in order, read lazily.

    `lazy_rows.NpyFiles` over their image files (which `write` links into a store) when every chunk
    has one; chunks an earlier version wrote keep their images inside the ``.npz`` and are read (and
    written into a store) from there. ``row_shape`` / ``dtype`` describe an empty list.
    """
    images = [chunk_image_path(c) for c in chunks]
    if all(os.path.isfile(p) for p in images):
        return lazy_rows.NpyFiles(images, row_shape=row_shape, dtype=dtype)
    parts = [lazy_rows.NpyRows(p) if os.path.isfile(p) else lazy_rows.NpzChunkRows([c], "image")
             for c, p in zip(chunks, images)]
    return lazy_rows.ConcatView(parts)


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
        if "shards" in info:
            value, file = _read_shards(path, name, info, reader), os.path.join(path, f"{name}-*.npy")
        else:
            value = READERS[reader](file) if name in LAZY_FIELDS else np.load(file, allow_pickle=False)
        if list(value.shape) != list(info["shape"]) or np.lib.format.dtype_to_descr(value.dtype) != info["dtype"]:
            raise ValueError(f"{file} is {value.dtype} {value.shape}; {META_FILE} says {info['dtype']} "
                             f"{info['shape']}: the store is damaged, rerun the stage that wrote it.")
        out[name] = value
    return out


def _read_shards(path: str, name: str, info: Mapping, reader: str) -> lazy_rows.LazyRows:
    """A sharded field's rows, shard by shard in order (each shard's row count checked)."""
    rows = info["shards"]
    files = [os.path.join(path, SHARD_FILE.format(name=name, index=k)) for k in range(len(rows))]
    if reader == "pread" or not files:
        value = lazy_rows.NpyFiles(files, row_shape=tuple(info["shape"][1:]),
                                   dtype=np.lib.format.descr_to_dtype(info["dtype"]))
        parts = value.files
    else:
        parts = [READERS[reader](f) for f in files]
        value = lazy_rows.ConcatView(parts)
    for f, part, n in zip(files, parts, rows):
        if len(part) != int(n):
            raise ValueError(f"{f} has {len(part)} rows; {META_FILE} says {n}: the store is damaged, rerun "
                             "the stage that wrote it.")
    return value
