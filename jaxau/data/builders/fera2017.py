"""FERA 2017: BP4D / BP4D+ videos rendered from 9 head poses, 7 intensity AUs, 10 occurrence AUs.

File naming is known only from a third-party reader (``/work/shared/reference/datasets.md`` §1,
UNVERIFIED), so files are found anywhere under ``manual_dir`` by name pattern (case-insensitive)::

  FERA17_<P>_<subj>_<task>_<pose>.mp4          video, pose 1..9; P = TR (train), VA (validation),
                                               TE (test; prefix assumed, UNVERIFIED)
  FERA17_<P>_<subj>_<task>.csv                 occurrence: header row, column 0 = frame
  FERA17_<P>_<subj>_<task>_<AUxx>_Int.csv      intensity: column 0 = frame, column 1 = 0..5 / 9

One occurrence file and seven intensity files serve all 9 poses of a subject-task. The official
partitions are the splits (``train``, ``validation``, and ``test`` when its files are present).

Frame alignment: the label files carry frame numbers inherited from BP4D, which need not start at
1. By default decoder frame 0 of each video is the smallest frame number in that sequence's label
files (``first_video_frame=None``); set ``first_video_frame`` (e.g. 1 or 0) if your copy is
numbered from a fixed origin. This default is UNVERIFIED; the alignment report
(``info.metadata['alignment']``) shows labels without frames if it is wrong for your copy.

Yaw/pitch of the 9 views are not known to jaxau (datasets.md §1): they are NaN, and the pose id is
the view number 1..9.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxau import au as au_lib
from jaxau.data.builders import _base, _common

INTENSITY_AUS = au_lib.FERA2017_AUS
OCCURRENCE_AUS = ("AU01", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23")
PARTITIONS = {"TR": "train", "VA": "validation", "TE": "test"}
POSES = tuple(range(1, 10))

_VIDEO = re.compile(r"FERA17_(TR|VA|TE)_([A-Z]\d{3})_(T\d+)_(\d)\.(?:mp4|avi)", re.IGNORECASE)
_OCC = re.compile(r"FERA17_(TR|VA|TE)_([A-Z]\d{3})_(T\d+)\.csv", re.IGNORECASE)
_INT = re.compile(r"FERA17_(TR|VA|TE)_([A-Z]\d{3})_(T\d+)_(AU\d+)_Int\.csv", re.IGNORECASE)


@dataclasses.dataclass
class Fera2017Config(_base.AuBuilderConfig):
    """Attributes:
      poses: the views to include (1..9).
      first_video_frame: label frame number of decoder frame 0; None = the sequence's smallest
        labelled frame (see the module docstring).
    """

    poses: tuple[int, ...] = POSES
    first_video_frame: int | None = None


class Fera2017(_base.AuDatasetBuilder):
    """FERA 2017 challenge data (manual download)."""

    name = "fera2017"
    DATASET_TITLE = ("FERA 2017: BP4D (train) and BP4D+ (validation/test) videos rendered in 9 head "
                     "poses; 7 intensity AUs (0..5) and 10 occurrence AUs per frame.")
    HOMEPAGE = "http://sspnet.eu/fera2017challenge-guidelines/"
    AU_NAMES = INTENSITY_AUS
    BUILDER_CONFIGS = [Fera2017Config(name="default", description="All 9 poses.")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    From the FERA 2015/2017 data website take the files whose names contain `fera2017` and unpack
    them anywhere under `manual_dir/` (sub-folders are searched). jaxau needs, for every
    subject <subj> and task <task> of a partition P (TR = train, VA = validation, TE = test):
      FERA17_P_<subj>_<task>_<pose>.mp4      the 9 views, pose 1..9
      FERA17_P_<subj>_<task>.csv             occurrence labels (header row, column 0 = frame)
      FERA17_P_<subj>_<task>_<AUxx>_Int.csv  intensity labels for AU01 AU04 AU06 AU10 AU12 AU14 AU17
    """

    def _extra_features(self):
        return {"au_occurrence": tfds.features.Tensor(shape=(len(OCCURRENCE_AUS),), dtype=np.int32)}

    def _extra_metadata(self):
        return {"occurrence_au_names": list(OCCURRENCE_AUS),
                "pose_names": {str(p): f"FERA 2017 view {p} (angles unknown: NaN)" for p in POSES}}

    def _sources(self, manual_dir: Path):
        cfg = self.builder_config
        bad = [p for p in cfg.poses if p not in POSES]
        if bad:
            raise ValueError(f"fera2017: poses must be in 1..9, got {bad}.")
        videos, occ, ints = {}, {}, defaultdict(dict)
        for path in sorted(manual_dir.rglob("*")):
            name = path.name
            if m := _VIDEO.fullmatch(name):
                p, s, t, pose = m.groups()
                videos[(p.upper(), s.upper(), t.upper(), int(pose))] = path
            elif m := _INT.fullmatch(name):
                p, s, t, a = m.groups()
                ints[(p.upper(), s.upper(), t.upper())][au_lib.canonical_au(a)] = path
            elif m := _OCC.fullmatch(name):
                p, s, t = m.groups()
                occ[(p.upper(), s.upper(), t.upper())] = path
        if not videos:
            raise _common.MissingDataError(
                self.name, [("FERA17_*_<subj>_<task>_<pose>.mp4 videos", manual_dir / "**")],
                "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
        missing = []
        for (p, s, t, pose) in sorted(videos):
            seq = (p, s, t)
            stem = f"FERA17_{p}_{s}_{t}"
            folder = videos[(p, s, t, pose)].parent
            if seq not in occ:
                missing.append((f"occurrence labels of {stem}", folder / f"{stem}.csv"))
            for a in INTENSITY_AUS:
                if a not in ints[seq]:
                    missing.append((f"{a} intensity labels of {stem}", folder / f"{stem}_{a}_Int.csv"))
        if missing:
            # Each subject-task is listed once even though all 9 poses need it.
            missing = list(dict.fromkeys(missing))
            raise _common.MissingDataError(self.name, missing,
                                           "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS)

        label_cache: dict[tuple, _common.LabelTable] = {}

        def load_labels(seq):
            # Shared by the 9 views of a subject-task; cached so each file is parsed once.
            if seq not in label_cache:
                label_cache.clear()
                table = _common.LabelTable({"au_intensity": INTENSITY_AUS,
                                            "au_occurrence": OCCURRENCE_AUS})
                for a, path in ints[seq].items():
                    if a in INTENSITY_AUS:
                        for frame, code in _common.read_frame_code_file(path, self.name).items():
                            table.set_code("au_intensity", a, frame, code)
                frames, codes = _common.read_au_table(occ[seq], self.name, OCCURRENCE_AUS)
                for f, row in zip(frames, codes):
                    for a, c in zip(OCCURRENCE_AUS, row):
                        table.set_code("au_occurrence", a, int(f), int(c))
                label_cache[seq] = table
            return label_cache[seq]

        def first_frame(seq):
            if cfg.first_video_frame is not None:
                return cfg.first_video_frame
            return min(load_labels(seq).rows, default=0)

        by_split: dict[str, list[_base.SequenceSource]] = defaultdict(list)
        for (p, s, t, pose), path in sorted(videos.items()):
            if pose not in cfg.poses:
                continue
            seq = (p, s, t)
            by_split[PARTITIONS[p]].append(_base.SequenceSource(
                subject=s, sequence=f"{s}_{t}", key=f"{p}_{s}_{t}_{pose}",
                load_labels=lambda seq=seq: load_labels(seq),
                frames=lambda path=path, seq=seq: _base.video_frames(path, lambda: first_frame(seq)),
                pose_id=pose))
        if cfg.subject_splits:
            return self._group_by_split([x for v in by_split.values() for x in v])
        return dict(by_split)
