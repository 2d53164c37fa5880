"""Stages ``register_2d`` / ``register_3d``: registered derived datasets (issue #6, item 5).

For every split of ``config.data.name``: face boxes (ground truth where the dataset has landmarks,
else the Haar cascade, or a user CSV via ``config.align.boxes``) -> registration
(:class:`jaxau.align.register.Registrar`, model from the ``registration`` stage) -> 2-D Procrustes
alignment or 3-D frontalization at ``config.data.image_size``. Labels, subject, sequence, frame and
pose are kept; AU columns are ``config.data.aus``.

Output: ``<stage_dir>/{train,validation,test}.npz`` frame sets (`jaxau.data.frames`),
``failures.json`` (per split: count and the frames that failed -- no face box, or a registration
whose fit error exceeds ``config.align.max_fit_error`` -- never silently dropped) and
``preview_2d.png`` / ``preview_3d.png``, and on SynthFACS data ``oracle.json``: the frontalisation
oracle (:mod:`jaxau.align.oracle`) on the first ``config.align.oracle_frames`` test frames. Work is
written per chunk (``chunks/<split>-<k>.npz``, atomic), so an interrupted stage resumes at the first
unfinished chunk.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from jaxau import io_utils
from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage

SPLITS = ("train", "validation", "test")
FRAME_FIELDS = ("image", "au_intensity", "subject", "sequence", "frame", "pose_id")


def face_scale(config) -> float:
    """``config.align.face_scale``: the landmark box's mean side / output side, for 2-D and 3-D alike."""
    from jaxau.align import canonical

    if "template_scale" in config.get("align2d", {}):
        raise ValueError("config.align2d.template_scale is gone: set config.align.face_scale (one face "
                         "scale for the 2-D and 3-D alignments).")
    return float(config.align.get("face_scale", canonical.FACE_SCALE))


def parse_pose(spec) -> tuple[float, float, float] | None:
    """'' -> None (frontal); 'yaw,pitch[,roll]' degrees -> tuple."""
    if spec is None or str(spec).strip() == "":
        return None
    vals = [float(v) for v in str(spec).replace(",", " ").split()]
    if len(vals) not in (2, 3):
        raise ValueError(f"pose {spec!r} must be 'yaw,pitch' or 'yaw,pitch,roll' in degrees.")
    return tuple(vals + [0.0] * (3 - len(vals)))


class Aligner:
    """Registration + one alignment mode, applied chunk by chunk."""

    def __init__(self, config, mode: str, model_dir: str):
        from jaxau.align import register

        self.mode = mode
        self.size = int(config.data.image_size)
        align = config.align
        self.registrar = register.Registrar(model_dir, batch_size=int(align.get("batch_size", 16)))
        self.max_fit_error = float(align.get("max_fit_error", 0.15))
        self.face_scale = face_scale(config)
        self.boxes = str(align.get("boxes", "auto") or "auto")
        self.csv = None
        if self.boxes not in ("auto", "ground_truth", "cascade"):
            from jaxau.align import detect

            self.csv = detect.read_box_csv(self.boxes)
        if mode == "2d":
            from jaxau.align import procrustes2d

            pose = parse_pose(config.align2d.get("pose", ""))
            rot = None if pose is None else np.asarray(register.pose_rotation(*np.deg2rad(pose)))
            self.template = procrustes2d.template(self.size, self.face_scale, rot)
        else:
            pose = parse_pose(config.align3d.get("pose", ""))
            self.target = (np.eye(3, dtype=np.float32) if pose is None
                           else np.asarray(register.pose_rotation(*np.deg2rad(pose)), np.float32))
            self.occluded_black = bool(config.align3d.occluded_black)

    def face_boxes(self, batch: dict) -> tuple[np.ndarray, np.ndarray]:
        from jaxau.align import crop, detect

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
        res = self.registrar(images, np.where(found[:, None], boxes, _centre_box(images)))
        ok = found & (res.fit_error <= self.max_fit_error)
        reasons = ["" if o else ("no face" if not f else f"fit error {e:.3f} > {self.max_fit_error}")
                   for o, f, e in zip(ok, found, res.fit_error)]
        out = self.align(images, res)
        return out, ok, reasons, res

    def align(self, images: np.ndarray, res) -> np.ndarray:
        """Aligned uint8 frames, in padded pieces of the registrar's batch size (one compilation)."""
        from jaxau.align import frontalize, procrustes2d

        bs = self.registrar.batch_size
        outs = []
        for lo in range(0, len(images), bs):
            sl = slice(lo, lo + bs)
            n = len(images[sl])

            def pad(x):
                x = np.asarray(x)
                return np.concatenate([x, np.repeat(x[:1], bs - n, 0)]) if n < bs else x

            if self.mode == "2d":
                out, _ = procrustes2d.align_2d(pad(images[sl]), pad(res.landmarks[sl, :, :2]), self.size,
                                               self.template)
            else:
                out, _ = frontalize.frontalize_batch(pad(images[sl]), pad(res.vertices[sl]), pad(res.scale[sl]),
                                                     pad(res.rotation[sl]), pad(res.translation[sl]), self.target,
                                                     size=self.size, occluded_black=self.occluded_black)
            outs.append(np.clip(np.round(np.asarray(out)[:n]), 0, 255).astype(np.uint8))
        return np.concatenate(outs) if outs else np.zeros((0, self.size, self.size, 3), np.uint8)


def _centre_box(images):
    h, w = images.shape[1:3]
    return np.array([w * 0.25, h * 0.25, w * 0.75, h * 0.75], np.float32)


def _iterate(config, directory: str, split: str, chunk: int):
    """Yields numpy chunks of a split (image, labels, ids, landmarks_2d when present)."""
    import tensorflow as tf

    from jaxau.data import registry

    builder = registry.builder(config.data.name, data_dir=directory)
    feats = builder.info.features
    has_lm = "landmarks_2d" in feats
    au_names = list(builder.info.metadata["au_names"]) if builder.info.metadata else []

    def prep(ex):
        out = {"image": ex["image"], "au_intensity": tf.cast(ex["au_intensity"], tf.int32),
               "subject": ex["subject"], "sequence": ex["sequence"], "frame": tf.cast(ex["frame"], tf.int32),
               "pose_id": tf.cast(ex["pose"]["id"], tf.int32)}
        if has_lm:
            out["landmarks_2d"] = ex["landmarks_2d"]
        return out

    ds = builder.as_dataset(split=split, shuffle_files=False).map(prep).batch(chunk)
    for b in ds.as_numpy_iterator():
        for k in ("subject", "sequence"):
            b[k] = np.asarray([s.decode() for s in b[k]])
        yield b, au_names
    return


def _num_examples(config, directory, split) -> int:
    from jaxau.data import registry

    info = registry.builder(config.data.name, data_dir=directory).info
    return int(info.splits[split].num_examples) if split in info.splits else 0


def register_split(config, directory: str, stage_dir: str, split: str, aligner: Aligner, chunk: int) -> dict:
    """Registers one split chunk by chunk (resumable); writes ``<split>.npz``; returns its failures."""
    total = _num_examples(config, directory, split)
    if total == 0:
        return {"count": 0, "frames": [], "total": 0}
    n_chunks = -(-total // chunk)
    chunk_dir = os.path.join(stage_dir, "chunks")
    os.makedirs(chunk_dir, exist_ok=True)
    aus = frames_stage.aus(config)
    done = 0
    start = time.time()
    for k, (batch, au_names) in enumerate(_iterate(config, directory, split, chunk)):
        path = os.path.join(chunk_dir, f"{split}-{k:05d}.npz")
        if os.path.exists(path):
            continue
        aligned, ok, reasons, _ = aligner(batch)
        fs = {"image": aligned[ok], **{f: batch[f][ok] for f in FRAME_FIELDS[1:]},
              "au_names": np.asarray(au_names)}
        fs = frames_lib.with_aus(fs, aus)
        failed = ~ok
        io_utils.savez(path, **fs, failed_sequence=batch["sequence"][failed], failed_frame=batch["frame"][failed],
                       failed_reason=np.asarray([r for r in reasons if r]))
        done += len(ok)
        rate = done / max(time.time() - start, 1e-9)
        print(f"[register_{aligner.mode}] {split}: chunk {k + 1}/{n_chunks} ({done} new frames, "
              f"{int(failed.sum())} failed in chunk, {rate:.1f} frames/s)", flush=True)
    parts, failures = [], []
    for k in range(n_chunks):
        with np.load(os.path.join(chunk_dir, f"{split}-{k:05d}.npz"), allow_pickle=False) as z:
            parts.append({f: z[f] for f in FRAME_FIELDS + ("au_names",)})
            failures += [{"sequence": str(s), "frame": int(f), "reason": str(r)}
                         for s, f, r in zip(z["failed_sequence"], z["failed_frame"], z["failed_reason"])]
    merged = {f: np.concatenate([p[f] for p in parts]) for f in FRAME_FIELDS}
    merged["au_names"] = parts[0]["au_names"]
    if len(merged["image"]) == 0:
        raise ValueError(f"register_{aligner.mode}: every frame of split {split!r} failed ({failures[:3]} ...): "
                         "check the face boxes (config.align.boxes) and config.align.max_fit_error.")
    frames_lib.save(frames_stage.split_path(stage_dir, split), merged)
    return {"count": len(failures), "total": total, "frames": failures}


def register_dataset(config, directory: str, out_dir: str, model_dir: str, mode: str,
                     splits=SPLITS) -> dict:
    """Registers ``splits`` of ``config.data.name`` (TFDS in ``directory``) into ``out_dir``.

    Returns the summary: frames written and failed per split.
    """
    aligner = Aligner(config, mode, model_dir)
    chunk = int(config.align.get("chunk_size", 256))
    failures = {}
    for split in splits:
        failures[split] = register_split(config, directory, out_dir, split, aligner, chunk)
        if failures[split]["count"]:
            logging.warning("register_%s %s: %d of %d frames failed (listed in failures.json)", mode, split,
                            failures[split]["count"], failures[split]["total"])
    io_utils.write_json(os.path.join(out_dir, "failures.json"), failures)
    summary = {}
    if "test" in splits and failures["test"]["total"]:
        write_preview(config, directory, out_dir, aligner)
        summary.update(run_oracle(config, directory, out_dir, aligner))
    for split in splits:
        summary[f"{split}_frames"] = failures[split]["total"] - failures[split]["count"]
        summary[f"{split}_failed"] = failures[split]["count"]
    return summary


def run_oracle(config, directory: str, out_dir: str, aligner: Aligner) -> dict:
    """The frontalisation oracle (:mod:`jaxau.align.oracle`) on the first ``config.align.oracle_frames``
    test frames of a SynthFACS dataset: ``oracle.json`` and its headline numbers ({} for other data)."""
    from jaxau.align import oracle

    synth_config = oracle.synth_config(config.data.name)
    n = int(config.align.get("oracle_frames", 240))
    # The oracle's target is the frontal face: an alignment to another pose has nothing to match.
    posed = parse_pose(config.get(f"align{aligner.mode}", {}).get("pose", "")) is not None
    if synth_config is None or n <= 0 or posed:
        return {}
    start = time.time()
    batch, _ = next(_iterate(config, directory, "test", n))
    rec = oracle.evaluate(aligner, batch, synth_config, "test")
    rec["seconds"] = time.time() - start
    io_utils.write_json(os.path.join(out_dir, "oracle.json"), rec)
    keys = ("landmark_error", "landmark_error_exact", "photometric_mae", "coverage")
    return {"oracle_" + k: round(rec["all"][k], 4) for k in keys} | {
        "oracle_by_pose": {p: {k: round(v[k], 4) for k in keys} for p, v in rec["poses"].items()}}


def _run(config, stage_dir: str, inputs, mode: str) -> dict:
    from jaxau.stages import data as data_stage

    directory = data_stage.tfds_dir(config, inputs["data"])
    return register_dataset(config, directory, stage_dir, inputs["registration"], mode)


def write_preview(config, directory: str, stage_dir: str, aligner: Aligner) -> None:
    """``preview_<mode>.png``: test frames at every pose with landmarks, and their aligned outputs."""
    from jaxau.align import preview

    batch, _ = next(_iterate(config, directory, "test", 1024))
    idx = preview.one_per_pose(batch["pose_id"])
    sub = {k: v[idx] for k, v in batch.items()}
    aligned, ok, _, res = aligner(sub)
    inputs = [preview.draw_landmarks(im, lm) for im, lm in zip(sub["image"], res.landmarks)]
    labels = [f"pose {p}" + ("" if o else " FAILED") for p, o in zip(sub["pose_id"], ok)]
    preview.write_sheet(os.path.join(stage_dir, f"preview_{aligner.mode}.png"), [inputs, list(aligned)], labels)


def run_2d(config, stage_dir: str, inputs) -> dict:
    """2-D registration: 68-landmark Procrustes onto the frontal template."""
    return _run(config, stage_dir, inputs, "2d")


def run_3d(config, stage_dir: str, inputs) -> dict:
    """3-D registration: frontalized, re-rasterized mesh textured from the frame."""
    return _run(config, stage_dir, inputs, "3d")


def write_sheet(config, directory: str, path: str, model_dir: str, split: str = "test") -> str:
    """Rows: input with predicted landmarks, 2-D aligned, 3-D frontalized; one column per pose."""
    from jaxau.align import preview

    a2, a3 = Aligner(config, "2d", model_dir), Aligner(config, "3d", model_dir)
    batch, _ = next(_iterate(config, directory, split, 1024))
    idx = preview.one_per_pose(batch["pose_id"])
    sub = {k: v[idx] for k, v in batch.items()}
    out2, _, _, res = a2(sub)
    out3, _, _, _ = a3(sub)
    inputs = [preview.draw_landmarks(im, lm) for im, lm in zip(sub["image"], res.landmarks)]
    preview.write_sheet(path, [inputs, list(out2), list(out3)], [f"pose {p}" for p in sub["pose_id"]])
    return path
