"""Batch AU inference on videos and images: frames -> faces -> alignment -> AU intensities -> CSV.

`FramePredictor` redoes, for any frame, what the estimator's training frames went through: the model
directory's ``estimator.json`` records the alignment (``none``: the face crop; ``2d``/``3d``: the
registration model and alignment settings of the pipeline that produced the training set). Faces are
found with OpenCV's Haar cascade. Frames that cannot be read or show no face become rows with
``success = 0`` (AU columns 0, as OpenFace writes them) and are counted, never dropped.

The CSV follows OpenFace 2's per-frame layout for the columns it shares: ``frame`` (1-based),
``timestamp`` (s), ``success``, ``confidence``, ``pose_Rx``/``pose_Ry``/``pose_Rz`` (radians: pitch,
yaw, roll) and one ``AUxx_r`` intensity (0..5) per AU of the model.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import time
from typing import Iterator

import numpy as np

from jaxau import io_utils
from jaxau.validate import ConfigError
from jaxau.align import detect
from jaxau.align.aligner import Aligner
from jaxau.data import video
from jaxau.train import estimator, prnet as reg_train

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# 'none' alignment: a square crop this many times the detected face box, like the rendered frames.
FACE_CROP_SCALE = 1.6


@dataclasses.dataclass
class Frame:
    index: int                 # 0-based position in the input.
    timestamp: float           # Seconds (video) or 0.0 (images).
    image: np.ndarray | None   # RGB uint8, or None when it could not be read.
    source: str


def iter_input(spec: str) -> Iterator[Frame]:
    """Frames of a video file, an image directory or a glob of images, in order.

    Undecodable video frames and unreadable images are yielded with ``image=None`` at their place.
    """
    import cv2

    if os.path.isfile(spec) and spec.lower().endswith(VIDEO_EXTENSIONS):
        info = video.video_info(spec)
        fps = info.fps or 0.0
        report = video.DecodeReport(path=spec)
        nxt = 0
        for index, image in video.iter_frames(spec, report):
            for missing in range(nxt, index):  # Frames the decoder rejected.
                yield Frame(missing, missing / fps if fps else 0.0, None, spec)
            yield Frame(index, index / fps if fps else 0.0, image, spec)
            nxt = index + 1
        for missing in range(nxt, max(report.expected_frames, nxt)):
            yield Frame(missing, missing / fps if fps else 0.0, None, spec)
        return
    if os.path.isdir(spec):
        paths = sorted(p for p in glob.glob(os.path.join(spec, "*")) if p.lower().endswith(IMAGE_EXTENSIONS))
    else:
        paths = sorted(glob.glob(spec))
    if not paths:
        raise FileNotFoundError(f"--input={spec!r}: no video file, image directory or matching images "
                                f"(videos: {', '.join(VIDEO_EXTENSIONS)}; images: {', '.join(IMAGE_EXTENSIONS)}).")
    for i, path in enumerate(paths):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        yield Frame(i, 0.0, None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), path)


class FramePredictor:
    """A trained estimator plus the alignment its training frames had."""

    def __init__(self, model_dir: str, batch_size: int = 16):
        self.estimator = estimator.Predictor(model_dir, batch_size=batch_size)
        self.au_names = self.estimator.au_names
        if self.estimator.config.get("normalization", "none") != "none":
            # Needs per-person reference images (a neutral or mean face) before the first estimate.
            raise ValueError(f"{model_dir} was trained with personal normalisation "
                             f"'{self.estimator.config['normalization']}'; launch/predict.py supports "
                             "normalization='none' models only (see BUILD_NOTES.md, known limits).")
        self.size = self.estimator.image_size
        self.alignment = dict(self.estimator.config.get("alignment") or {"mode": "none"})
        self.mode = self.alignment["mode"]
        self.aligner = None
        if self.mode != "none":
            import ml_collections

            cfg = ml_collections.ConfigDict({
                "data": {"image_size": self.size},
                "align": {**self.alignment.get("align", {}), "boxes": "cascade", "batch_size": batch_size},
                "align2d": self.alignment.get("align2d", {}), "align3d": self.alignment.get("align3d", {})})
            registrar = reg_train.load_registrar(self.alignment["registration_dir"], batch_size=batch_size)
            self.aligner = Aligner(cfg, self.mode, registrar)

    def _crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        import cv2

        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = FACE_CROP_SCALE * max(box[2] - box[0], box[3] - box[1]) / 2
        src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
        dst = np.float32([[0, 0], [self.size, 0], [0, self.size]])
        return cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (self.size, self.size),
                              flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """``images`` uint8 [N, H, W, 3] (one size) -> success, confidence, pose [N, 3] (rad), au [N, K]."""
        n = len(images)
        pose = np.zeros((n, 3), np.float32)
        if self.aligner is None:
            boxes, ok = detect.detect_faces(images)
            aligned = np.stack([self._crop(im, b) if f else np.zeros((self.size, self.size, 3), np.uint8)
                                for im, b, f in zip(images, boxes, ok)])
            confidence = ok.astype(np.float32)
        else:
            aligned, ok, _, res = self.aligner({"image": images})
            fit = np.asarray(res.fit_error, np.float32)
            confidence = np.where(ok, np.clip(1.0 - fit / self.aligner.max_fit_error, 0.0, 1.0), 0.0)
            yaw, pitch, roll = np.deg2rad(np.asarray(res.pose, np.float32)).T
            pose = np.stack([pitch, yaw, roll], -1) * ok[:, None]
        au = np.asarray(self.estimator.intensities(aligned), np.float32)
        # A non-finite estimate is a failed frame (success 0, zeros), never a NaN cell with success 1.
        finite = np.isfinite(au).all(1)
        if (ok & ~finite).any():
            logging.warning("predict: %d of %d frames gave non-finite AU estimates; marked success=0.",
                            int((ok & ~finite).sum()), n)
        non_finite = ok & ~finite
        ok = ok & finite
        au = np.where(ok[:, None], au, 0.0).astype(np.float32)
        pose = np.where(ok[:, None], pose, 0.0).astype(np.float32)
        confidence = np.where(ok, confidence, 0.0).astype(np.float32)
        return {"success": ok, "confidence": confidence, "pose": pose, "au": au, "non_finite": non_finite}


def check_arguments(spec: str, output: str) -> None:
    """Refuses, in one line and before any model is loaded, an input or output that cannot work.

    Raises:
      ConfigError: ``output`` is a directory or its folder does not exist; a video ``spec`` is empty
        or cannot be opened at all (a video that opens but breaks midway is read, its bad frames
        becoming ``success = 0`` rows).
    """
    if os.path.isdir(output):
        raise ConfigError(f"--output={output!r} is a directory: pass the path of the CSV file to write, "
                          f"e.g. {os.path.join(output, 'aus.csv')}.")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ConfigError(f"--output={output!r}: folder {folder} does not exist; create it or write elsewhere.")
    if os.path.isfile(spec) and spec.lower().endswith(VIDEO_EXTENSIONS):
        if os.path.getsize(spec) == 0:
            raise ConfigError(f"--input={spec!r} is an empty file (0 bytes): pass a video file.")
        try:
            info = video.video_info(spec)
        except ValueError as e:
            raise ConfigError(f"--input={spec!r}: OpenCV cannot open it as a video (not a video, cut before "
                              f"its index, or a codec this OpenCV lacks): {str(e).splitlines()[0]}") from None
        if info.frame_count <= 0 and (info.width <= 0 or info.height <= 0):
            raise ConfigError(f"--input={spec!r}: OpenCV opens it but finds no frames: pass a video file.")


def predict_to_csv(spec: str, output: str, model_dir: str, *, batch_size: int = 16,
                   log_every: int = 100) -> dict:
    """Runs `FramePredictor` over ``spec`` and writes the per-frame CSV atomically; returns a summary."""
    check_arguments(spec, output)
    predictor = FramePredictor(model_dir, batch_size)
    header = (["frame", "timestamp", "success", "confidence", "pose_Rx", "pose_Ry", "pose_Rz"]
              + [f"{a}_r" for a in predictor.au_names])
    rows: list[list[str]] = []
    counts = {"frames": 0, "success": 0, "unreadable": 0, "no_face": 0, "non_finite": 0}
    t0 = time.perf_counter()
    pending: list[Frame] = []

    def flush():
        if not pending:
            return
        out = predictor(np.stack([f.image for f in pending]))
        for j, f in enumerate(pending):
            ok = bool(out["success"][j])
            counts["success" if ok else "non_finite" if out["non_finite"][j] else "no_face"] += 1
            rows.append([str(f.index + 1), f"{f.timestamp:.3f}", str(int(ok)), f"{out['confidence'][j]:.3f}",
                         *(f"{v:.3f}" for v in out["pose"][j]), *(f"{v:.2f}" for v in out["au"][j])])
        pending.clear()

    for frame in iter_input(spec):
        counts["frames"] += 1
        if frame.image is None:
            flush()
            counts["unreadable"] += 1
            rows.append([str(frame.index + 1), f"{frame.timestamp:.3f}", "0", "0.000", "0.000", "0.000", "0.000",
                         *(["0.00"] * len(predictor.au_names))])
            logging.warning("frame %d of %s could not be read", frame.index + 1, frame.source)
            continue
        if pending and pending[0].image.shape != frame.image.shape:
            flush()
        pending.append(frame)
        if len(pending) == batch_size:
            flush()
        if counts["frames"] % log_every == 0:
            dt = time.perf_counter() - t0
            logging.info("predict: %d frames, %.1f frames/s", counts["frames"], counts["frames"] / dt)
    flush()
    rows.sort(key=lambda r: int(r[0]))
    with io_utils.atomic_open(output, "w", encoding="utf-8") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    seconds = time.perf_counter() - t0
    counts["frames_per_second"] = counts["frames"] / seconds if seconds > 0 else float("nan")
    logging.info("predict: %s -> %s: %s", spec, output, counts)
    return counts
