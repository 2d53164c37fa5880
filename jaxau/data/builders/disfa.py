"""DISFA (Denver Intensity of Spontaneous Facial Action): 27 subjects, left and right camera videos,
12 AUs coded per frame at intensities 0..5.

Layout (``/work/shared/reference/datasets.md`` §4)::

  Videos_LeftCamera/LeftVideoSN001_comp.avi     # capitalisation varies: leftVideoSN002_Comp.avi
  Videos_RightCamera/RightVideoSN001_comp.avi
  ActionUnit_Labels/SN001/SN001_au1.txt ... SN001_au26.txt    # lines 'frame,intensity', frames from 1

Video frame i (0-based decoder index) carries label frame i + 1. DISFA defines no split; the paper
tests on all of it, so by default every subject goes to the single split ``train`` (TFDS's name for
undivided data); pass ``subject_splits`` in a config for subject-level folds.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tensorflow_datasets as tfds

from jaxau import au as au_lib
from jaxau.data.builders import _base, _common

AU_NUMBERS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
LABEL_DIR = "ActionUnit_Labels"
CAMERAS = {"left": ("Videos_LeftCamera", "Left", 0), "right": ("Videos_RightCamera", "Right", 1)}
FIRST_LABEL_FRAME = 1  # DISFA label files number frames from 1.


@dataclasses.dataclass
class DisfaConfig(_base.AuBuilderConfig):
    """Attributes: camera: 'left' or 'right'."""

    camera: str = "left"


class Disfa(_base.AuDatasetBuilder):
    """DISFA: left/right camera videos with 12 AU intensities (manual download)."""

    name = "disfa"
    DATASET_TITLE = "DISFA: 27 adults watching a video clip, 12 AU intensities (0..5) per frame."
    HOMEPAGE = "http://mohammadmahoor.com/disfa/"
    AU_NAMES = au_lib.DISFA_AUS
    BUILDER_CONFIGS = [
        DisfaConfig(name="left", camera="left", description="Left camera videos."),
        DisfaConfig(name="right", camera="right", description="Right camera videos."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Place the DISFA distribution (from the dataset owners) in `manual_dir/` as shipped:
      manual_dir/Videos_LeftCamera/LeftVideoSN001_comp.avi ...    (for config 'left')
      manual_dir/Videos_RightCamera/RightVideoSN001_comp.avi ...  (for config 'right')
      manual_dir/ActionUnit_Labels/SN001/SN001_au1.txt ... SN001_au26.txt
    File-name capitalisation may vary (leftVideoSN002_Comp.avi is accepted).
    """

    def _extra_metadata(self):
        return {"pose_names": {str(CAMERAS[self.builder_config.camera][2]):
                               f"{self.builder_config.camera} camera (angles unknown: NaN)"}}

    def _sources(self, manual_dir: Path):
        cam = self.builder_config.camera
        if cam not in CAMERAS:
            raise ValueError(f"disfa: camera must be 'left' or 'right', got {cam!r}.")
        video_dirname, prefix, pose_id = CAMERAS[cam]
        hint = "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS
        label_root = _common.match_entries(manual_dir, LABEL_DIR)
        video_root = _common.match_entries(manual_dir, video_dirname)
        missing = []
        if not label_root:
            missing.append(("AU label folder", manual_dir / LABEL_DIR))
        if not video_root:
            missing.append((f"{cam} camera video folder", manual_dir / video_dirname))
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)
        label_root, video_root = label_root[0], video_root[0]

        subjects = [p.name.upper() for p in _common.match_entries(label_root, r"SN\d{3}")]
        videos = {}
        for v in _common.match_entries(video_root, rf"{prefix}Video(SN\d{{3}})_comp\.avi"):
            videos[re.search(r"SN\d{3}", v.name, re.IGNORECASE).group(0).upper()] = v
        missing = []
        label_files = {}
        for subj in sorted(set(subjects) | set(videos)):
            if subj not in videos:
                missing.append((f"{cam} video of {subj}", video_root / f"{prefix}Video{subj}_comp.avi"))
            folder = label_root / subj
            files = {}
            for n in AU_NUMBERS:
                found = _common.match_entries(folder, rf"{subj}_au{n}\.txt")
                if found:
                    files[au_lib.canonical_au(n)] = found[0]
                else:
                    missing.append((f"AU{n} labels of {subj}", folder / f"{subj}_au{n}.txt"))
            label_files[subj] = files
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)

        sources = []
        for subj in sorted(videos):
            files = label_files[subj]

            def load_labels(files=files):
                table = _common.LabelTable({"au_intensity": self.AU_NAMES})
                for au, path in files.items():
                    for frame, code in _common.read_frame_code_file(path, self.name).items():
                        table.set_code("au_intensity", au, frame, code)
                return table

            sources.append(_base.SequenceSource(
                subject=subj, sequence=subj, key=f"{subj}_{cam}", load_labels=load_labels,
                frames=lambda v=videos[subj]: _base.video_frames(v, FIRST_LABEL_FRAME),
                pose_id=pose_id))
        return self._group_by_split(sources)
