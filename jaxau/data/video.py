"""OpenCV video decoding that numbers frames by timestamp and skips (and counts) corrupt frames.

Real AU datasets ship long videos (DISFA: 4845 frames per clip; FERA 2017: one .mp4 per view) whose
labels are keyed by frame number, so a decoder that silently drops a broken frame would shift every
later label by one. OpenCV's FFmpeg backend does exactly that with its own frame counter
(``CAP_PROP_POS_FRAMES`` stops advancing over a frame it could not decode), but the presentation
timestamp (``CAP_PROP_POS_MSEC``) stays correct. We therefore number each decoded frame from its
timestamp and the stream's frame rate, and call every index in ``0..frame_count-1`` that never came
out of the decoder a corrupt frame.

Frame numbers here are 0-based decoder indices; dataset builders map them to their label numbering
(e.g. DISFA's labels start at 1).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import numpy as np


@dataclasses.dataclass
class VideoInfo:
    """What the container says about a video (before decoding it)."""

    path: str
    frame_count: int  # 0 when the container does not say.
    fps: float  # 0.0 when the container does not say.
    width: int
    height: int


@dataclasses.dataclass
class DecodeReport:
    """Per-video decoding outcome, filled in while :func:`iter_frames` runs.

    Attributes:
      path: the video file.
      expected_frames: frame count from the container (0 if unknown).
      decoded: frames successfully decoded and yielded.
      corrupt_frames: 0-based indices of frames that could not be decoded, in increasing order.
    """

    path: str
    expected_frames: int = 0
    decoded: int = 0
    corrupt_frames: list[int] = dataclasses.field(default_factory=list)

    @property
    def num_corrupt(self) -> int:
        return len(self.corrupt_frames)


def _open(path: str):
    import cv2

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Video file {path!r} does not exist.")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"OpenCV could not open video {path!r}: the file is unreadable or its codec is "
                         "not supported by this OpenCV build (check `cv2.getBuildInformation()` for "
                         "FFMPEG: YES, or re-encode the file).")
    return cap


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Returns frame count, frame rate and size of ``path`` without decoding it.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: if OpenCV cannot open it.
    """
    import cv2

    path = os.fspath(path)
    cap = _open(path)
    try:
        return VideoInfo(path=path,
                         frame_count=max(int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT))), 0),
                         fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
                         width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()


def iter_frames(path: str | os.PathLike, report: DecodeReport | None = None, *, rgb: bool = True,
                max_consecutive_failures: int = 32) -> Iterator[tuple[int, np.ndarray]]:
    """Decodes ``path`` frame by frame, yielding ``(index, image)`` with 0-based indices.

    Frames the decoder rejects are skipped; their indices are appended to
    ``report.corrupt_frames``. Indices of the frames that do decode stay correct after a skipped
    frame because they come from the frame's timestamp, not from a running counter.

    Args:
      path: the video file.
      report: filled in as frames are decoded (complete once the iterator is exhausted).
      rgb: return RGB (True) or OpenCV's BGR (False) uint8 ``[H, W, 3]`` images.
      max_consecutive_failures: stop after this many failed reads in a row (end of stream, or a
        hopelessly broken tail, which is then counted as corrupt up to the container's frame count).

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: if OpenCV cannot open it.
    """
    import cv2

    path = os.fspath(path)
    cap = _open(path)
    if report is None:
        report = DecodeReport(path=path)
    try:
        expected = max(int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT))), 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        report.expected_frames = expected
        seen: set[int] = set()
        last = -1
        failures = 0
        while failures < max_consecutive_failures:
            if not cap.grab():
                # Past the last frame the container announced: this is the end of the stream.
                if expected and last >= expected - 1:
                    break
                failures += 1
                continue
            if fps > 0:
                index = int(round(cap.get(cv2.CAP_PROP_POS_MSEC) * fps / 1000.0))
            else:  # No timing information: fall back to counting (cannot see skipped frames).
                index = last + 1
            failures = 0
            ok, image = cap.retrieve()
            if not ok or image is None or index in seen or index <= last:
                # A frame that grabs but does not convert, or a timestamp that goes backwards, cannot
                # be trusted to be the frame its number says.
                continue
            seen.add(index)
            last = index
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            if rgb:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            report.decoded += 1
            yield index, image
        n = max(expected, last + 1)
        report.corrupt_frames = [i for i in range(n) if i not in seen]
    finally:
        cap.release()
