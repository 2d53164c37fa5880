"""CMU Multi-PIE, high-resolution frontal images labelled with the expression of their recording.

Layout (``/work/shared/reference/datasets.md`` §6; as bob.db.multipie walks it)::

  Multi-Pie/data/session01/highres/<subj3>/<subj>_<rec>_....png     # stem field 1 = recording id

The high-res file-name suffix is not confirmed, so every image in ``highres/<subj>/`` is taken and
only the first two ``_``-separated stem fields are parsed. The expression comes from (session,
recording): neutral (1,1) (2,1) (3,1) (4,1) (4,2); smile (1,2) (3,2); surprise (2,2); squint (2,3);
disgust (3,3); scream (4,3). Images of other (session, recording) pairs are counted as frames without
labels and skipped.

Multi-PIE has no AU labels: ``au_intensity`` has length 0 (``au_names`` is empty) and the label is
the ``expression`` feature. ``frame`` is the image's index within its (subject, session,
recording) in file-name order. The frontal camera's pose is yaw = pitch = 0. No split is defined:
every subject goes to ``train`` unless ``subject_splits`` says otherwise. ``Multi-Pie/data/`` may
also be ``manual_dir`` itself or ``manual_dir/data``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxau.data.builders import _base, _common

EXPRESSIONS = ("neutral", "smile", "surprise", "squint", "disgust", "scream")
EXPRESSION_OF = {(1, 1): "neutral", (2, 1): "neutral", (3, 1): "neutral", (4, 1): "neutral",
                 (4, 2): "neutral", (1, 2): "smile", (3, 2): "smile", (2, 2): "surprise",
                 (2, 3): "squint", (3, 3): "disgust", (4, 3): "scream"}
_STEM = re.compile(r"(\d{3})_(\d{2})(?:_.*)?")


class MultiPie(_base.AuDatasetBuilder):
    """Multi-PIE high-res frontal images with expression labels (manual download)."""

    name = "multipie"
    DATASET_TITLE = ("CMU Multi-PIE high-resolution frontal images (337 subjects, 4 sessions) with "
                     "the expression of each recording; no AU labels.")
    HOMEPAGE = "https://www.cs.cmu.edu/afs/cs/project/PIE/MultiPie/Multi-Pie/Home.html"
    AU_NAMES = ()
    IMAGE_ENCODING = "png"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Place the Multi-PIE distribution in `manual_dir/` as shipped; jaxau reads only the high-res
    frontal images:
      manual_dir/Multi-Pie/data/session01/highres/001/001_01_....png ...   (sessions 01..04)
    """

    def _extra_features(self):
        return {"expression": tfds.features.ClassLabel(names=EXPRESSIONS),
                "session": np.int32, "recording": np.int32}

    def _extra_metadata(self):
        return {"expression_of_session_recording": {f"{s},{r}": e
                                                    for (s, r), e in EXPRESSION_OF.items()}}

    def _data_root(self, manual_dir: Path) -> Path:
        for root in (manual_dir / "Multi-Pie" / "data", manual_dir / "data", manual_dir):
            if _common.match_entries(root, r"session0\d"):
                return root
        raise _common.MissingDataError(
            self.name, [("session folders session01..session04", manual_dir / "Multi-Pie" / "data")],
            "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS)

    def _sources(self, manual_dir: Path):
        root = self._data_root(manual_dir)
        groups: dict[tuple[str, int, int], list[Path]] = {}
        no_highres = []
        for sess_dir in _common.match_entries(root, r"session0\d"):
            session = int(sess_dir.name[-2:])
            highres = _common.match_entries(sess_dir, "highres")
            if not highres:
                no_highres.append((f"high-res images of {sess_dir.name}", sess_dir / "highres"))
                continue
            for subj_dir in _common.match_entries(highres[0], r"\d{3}"):
                for img in _common.match_entries(subj_dir, r".*\.(?:png|jpe?g|tiff?)"):
                    m = _STEM.fullmatch(img.stem)
                    if m is None:
                        raise _common.LabelFormatError(
                            f"{self.name}: {img}: expected a name '<subject>_<recording>_...', e.g. "
                            f"'{subj_dir.name}_01_...png'.")
                    groups.setdefault((subj_dir.name, session, int(m.group(2))), []).append(img)
        if not groups:
            raise _common.MissingDataError(self.name, no_highres or [
                ("high-res images", root / "session01" / "highres" / "001")],
                "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
        sources = []
        for (subj, session, rec), images in sorted(groups.items()):
            expression = EXPRESSION_OF.get((session, rec))
            images = sorted(images)

            def load_labels(n=len(images), known=expression is not None):
                table = _common.LabelTable({"au_intensity": ()})
                if known:
                    for i in range(n):
                        table.set_codes("au_intensity", [i], np.zeros((1, 0), np.int32))
                return table

            sources.append(_base.SequenceSource(
                subject=subj, sequence=f"{subj}_{session:02d}_{rec:02d}",
                key=f"{subj}_{session:02d}_{rec:02d}", load_labels=load_labels,
                frames=lambda images=images: ((i, _base.image_loader(p)) for i, p in enumerate(images)),
                yaw=0.0, pitch=0.0,
                extra={"expression": expression or "neutral", "session": session, "recording": rec}))
        return self._group_by_split(sources)
