"""Face boxes for registration: ground truth, an OpenCV Haar cascade, or a user's CSV.

All boxes are returned in the *landmark-box* convention of :mod:`jaxau.align.crop` (tight box of the
68 iBUG landmarks), ``[x0, y0, x1, y1]`` pixels. Haar cascade boxes are square and sit higher and
tighter than a landmark box; `cascade_to_landmark_box` converts them with factors measured on frontal
SynthFACS frames (BUILD_NOTES.md), so real-photo crops match the training crops' framing.
"""

from __future__ import annotations

import csv
import functools
import os

import numpy as np

# Landmark box = cascade box (x, y, w, h) moved / scaled by these (fractions of the cascade side).
CASCADE_CENTER = (0.0, 0.155)   # centre offset (x, y)
CASCADE_SIZE = (0.85, 0.85)    # width, height


@functools.lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise FileNotFoundError(f"OpenCV Haar cascade {path} could not be loaded (opencv-python-headless "
                                "ships it; reinstall it).")
    return clf


def cascade_to_landmark_box(box_xywh) -> np.ndarray:
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2 + CASCADE_CENTER[0] * w, y + h / 2 + CASCADE_CENTER[1] * h
    bw, bh = CASCADE_SIZE[0] * w, CASCADE_SIZE[1] * h
    return np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], np.float32)


def detect_face(image: np.ndarray, min_size_fraction: float = 0.2) -> np.ndarray | None:
    """The largest Haar-cascade face of an RGB uint8 frame as a landmark-convention box, or None."""
    import cv2

    gray = cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2GRAY)
    side = int(min(gray.shape) * min_size_fraction)
    faces = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(side, side))
    if len(faces) == 0:
        return None
    largest = max(faces, key=lambda f: f[2] * f[3])
    return cascade_to_landmark_box(largest)


def detect_faces(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes [N, 4], found [N] bool)``; boxes of frames without a face are zeros."""
    boxes = np.zeros((len(images), 4), np.float32)
    found = np.zeros(len(images), bool)
    for i, im in enumerate(images):
        b = detect_face(im)
        if b is not None:
            boxes[i], found[i] = b, True
    return boxes, found


def read_box_csv(path: str) -> dict:
    """Boxes from a CSV with columns ``key,x0,y0,x1,y1`` (landmark-box convention) -> {key: box}.

    ``key`` is ``<sequence>/<frame>`` (the derived dataset's identity of a frame).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Box CSV {path} not found (expected columns key,x0,y0,x1,y1).")
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"key", "x0", "y0", "x1", "y1"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise ValueError(f"Box CSV {path}: header must contain {sorted(need)}, got {reader.fieldnames}.")
        for row in reader:
            try:
                out[row["key"]] = np.array([float(row[k]) for k in ("x0", "y0", "x1", "y1")], np.float32)
            except ValueError:
                raise ValueError(f"Box CSV {path}: non-numeric box in row {row}.") from None
    return out
