"""Frontalisation oracle on SynthFACS: how close does an alignment of a posed frame come to the
same face seen from the front?

SynthFACS renders any frame request again at the frontal pose (:func:`frontal_request`: the same
identity, expression, lighting, background and camera scale / jitter; head yaw, pitch and roll 0),
so every test frame has a true frontal counterpart. Both alignments put faces into the same output
frame (``config.align.face_scale``), and the *target* is the true frontal render put there by the
2-D similarity of its exact landmarks onto the frontal template (:mod:`jaxau.align.procrustes2d`):
the ideal frontal aligned face, the same for both modes.

Per frame and mode (numbers per pose, :func:`evaluate`):

* **landmark error**: where the content at each true landmark of the posed frame lands in the
  output, against the target's landmark, mean over the landmarks visible in the posed frame, divided
  by the output's landmark-box side (``face_scale * N``). 2-D: the alignment's similarity applied to
  the true landmark; 3-D: the true landmark's image position expressed in the registered mesh
  (the triangle of the front surface under it, at 2x the frame's resolution) and carried to the
  output with the mesh (the frontalisation's own warp).
* **photometric error**: mean absolute RGB difference (0-255) between the output and the target
  over the target's landmark hull, on pixels both show (non-black); ``coverage`` is the share of
  the hull the output shows.
* **photometric error by region** (:data:`REGIONS`): the same inside the hull of the target's
  brow and eye landmarks, its nose landmarks and its mouth landmarks, where the AUs act: where on
  the face an alignment departs from the truth.

Each is reported for the network's registration and for the exact one (true mesh / landmarks), so
the alignment's geometry and the network's errors can be told apart.
"""

from __future__ import annotations

import numpy as np

from jaxau import geometry
from jaxau.align import canonical, crop, frontalize, procrustes2d, registrar as register
from jaxau.face import synth

# The frame's resolution is multiplied by this when locating landmarks on the registered mesh.
LOCATE_UPSAMPLE = 2
# iBUG-68 landmark groups whose hulls give the regional photometric errors.
REGIONS = {"brows_eyes": tuple(range(17, 27)) + tuple(range(36, 48)), "nose": tuple(range(27, 36)),
           "mouth": tuple(range(48, 68))}


def synth_config(data_name: str):
    """The :class:`jaxau.face.synth.SynthConfig` of a ``synthfacs/<config>`` dataset name, else None."""
    name = str(data_name)
    if not name.startswith("synthfacs/"):
        return None
    return synth.get_config(name.split("/", 1)[1])


def frontal_request(config, request: dict) -> dict:
    """The same frame request at the frontal pose.

    The camera keeps the frame's scale and its random shift; the translation is what
    :func:`jaxau.face.synth.camera` computes for yaw = pitch = roll = 0, so the result equals a
    direct request at pose 0 with the same random draws.
    """
    scene = dict(request["scene"])
    r, s, t = (np.asarray(scene[k], np.float64) for k in ("rotation", "scale", "translation"))
    size = config.image_size
    c = r @ np.array([0.0, config.face_centre_y, 0.0])
    shift = t - np.array([size / 2 - s * c[0], size / 2 + s * c[1]])
    c0 = np.array([0.0, config.face_centre_y, 0.0])
    scene["rotation"] = np.eye(3, dtype=np.float32)
    scene["translation"] = (np.array([size / 2 - s * c0[0], size / 2 + s * c0[1]]) + shift).astype(np.float32)
    pose_id, _, _ = request["pose"]
    return {**request, "scene": scene, "pose": (pose_id, 0.0, 0.0)}


def requests_by_key(config, split: str) -> dict:
    """``{(sequence, frame): request}`` for every frame of a split (no rendering)."""
    out = {}
    for idx in range(config.subjects.get(split, 0)):
        for fr in synth.subject_frames(config, split, idx):
            out[(fr["sequence"], int(fr["frame"]))] = fr
    return out


def _hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    import cv2

    hull = cv2.convexHull(np.asarray(points, np.float32))[:, 0]
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull - 0.5).astype(np.int32), 1)
    return mask.astype(bool)


def locate_on_mesh(vertices: np.ndarray, points: np.ndarray, height: int, width: int):
    """Front-surface triangle and barycentrics of image points ``[B, K, 2]`` on meshes ``[B, Vm, 3]``.

    Returns ``(corners [B, K, 3] registration-vertex ids, bary [B, K, 3], hit [B, K] bool)``.
    """
    import jax
    import jax.numpy as jnp


    up = LOCATE_UPSAMPLE
    tris = jnp.asarray(canonical.registration_mesh().triangles)

    @jax.jit
    def frags(v):
        return jax.vmap(lambda x: geometry.rasterize(x * jnp.asarray([up, up, 1.0]), tris, height * up,
                                                     width * up))(v)

    f = jax.tree.map(np.asarray, frags(jnp.asarray(vertices, jnp.float32)))
    col = np.clip(np.floor(points[..., 0] * up).astype(int), 0, width * up - 1)
    row = np.clip(np.floor(points[..., 1] * up).astype(int), 0, height * up - 1)
    b = np.arange(len(points))[:, None]
    tid = f.triangle_id[b, row, col]
    hit = f.mask[b, row, col]
    corners = np.asarray(canonical.registration_mesh().triangles)[np.maximum(tid, 0)]
    return corners, f.barycentric[b, row, col], hit


def visible_landmarks(vertices_full: np.ndarray, height: int, width: int, tolerance: float = 0.03) -> np.ndarray:
    """``[B, 68]`` bool: true landmarks not hidden by the true mesh (exact asset vertices, image space)."""
    import jax
    import jax.numpy as jnp


    m = canonical.registration_mesh()
    v = m.from_asset(vertices_full)
    tris = jnp.asarray(m.triangles)

    @jax.jit
    def vis(x):
        s = jax.vmap(lambda y: register.fit_pose(y)[0])(x)
        tol = tolerance * s * register.template_size()
        return jax.vmap(lambda y, t: frontalize.vertex_visibility(y, tris, height, width, t))(x, tol)

    return np.asarray(vis(jnp.asarray(v)))[:, m.landmarks] > 0.5


def _photometric(out: np.ndarray, target: np.ndarray, hull: np.ndarray) -> tuple[float, float]:
    shown = out.sum(-1) > 0
    both = hull & shown & (target.sum(-1) > 0)
    mae = float(np.abs(out.astype(np.float64) - target)[both].mean()) if both.any() else float("nan")
    return mae, float((hull & shown).sum() / max(hull.sum(), 1))


def region_errors(aligned: np.ndarray, target: np.ndarray, target_lm: np.ndarray) -> dict:
    """Photometric error (:func:`_photometric`) of each output against its target inside each
    :data:`REGIONS` hull of the target's landmarks.

    Args:
      aligned, target: ``[B, N, N, 3]`` outputs and targets (0-255).
      target_lm: ``[B, 68, 2]`` the targets' landmarks.

    Returns:
      ``{f"photometric_mae_{region}": [B] mean absolute RGB difference}`` (NaN where the output shows
      none of the region).
    """
    size = aligned.shape[1]
    return {f"photometric_mae_{name}": np.asarray(
        [_photometric(a, t, _hull_mask(np.asarray(tl)[list(idx)], size))[0]
         for a, t, tl in zip(aligned, target, target_lm)]) for name, idx in REGIONS.items()}


def evaluate(aligner, batch: dict, config, split: str = "test") -> dict:
    """Oracle numbers of one alignment mode on a batch of SynthFACS frames.

    Args:
      aligner: :class:`jaxau.stages.register.Aligner` (its mode, size, face scale and registrar).
      batch: frames with ``image``, ``sequence``, ``frame``, ``pose_id`` (one split).
      config: the dataset's :class:`jaxau.face.synth.SynthConfig`.
      split: the split the frames come from.

    Returns:
      ``{"poses": {pose_id: {metric: mean}}, "all": {metric: mean}, "frames": n}`` with metrics
      ``landmark_error``, ``landmark_error_exact``, ``photometric_mae``, ``photometric_mae_exact``,
      ``coverage``, ``coverage_exact`` and ``photometric_mae_<region>[_exact]`` (:func:`region_errors`).
    """
    import jax.numpy as jnp


    requests = requests_by_key(config, split)
    reqs = [requests[(str(s), int(f))] for s, f in zip(batch["sequence"], batch["frame"])]
    posed = synth.render_frames(config, reqs)
    frontal = synth.render_frames(config, [frontal_request(config, r) for r in reqs])
    images = np.asarray(batch["image"])
    h, w = images.shape[1:3]
    size = aligner.size
    m = canonical.registration_mesh()
    true_lm = np.stack([p["landmarks_2d"] for p in posed]).astype(np.float32)
    true_v = np.stack([p["vertices"] for p in posed]).astype(np.float32)
    visible = visible_landmarks(true_v, h, w)
    # The target: the true frontal render, 2-D aligned on its exact landmarks.
    tmpl = procrustes2d.template(size, aligner.face_scale)
    f_lm = np.stack([f["landmarks_2d"] for f in frontal]).astype(np.float32)
    f_img = np.stack([f["image"] for f in frontal])
    target, f_mats = procrustes2d.align_2d(f_img, f_lm, size, tmpl)
    target_lm = np.einsum("bij,bkj->bki", f_mats[:, :, :2], f_lm) + f_mats[:, None, :, 2]

    # An exact registrar takes the true meshes; the network's registrar the face boxes.
    res = aligner.registrar.register({"image": images, "vertices": true_v}, _boxes(batch, true_lm))
    exact_v = m.from_asset(true_v)
    out = {}
    variants = (("", res.vertices, res.landmarks[..., :2]), ("_exact", exact_v, exact_v[:, m.landmarks, :2]))
    for tag, verts, lms in variants:
        if aligner.mode == "2d":
            aligned, mats = procrustes2d.align_2d(images, lms, size, aligner.template)
            if aligner.mask == "mesh":
                aligned = aligned * procrustes2d.mesh_mask(verts, mats, size)[..., None]
            moved = np.einsum("bij,bkj->bki", mats[:, :, :2], true_lm) + mats[:, None, :, 2]
        else:
            s, r, t, _ = (np.asarray(x) for x in _fit(verts))
            aligned, _ = frontalize.frontalize_batch(images, jnp.asarray(verts), jnp.asarray(s), jnp.asarray(r),
                                                     jnp.asarray(t), jnp.asarray(aligner.target), size=size,
                                                     occluded_black=aligner.occluded_black,
                                                     sampling=aligner.sampling, visibility=aligner.visibility,
                                                     fill=aligner.fill)
            aligned = np.asarray(aligned)
            out_scale, out_t = frontalize.output_placement(size, aligner.face_scale)
            placed = np.asarray(_place(jnp.asarray(verts), jnp.asarray(s), jnp.asarray(r), jnp.asarray(t),
                                       jnp.asarray(aligner.target), jnp.float32(out_scale), jnp.asarray(out_t)))
            corners, bary, hit = locate_on_mesh(verts, true_lm, h, w)
            b = np.arange(len(verts))[:, None, None]
            moved = np.einsum("bkc,bkcd->bkd", bary, placed[b, corners, :2])
            moved = np.where(hit[..., None], moved, np.nan)
        err = np.linalg.norm(moved - target_lm, axis=-1) / (aligner.face_scale * size)
        err = np.where(visible, err, np.nan)
        out[f"landmark_error{tag}"] = np.nanmean(err, 1)
        aligned = np.clip(np.round(aligned), 0, 255)
        pm = [_photometric(a, t, _hull_mask(tl, size)) for a, t, tl in zip(aligned, target, target_lm)]
        out[f"photometric_mae{tag}"] = np.asarray([p[0] for p in pm])
        out[f"coverage{tag}"] = np.asarray([p[1] for p in pm])
        out.update({k + tag: v for k, v in region_errors(aligned, target, target_lm).items()})
    pose = np.asarray(batch["pose_id"])
    summary = {"poses": {}, "all": {k: float(np.nanmean(v)) for k, v in out.items()}, "frames": int(len(pose))}
    for p in np.unique(pose):
        sel = pose == p
        summary["poses"][str(int(p))] = {**{k: float(np.nanmean(v[sel])) for k, v in out.items()},
                                        "frames": int(sel.sum())}
    return summary


def _place(verts, s, r, t, target, out_scale, out_t):
    import jax


    fn = jax.vmap(frontalize.place, in_axes=(0, 0, 0, 0, None, None, None))
    return jax.jit(fn)(verts, s, r, t, target, out_scale, out_t)


def _fit(verts):
    import jax
    import jax.numpy as jnp


    return jax.jit(jax.vmap(register.fit_pose))(jnp.asarray(verts, jnp.float32))


def _boxes(batch: dict, true_lm: np.ndarray) -> np.ndarray:

    return crop.landmark_box(batch.get("landmarks_2d", true_lm))
