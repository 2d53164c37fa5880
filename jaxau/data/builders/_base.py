"""The TFDS base builder shared by the real-dataset builders: schema, splits, frame/label alignment.

A concrete builder only says where its sequences are (:meth:`AuDatasetBuilder._sources`): for each
sequence, how to read its labels (a :class:`~jaxau.data.builders._common.LabelTable` keyed by frame
number) and how to enumerate its frames (``(frame_number, loader)`` pairs in the *label* numbering).
This class joins the two by frame number, skips and counts whatever does not match, and records a
per-sequence alignment report in the dataset's metadata (``info.metadata['alignment']``) and in the
log.

Determinism: sequences and frames are enumerated in sorted order and every example has a unique key
``<sequence key>/<frame>``, from which TFDS derives a fixed shuffle, so a rebuild writes identical
records. Resumability: TFDS writes into a temporary folder and renames it when complete, so an
interrupted build leaves nothing half-written behind and a finished one is reused
(``download_and_prepare`` on an existing, complete dataset does nothing).
"""

from __future__ import annotations

import abc
import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds

from jaxau.data import features as features_lib, video
from jaxau.data.builders import _common

# Loads one frame as RGB uint8 [H, W, 3]; returns None if the frame cannot be decoded.
FrameLoader = Callable[[], "np.ndarray | None"]


@dataclasses.dataclass
class SequenceSource:
    """One labelled sequence (video, image folder, or single-image group) of a dataset."""

    subject: str
    sequence: str
    key: str  # Unique within the dataset (sequence + view when a sequence has several views).
    load_labels: Callable[[], _common.LabelTable]
    frames: Callable[[], Iterator[tuple[int, FrameLoader]]]
    pose_id: int = features_lib.FRONTAL_POSE_ID
    yaw: float = math.nan
    pitch: float = math.nan
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class AuBuilderConfig(tfds.core.BuilderConfig):
    """Options shared by every real-dataset builder.

    Attributes:
      subject_splits: ``((split, (subject, ...)), ...)`` to override the dataset's default splits
        with explicit subject-level ones (subjects must be disjoint and present).
      frame_stride: keep only frames whose number is a multiple of this (1 keeps all); video data
        is highly redundant at 20-30 fps.
    """

    subject_splits: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    frame_stride: int = 1


def image_loader(path: Path) -> FrameLoader:
    """A loader reading an image file with OpenCV (None if it is corrupt)."""

    def load():
        import cv2

        data = np.fromfile(path, np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    return load


def video_frames(path: Path, first_label_frame: int | Callable[[], int]
                 ) -> Iterator[tuple[int, FrameLoader]]:
    """Frames of a video as ``(label frame number, loader)``; corrupt ones come last, loading None.

    Args:
      path: the video.
      first_label_frame: the label frame number of decoder frame 0 (1 for DISFA), or a callable
        returning it (evaluated once decoding starts).
    """
    report = video.DecodeReport(path=str(path))
    offset = None
    for index, image in video.iter_frames(path, report):
        if offset is None:
            offset = first_label_frame() if callable(first_label_frame) else first_label_frame
        yield index + offset, (lambda image=image: image)
    if offset is None:
        offset = first_label_frame() if callable(first_label_frame) else first_label_frame
    for index in report.corrupt_frames:
        yield index + offset, (lambda: None)


class AuDatasetBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the real AU dataset builders (manual download, shared feature schema)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First jaxau release."}
    BUILDER_CONFIGS = [AuBuilderConfig(name="default")]

    # Set by subclasses.
    DATASET_TITLE = ""
    HOMEPAGE = ""
    AU_NAMES: tuple[str, ...] = ()
    IMAGE_ENCODING = "jpeg"
    DEFAULT_SPLIT = "train"

    # ------------------------------------------------------------------ subclass hooks
    def _au_names(self) -> tuple[str, ...]:
        return self.AU_NAMES

    def _extra_features(self) -> dict[str, Any]:
        """Features beyond the shared schema (e.g. ``au_occurrence``)."""
        return {}

    def _extra_metadata(self) -> dict[str, Any]:
        return {}

    @abc.abstractmethod
    def _sources(self, manual_dir: Path) -> dict[str, list[SequenceSource]]:
        """Split name -> sequences, found under ``manual_dir`` (raise MissingDataError if absent)."""

    def _default_subject_splits(self, subjects: Sequence[str]) -> dict[str, list[str]] | None:
        """The dataset's own subject-level split, or None for a single :attr:`DEFAULT_SPLIT`."""
        return None

    # ------------------------------------------------------------------ shared machinery
    def _info(self) -> tfds.core.DatasetInfo:
        feats = features_lib.base_features(len(self._au_names()), encoding_format=self.IMAGE_ENCODING)
        feats.update(self._extra_features())
        metadata = features_lib.au_metadata(self._au_names())
        metadata.update(self._extra_metadata())
        return self.dataset_info_from_configs(
            description=self.DATASET_TITLE,
            features=tfds.features.FeaturesDict(feats),
            homepage=self.HOMEPAGE,
            metadata=metadata,
        )

    def _split_subjects(self, subjects: Sequence[str]) -> dict[str, list[str]]:
        cfg = self.builder_config
        explicit = dict(cfg.subject_splits) if getattr(cfg, "subject_splits", None) else None
        if explicit is None:
            default = self._default_subject_splits(sorted(set(subjects)))
            if default is not None:
                return {k: v for k, v in default.items() if v}
        return _common.assign_splits(subjects, explicit, self.DEFAULT_SPLIT, self.name)

    def _group_by_split(self, sources: Sequence[SequenceSource]) -> dict[str, list[SequenceSource]]:
        """Assigns each sequence to its subject's split (sequences sorted by key)."""
        splits = self._split_subjects([s.subject for s in sources])
        where = {subj: split for split, subjects in splits.items() for subj in subjects}
        out: dict[str, list[SequenceSource]] = {k: [] for k in splits}
        for s in sorted(sources, key=lambda s: s.key):
            if s.subject in where:
                out[where[s.subject]].append(s)
        return out

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = Path(dl_manager.manual_dir)
        by_split = self._sources(manual_dir)
        if not any(by_split.values()):
            files = sum(len(f) for _, _, f in os.walk(manual_dir))
            raise _common.MissingDataError(
                self.name, [(f"a labelled sequence (manual_dir holds {files} files, none where the "
                             f"official layout puts them)", manual_dir)],
                f"point manual_dir at your copy of {self.name} in its official layout (README 'Real "
                f"datasets').\nLayout expected:\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        self.info.metadata["alignment"] = {}
        return {split: self._generate_examples(split, sources)
                for split, sources in by_split.items()}

    def _generate_examples(self, split: str, sources: Sequence[SequenceSource]):
        stride = max(int(getattr(self.builder_config, "frame_stride", 1) or 1), 1)
        reports = []
        for src in sources:
            rep = _common.SequenceReport(split=split, subject=src.subject, sequence=src.key)
            labels = src.load_labels()
            rep.label_rows = len(labels)
            seen = set()
            for fno, load in src.frames():
                if fno in seen:  # Two files for one frame number: keep the first (sorted order).
                    continue
                seen.add(fno)
                rep.frames += 1
                if fno not in labels:
                    rep.frames_without_labels += 1
                    continue
                if fno % stride:
                    continue
                image = load()
                if image is None:
                    rep.corrupt_frames += 1
                    continue
                example = {
                    "image": image,
                    "subject": src.subject,
                    "sequence": src.sequence,
                    "frame": fno,
                    "pose": {"id": src.pose_id, "yaw": src.yaw, "pitch": src.pitch},
                    **labels.rows[fno],
                    **labels.extra.get(fno, {}),
                    **src.extra,
                }
                rep.emitted += 1
                yield f"{src.key}/{fno}", example
            rep.labels_without_frames = len(set(labels.rows) - seen)
            _common.log_report(self.name, rep)
            reports.append(rep)
        self.info.metadata["alignment"][split] = {
            "totals": _common.summarize(reports),
            "sequences": [r.as_dict() for r in reports],
        }
