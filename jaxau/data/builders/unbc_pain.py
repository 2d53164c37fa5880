"""UNBC-McMaster Shoulder Pain Expression Archive: 25 subjects, per-frame FACS intensities and PSPI.

Layout (``/work/shared/reference/datasets.md`` §5)::

  Images/042-ll042/ll042t1aaaff/ll042t1aaaff001.png
  Frame_Labels/FACS/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt
  Frame_Labels/PSPI/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt

A FACS file has one line per *active* AU, ``AU intensity side1 side2`` (whitespace-separated,
possibly in scientific notation); AUs of the coded set that are absent from the file are 0, and an
empty file means the frame was scored with no AU present. The PSPI file holds one number (NaN in
the ``pspi`` feature when the file is missing). Frames are numbered by the digits ending the file
stem. UNBC defines no split: every subject goes to ``train`` unless ``subject_splits`` says
otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from jaxau.data.builders import _base, _common

AU_NUMBERS = (4, 6, 7, 9, 10, 12, 20, 25, 26, 43)
AU_NAMES = tuple(f"AU{n:02d}" for n in AU_NUMBERS)


def read_facs_file(path: Path, dataset: str = "unbc_pain") -> np.ndarray:
    """Intensities ``int32[10]`` (AU_NAMES order) from one ``*_facs.txt`` file; missing AUs are 0.

    Raises:
      LabelFormatError: for a line without an AU and an intensity, or an intensity outside 0..5.
    """
    out = np.zeros(len(AU_NUMBERS), np.int32)
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        cells = line.split()
        if not cells:
            continue
        try:
            au_num, value = int(round(float(cells[0]))), float(cells[1])
        except (ValueError, IndexError):
            raise _common.LabelFormatError(
                f"{dataset}: {path}, line {lineno}: {line!r}; expected 'AU intensity side1 side2' "
                "numbers.") from None
        if not (0 <= value <= 5) or value != round(value):
            raise _common.LabelFormatError(f"{dataset}: {path}, line {lineno}: intensity {value} of "
                                           f"AU{au_num}; expected an integer 0..5.")
        if au_num in AU_NUMBERS:  # Other codes (e.g. AU50 speech) are outside the coded set.
            out[AU_NUMBERS.index(au_num)] = int(value)
    return out


def read_pspi_file(path: Path, dataset: str = "unbc_pain") -> float:
    text = path.read_text().split()
    try:
        return float(text[0])
    except (IndexError, ValueError):
        raise _common.LabelFormatError(f"{dataset}: {path}: expected one PSPI number, found "
                                       f"{' '.join(text)[:40]!r}.") from None


def _stem_frame(stem: str) -> int | None:
    return _common.trailing_int(stem[:-5] if stem.lower().endswith("_facs") else stem)


class UnbcPain(_base.AuDatasetBuilder):
    """UNBC-McMaster shoulder pain: FACS intensities of 10 AUs and PSPI per frame (manual download)."""

    name = "unbc_pain"
    DATASET_TITLE = ("UNBC-McMaster Shoulder Pain Expression Archive: 25 subjects, 200 sequences; "
                     "10 AU intensities (AU43 binary) and PSPI per frame.")
    HOMEPAGE = "https://www.jeffcohn.net/Resources/"
    AU_NAMES = AU_NAMES
    IMAGE_ENCODING = "png"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Place the archive's folders in `manual_dir/` as shipped:
      manual_dir/Images/042-ll042/ll042t1aaaff/ll042t1aaaff001.png ...
      manual_dir/Frame_Labels/FACS/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt ...
      manual_dir/Frame_Labels/PSPI/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt ...
    """

    def _extra_features(self):
        return {"pspi": np.float32}

    def _sources(self, manual_dir: Path):
        hint = "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS
        images = _common.require_dir(manual_dir / "Images", self.name, "image folder", hint)
        facs = _common.require_dir(manual_dir / "Frame_Labels" / "FACS", self.name,
                                   "FACS label folder", hint)
        pspi = manual_dir / "Frame_Labels" / "PSPI"
        sources, missing = [], []
        for subj_dir in _common.match_entries(images, r"\d{3}-\w+"):
            for seq_dir in _common.match_entries(subj_dir, r"\w+"):
                if not seq_dir.is_dir():
                    continue
                label_dir = facs / subj_dir.name / seq_dir.name
                if not label_dir.is_dir():
                    missing.append((f"FACS labels of sequence {seq_dir.name}", label_dir))
                    continue
                sources.append(_base.SequenceSource(
                    subject=subj_dir.name, sequence=seq_dir.name, key=seq_dir.name,
                    load_labels=lambda label_dir=label_dir, p=pspi / subj_dir.name / seq_dir.name:
                        self._labels(label_dir, p),
                    frames=lambda d=seq_dir: self._frames(d)))
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)
        if not sources:
            raise _common.MissingDataError(
                self.name, [("sequence folders <subject>/<sequence>/", images / "042-ll042")], hint)
        return self._group_by_split(sources)

    def _labels(self, label_dir: Path, pspi_dir: Path) -> _common.LabelTable:
        table = _common.LabelTable({"au_intensity": AU_NAMES})
        pspi_files = {}
        for p in _common.match_entries(pspi_dir, r".*\.txt"):
            n = _stem_frame(p.stem)
            if n is not None:
                pspi_files[n] = p
        for p in _common.match_entries(label_dir, r".*_facs\.txt"):
            n = _stem_frame(p.stem)
            if n is None:
                continue
            table.set_codes("au_intensity", [n], read_facs_file(p, self.name)[None])
            table.set_extra(n, "pspi", np.float32(read_pspi_file(pspi_files[n], self.name))
                            if n in pspi_files else np.float32(math.nan))
        return table

    def _frames(self, seq_dir: Path):
        items = []
        for p in _common.match_entries(seq_dir, r".*\.(?:png|jpe?g)"):
            n = _common.trailing_int(p.stem)
            if n is not None:
                items.append((n, p))
        for n, p in sorted(items):
            yield n, _base.image_loader(p)
