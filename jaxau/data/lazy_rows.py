"""Lazy row arrays: an ``[N, ...]`` array whose rows are read only when a batch of them is indexed.

A frame set's ``image`` field at paper scale (FERA 2017: ~200 GB) cannot live in RAM; what a trainer,
scorer or synthesis loop needs at any moment is a batch of rows. A :class:`LazyRows` looks like a
read-only numpy array to that code (``len``, ``shape``, ``dtype``, ``ndim``, iteration and
indexing by an int, a slice, an index array or a boolean mask) but indexing *materialises only the
rows asked for*. Views compose without reading anything:

* :func:`take` -- the rows at an index array (selection, masks, plans with repeats);
* :func:`concat` -- rows of several arrays one after the other;
* :func:`map_rows` -- a row-wise function applied per gathered batch (personal normalisation),
  with per-row side arrays (the subject of each frame) gathered alongside.

Sources: :class:`NpyRows` reads rows of a ``.npy`` file by positional reads (``os.preadv``), so the
bytes land in a fresh batch buffer and the page cache holds the file, not this process (a memory
map would count every touched page in the process's resident set; `jaxau.data.frame_store` has the
measurement); :class:`MemmapRows` is the ``np.load(mmap_mode='r')`` reader kept for that comparison;
:class:`ArrayRows` wraps an in-memory array; :class:`NpyFiles` reads rows of several ``.npy`` files
in order (a sharded store, a stage's chunk images); :class:`NpzChunkRows` reads rows of a list of
compressed chunk files (``image`` of each), one chunk at a time.

``np.asarray(lazy)`` still materialises the whole array: it is the escape hatch for small sets, not
something a trainer should do.
"""

from __future__ import annotations

import abc
import mmap
import os
import zipfile
from typing import Callable, Mapping, Sequence

import numpy as np

# Rows materialised per block when a whole lazy array is converted, written or iterated.
BLOCK_ROWS = 256


class LazyRows(abc.ABC):
    """Abstract base: subclasses set ``shape`` and ``dtype`` and implement ``_gather``."""

    shape: tuple
    dtype: np.dtype

    @abc.abstractmethod
    def _gather(self, indices: np.ndarray) -> np.ndarray:
        """Rows at ``indices`` (int64, each in ``[0, len)``, any order, repeats allowed)."""

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return int(self.shape[0])

    def _rows(self, key) -> np.ndarray | int:
        """``key`` (the row part of an index) as an int64 index array, or an int for one row."""
        n = len(self)
        if isinstance(key, (int, np.integer)):
            k = int(key)
            if not -n <= k < n:
                raise IndexError(f"row {k} out of range for {n} rows.")
            return k % n
        if isinstance(key, slice):
            return np.arange(*key.indices(n), dtype=np.int64)
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean mask of shape {idx.shape} for {n} rows.")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.size == 0:
            return np.zeros(0, np.int64)
        if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
            raise IndexError(f"rows index a lazy array by an int, slice, 1-D int array or boolean mask, "
                             f"not {idx.dtype} {idx.shape}.")
        idx = idx.astype(np.int64)
        if idx.min() < -n or idx.max() >= n:
            raise IndexError(f"row index out of range for {n} rows.")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, key) -> np.ndarray:
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        rows = self._rows(key)
        if isinstance(rows, int):
            out = self._gather(np.asarray([rows], np.int64))[0]
        else:
            out = self._gather(rows)
        return out[(slice(None),) * (0 if isinstance(rows, int) else 1) + rest] if rest else out

    def __iter__(self):
        for block in self.blocks():
            yield from block

    def blocks(self, block_rows: int = BLOCK_ROWS):
        """Consecutive row blocks ``self[lo:lo + block_rows]`` (materialised one at a time)."""
        for lo in range(0, len(self), block_rows):
            yield self[lo:lo + block_rows]

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, self.dtype)
        for lo, block in zip(range(0, len(self), BLOCK_ROWS), self.blocks()):
            out[lo:lo + len(block)] = block
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype) -> np.ndarray:
        """The whole array, converted (reads every row, like ``np.asarray``: for small sets)."""
        return np.asarray(self).astype(dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype})"


def is_lazy(array) -> bool:
    return isinstance(array, LazyRows)


class ArrayRows(LazyRows):
    """An in-memory array seen as lazy rows (so it can join a `concat` with on-disk parts)."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)
        self.shape, self.dtype = self.array.shape, self.array.dtype

    def _gather(self, indices):
        return self.array[indices]


def _pread_gather(files: Sequence[NpyRows], bounds: np.ndarray, indices: np.ndarray, row_shape: tuple,
                  dtype: np.dtype) -> np.ndarray:
    """Rows at ``indices`` of ``.npy`` files laid end to end (``bounds``: each file's first row, then the total).

    Rows are read in index order, each run of consecutive rows of one file in one ``preadv`` call, so
    a sequential scan is a few large reads and a shuffled batch one read per row; the batch is then
    put in the order asked. A file that keeps no descriptor open is opened for this gather only.
    """
    out = np.empty((len(indices),) + tuple(row_shape), dtype)
    if not len(indices):
        return out
    order = np.argsort(indices, kind="stable")
    rows = indices[order]
    file_of = np.searchsorted(bounds, rows, side="right") - 1
    breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(file_of) != 0)) + 1
    starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
    buf = out if np.array_equal(order, np.arange(len(order))) else np.empty_like(out)
    view = memoryview(buf.reshape(-1).view(np.uint8))
    rb = files[0].row_bytes
    run_files = file_of[starts]
    opened: dict[int, int] = {}
    try:
        # Plain Python ints and one memoryview: this loop runs once per row of a shuffled batch.
        for c, a, b, row in zip(run_files.tolist(), (starts * rb).tolist(), (ends * rb).tolist(),
                                (rows[starts] - bounds[run_files]).tolist()):
            part = files[c]
            if part.keep_open:
                fd = part._file()
            elif c in opened:
                fd = opened[c]
            else:
                fd = opened[c] = os.open(part.path, os.O_RDONLY)
            pos = part.offset + row * rb
            if os.preadv(fd, [view[a:b]], pos) != b - a:
                part._read_rest(fd, view[a:b], pos)
    finally:
        for fd in opened.values():
            os.close(fd)
    if buf is not out:
        out[order] = buf
    return out


class NpyRows(LazyRows):
    """Rows of a C-ordered ``.npy`` file, read by positional reads (no memory map).

    Rows are read in index order, consecutive rows in one ``preadv`` call, so a sequential scan
    (scoring) is a few large reads and a shuffled batch is one read per row.
    """

    def __init__(self, path: str, keep_open: bool = True):
        self.path, self.keep_open = path, keep_open
        with open(path, "rb") as f:
            shape, fortran, dtype = _npy_header(f)
            self.offset = f.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"{path}: lazy rows need a C-ordered array without objects.")
        self.shape, self.dtype = tuple(shape), dtype
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        expected = self.offset + self.row_bytes * self.shape[0]
        if os.path.getsize(path) < expected:
            raise ValueError(f"{path} is truncated: {os.path.getsize(path)} bytes, its header needs {expected}.")
        self._fd = None

    def _file(self) -> int:
        # Opened on first use, and again in a forked child: an inherited descriptor would be closed under
        # it by the parent's garbage collection. preadv takes no file position, so threads share one.
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def _gather(self, indices):
        return _pread_gather([self], np.asarray([0, len(self)], np.int64), indices, self.shape[1:], self.dtype)

    def _read_rest(self, fd: int, view: memoryview, pos: int) -> None:
        """Re-reads a range a single ``preadv`` returned short (signals, network filesystems)."""
        done = 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], pos + done)
            if got <= 0:
                raise OSError(f"{self.path}: short read at byte {pos + done}.")
            done += got

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_fd"} | {"_fd": None}

    def __del__(self, _getpid=os.getpid, _close=os.close):
        # Bound at definition: at interpreter exit the module's globals (``os``) may already be None.
        if getattr(self, "_fd", None) is not None and getattr(self, "_pid", None) == _getpid():
            _close(self._fd)


class NpyFiles(LazyRows):
    """Rows of several ``.npy`` files one after the other: a sharded store's image, a stage's chunks.

    A frame store links such files in instead of copying their rows (`jaxau.data.frame_store.write`).
    With more than ``MAX_OPEN`` files each is opened only for the gathers that touch it: a paper-size
    set has thousands of shards, and a descriptor kept per shard would exhaust the process's limit.
    ``row_shape`` and ``dtype`` describe an empty list of files.
    """

    MAX_OPEN = 64

    def __init__(self, paths: Sequence[str], *, row_shape: tuple = (), dtype=np.uint8):
        keep_open = len(paths) <= self.MAX_OPEN
        self.files = [NpyRows(p, keep_open=keep_open) for p in paths]
        if self.files:
            row_shape, dtype = self.files[0].shape[1:], self.files[0].dtype
        for f in self.files:
            if tuple(f.shape[1:]) != tuple(row_shape) or f.dtype != np.dtype(dtype):
                raise ValueError(f"{f.path}: rows are {f.dtype} {f.shape[1:]}, the first file's {dtype} {row_shape}.")
        self.bounds = np.concatenate([[0], np.cumsum([len(f) for f in self.files], dtype=np.int64)]).astype(np.int64)
        self.shape, self.dtype = (int(self.bounds[-1]),) + tuple(row_shape), np.dtype(dtype)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def _gather(self, indices):
        return _pread_gather(self.files, self.bounds, indices, self.shape[1:], self.dtype)


class MemmapRows(LazyRows):
    """Rows of a ``.npy`` file through ``np.load(mmap_mode='r')``.

    Every page a gather touches stays mapped, so the process's resident set grows to the part of the
    file it has read; ``release=True`` drops the mapping's pages after each gather
    (``MADV_DONTNEED``: the page cache keeps them, the process no longer counts them).
    """

    def __init__(self, path: str, release: bool = False):
        self.path, self.release = path, release
        self.array = np.load(path, mmap_mode="r")
        self.shape, self.dtype = self.array.shape, self.array.dtype

    def _gather(self, indices):
        out = np.array(self.array[indices])
        if self.release and self.array.size:
            self.array._mmap.madvise(mmap.MADV_DONTNEED)
        return out


class NpzChunkRows(LazyRows):
    """Rows of the ``key`` arrays of compressed chunk files, concatenated in the order given.

    Shapes come from each chunk's ``.npy`` header (only its first bytes are decompressed). A compressed
    chunk is not randomly addressable, so a gather decompresses each chunk it touches; the last chunk
    is kept, so reading the rows in order (writing a frame store) decompresses every chunk once and
    holds one chunk at a time. ``row_shape`` and ``dtype`` describe an empty list of chunks.
    """

    def __init__(self, paths: Sequence[str], key: str = "image", *, row_shape: tuple = (), dtype=np.uint8):
        self.paths, self.key = list(paths), key
        headers = [_npz_header(p, key) for p in self.paths]
        if headers:
            row_shape, dtype = headers[0][0][1:], headers[0][1]
        for p, (shape, dt) in zip(self.paths, headers):
            if tuple(shape[1:]) != tuple(row_shape) or dt != np.dtype(dtype):
                raise ValueError(f"{p}: {key} rows are {dt} {shape[1:]}, the first chunk's {dtype} {row_shape}.")
        self.bounds = np.concatenate([[0], np.cumsum([h[0][0] for h in headers], dtype=np.int64)]).astype(np.int64)
        self.shape, self.dtype = (int(self.bounds[-1]),) + tuple(row_shape), np.dtype(dtype)
        self._cached: tuple[int, np.ndarray] | None = None

    def _chunk(self, c: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != c:
            with np.load(self.paths[c], allow_pickle=False) as z:
                data = z[self.key]
            want = (int(self.bounds[c + 1] - self.bounds[c]),) + self.shape[1:]
            if data.shape != want or data.dtype != self.dtype:
                raise ValueError(f"{self.paths[c]}: {self.key} is {data.dtype} {data.shape}, expected "
                                 f"{self.dtype} {want}.")
            self._cached = (c, data)
        return self._cached[1]

    def _gather(self, indices):
        out = np.empty((len(indices),) + self.shape[1:], self.dtype)
        chunk_of = np.searchsorted(self.bounds, indices, side="right") - 1
        for c in np.unique(chunk_of):
            sel = chunk_of == c
            out[sel] = self._chunk(int(c))[indices[sel] - self.bounds[c]]
        return out


def _npy_header(f) -> tuple[tuple, bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``f``'s position (left after it)."""
    version = np.lib.format.read_magic(f)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                             else np.lib.format.read_array_header_2_0(f))
    return tuple(shape), fortran, dtype


def _npz_header(path: str, key: str) -> tuple[tuple, np.dtype]:
    """``(shape, dtype)`` of array ``key`` in an ``.npz`` file, from its header alone."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as f:
        shape, _, dtype = _npy_header(f)
    return shape, dtype


class IndexView(LazyRows):
    """The rows of ``base`` at ``index`` (a view: nothing is read until it is indexed)."""

    def __init__(self, base: LazyRows, index: np.ndarray):
        self.base, self.index = base, np.asarray(index, np.int64)
        self.shape, self.dtype = (len(self.index),) + tuple(base.shape[1:]), base.dtype

    def _gather(self, indices):
        return self.base._gather(self.index[indices])


class ConcatView(LazyRows):
    """Rows of ``parts`` one after the other (same row shape and dtype)."""

    def __init__(self, parts: Sequence[LazyRows]):
        shapes = {tuple(p.shape[1:]) for p in parts}
        dtypes = {np.dtype(p.dtype) for p in parts}
        if len(shapes) != 1 or len(dtypes) != 1:
            raise ValueError(f"concatenated parts differ in row shape {shapes} or dtype {dtypes}.")
        self.parts = list(parts)
        self.bounds = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        self.shape, self.dtype = (int(self.bounds[-1]),) + shapes.pop(), dtypes.pop()

    def _gather(self, indices):
        out = np.empty((len(indices),) + self.shape[1:], self.dtype)
        part_of = np.searchsorted(self.bounds, indices, side="right") - 1
        for p in np.unique(part_of):
            sel = part_of == p
            out[sel] = self.parts[p]._gather(indices[sel] - self.bounds[p])
        return out


class MappedView(LazyRows):
    """``fn(rows, side)`` on each gathered batch of ``base``; ``side`` holds the batch's per-row values
    of ``row_args`` (e.g. its subjects). ``fn`` must be row-wise and keep row shape and ``dtype``."""

    def __init__(self, base: LazyRows, fn: Callable[[np.ndarray, dict], np.ndarray],
                 row_args: Mapping[str, np.ndarray], dtype=None):
        for k, v in row_args.items():
            if len(v) != len(base):
                raise ValueError(f"row argument {k!r} has {len(v)} rows for {len(base)}.")
        self.base, self.fn = base, fn
        self.row_args = {k: np.asarray(v) for k, v in row_args.items()}
        self.shape, self.dtype = tuple(base.shape), np.dtype(dtype or base.dtype)

    def _gather(self, indices):
        out = self.fn(self.base._gather(indices), {k: v[indices] for k, v in self.row_args.items()})
        if out.shape != (len(indices),) + self.shape[1:] or out.dtype != self.dtype:
            raise ValueError(f"mapped rows are {out.dtype} {out.shape}, expected {self.dtype} "
                             f"{(len(indices),) + self.shape[1:]}.")
        return out


def as_lazy(array) -> LazyRows:
    return array if is_lazy(array) else ArrayRows(array)


def take(array, indices) -> np.ndarray | LazyRows:
    """Rows at ``indices`` (int array or boolean mask): a view of a lazy array, a copy of an eager one."""
    if not is_lazy(array):
        return np.asarray(array)[indices]
    rows = array._rows(indices)
    if isinstance(rows, int):
        rows = np.asarray([rows], np.int64)
    if isinstance(array, IndexView):  # A view of a view indexes the base once.
        return IndexView(array.base, array.index[rows])
    return IndexView(array, rows)


def concat(arrays: Sequence) -> np.ndarray | LazyRows:
    """Rows of ``arrays`` in order: lazy when any part is lazy (nothing read), else ``np.concatenate``."""
    if not any(is_lazy(a) for a in arrays):
        return np.concatenate([np.asarray(a) for a in arrays])
    return ConcatView([as_lazy(a) for a in arrays])


def map_rows(array, fn: Callable[[np.ndarray, dict], np.ndarray], row_args: Mapping[str, np.ndarray],
             dtype=None) -> np.ndarray | LazyRows:
    """``fn`` applied row-wise: per gathered batch for a lazy array, at once for an eager one."""
    if not is_lazy(array):
        return fn(np.asarray(array), {k: np.asarray(v) for k, v in row_args.items()})
    return MappedView(array, fn, row_args, dtype)
