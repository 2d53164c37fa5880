"""Per-frame predictions as CSV: ``subject, sequence, frame[, pose_id], AUxx_true, AUxx_pred, ...``.

The optional ``pose_id`` column (head-pose id of each test frame) lets columns be compared per pose
and on the same frames (`jaxau.evaluation.bootstrap.compare_predictions`).

Written atomically (a temporary file in the target directory, then ``os.replace``), so a crash never
leaves a half-written CSV under the final name. Integer predictions (argmax read-out) are written as
integers, float ones (expected read-out) with 6 significant digits.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from typing import Sequence

import numpy as np

from jaxau.au import canonical_aus

ID_COLUMNS = ("subject", "sequence", "frame")


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).tolist()]


def _fmt_column(values: np.ndarray) -> list[str]:
    if np.issubdtype(values.dtype, np.integer):
        return [str(int(v)) for v in values]
    return [f"{float(v):.6g}" for v in values]


def write_predictions_csv(path: str | os.PathLike, *, subject, sequence, frame, y_true, y_pred,
                          au_names: Sequence[str], pose_id=None) -> str:
    """Writes one row per frame, atomically.

    Args:
      path: destination .csv (its directory is created).
      subject, sequence: [N] str or bytes (TFDS Text features arrive as bytes).
      frame: [N] int.
      y_true: [N, K] int labels (-1 unknown kept as -1).
      y_pred: [N, K] predictions (int or float).
      au_names: the K AU names.
      pose_id: optional [N] int head-pose id per frame (written as a ``pose_id`` column).

    Returns:
      The path written.
    """
    names = canonical_aus(au_names)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    n = t.shape[0] if t.ndim == 2 else -1
    if t.shape != (n, len(names)) or p.shape != t.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must both be [N, {len(names)}] "
                         f"for AUs {list(names)}.")
    ids = {"subject": _text(subject), "sequence": _text(sequence),
           "frame": [str(int(f)) for f in np.asarray(frame).reshape(-1)]}
    for key, col in ids.items():
        if len(col) != n:
            raise ValueError(f"{key} has {len(col)} entries but y_true has {n} frames.")
    header = list(ID_COLUMNS)
    columns = [ids[k] for k in ID_COLUMNS]
    if pose_id is not None:
        poses = [str(int(v)) for v in np.asarray(pose_id).reshape(-1)]
        if len(poses) != n:
            raise ValueError(f"pose_id has {len(poses)} entries but y_true has {n} frames.")
        header.append("pose_id")
        columns.append(poses)
    for k, name in enumerate(names):
        header += [f"{name}_true", f"{name}_pred"]
        columns += [_fmt_column(t[:, k].astype(np.int64)), _fmt_column(p[:, k])]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns))

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_predictions_csv(path: str | os.PathLike) -> dict:
    """Reads a file written by :func:`write_predictions_csv`.

    Returns:
      {'subject': [N] str, 'sequence': [N] str, 'frame': [N] int64, 'au_names': tuple,
       'y_true': [N, K] int64, 'y_pred': [N, K] float64}, and 'pose_id' [N] int64 when the file has it.
    """
    path = os.fspath(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0][:3]) != ID_COLUMNS:
        raise ValueError(f"{path}: not a predictions CSV (header must start with {ID_COLUMNS}).")
    header = rows[0]
    first = 4 if len(header) > 3 and header[3] == "pose_id" else 3
    au_cols = header[first:]
    names = tuple(c[:-len("_true")] for c in au_cols[0::2])
    if len(au_cols) % 2 or any(c != f"{a}_true" for c, a in zip(au_cols[0::2], names)) or any(
            c != f"{a}_pred" for c, a in zip(au_cols[1::2], names)):
        raise ValueError(f"{path}: AU columns must alternate AUxx_true, AUxx_pred; got {au_cols}.")
    body = rows[1:]
    values = np.array([r[first:] for r in body], dtype=np.float64).reshape(len(body), len(au_cols))
    out = {"subject": [r[0] for r in body], "sequence": [r[1] for r in body],
           "frame": np.array([int(r[2]) for r in body], dtype=np.int64), "au_names": names,
           "y_true": values[:, 0::2].astype(np.int64), "y_pred": values[:, 1::2]}
    if first == 4:
        out["pose_id"] = np.array([int(r[3]) for r in body], dtype=np.int64)
    return out
