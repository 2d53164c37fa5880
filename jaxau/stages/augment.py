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

Output: ``train.frames`` (a frame set: labels, subject, sequence, frame of the synthetic source,
``pose_id`` the pose id, ``target_au`` / ``target_level`` of the cell, ``synthetic_index`` into
``synthetic.frames``), ``preview_augment.png`` (one row per pose), ``augment.json``. Each pose is
written atomically to ``chunks/pose-<id>.npz`` and reused on a re-run when its selection is
unchanged, so an interrupted stage resumes at the first unfinished pose. In a multi-host run the
processes share the poses (`jaxau.hosts`) and process 0 writes the outputs.
"""

from __future__ import annotations

import os

import numpy as np

from jaxau import hosts, io_utils
from jaxau.align import pose_augment, procrustes2d
from jaxau.align import aligner as aligner_lib
from jaxau.align.aligner import parse_pose
from jaxau.align.pose_augment import pose_rotation_deg
from jaxau.data import frames as frames_lib
from jaxau.face.synth import FERA_POSES
from jaxau.stages import frames as frames_stage

# Defaults of ``config.augment`` (the paper: all nine FERA 2017 views, 500 per AU, level and pose).
DEFAULTS = {"poses": "", "per_level": 500, "batch_size": 64}


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
    pose = parse_pose(config.align2d.get("pose", ""))
    rot = None if pose is None else pose_rotation_deg(*pose)
    return procrustes2d.template(size, aligner_lib.face_scale(config), rot)


def run(config, stage_dir: str, inputs) -> dict:
    """The stage: ``inputs['synthesis']`` (``synthetic.frames``) -> ``train.frames`` + preview + record."""
    s = settings(config)
    poses = parse_poses(s["poses"])
    path = os.path.join(inputs["synthesis"], "synthetic.frames")
    synthetic = frames_lib.load(path)
    missing = [f for f in ("target_au", "target_level") if f not in synthetic]
    if missing:
        raise ValueError(f"{path}: no {missing} fields; the augment stage balances over the synthesis "
                         "plan's (target AU, level) cells: use the synthesis stage's synthetic.frames.")
    # Rows made for an AU outside config.data.aus get target_au -1 and are never selected.
    synthetic = frames_lib.with_aus(synthetic, frames_stage.aus(config))
    size = int(config.data.image_size)
    template = _template(config, size)
    frames, record = pose_augment.augment_set(synthetic, stage_dir, poses=poses, per_level=int(s["per_level"]),
                                              seed=int(config.seed), size=size, template=template,
                                              batch_size=int(s["batch_size"]),
                                              face_scale=aligner_lib.face_scale(config))
    if not hosts.active().leader:  # Multi-host: every pose is done; process 0 writes the files.
        return {}
    frames_lib.save(frames_stage.split_path(stage_dir, "train"), frames)
    pose_augment.write_preview(os.path.join(stage_dir, "preview_augment.png"), synthetic, poses, size,
                               template, int(s["batch_size"]), aligner_lib.face_scale(config))
    record["pose_angles"] = [[int(i), y, p] for i, y, p in poses]
    io_utils.write_json(os.path.join(stage_dir, "augment.json"), record)
    return {k: record[k] for k in ("num_images", "poses", "images_per_second")}
