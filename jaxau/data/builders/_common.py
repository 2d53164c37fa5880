"""Label-file parsing, file finding with clear errors, and per-sequence alignment reports.

Shared by every builder in this package; free of TensorFlow so it can be tested and used cheaply.
Dataset layouts are documented in ``/work/shared/reference/datasets.md``; parts of them are only
known from third-party readers, so files are found by (case-insensitive) pattern and CSVs are read by
their header, and every mismatch names the file, what was expected and what was found.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from jaxau import au as au_lib

log = logging.getLogger("jaxau.data.builders")


class MissingDataError(FileNotFoundError):
    """Files or folders a builder needs are not where the dataset's layout puts them."""

    def __init__(self, dataset: str, missing: Sequence[tuple[str, str | os.PathLike]], hint: str = ""):
        self.dataset = dataset
        self.missing = [(what, os.fspath(where)) for what, where in missing]
        # The first line stands alone (the launchers print it as the error): what, where, and the fix.
        what, where = self.missing[0] if self.missing else ("data", "")
        more = f" (and {len(self.missing) - 1} more, listed below)" if len(self.missing) > 1 else ""
        fix = next((ln.strip() for ln in hint.splitlines() if ln.strip()), "") if hint else ""
        if fix.endswith(":"):  # "Layout expected:" introduces the lines below
            fix = "put the files where the layout below says"
        first = f"{dataset}: {what} not found at {where}{more}"
        if fix:
            first += f"; {fix}"
        lines = [first, f"{dataset}: {len(self.missing)} required item(s) not found:"]
        lines += [f"  - {what}: expected at {where}" for what, where in self.missing[:50]]
        if len(self.missing) > 50:
            lines.append(f"  ... and {len(self.missing) - 50} more")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class LabelFormatError(ValueError):
    """A label file does not have the format the dataset documents."""


def require_dir(path: Path, dataset: str, what: str, hint: str = "") -> Path:
    """Returns ``path`` if it is a directory, else raises :class:`MissingDataError`."""
    if not path.is_dir():
        raise MissingDataError(dataset, [(what, path)], hint)
    return path


def match_entries(directory: Path, pattern: str) -> list[Path]:
    """Entries of ``directory`` whose whole name matches ``pattern`` case-insensitively, sorted.

    Datasets ship with inconsistent capitalisation (DISFA: ``LeftVideoSN001_comp.avi`` next to
    ``leftVideoSN002_Comp.avi``), so names are matched by regular expression, ignoring case.
    """
    if not directory.is_dir():
        return []
    rx = re.compile(pattern, re.IGNORECASE)
    return sorted(p for p in directory.iterdir() if rx.fullmatch(p.name))


def find_one(directory: Path, pattern: str, dataset: str, what: str) -> Path:
    """The single entry of ``directory`` matching ``pattern`` (see :func:`match_entries`).

    Raises:
      MissingDataError: if none matches.
      LabelFormatError: if several match (ambiguous; names them).
    """
    found = match_entries(directory, pattern)
    if not found:
        raise MissingDataError(dataset, [(what, directory / f"<name matching {pattern!r}>")])
    if len(found) > 1:
        raise LabelFormatError(f"{dataset}: {what}: {len(found)} files in {directory} match "
                               f"{pattern!r} ({[p.name for p in found]}); keep exactly one.")
    return found[0]


_TRAILING_INT = re.compile(r"(\d+)$")


def trailing_int(stem: str) -> int | None:
    """The integer at the end of a file stem (``'ll042t1aaaff001'`` -> 1, ``'2440'`` -> 2440)."""
    m = _TRAILING_INT.search(stem)
    return int(m.group(1)) if m else None


_AU_CELL = re.compile(r"^\s*(?:AU)?\s*0*(\d{1,3})\s*(?:_\w+)?\s*$", re.IGNORECASE)


def au_from_header(cell: str) -> str | None:
    """AU number in a CSV header cell (``'1'``, ``'AU01'``, ``'au1'``, ``'AU12_r'``) as ``'AUxx'``.

    Returns None for cells that are not an AU column. AUs unknown to :mod:`jaxau.au` (BP4D+
    codes AUs up to 39) are still returned, spelled ``AUxx``, so that columns can be matched by name.
    """
    m = _AU_CELL.match(cell)
    if m is None:
        return None
    return f"AU{int(m.group(1)):02d}"


def _to_number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_numeric_csv(path: Path, dataset: str, *, min_columns: int = 2, header: bool | None = None
                     ) -> tuple[list[str] | None, np.ndarray]:
    """Reads a comma-separated table of numbers, with or without a header row.

    With ``header=None`` a first row with any non-numeric cell is taken as the header; ``True``
    always takes the first row (BP4D's header ``0,1,...,99`` is all numbers). Blank lines are
    skipped.
    Numbers may be written as floats (``2440.0``, ``1.0e+00``); they are returned as float64.

    Returns:
      ``(header or None, values[N, C])``.

    Raises:
      MissingDataError: if ``path`` does not exist.
      LabelFormatError: naming the file and line for ragged or non-numeric rows.
    """
    if not path.is_file():
        raise MissingDataError(dataset, [("label file", path)])
    force_header = header is True
    header = None
    rows: list[list[float]] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            row = [c.strip() for c in row]
            if not row or all(c == "" for c in row):
                continue
            while row and row[-1] == "":  # Trailing commas.
                row.pop()
            if force_header and header is None:
                header = row
                continue
            values = [_to_number(c) for c in row]
            if any(v is None for v in values):
                if header is None and not rows:
                    header = row
                    continue
                raise LabelFormatError(f"{dataset}: {path}, line {lineno}: non-numeric cell in "
                                       f"{row!r}; expected numbers only after the header.")
            if len(values) < min_columns:
                raise LabelFormatError(f"{dataset}: {path}, line {lineno}: {len(values)} column(s), "
                                       f"expected at least {min_columns}.")
            if rows and len(values) != len(rows[0]):
                raise LabelFormatError(f"{dataset}: {path}, line {lineno}: {len(values)} columns "
                                       f"where earlier rows have {len(rows[0])}.")
            rows.append(values)
    if header is not None and rows and len(header) != len(rows[0]):
        raise LabelFormatError(f"{dataset}: {path}: header has {len(header)} columns, rows have "
                               f"{len(rows[0])}.")
    values = np.asarray(rows, np.float64).reshape(len(rows), -1 if rows else 0)
    return header, values


def _as_int(values: np.ndarray, path: Path, dataset: str, what: str) -> np.ndarray:
    out = np.rint(values).astype(np.int64)
    if not np.allclose(out, values):
        raise LabelFormatError(f"{dataset}: {path}: {what} must be integers, found e.g. "
                               f"{values[~np.isclose(out, values)][:3].tolist()}.")
    return out


def read_frame_code_file(path: Path, dataset: str) -> dict[int, int]:
    """Reads a ``frame,code`` label file (DISFA, BP4D / BP4D+ intensity, FERA 2017 intensity).

    Column 0 is the frame number, column 1 the raw code (0..5, 9 = unknown); a header row, if any, is
    skipped. Raises :class:`LabelFormatError` on duplicate frames.
    """
    _, values = read_numeric_csv(path, dataset, min_columns=2)
    if values.shape[0] == 0:
        return {}
    frames = _as_int(values[:, 0], path, dataset, "frame numbers")
    codes = _as_int(values[:, 1], path, dataset, "codes")
    if len(np.unique(frames)) != len(frames):
        uniq, counts = np.unique(frames, return_counts=True)
        raise LabelFormatError(f"{dataset}: {path}: frame numbers repeat (e.g. "
                               f"{uniq[counts > 1][:5].tolist()}); expected one row per frame.")
    return dict(zip(frames.tolist(), codes.tolist()))


def read_au_table(path: Path, dataset: str, wanted: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reads an occurrence CSV with a header naming AU columns; column 0 is the frame number.

    Columns are selected **by header name**: BP4D's header is ``0,1,...,99`` (column k = AU k),
    BP4D+'s a compact AU list, FERA 2017's is not documented; ``'1'``, ``'AU1'`` and ``'AU01'`` all
    name AU01.

    Returns:
      ``(frames[N] int64, codes[N, len(wanted)] int64)`` with raw codes (9 = unknown).

    Raises:
      LabelFormatError: if the file has no header or lacks a wanted AU (lists the header found).
    """
    header, values = read_numeric_csv(path, dataset, min_columns=2, header=True)
    if header is None:
        raise LabelFormatError(f"{dataset}: {path}: the file is empty; expected a header row naming "
                               "the AU columns (e.g. 'Frame,1,2,4,...') and one row per frame.")
    names = [None] + [au_from_header(c) for c in header[1:]]
    index = {n: i for i, n in enumerate(names) if n is not None}
    missing = [a for a in wanted if a not in index]
    if missing:
        raise LabelFormatError(f"{dataset}: {path}: no column for {missing}; the header is "
                               f"{header[:40]}{' ...' if len(header) > 40 else ''}. Expected column 0 "
                               "= frame and one column per AU named by its number.")
    if values.shape[0] == 0:
        return np.zeros((0,), np.int64), np.zeros((0, len(wanted)), np.int64)
    frames = _as_int(values[:, 0], path, dataset, "frame numbers")
    codes = _as_int(values[:, [index[a] for a in wanted]], path, dataset, "codes")
    return frames, codes


# --------------------------------------------------------------------------------------------------
# Per-frame labels of one sequence.

class LabelTable:
    """Labels of one sequence keyed by frame number: one int32 vector per label kind.

    Each kind (``'au_intensity'``, ``'au_occurrence'``) has its AU names; a frame present in any
    file gets a row in every kind, with -1 where that kind's file has no row for the frame.
    """

    def __init__(self, kinds: Mapping[str, Sequence[str]]):
        self.kinds = {k: tuple(v) for k, v in kinds.items()}
        self.rows: dict[int, dict[str, np.ndarray]] = {}
        self.extra: dict[int, dict[str, object]] = {}

    def _row(self, frame: int) -> dict[str, np.ndarray]:
        row = self.rows.get(frame)
        if row is None:
            row = {k: np.full(len(v), au_lib.UNKNOWN, np.int32) for k, v in self.kinds.items()}
            self.rows[frame] = row
        return row

    def set_code(self, kind: str, au: str, frame: int, code: int) -> None:
        """Sets one raw dataset code (mapped: 0..5 kept, anything else -> -1)."""
        self._row(frame)[kind][self.kinds[kind].index(au)] = int(au_lib.code_to_label(code))

    def set_codes(self, kind: str, frames: Iterable[int], codes: np.ndarray) -> None:
        """Sets a whole ``codes[N, K]`` block for the kind's AUs (raw codes)."""
        labels = au_lib.code_to_label(np.asarray(codes)).reshape(len(frames), -1)
        for f, lab in zip(frames, labels):
            self._row(int(f))[kind][:] = lab

    def set_extra(self, frame: int, name: str, value: object) -> None:
        self._row(frame)
        self.extra.setdefault(frame, {})[name] = value

    def __contains__(self, frame: int) -> bool:
        return frame in self.rows

    def __len__(self) -> int:
        return len(self.rows)


# --------------------------------------------------------------------------------------------------
# Alignment reports.

@dataclasses.dataclass
class SequenceReport:
    """How frames and labels of one sequence matched up.

    Attributes:
      frames: frames found (decoded video frames + corrupt ones, or image files).
      label_rows: distinct labelled frame numbers.
      emitted: examples written (labelled frames that decoded, after ``frame_stride``).
      labels_without_frames: label rows whose frame is not in the video / image folder.
      frames_without_labels: frames with no label row (e.g. outside BP4D+'s coded range).
      corrupt_frames: frames that exist but could not be decoded (skipped).
    """

    split: str
    subject: str
    sequence: str
    frames: int = 0
    label_rows: int = 0
    emitted: int = 0
    labels_without_frames: int = 0
    frames_without_labels: int = 0
    corrupt_frames: int = 0

    @property
    def key(self) -> str:
        return self.sequence

    def problems(self) -> bool:
        return bool(self.labels_without_frames or self.frames_without_labels or self.corrupt_frames)

    def as_dict(self) -> dict[str, int | str]:
        return dataclasses.asdict(self)


def summarize(reports: Iterable[SequenceReport]) -> dict[str, int]:
    """Totals over sequences (the numbers logged at the end of a split)."""
    total = dict(sequences=0, frames=0, label_rows=0, emitted=0, labels_without_frames=0,
                 frames_without_labels=0, corrupt_frames=0)
    for r in reports:
        total["sequences"] += 1
        for k in total:
            if k != "sequences":
                total[k] += getattr(r, k)
    return total


def log_report(dataset: str, r: SequenceReport) -> None:
    """Logs one sequence's alignment (a warning when anything did not match)."""
    msg = (f"{dataset} [{r.split}] {r.sequence}: {r.emitted} examples; {r.frames} frames, "
           f"{r.label_rows} labelled frames, {r.labels_without_frames} labels without frames, "
           f"{r.frames_without_labels} frames without labels, {r.corrupt_frames} corrupt frames")
    (log.warning if r.problems() else log.info)(msg)


# --------------------------------------------------------------------------------------------------
# Subject-level splits.

def assign_splits(subjects: Sequence[str], splits: Mapping[str, Sequence[str]] | None,
                  default_split: str, dataset: str) -> dict[str, list[str]]:
    """Maps split name -> subjects, from an explicit subject list per split or one default split.

    Raises:
      MissingDataError: if an explicitly listed subject has no data.
      ValueError: if a subject is listed in two splits.
    """
    subjects = sorted(set(subjects))
    if not splits:
        return {default_split: subjects}
    seen: dict[str, str] = {}
    missing = []
    out = {}
    for split, members in splits.items():
        for s in members:
            if s in seen:
                raise ValueError(f"{dataset}: subject {s!r} is in splits {seen[s]!r} and {split!r}; "
                                 "subject-level splits must be disjoint.")
            seen[s] = split
            if s not in subjects:
                missing.append((f"data of subject {s} (split {split!r})", "<manual_dir>"))
        out[split] = sorted(members)
    if missing:
        raise MissingDataError(dataset, missing, f"Subjects found: {subjects}.")
    return out


# --------------------------------------------------------------------------------------------------
# BP4D-style labels (BP4D FERA 2015 release and BP4D+ share the file formats).

BP4D_OCCURRENCE_AUS = ("AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15",
                       "AU17", "AU23", "AU24")


def load_bp4d_labels(occurrence: Path, intensity: Mapping[str, Path], dataset: str,
                     intensity_aus: Sequence[str], occurrence_aus: Sequence[str] = BP4D_OCCURRENCE_AUS
                     ) -> LabelTable:
    """One sequence's labels from a headed occurrence CSV and ``frame,code`` intensity files."""
    table = LabelTable({"au_intensity": tuple(intensity_aus), "au_occurrence": tuple(occurrence_aus)})
    frames, codes = read_au_table(occurrence, dataset, occurrence_aus)
    table.set_codes("au_occurrence", frames, codes)
    for a, path in intensity.items():
        for frame, code in read_frame_code_file(path, dataset).items():
            table.set_code("au_intensity", a, frame, code)
    return table


def intensity_files(int_dir, subj: str, task: str, aus, missing: list) -> dict:
    """BP4D / BP4D+ per-AU intensity files ``<int_dir>/AUxx/<subj>_<task>_AUxx.csv`` (any case).

    Returns ``{AU: path}`` for the files found; appends ``(what, expected path)`` to ``missing`` for the
    others, so a build can report every missing file at once.
    """
    found_files = {}
    for a in aus:
        found = match_entries(int_dir / a, rf"{subj}_{task}_{a}\.csv")
        if found:
            found_files[a] = found[0]
        else:
            missing.append((f"{a} intensity labels of {subj}_{task}", int_dir / a / f"{subj}_{task}_{a}.csv"))
    return found_files
