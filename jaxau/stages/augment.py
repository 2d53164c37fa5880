"""Stage ``augment``: the synthetic set rotated into head poses and 2-D normalised (Fig. 5 scenario c).

Paper Sec. 4.6 (c): the 3-D registered synthetic images are lifted onto the mesh, rotated into the
nine FERA 2017 views, ``per_level`` images per (AU, level, pose) are kept, and the estimator trained
on them is tested on 2-D aligned real frames. Here (:mod:`jaxau.align.pose_augment`): every
synthetic image of the ``synthesis`` input is lifted onto the canonical registration mesh, rotated
to each pose of ``config.augment.poses``, and normalised with the same 68-landmark Procrustes onto
the ``config.align2d`` template (at ``config.align.face_scale``) that the ``register_2d`` stage applies to real frames (using the
rotated mesh's exact landmark projections), at ``config.data.image_size``.

Selection per pose reuses the synthesis plan's bookkeeping: the cell of a synthetic image is its
``(target_au, target_level)``, and each non-empty cell gets exactly ``per_level`` images
(:func:`jaxau.data.balance.balance_plan`: without replacement when the cell has enough, else every
image repeated plus distinct extras), seeded by ``(config.seed, pose id)``.

Output: ``train.npz`` (a frame set: labels, subject, sequence, frame of the synthetic source,
``pose_id`` the pose id, ``target_au`` / ``target_level`` of the cell, ``synthetic_index`` into
``synthetic.npz``), ``preview_augment.png`` (one row per pose), ``augment.json``. Each pose is
written atomically to ``chunks/pose-<id>.npz`` and reused on a re-run when its selection is
unchanged, so an interrupted stage resumes at the first unfinished pose.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from jaxau import io_utils
from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage

# Defaults of ``config.augment`` (the paper: all nine FERA 2017 views, 500 per AU, level and pose).
DEFAULTS = {"poses": "", "per_level": 500, "batch_size": 64}
PREVIEW_COLUMNS = 6


def settings(config) -> dict:
    """``config.augment`` over ``DEFAULTS``; unknown fields are an error naming the known ones."""
    section = dict(config.get("augment", None) or {})
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"config.augment has unknown fields {unknown}; known: {sorted(DEFAULTS)}.")
    out = {**DEFAULTS, **section}
    for key in ("per_level", "batch_size"):
        if int(out[key]) < 1:
            raise ValueError(f"config.augment.{key}={out[key]} must be a positive integer.")
    return out


def parse_poses(spec) -> list[tuple[int, float, float]]:
    """``config.augment.poses``: '' -> the nine FERA 2017 views; else 'id:yaw:pitch,...' (degrees)."""
    from jaxau.face.synth import FERA_POSES

    if spec is None or str(spec).strip() == "":
        return [(int(i), float(y), float(p)) for i, y, p in FERA_POSES]
    poses = []
    for item in str(spec).replace(" ", "").split(","):
        if not item:
            continue
        parts = item.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            poses.append((int(parts[0]), float(parts[1]), float(parts[2])))
        except ValueError:
            raise ValueError(f"config.augment.poses: {item!r} must be 'id:yaw:pitch' with degrees, e.g. "
                             "'3:-40:0,4:0:0,5:40:0'; '' means the nine FERA 2017 views.") from None
    ids = [p[0] for p in poses]
    if not poses or len(set(ids)) != len(ids):
        raise ValueError(f"config.augment.poses={spec!r}: give at least one pose and each id once.")
    return poses


def _template(config, size: int) -> np.ndarray:
    """The 2-D normalisation template, exactly as the ``register_2d`` stage builds it."""
    from jaxau.align import procrustes2d
    from jaxau.align.pose_augment import pose_rotation_deg
    from jaxau.stages.register import face_scale, parse_pose

    pose = parse_pose(config.align2d.get("pose", ""))
    rot = None if pose is None else pose_rotation_deg(*pose)
    return procrustes2d.template(size, face_scale(config), rot)


def select(synthetic: frames_lib.FrameSet, per_level: int, seed: int, pose_id: int) -> np.ndarray:
    """Indices into ``synthetic``: ``per_level`` per non-empty (target AU, target level) cell, in
    (AU, level) order; the draw of each cell is seeded by ``(seed, pose_id, AU, level)``."""
    from jaxau.data import balance

    target_au, target_level = synthetic["target_au"], synthetic["target_level"]
    k_count = len(synthetic["au_names"])
    # One column per AU holding the level of the images synthesised for it (-1 elsewhere): the
    # balancing plan over these columns is exactly a per-cell draw over the synthesis plan's cells.
    cells = np.full((len(target_au), k_count), -1, np.int64)
    ok = target_au >= 0
    cells[np.flatnonzero(ok), target_au[ok]] = target_level[ok]
    pose_seed = int(np.random.SeedSequence([int(seed), int(pose_id)]).generate_state(1)[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Empty cells are expected (the synthesis skipped them too).
        plan = balance.balance_plan(cells, per_level, seed=pose_seed, shuffle=False)
    return plan.flat_indices.astype(np.int64)


def _render(images: np.ndarray, lift, pose, batch_size: int) -> np.ndarray:
    """uint8 renders of ``images`` at ``pose``, in fixed-size batches (one compilation)."""
    from jaxau.align import pose_augment

    out = []
    for lo in range(0, len(images), batch_size):
        chunk = images[lo:lo + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], chunk.dtype)])
        r = np.asarray(pose_augment.augment_batch(chunk, lift, pose))[:n]
        out.append(np.clip(np.round(r), 0, 255).astype(np.uint8))
    size = pose.size
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def augment_set(synthetic: frames_lib.FrameSet, out_dir: str, *, poses, per_level: int, seed: int,
                size: int, template: np.ndarray | None, batch_size: int = 64,
                face_scale: float = 0.8) -> tuple[frames_lib.FrameSet, dict]:
    """Poses x balanced selection x re-rendering; per-pose chunks in ``out_dir/chunks`` (resumable).

    Args:
      synthetic: frontal 3-D registered frame set with ``target_au`` / ``target_level``.
      out_dir: where ``chunks/`` go.
      poses: ``[(id, yaw_deg, pitch_deg), ...]``.
      per_level: images per (AU, level) cell and pose.
      seed: selection seed.
      size: output side.
      template: ``[68, 2]`` 2-D normalisation template at ``size`` (None: no normalisation).
      batch_size: images per jitted call.

    Returns:
      ``(frame set, record)``; the record has ``images_per_second`` over the poses rendered now.
    """
    from jaxau.align import pose_augment

    s_in = synthetic["image"].shape[1]
    lift = pose_augment.lifting(s_in, face_scale)
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    parts, rendered, seconds = [], 0, 0.0
    for pose_id, yaw, pitch in poses:
        idx = select(synthetic, per_level, seed, pose_id)
        path = os.path.join(out_dir, "chunks", f"pose-{pose_id}.npz")
        if os.path.exists(path):
            with np.load(path) as z:
                if np.array_equal(z["synthetic_index"], idx):
                    parts.append((pose_id, idx, z["image"]))
                    continue
            logging.warning("augment: %s holds another selection; re-rendering it.", path)
        t0 = time.perf_counter()
        geom = pose_augment.pose_geometry(pose_augment.pose_rotation_deg(yaw, pitch), size, template)
        images = _render(synthetic["image"][idx], lift, geom, batch_size)
        seconds += time.perf_counter() - t0
        rendered += len(idx)
        io_utils.savez(path, image=images, synthetic_index=idx)
        logging.info("augment: pose %d (yaw %g, pitch %g): %d images", pose_id, yaw, pitch, len(idx))
        parts.append((pose_id, idx, images))
    idx = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    frames = {"image": np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, size, size, 3), np.uint8),
              "au_intensity": synthetic["au_intensity"][idx].astype(np.int32),
              "subject": np.asarray(synthetic["subject"])[idx], "sequence": np.asarray(synthetic["sequence"])[idx],
              "frame": np.asarray(synthetic["frame"])[idx].astype(np.int32),
              "pose_id": np.concatenate([np.full(len(p[1]), p[0], np.int32) for p in parts]) if parts
              else np.zeros(0, np.int32),
              "au_names": np.asarray([str(a) for a in synthetic["au_names"]]),
              "target_au": synthetic["target_au"][idx].astype(np.int32),
              "target_level": synthetic["target_level"][idx].astype(np.int32),
              "synthetic_index": idx.astype(np.int32)}
    frames_lib.validate(frames, f"pose-augmented set in {out_dir}")
    record = {"num_images": int(len(idx)), "poses": [int(p[0]) for p in poses], "per_level": int(per_level),
              "images_rendered": int(rendered), "seconds": seconds,
              "images_per_second": rendered / seconds if rendered else None}
    return frames, record


def write_preview(path: str, synthetic: frames_lib.FrameSet, poses, size: int, template,
                  batch_size: int = PREVIEW_COLUMNS, face_scale: float = 0.8) -> None:
    """One row per pose: the highest-level image of the first few AUs (same images in every row),
    after a first row of their frontal sources."""
    import cv2

    from jaxau.align import pose_augment, preview

    picks, labels = [], []
    levels = "0ABCDE"
    for k, name in enumerate(synthetic["au_names"]):
        hit = np.flatnonzero(synthetic["target_au"] == k)
        if len(hit):
            best = hit[np.argmax(synthetic["target_level"][hit])]
            picks.append(best)
            labels.append(f"{name} {levels[synthetic['target_level'][best]]}")
        if len(picks) == PREVIEW_COLUMNS:
            break
    if not picks:
        return
    lift = pose_augment.lifting(synthetic["image"].shape[1], face_scale)
    src = synthetic["image"][np.asarray(picks)]
    tile = 128

    def tag(im, text):
        im = cv2.resize(np.asarray(im, np.uint8), (tile, tile), interpolation=cv2.INTER_LINEAR)
        cv2.putText(im, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        return im

    rows = [[tag(src[0], "frontal")] + [tag(im, "") for im in src[1:]]]
    for pose_id, yaw, pitch in poses:
        geom = pose_augment.pose_geometry(pose_augment.pose_rotation_deg(yaw, pitch), size, template)
        out = _render(src, lift, geom, batch_size)
        rows.append([tag(out[0], f"pose {pose_id} ({yaw:g},{pitch:g})")] + [tag(im, "") for im in out[1:]])
    preview.write_sheet(path, rows, labels, tile=tile)


def run(config, stage_dir: str, inputs) -> dict:
    """The stage: ``inputs['synthesis']`` (``synthetic.npz``) -> ``train.npz`` + preview + record."""
    from jaxau.stages.register import face_scale

    s = settings(config)
    poses = parse_poses(s["poses"])
    path = os.path.join(inputs["synthesis"], "synthetic.npz")
    synthetic = frames_lib.load(path)
    missing = [f for f in ("target_au", "target_level") if f not in synthetic]
    if missing:
        raise ValueError(f"{path}: no {missing} fields; the augment stage balances over the synthesis "
                         "plan's (target AU, level) cells: use the synthesis stage's synthetic.npz.")
    # Rows made for an AU outside config.data.aus get target_au -1 and are never selected.
    synthetic = frames_lib.with_aus(synthetic, frames_stage.aus(config))
    size = int(config.data.image_size)
    template = _template(config, size)
    frames, record = augment_set(synthetic, stage_dir, poses=poses, per_level=int(s["per_level"]),
                                 seed=int(config.seed), size=size, template=template,
                                 batch_size=int(s["batch_size"]), face_scale=face_scale(config))
    frames_lib.save(frames_stage.split_path(stage_dir, "train"), frames)
    write_preview(os.path.join(stage_dir, "preview_augment.png"), synthetic, poses, size, template,
                  int(s["batch_size"]), face_scale(config))
    record["pose_angles"] = [[int(i), y, p] for i, y, p in poses]
    io_utils.write_json(os.path.join(stage_dir, "augment.json"), record)
    return {k: record[k] for k in ("num_images", "poses", "images_per_second")}
