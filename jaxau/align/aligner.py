"""Frame alignment: face boxes -> registration -> 2-D Procrustes alignment or 3-D frontalization.

Face boxes come from the dataset's ground-truth landmarks, the Haar cascade or a user CSV
(``config.align.boxes``); frames whose box is missing or whose registration fit error exceeds
``config.align.max_fit_error`` are reported as failures, never silently dropped.
"""

from __future__ import annotations

import numpy as np

from jaxau.align import canonical, crop, detect, frontalize, procrustes2d, registrar as register
from jaxau.align.exact import ExactRegistrar
from jaxau.align.registrar import Registrar
from jaxau.validate import ConfigError


def parse_pose(spec) -> tuple[float, float, float] | None:
    """'' -> None (frontal); 'yaw,pitch[,roll]' degrees -> tuple."""
    if spec is None or str(spec).strip() == "":
        return None
    vals = [float(v) for v in str(spec).replace(",", " ").split()]
    if len(vals) not in (2, 3):
        raise ValueError(f"pose {spec!r} must be 'yaw,pitch' or 'yaw,pitch,roll' in degrees.")
    return tuple(vals + [0.0] * (3 - len(vals)))


def face_scale(config) -> float:
    """``config.align.face_scale``: the landmark box's mean side / output side, for 2-D and 3-D alike."""
    if "template_scale" in config.get("align2d", {}):
        raise ValueError("config.align2d.template_scale is gone: set config.align.face_scale (one face "
                         "scale for the 2-D and 3-D alignments).")
    return float(config.align.face_scale)


# align2d.mask: 'none' (the whole similarity-warped frame) or 'mesh' (black outside the registered
# mesh: the 2-D alignment with the 3-D output's support, to tell what the surrounding context is worth).
MASKS_2D = ("none", "mesh")


# align3d.context: what surrounds the frontalised mesh: 'none' (black, the paper's) or '2d' (the
# frame 2-D aligned onto the same template: hair line, ears, neck and outline kept around the 3-D face).
CONTEXTS_3D = ("none", "2d")


class Aligner:
    """Registration + one alignment mode, applied chunk by chunk.

    Args:
      config: the experiment config (``data.image_size``, ``align``, ``align2d`` / ``align3d``).
      mode: ``'2d'`` (Procrustes alignment) or ``'3d'`` (frontalization).
      registrar: the trained registrar (`jaxau.train.prnet.load_registrar`), built with
        ``config.align.batch_size``, or an :class:`jaxau.align.exact.ExactRegistrar` (SynthFACS
        frames registered with their true meshes; batches then need ``vertices`` or ``sequence``
        and ``frame``).
    """

    def __init__(self, config, mode: str, registrar: Registrar | ExactRegistrar):
        self.mode = mode
        self.size = int(config.data.image_size)
        align = config.align
        self.registrar = registrar
        self.max_fit_error = float(align.max_fit_error)
        self.face_scale = face_scale(config)
        self.boxes = str(align.boxes)
        self.csv = None
        if self.boxes not in ("auto", "ground_truth", "cascade"):
            self.csv = detect.read_box_csv(self.boxes)
        if mode == "2d":
            pose = parse_pose(config.align2d.pose)
            rot = None if pose is None else np.asarray(register.pose_rotation(*np.deg2rad(pose)))
            self.template = procrustes2d.template(self.size, self.face_scale, rot)
            self.mask = str(config.align2d.mask)
            if self.mask not in MASKS_2D:
                raise ConfigError(f"config.align2d.mask={self.mask!r} is not one of {MASKS_2D}: pass "
                                  "--config.align2d.mask=none.")
        else:
            pose = parse_pose(config.align3d.pose)
            self.target = (np.eye(3, dtype=np.float32) if pose is None
                           else np.asarray(register.pose_rotation(*np.deg2rad(pose)), np.float32))
            self.occluded_black = bool(config.align3d.occluded_black)
            self.sampling = str(config.align3d.sampling)
            if self.sampling not in frontalize.SAMPLING:
                raise ConfigError(f"config.align3d.sampling={self.sampling!r} is not one of "
                                  f"{frontalize.SAMPLING}: pass --config.align3d.sampling=pixel.")
            self.visibility = str(config.align3d.visibility)
            if self.visibility not in frontalize.VISIBILITY or (self.visibility == "pixel" and self.sampling != "pixel"):
                raise ConfigError(f"config.align3d.visibility={self.visibility!r} must be one of "
                                  f"{frontalize.VISIBILITY} ('pixel' with align3d.sampling='pixel'): pass "
                                  "--config.align3d.visibility=vertex.")
            self.fill = str(config.align3d.fill)
            if self.fill not in frontalize.FILLS or (self.fill != "none" and not self.occluded_black):
                raise ConfigError(f"config.align3d.fill={self.fill!r} must be one of {frontalize.FILLS} "
                                  "('mirror' with align3d.occluded_black=True): pass --config.align3d.fill=none.")
            self.context = str(config.align3d.context)
            if self.context not in CONTEXTS_3D:
                raise ConfigError(f"config.align3d.context={self.context!r} is not one of {CONTEXTS_3D}: pass "
                                  "--config.align3d.context=none.")
            self.template = procrustes2d.template(self.size, self.face_scale)

    def face_boxes(self, batch: dict) -> tuple[np.ndarray, np.ndarray]:
        n = len(batch["image"])
        if self.csv is not None:
            keys = [f"{s}/{f}" for s, f in zip(batch["sequence"], batch["frame"])]
            found = np.asarray([k in self.csv for k in keys])
            boxes = np.stack([self.csv.get(k, np.zeros(4, np.float32)) for k in keys]) if n else np.zeros((0, 4))
            return boxes.astype(np.float32), found
        if self.boxes in ("auto", "ground_truth") and "landmarks_2d" in batch:
            return crop.landmark_box(batch["landmarks_2d"]), np.ones(n, bool)
        if self.boxes == "ground_truth":
            raise ValueError("config.align.boxes='ground_truth' but the dataset has no landmarks_2d feature: "
                             "use 'cascade' or a CSV of boxes.")
        return detect.detect_faces(batch["image"])

    def __call__(self, batch: dict) -> tuple[np.ndarray, np.ndarray, list[str], object]:
        """``(aligned uint8 [n_ok, S, S, 3], ok [n] bool, reasons [n], registration)``."""
        boxes, found = self.face_boxes(batch)
        images = batch["image"]
        res = self.registrar.register(batch, np.where(found[:, None], boxes, _centre_box(images)))
        ok = found & (res.fit_error <= self.max_fit_error)
        reasons = ["" if o else ("no face" if not f else f"fit error {e:.3f} > {self.max_fit_error}")
                   for o, f, e in zip(ok, found, res.fit_error)]
        out = self.align(images, res)
        return out, ok, reasons, res

    def align(self, images: np.ndarray, res) -> np.ndarray:
        """Aligned uint8 frames, in padded pieces of the registrar's batch size (one compilation)."""
        bs = self.registrar.batch_size
        outs = []
        for lo in range(0, len(images), bs):
            sl = slice(lo, lo + bs)
            n = len(images[sl])

            def pad(x):
                x = np.asarray(x)
                return np.concatenate([x, np.repeat(x[:1], bs - n, 0)]) if n < bs else x

            if self.mode == "2d":
                out, mats = procrustes2d.align_2d(pad(images[sl]), pad(res.landmarks[sl, :, :2]), self.size,
                                                  self.template)
                if self.mask == "mesh":
                    out = out * procrustes2d.mesh_mask(pad(res.vertices[sl]), mats, self.size)[..., None]
            else:
                out, face = frontalize.frontalize_batch(pad(images[sl]), pad(res.vertices[sl]), pad(res.scale[sl]),
                                                        pad(res.rotation[sl]), pad(res.translation[sl]), self.target,
                                                        size=self.size, occluded_black=self.occluded_black,
                                                        sampling=self.sampling, visibility=self.visibility,
                                                        fill=self.fill)
                if self.context == "2d":
                    around, _ = procrustes2d.align_2d(pad(images[sl]), pad(res.landmarks[sl, :, :2]), self.size,
                                                      self.template)
                    out = np.where(np.asarray(face)[..., None], np.asarray(out), around)
            outs.append(np.clip(np.round(np.asarray(out)[:n]), 0, 255).astype(np.uint8))
        return np.concatenate(outs) if outs else np.zeros((0, self.size, self.size, 3), np.uint8)


def _centre_box(images):
    h, w = images.shape[1:3]
    return np.array([w * 0.25, h * 0.25, w * 0.75, h * 0.75], np.float32)
