"""BP4D-Spontaneous, FERA 2015 release: frame images, 12 occurrence AUs and 5 intensity AUs.

Layout (``/work/shared/reference/datasets.md`` §2)::

  AUCoding/F001_T1.csv                          occurrence: header '0,1,...,99'; column 0 = frame,
                                                column k = AU k; 0 / 1 / 9 (unknown)
  AU Intensity Codes3.0/AU06/F001_T1_AU06.csv   no header, 'frame,intensity' (0..5, 9 unknown);
                                                also AU10, AU12, AU14, AU17
  <images>/F001/T1/<frame>.jpg                  frame numbers are the video's own (F001_T1 starts
                                                at 2440); zero padding varies

Frames and labels are joined by that frame number. The image root is found automatically (a folder
holding ``F001/T1/*.jpg``-style sub-folders at most two levels below ``manual_dir``) or given by the
config's ``image_dir``. Splits are FERA 2015's: ``train`` = odd-numbered subjects (F001, F003, ...,
M017), ``validation`` = even-numbered (its development set).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxau import au as au_lib
from jaxau.data.builders import _base, _common

INTENSITY_AUS = au_lib.BP4D_INTENSITY_AUS
OCCURRENCE_AUS = _common.BP4D_OCCURRENCE_AUS
OCC_DIR = "AUCoding"
INT_DIR = "AU Intensity Codes3.0"
_SUBJECT = r"[FM]\d{3}"
_SEQ = re.compile(r"([FM]\d{3})_(T\d+)\.csv", re.IGNORECASE)


@dataclasses.dataclass
class Bp4dConfig(_base.AuBuilderConfig):
    """Attributes: image_dir: folder (relative to manual_dir) holding ``<subj>/<task>/`` image
    folders; None = find it."""

    image_dir: str | None = None


def find_image_root(manual_dir: Path, dataset: str, exclude: tuple[str, ...] = ()) -> Path:
    """The folder under ``manual_dir`` (depth <= 2) whose sub-folders are ``<subj>/<task>/``.

    Raises:
      MissingDataError: if there is none; LabelFormatError: if several qualify.
    """
    candidates = [manual_dir]
    for depth in range(2):
        candidates += [p for c in list(candidates) if c.is_dir() for p in sorted(c.iterdir())
                       if p.is_dir() and p.name not in exclude and p not in candidates]
    roots = []
    for c in candidates:
        subjects = _common.match_entries(c, _SUBJECT)
        if any(_common.match_entries(s, r"T\d+") for s in subjects if s.is_dir()):
            roots.append(c)
    if not roots:
        raise _common.MissingDataError(dataset, [("image folders <subj>/<task>/<frame>.jpg",
                                                  manual_dir / "<images>" / "F001" / "T1")])
    if len(roots) > 1:
        raise _common.LabelFormatError(
            f"{dataset}: several folders hold <subj>/<task>/ image folders: "
            f"{[str(r) for r in roots]}; pick one with the config's image_dir.")
    return roots[0]


def image_frames(folder: Path, exts: str = r"jpe?g|png"):
    """``(frame number, loader)`` for the images of one sequence folder, sorted by frame."""
    items = []
    for p in _common.match_entries(folder, rf".*\.(?:{exts})"):
        n = _common.trailing_int(p.stem)
        if n is not None:
            items.append((n, p))
    for n, p in sorted(items):
        yield n, _base.image_loader(p)


class Bp4d(_base.AuDatasetBuilder):
    """BP4D (FERA 2015 release) with occurrence and intensity labels (manual download)."""

    name = "bp4d"
    DATASET_TITLE = ("BP4D-Spontaneous (FERA 2015 release): 41 subjects x 8 tasks; AU occurrence "
                     "(12 AUs) and intensity (AU06 AU10 AU12 AU14 AU17, 0..5) per frame.")
    HOMEPAGE = "http://sspnet.eu/FERA2015/"
    AU_NAMES = INTENSITY_AUS
    BUILDER_CONFIGS = [Bp4dConfig(name="default")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Unpack the BP4D FERA 2015 release into `manual_dir/`:
      manual_dir/AUCoding/F001_T1.csv ...                           (occurrence)
      manual_dir/AU Intensity Codes3.0/AU06/F001_T1_AU06.csv ...    (AU06 AU10 AU12 AU14 AU17)
      manual_dir/<images>/F001/T1/<frame>.jpg ...                   (frame images, any folder name)
    """

    def _extra_features(self):
        return {"au_occurrence": tfds.features.Tensor(shape=(len(OCCURRENCE_AUS),), dtype=np.int32)}

    def _extra_metadata(self):
        return {"occurrence_au_names": list(OCCURRENCE_AUS)}

    def _default_subject_splits(self, subjects):
        # FERA 2015: training = odd-numbered subjects, development = even-numbered.
        return {"train": [s for s in subjects if int(s[1:]) % 2 == 1],
                "validation": [s for s in subjects if int(s[1:]) % 2 == 0]}

    def _sources(self, manual_dir: Path):
        hint = "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS
        occ_dir = _common.require_dir(manual_dir / OCC_DIR, self.name, "occurrence label folder", hint)
        int_dir = _common.require_dir(manual_dir / INT_DIR, self.name, "intensity label folder", hint)
        cfg = self.builder_config
        if cfg.image_dir:
            image_root = _common.require_dir(manual_dir / cfg.image_dir, self.name, "image folder", hint)
        else:
            image_root = find_image_root(manual_dir, self.name, exclude=(OCC_DIR, INT_DIR))
        sources, missing = [], []
        for occ in _common.match_entries(occ_dir, _SEQ.pattern):
            subj, task = (g.upper() for g in _SEQ.fullmatch(occ.name).groups())
            ints = _common.intensity_files(int_dir, subj, task, INTENSITY_AUS, missing)
            folder = image_root / subj / task
            if not folder.is_dir():
                missing.append((f"images of {subj}_{task}", folder))
            sources.append(_base.SequenceSource(
                subject=subj, sequence=f"{subj}_{task}", key=f"{subj}_{task}",
                load_labels=lambda occ=occ, ints=ints: _common.load_bp4d_labels(
                    occ, ints, self.name, INTENSITY_AUS),
                frames=lambda folder=folder: image_frames(folder)))
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)
        if not sources:
            raise _common.MissingDataError(self.name, [("occurrence files F001_T1.csv ...", occ_dir)],
                                           hint)
        return self._group_by_split(sources)
