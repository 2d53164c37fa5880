"""BP4D+ (MMSE): frame images in one zip per subject; AU labels for tasks T1, T6, T7, T8 only.

Layout (``/work/shared/reference/datasets.md`` §3; as rPPG-Toolbox reads it)::

  RawData/2D+3D/F001.zip                        members 'F001/T1/<frame>.jpg'
  RawData/AUCoding/AU_OCC/F001_T1.csv           header row (AU numbers), column 0 = frame (from 1)
  RawData/AUCoding/AU_INT/AU06/F001_T1_AU06.csv no header, 'frame,intensity' (0..5, 9 unknown)

Coding covers only a sub-range of each video's frames; frames outside it are counted as frames
without labels and skipped. Occurrence columns are selected by header name (BP4D+ stores a compact
AU list, unlike BP4D's 100 columns). ``RawData/`` may be ``manual_dir`` itself. BP4D+ defines no
split (FERA 2017 draws its validation/test subjects from it without a public list), so by default
every subject goes to ``train``; ``subject_splits`` gives subject-level splits.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxau import au as au_lib
from jaxau.data.builders import _base, _common

INTENSITY_AUS = au_lib.BP4D_INTENSITY_AUS
OCCURRENCE_AUS = _common.BP4D_OCCURRENCE_AUS
_SEQ = re.compile(r"([FM]\d{3})_(T\d+)\.csv", re.IGNORECASE)


def _zip_frames(zip_path: Path, subj: str, task: str):
    """``(frame, loader)`` for members ``<subj>/<task>/<frame>.jpg`` of a subject zip, sorted."""
    with zipfile.ZipFile(zip_path) as zf:
        members = [m for m in zf.namelist()
                   if re.fullmatch(rf"(?:.*/)?{subj}/{task}/[^/]*\d+\.(?:jpe?g|png)", m, re.IGNORECASE)]
    items = sorted((_common.trailing_int(Path(m).stem), m) for m in members)

    def loader(member):
        def load():
            import cv2

            with zipfile.ZipFile(zip_path) as zf:
                data = np.frombuffer(zf.read(member), np.uint8)
            img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return load

    for n, m in items:
        yield n, loader(m)


class Bp4dPlus(_base.AuDatasetBuilder):
    """BP4D+ with occurrence and intensity labels (manual download)."""

    name = "bp4d_plus"
    DATASET_TITLE = ("BP4D+ (MMSE): 140 subjects; AU occurrence and intensity (AU06 AU10 AU12 AU14 "
                     "AU17, 0..5) for a coded frame range of tasks T1, T6, T7, T8.")
    HOMEPAGE = "http://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html"
    AU_NAMES = INTENSITY_AUS
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Place the BP4D+ distribution's `RawData/` folder in `manual_dir/` (or its contents directly):
      manual_dir/RawData/2D+3D/F001.zip ...                         (members F001/T1/<frame>.jpg)
      manual_dir/RawData/AUCoding/AU_OCC/F001_T1.csv ...
      manual_dir/RawData/AUCoding/AU_INT/AU06/F001_T1_AU06.csv ...  (AU06 AU10 AU12 AU14 AU17)
    """

    def _extra_features(self):
        return {"au_occurrence": tfds.features.Tensor(shape=(len(OCCURRENCE_AUS),), dtype=np.int32)}

    def _extra_metadata(self):
        return {"occurrence_au_names": list(OCCURRENCE_AUS)}

    def _sources(self, manual_dir: Path):
        hint = "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS
        raw = manual_dir / "RawData" if (manual_dir / "RawData").is_dir() else manual_dir
        occ_dir = _common.require_dir(raw / "AUCoding" / "AU_OCC", self.name,
                                      "occurrence label folder", hint)
        int_dir = _common.require_dir(raw / "AUCoding" / "AU_INT", self.name,
                                      "intensity label folder", hint)
        img_dir = _common.require_dir(raw / "2D+3D", self.name, "image zip folder", hint)
        sources, missing = [], []
        members_cache: dict[Path, set[tuple[str, str]]] = {}
        for occ in _common.match_entries(occ_dir, _SEQ.pattern):
            subj, task = (g.upper() for g in _SEQ.fullmatch(occ.name).groups())
            ints = _common.intensity_files(int_dir, subj, task, INTENSITY_AUS, missing)
            zips = _common.match_entries(img_dir, rf"{subj}\.zip")
            if not zips:
                missing.append((f"image archive of {subj}", img_dir / f"{subj}.zip"))
                continue
            zp = zips[0]
            if zp not in members_cache:
                with zipfile.ZipFile(zp) as zf:
                    members_cache[zp] = {tuple(p.upper() for p in Path(m).parts[-3:-1])
                                         for m in zf.namelist() if len(Path(m).parts) >= 3}
            if (subj, task) not in members_cache[zp]:
                missing.append((f"images of {subj}_{task}", f"{zp}:{subj}/{task}/"))
            sources.append(_base.SequenceSource(
                subject=subj, sequence=f"{subj}_{task}", key=f"{subj}_{task}",
                load_labels=lambda occ=occ, ints=ints: _common.load_bp4d_labels(
                    occ, ints, self.name, INTENSITY_AUS),
                frames=lambda zp=zp, subj=subj, task=task: _zip_frames(zp, subj, task)))
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)
        if not sources:
            raise _common.MissingDataError(self.name, [("occurrence files F001_T1.csv ...", occ_dir)],
                                           hint)
        return self._group_by_split(sources)
