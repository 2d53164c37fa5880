"""Batch AU inference on videos and images: frames -> faces -> alignment -> AU intensities -> table.

`Detector` is the Python API (a ``pandas.DataFrame`` per video or image list); `predict_to_csv` is
what ``launch/predict.py`` (``jaxau-predict``) runs. `FramePredictor` redoes, for any frame, what the
estimator's training frames went through: the model directory's ``estimator.json`` records the
alignment (``none``: the face crop; ``2d``/``3d``: the registration model and alignment settings of
the pipeline that produced the training set). Faces are found with OpenCV's Haar cascade.

Columns follow OpenFace 2's per-frame output (the "Output Format" page of the OpenFace wiki,
https://github.com/TadasBaltrusaitis/OpenFace/wiki/Output-Format, and the writer FeatureExtraction
uses, ``lib/local/Utilities/src/RecorderCSV.cpp``), whose order for a sequence is::

    frame, face_id, timestamp, confidence, success, gaze_0_x .. gaze_angle_y, eye_lmk_x_0 ..
    eye_lmk_Z_55, pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz, x_0 .. x_67, y_0 .. y_67,
    X_0 .. Z_67, p_scale .. p_33, AUxx_r (AU names sorted), AUxx_c (AU names sorted)

with ", " between fields. We write the columns we measure, in that order and with OpenFace's decimals
(see `OUTPUT_COLUMNS_DOC`), and leave out those we do not measure rather than filling them: gaze and
eye landmarks (no gaze model), ``pose_T*`` and ``X/Y/Z_*`` (millimetres in camera space need the
camera's intrinsics) and ``p_*`` (OpenFace's shape-model parameters). One column OpenFace lacks,
``input`` (the file each frame came from), comes last, so positional readers of the OpenFace columns
are unaffected.

Frames that cannot be read, show no face, fit the registration poorly or give a non-finite estimate
are rows with ``success = 0``, ``confidence = 0`` and every measurement 0 (OpenFace also writes 0 for
the AUs of failed frames); they are counted, never dropped.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import time
from typing import Any, Iterable, Iterator, Sequence

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
# AUxx_c = 1 when AUxx_r >= this: the intensity rounds to FACS level A (1) or above. With the
# default 'argmax' read-out (integer levels) that is level >= 1; with 'expected', r >= 0.5.
OCCURRENCE_THRESHOLD = 0.5
NUM_LANDMARKS = 68
SEPARATOR = ", "  # OpenFace's field separator: read with pandas.read_csv(path, skipinitialspace=True).

OUTPUT_COLUMNS_DOC = """\
frame          1-based frame number (images: position in the list)
face_id        0: one face per frame, the largest the Haar cascade finds
timestamp      seconds from the start of the video (3 decimals); 0 for images
confidence     0..1 (2 decimals): 1 - registration fit error / align.max_fit_error for registered
               models, 1 for a found face with an unregistered (crop) model; 0 when success = 0
success        1 when a face was found, registered within align.max_fit_error and estimated
pose_Rx/Ry/Rz  head pitch, yaw, roll in radians (3 decimals); registered models only
x_0..x_67,     iBUG-68 landmarks in pixels of the input frame (1 decimal); registered models only
y_0..y_67
AUxx_r         intensity 0..5 per AU of the model, AU names sorted (2 decimals)
AUxx_c         occurrence 0/1 (1 decimal): AUxx_r >= 0.5, i.e. FACS level A or above
input          the video or image file the row came from ('<array i>' for in-memory images)"""

_DECIMALS = {"timestamp": 3, "confidence": 2, "pose": 3, "landmark": 1, "au_r": 2, "au_c": 1}


def output_columns(au_names: Sequence[str], registered: bool) -> list[str]:
    """The table's columns, in OpenFace's order (module docstring).

    Args:
      au_names: the model's AUs (any order; written sorted, as OpenFace does).
      registered: whether the model aligns frames with a registration network (then head pose and
        2-D landmarks are measured and written).
    """
    cols = ["frame", "face_id", "timestamp", "confidence", "success"]
    if registered:
        cols += ["pose_Rx", "pose_Ry", "pose_Rz"]
        cols += [f"x_{i}" for i in range(NUM_LANDMARKS)] + [f"y_{i}" for i in range(NUM_LANDMARKS)]
    aus = sorted(au_names)
    return cols + [f"{a}_r" for a in aus] + [f"{a}_c" for a in aus] + ["input"]


@dataclasses.dataclass
class Frame:
    """One input frame.

    Attributes:
      index: 0-based position in the input.
      timestamp: seconds (video) or 0.0 (images).
      image: RGB uint8 [H, W, 3], or None when it could not be read.
      source: the file it came from (or ``<array i>``).
    """

    index: int
    timestamp: float
    image: np.ndarray | None
    source: str


def is_video(path: str) -> bool:
    """Whether ``path`` is an existing file with a video extension."""
    return os.path.isfile(path) and path.lower().endswith(VIDEO_EXTENSIONS)


def iter_video(path: str) -> Iterator[Frame]:
    """Frames of a video file, in order; undecodable frames come with ``image=None`` at their place."""
    info = video.video_info(path)
    fps = info.fps or 0.0
    report = video.DecodeReport(path=path)
    nxt = 0
    for index, image in video.iter_frames(path, report):
        for missing in range(nxt, index):  # Frames the decoder rejected.
            yield Frame(missing, missing / fps if fps else 0.0, None, path)
        yield Frame(index, index / fps if fps else 0.0, image, path)
        nxt = index + 1
    for missing in range(nxt, max(report.expected_frames, nxt)):
        yield Frame(missing, missing / fps if fps else 0.0, None, path)


def _read_image(path: str) -> np.ndarray | None:
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_images(images: Iterable[Any]) -> Iterator[Frame]:
    """Frames of a list of image paths and/or RGB uint8 arrays ``[H, W, 3]`` (or one ``[N, H, W, 3]``).

    The list is checked before the first frame is read; unreadable image files come with
    ``image=None``.

    Raises:
      FileNotFoundError: a path names no file.
      ValueError: an item is neither a path nor an RGB uint8 array ``[H, W, 3]``.
    """
    items = list(images)
    missing = [str(p) for p in items if isinstance(p, (str, os.PathLike)) and not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image file(s) not found, first {missing[0]!r}: pass existing "
                                "image paths or RGB uint8 arrays.")
    for i, item in enumerate(items):
        if not isinstance(item, (str, os.PathLike)):
            arr = np.asarray(item)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
                raise ValueError(f"images[{i}]: expected an image path or an RGB uint8 array [H, W, 3], got "
                                 f"{arr.dtype} {arr.shape}; convert with np.asarray(image, np.uint8).")

    def frames():
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                yield Frame(i, 0.0, _read_image(os.fspath(item)), os.fspath(item))
            else:
                yield Frame(i, 0.0, np.asarray(item), f"<array {i}>")

    return frames()


def iter_input(spec: str, name: str = "--input") -> Iterator[Frame]:
    """Frames of a video file, an image directory or a glob of images, in order.

    ``spec`` is resolved before the first frame is read. Undecodable video frames and unreadable
    images are yielded with ``image=None`` at their place.

    Args:
      spec: a video file, an image directory or a glob of images.
      name: how an error message names ``spec`` (a flag or an argument).

    Raises:
      FileNotFoundError: ``spec`` is none of these, or matches no image.
    """
    if is_video(spec):
        return iter_video(spec)
    if os.path.isdir(spec):
        paths = sorted(p for p in glob.glob(os.path.join(spec, "*")) if p.lower().endswith(IMAGE_EXTENSIONS))
    else:
        paths = sorted(glob.glob(spec))
    if not paths:
        raise FileNotFoundError(f"{name}={spec!r}: no video file, image directory or matching images "
                                f"(videos: {', '.join(VIDEO_EXTENSIONS)}; images: {', '.join(IMAGE_EXTENSIONS)}).")
    return iter_images(paths)


class FramePredictor:
    """A trained estimator plus the alignment its training frames had.

    Args:
      model_dir: a trained estimator directory (with ``estimator.json`` and ``checkpoints/``).
      batch_size: frames per jit-compiled batch.

    Raises:
      ValueError: the model was trained with personal normalisation (needs reference images).
    """

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
                "align2d": {"mask": "none", **self.alignment.get("align2d", {})},
                # Models saved before align2d.mask / align3d.visibility / context / fill existed: no mask,
                # per-vertex visibility, black context and occluded surface.
                "align3d": {"visibility": "vertex", "context": "none", "fill": "none",
                            **self.alignment.get("align3d", {})}})
            registrar = reg_train.load_registrar(self.alignment["registration_dir"], batch_size=batch_size)
            self.aligner = Aligner(cfg, self.mode, registrar)

    @property
    def registered(self) -> bool:
        """Whether frames go through the registration network (head pose and landmarks measured)."""
        return self.aligner is not None

    def _crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        import cv2

        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = FACE_CROP_SCALE * max(box[2] - box[0], box[3] - box[1]) / 2
        src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
        dst = np.float32([[0, 0], [self.size, 0], [0, self.size]])
        return cv2.warpAffine(image, cv2.getAffineTransform(src, dst), (self.size, self.size),
                              flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Estimates a batch of same-sized frames.

        Args:
          images: uint8 ``[N, H, W, 3]`` RGB.

        Returns:
          ``success [N]`` bool, ``confidence [N]``, ``pose [N, 3]`` (pitch, yaw, roll in radians),
          ``landmarks [N, 68, 2]`` (pixels), ``au [N, K]`` (the model's AU order) and ``non_finite
          [N]`` (frames whose estimate was not finite); every measurement is 0 where ``success`` is
          False. ``pose`` and ``landmarks`` are zeros for an unregistered model.
        """
        n = len(images)
        pose = np.zeros((n, 3), np.float32)
        landmarks = np.zeros((n, NUM_LANDMARKS, 2), np.float32)
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
            pose = np.stack([pitch, yaw, roll], -1)
            landmarks = np.asarray(res.landmarks, np.float32)[:, :, :2]
        au = np.asarray(self.estimator.intensities(aligned), np.float32)
        # A non-finite estimate is a failed frame (success 0, zeros), never a NaN cell with success 1.
        finite = np.isfinite(au).all(1)
        if (ok & ~finite).any():
            logging.warning("predict: %d of %d frames gave non-finite AU estimates; marked success=0.",
                            int((ok & ~finite).sum()), n)
        non_finite = ok & ~finite
        ok = ok & finite
        return {"success": ok, "confidence": np.where(ok, confidence, 0.0).astype(np.float32),
                "pose": np.where(ok[:, None], pose, 0.0).astype(np.float32),
                "landmarks": np.where(ok[:, None, None], landmarks, 0.0).astype(np.float32),
                "au": np.where(ok[:, None], au, 0.0).astype(np.float32), "non_finite": non_finite}


def check_input(spec: str, name: str = "--input") -> None:
    """Refuses, in one line, a video ``spec`` that is empty or cannot be opened at all.

    A video that opens but breaks midway is accepted: its bad frames become ``success = 0`` rows.

    Args:
      spec: the input (video file, image directory or glob).
      name: how the message names the input (a flag or an argument).

    Raises:
      ConfigError: as above.
    """
    if not is_video(spec):
        return
    if os.path.getsize(spec) == 0:
        raise ConfigError(f"{name}={spec!r} is an empty file (0 bytes): pass a video file.")
    try:
        info = video.video_info(spec)
    except ValueError as e:
        raise ConfigError(f"{name}={spec!r}: OpenCV cannot open it as a video (not a video, cut before "
                          f"its index, or a codec this OpenCV lacks): {str(e).splitlines()[0]}") from None
    if info.frame_count <= 0 and (info.width <= 0 or info.height <= 0):
        raise ConfigError(f"{name}={spec!r}: OpenCV opens it but finds no frames: pass a video file.")


def check_output(output: str, name: str = "--output") -> None:
    """Refuses, in one line, an ``output`` path that is a directory or lies in a missing folder.

    Raises:
      ConfigError: as above.
    """
    if os.path.isdir(output):
        raise ConfigError(f"{name}={output!r} is a directory: pass the path of the CSV file to write, "
                          f"e.g. {os.path.join(output, 'aus.csv')}.")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ConfigError(f"{name}={output!r}: folder {folder} does not exist; create it or write elsewhere.")


def check_arguments(spec: str, output: str) -> None:
    """Refuses, in one line and before any model is loaded, an input or output that cannot work.

    Raises:
      ConfigError: see `check_output` and `check_input`.
    """
    check_output(output)
    check_input(spec)


def _number(value: float, decimals: int) -> str:
    """Fixed-point text without a negative zero (``-0.000`` becomes ``0.000``)."""
    return f"{round(float(value), decimals) + 0.0:.{decimals}f}"


def _csv_field(text: str) -> str:
    """A text field quoted as CSV readers expect when it holds a separator, quote or line break."""
    if any(c in text for c in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


class Detector:
    """AU intensities of the faces in videos and images, one table row per frame.

    Tables are ``pandas.DataFrame``s with the columns of ``jaxau-predict``'s CSV (`output_columns`;
    OpenFace 2's names and order), holding unrounded values::

        detector = jaxau.Detector("workdir/demo/stages/estimator-<hash>")
        aus = detector.detect_video("clip.mp4")
        smiles = aus.loc[aus.success == 1, ["timestamp", "AU12_r", "AU12_c"]]

    Args:
      model_dir: a trained estimator directory (``launch/train_estimator.py``'s workdir or a pipeline
        ``stages/estimator-<hash>`` directory).
      batch_size: frames per jit-compiled batch.

    Attributes:
      counts: the last call's frame counts (``frames``, ``success``, ``no_face``, ``non_finite``,
        ``unreadable``, ``frames_per_second``).
    """

    def __init__(self, model_dir: str, batch_size: int = 16):
        self.predictor = FramePredictor(model_dir, batch_size)
        self.batch_size = int(batch_size)
        self.au_names = tuple(self.predictor.au_names)
        self._au_order = np.argsort(self.au_names, kind="stable")
        self.counts: dict[str, float] = {}

    @property
    def columns(self) -> list[str]:
        """The table's column names (`output_columns` for this model)."""
        return output_columns(self.au_names, self.predictor.registered)

    def detect_video(self, path: str | os.PathLike) -> "pandas.DataFrame":
        """One row per frame of the video at ``path`` (undecodable frames: ``success = 0`` rows).

        Raises:
          ConfigError: ``path`` is not a video file OpenCV can open.
        """
        path = os.fspath(path)
        if not is_video(path):
            raise ConfigError(f"detect_video({path!r}): not a video file ({', '.join(VIDEO_EXTENSIONS)}); "
                              "use detect_images for images.")
        check_input(path, name="detect_video")
        return self._frame(self.rows(iter_video(path)))

    def detect_images(self, images: str | os.PathLike | Iterable[Any]) -> "pandas.DataFrame":
        """One row per image.

        Args:
          images: a list of image paths and/or RGB uint8 arrays ``[H, W, 3]``, one ``[N, H, W, 3]``
            array, or a single string: an image directory or a glob such as ``'frames/*.png'``.

        Raises:
          FileNotFoundError: a path names no file, or a directory/glob holds no image.
          ValueError: an array is not RGB uint8.
        """
        if isinstance(images, (str, os.PathLike)):
            spec = os.fspath(images)
            if is_video(spec):
                raise ConfigError(f"detect_images({spec!r}) is a video: use detect_video.")
            frames = iter_input(spec, name="detect_images")
        else:
            frames = iter_images(images)
        return self._frame(self.rows(frames))

    def rows(self, frames: Iterable[Frame], log_every: int = 100) -> list[list[Any]]:
        """Estimates ``frames`` in batches; one row of values (in ``columns`` order) per frame.

        Sets ``counts``.
        """
        rows: list[list[Any]] = []
        counts = {"frames": 0, "success": 0, "unreadable": 0, "no_face": 0, "non_finite": 0}
        t0 = time.perf_counter()
        pending: list[Frame] = []

        def flush():
            if not pending:
                return
            out = self.predictor(np.stack([f.image for f in pending]))
            for j, f in enumerate(pending):
                ok = bool(out["success"][j])
                counts["success" if ok else "non_finite" if out["non_finite"][j] else "no_face"] += 1
                rows.append(self._row(f, ok, out["confidence"][j], out["pose"][j], out["landmarks"][j],
                                      out["au"][j]))
            pending.clear()

        for frame in frames:
            counts["frames"] += 1
            if frame.image is None:
                flush()
                counts["unreadable"] += 1
                rows.append(self._row(frame, False, 0.0, np.zeros(3), np.zeros((NUM_LANDMARKS, 2)),
                                      np.zeros(len(self.au_names))))
                logging.warning("frame %d of %s could not be read", frame.index + 1, frame.source)
                continue
            if pending and pending[0].image.shape != frame.image.shape:
                flush()
            pending.append(frame)
            if len(pending) == self.batch_size:
                flush()
            if counts["frames"] % log_every == 0:
                dt = time.perf_counter() - t0
                logging.info("predict: %d frames, %.1f frames/s", counts["frames"], counts["frames"] / dt)
        flush()
        rows.sort(key=lambda r: r[0])
        seconds = time.perf_counter() - t0
        counts["frames_per_second"] = counts["frames"] / seconds if seconds > 0 else float("nan")
        self.counts = counts
        return rows

    def _row(self, frame: Frame, ok: bool, confidence, pose, landmarks, au) -> list[Any]:
        au = np.asarray(au, np.float32)[self._au_order]
        row: list[Any] = [frame.index + 1, 0, float(frame.timestamp), float(confidence), int(ok)]
        if self.predictor.registered:
            row += [float(v) for v in pose]
            row += [float(v) for v in landmarks[:, 0]] + [float(v) for v in landmarks[:, 1]]
        row += [float(v) for v in au]
        row += [float(ok and v >= OCCURRENCE_THRESHOLD) for v in au]
        return row + [frame.source]

    def _frame(self, rows: list[list[Any]]) -> "pandas.DataFrame":
        import pandas as pd

        table = pd.DataFrame(rows, columns=self.columns)
        if not rows:
            table = table.astype({c: "float64" for c in self.columns if c != "input"})
        return table.astype({"frame": "int64", "face_id": "int64", "success": "int64"})

    def format_row(self, row: Sequence[Any]) -> str:
        """A row as one CSV line, with OpenFace's separators and decimals (no trailing newline)."""
        out = []
        for name, value in zip(self.columns, row):
            if name in ("frame", "face_id", "success"):
                out.append(str(int(value)))
            elif name == "input":
                out.append(_csv_field(str(value)))
            else:
                kind = ("timestamp" if name == "timestamp" else "confidence" if name == "confidence"
                        else "pose" if name.startswith("pose_") else "au_r" if name.endswith("_r")
                        else "au_c" if name.endswith("_c") else "landmark")
                out.append(_number(value, _DECIMALS[kind]))
        return SEPARATOR.join(out)

    def write_csv(self, rows: Sequence[Sequence[Any]], output: str) -> None:
        """Writes ``rows`` (from `rows`) to ``output`` atomically: header, then one line per frame."""
        with io_utils.atomic_open(output, "w", encoding="utf-8") as f:
            f.write(SEPARATOR.join(self.columns) + "\n")
            for r in rows:
                f.write(self.format_row(r) + "\n")


def predict_to_csv(spec: str, output: str, model_dir: str, *, batch_size: int = 16,
                   log_every: int = 100) -> dict:
    """Runs a `Detector` over ``spec`` (video, image directory or glob) and writes the CSV atomically.

    Returns:
      The frame counts (`Detector.counts`).
    """
    check_arguments(spec, output)
    frames = iter_input(spec)
    detector = Detector(model_dir, batch_size)
    rows = detector.rows(frames, log_every=log_every)
    detector.write_csv(rows, output)
    logging.info("predict: %s -> %s: %s", spec, output, detector.counts)
    return detector.counts
