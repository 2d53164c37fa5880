"""Atomic artifact writes: a reader (or a crashed writer's successor) never sees half a file.

Also `settings_key`: the content key of whatever shapes a cached intermediate (stage chunks), so a
rerun with other settings in the same directory never picks up chunks made with the old ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Opens a temporary file beside ``path`` and renames it over ``path`` only on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; artifacts get the permissions a plain open() would give them.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a hidden temporary directory beside ``path``; renames it to ``path`` only on success.

    The caller fills it (fsyncing its files); an existing ``path`` is replaced whole. Between the two
    renames of a replacement a crash leaves no ``path`` and the old directory under a hidden name, never
    a mix of old and new files; a crash while the caller writes leaves only the hidden directory.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(os.path.abspath(path))
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
    try:
        yield tmp
        _fsync_directory(tmp)
        # mkdtemp creates 0700; the store gets the permissions a plain mkdir would give it.
        os.chmod(tmp, 0o777 & ~_umask())
        if os.path.lexists(path):
            # rename() replaces only an empty directory: move the old one aside, then drop it.
            old = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_directory(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def savez(path: str, **arrays) -> None:
    """``np.savez_compressed`` written atomically (``path`` should end in .npz)."""
    import numpy as np

    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def settings_key(settings: Any) -> str:
    """A short content hash of JSON-able ``settings`` (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def directory_fingerprint(path: str) -> list:
    """``[[relative path, size, mtime_ns], ...]`` of every file under ``path`` (a model directory's
    identity for cache keys: retraining it in place changes the fingerprint)."""
    out = []
    for root, _, files in os.walk(path):
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            out.append([os.path.relpath(full, path), st.st_size, st.st_mtime_ns])
    return sorted(out)
