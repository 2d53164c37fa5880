"""3-D pose augmentation of frontal registered faces (paper Sec. 4.6, Fig. 5 scenario c).

A 3-D registered frame (:mod:`jaxau.align.frontalize`, identity target pose) is the registration mesh
seen frontally and placed by :func:`jaxau.align.frontalize.output_placement`. Treating it as the
*canonical* mesh (:mod:`jaxau.align.canonical`) so rendered, every vertex gets a colour: a bilinear
sample of the image at the placed canonical vertex, zero for vertices hidden in that frontal view
(the same depth test as frontalization). The coloured mesh is then rotated to a head pose
(:func:`jaxau.align.registrar.pose_rotation`, the convention of ``frontalize``'s ``target_rotation``
and of SynthFACS's pose labels), optionally normalised exactly as the ``register_2d`` stage
normalises real frames (a least-squares similarity of the 68 landmarks onto the
:func:`jaxau.align.procrustes2d.template`) and rasterized.

Every image is lifted onto the *same* mesh, so the geometry of one pose -- posed vertices, landmark
projections, the 2-D similarity and the rasterization -- is shared by all images: it is computed once
per pose (:func:`pose_geometry`) and each image costs two gathers (:func:`augment_batch`). The 2-D
similarity is applied to the vertices before rasterizing rather than warping a rendered image: the
two are the same map (a similarity commutes with the orthographic projection), but this way the
image is resampled once, not twice, and nothing is cut off at the intermediate image's border.

Limits (by construction): the depth of every face is the template's (the individual's shape is not
in a frontal image); surface hidden in the frontal view (under the chin, nostrils, eye sockets) and
the eye holes of the registration mesh render black; the background is black.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import batching, geometry, hosts
from jaxau.align import canonical, crop as crop_lib, frontalize, preview, procrustes2d, registrar as register
from jaxau.align.registrar import pose_rotation
from jaxau.data import balance, frame_store, frames as frames_lib, lazy_rows

# Visibility depth tolerance as a fraction of the face size: frontalize's default.
PREVIEW_COLUMNS = 6
VISIBILITY_TOLERANCE = 0.03


@dataclasses.dataclass(frozen=True)
class Lifting:
    """How a frontal ``size`` x ``size`` image maps onto the canonical mesh.

    Attributes:
      size: side of the frontal images.
      placement: ``(out_scale, out_translation [2])`` of :func:`frontalize.output_placement`.
      vertices: ``[Vm, 3]`` the placed canonical vertices (output-image pixels).
      visible: ``[Vm]`` 1.0 where the vertex is the visible surface in the frontal render, else 0.0.
    """

    size: int
    placement: tuple
    vertices: np.ndarray
    visible: np.ndarray


@functools.partial(jax.jit, static_argnames=("size",))
def _lifting(out_scale, out_t, tolerance, *, size: int):
    m = canonical.registration_mesh()
    v = frontalize.place(jnp.asarray(m.canonical), 1.0, jnp.eye(3), jnp.zeros(3), jnp.eye(3), out_scale, out_t)
    return v, frontalize.vertex_visibility(v, jnp.asarray(m.triangles), size, size, tolerance)


@functools.lru_cache(maxsize=8)
def lifting(size: int, face_scale: float = canonical.FACE_SCALE) -> Lifting:
    """The :class:`Lifting` of ``size`` x ``size`` frontal registered images (cached; constant data),
    placed at ``face_scale`` (``config.align.face_scale``, as the register stages put them)."""
    out_scale, out_t = frontalize.output_placement(size, face_scale)
    # Jitted, not eager: op-by-op rasterization is slower than compiling it.
    v, visible = _lifting(jnp.float32(out_scale), jnp.asarray(out_t, jnp.float32),
                          jnp.float32(VISIBILITY_TOLERANCE * out_scale * register.template_size()), size=size)
    return Lifting(size, (out_scale, np.asarray(out_t, np.float32)), np.asarray(v, np.float32),
                   np.asarray(visible, np.float32))


def _lift(images, vertices, visible):
    colors = jax.vmap(lambda im: frontalize.vertex_colors(im, vertices))(images.astype(jnp.float32))
    return colors * visible[None, :, None]


def lift_colors(images, lift: Lifting):
    """Per-vertex colours ``[B, Vm, C]`` of frontal images ``[B, S, S, C]`` (0 on hidden vertices)."""
    return _lift(jnp.asarray(images), jnp.asarray(lift.vertices), jnp.asarray(lift.visible))


@dataclasses.dataclass(frozen=True)
class PoseGeometry:
    """The shared geometry of one output pose.

    Attributes:
      rotation: ``[3, 3]`` image-convention head rotation.
      posed: ``[Vm, 3]`` the rotated mesh with the frontal placement (before 2-D normalisation):
        where :func:`frontalize.place` puts a registered face for this target rotation.
      matrix: ``[2, 3]`` the 2-D normalisation (posed landmarks -> template), identity without one.
      vertices: ``[Vm, 3]`` final output-image vertices (``matrix`` applied to ``posed``).
      landmarks: ``[68, 2]`` final landmark positions in the output image.
      fragments: rasterization of ``vertices`` at ``size`` x ``size``.
      size: output side.
    """

    rotation: np.ndarray
    posed: np.ndarray
    matrix: np.ndarray
    vertices: np.ndarray
    landmarks: np.ndarray
    fragments: geometry.Fragments
    size: int


def pose_rotation_deg(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Image-convention rotation of head angles in degrees (SynthFACS / FERA pose-label convention)."""
    with jax.ensure_compile_time_eval():
        r = pose_rotation(*np.deg2rad([yaw, pitch, roll]))
    return np.asarray(r, np.float32)


@functools.partial(jax.jit, static_argnames=("size", "normalize"))
def _pose_geometry(rotation, template, out_scale, out_t, *, size: int, normalize: bool):
    m = canonical.registration_mesh()
    posed = frontalize.place(jnp.asarray(m.canonical), 1.0, jnp.eye(3), jnp.zeros(3), rotation, out_scale, out_t)
    if normalize:
        mat = procrustes2d.alignment_matrix(posed[jnp.asarray(m.landmarks), :2], template)
    else:
        mat = jnp.eye(2, 3, dtype=jnp.float32)
    final = crop_lib.apply(mat, posed)
    frags = geometry.rasterize(final, jnp.asarray(m.triangles), size, size)
    return posed, mat, final, frags


def pose_geometry(rotation, size: int, template=None, placement=None) -> PoseGeometry:
    """The geometry of one pose, shared by every image rendered at it.

    Args:
      rotation: ``[3, 3]`` image-convention rotation (:func:`pose_rotation_deg`).
      size: output side N.
      template: ``[68, 2]`` 2-D normalisation template in the N x N output
        (:func:`jaxau.align.procrustes2d.template`, what ``register_2d`` uses); None renders the
        rotated mesh with the frontal placement instead (no normalisation).
      placement: ``(out_scale, out_translation)`` of the rotated mesh before normalisation; default
        :func:`frontalize.output_placement` (size). With a template the result does not depend on it.

    Returns:
      A :class:`PoseGeometry`.
    """
    out_scale, out_t = frontalize.output_placement(size) if placement is None else placement
    normalize = template is not None
    tmpl = jnp.zeros((68, 2), jnp.float32) if template is None else jnp.asarray(template, jnp.float32)
    if tmpl.shape != (68, 2):
        raise ValueError(f"pose_geometry: template must be [68, 2] landmark positions, got {tmpl.shape}.")
    posed, mat, final, frags = _pose_geometry(jnp.asarray(rotation, jnp.float32), tmpl, jnp.float32(out_scale),
                                              jnp.asarray(out_t, jnp.float32), size=size, normalize=normalize)
    lm = canonical.registration_mesh().landmarks
    final = np.asarray(final)
    return PoseGeometry(np.asarray(rotation, np.float32), np.asarray(posed), np.asarray(mat), final,
                        final[lm, :2], jax.tree.map(np.asarray, frags), size)


@jax.jit
def _render(images, lift_vertices, visible, triangles, triangle_id, barycentric, mask):
    colors = _lift(images, lift_vertices, visible)
    frags = geometry.Fragments(triangle_id, barycentric, jnp.zeros(mask.shape, jnp.float32), mask)
    # The fragments are shared: only the colours vary per image, so the batch is two gathers.
    out = jax.vmap(lambda c: geometry.interpolate(c, triangles, frags))(colors)
    return jnp.where(mask[None, ..., None], out, 0.0)


def augment_batch(images, lift: Lifting, pose: PoseGeometry) -> jax.Array:
    """Re-renders frontal registered images at a pose.

    Args:
      images: ``[B, S, S, 3]`` frontal 3-D registered images (uint8 or float), ``S == lift.size``.
      lift: :func:`lifting` (S).
      pose: :func:`pose_geometry` of the wanted pose (any output size).

    Returns:
      ``[B, N, N, 3]`` float32 in the input's value range; 0 (black) off the face and on surface
      hidden in the frontal view. One compilation per (B, S, N).
    """
    images = jnp.asarray(images)
    if images.ndim != 4 or images.shape[1:3] != (lift.size, lift.size):
        raise ValueError(f"augment_batch: images must be [B, {lift.size}, {lift.size}, C] (the lifting's "
                         f"size), got {images.shape}.")
    f = pose.fragments
    return _render(images, jnp.asarray(lift.vertices), jnp.asarray(lift.visible),
                   jnp.asarray(canonical.registration_mesh().triangles), jnp.asarray(f.triangle_id),
                   jnp.asarray(f.barycentric), jnp.asarray(f.mask))


# ---------------------------------------------------------------------------------------------
# A pose-augmented training set: balanced selection per pose, rendering, resumable per-pose chunks.

def select(synthetic: frames_lib.FrameSet, per_level: int, seed: int, pose_id: int) -> np.ndarray:
    """Indices into ``synthetic``: ``per_level`` per non-empty (target AU, target level) cell, in
    (AU, level) order; the draw of each cell is seeded by ``(seed, pose_id, AU, level)``."""
    target_au, target_level = synthetic["target_au"], synthetic["target_level"]
    k_count = len(synthetic["au_names"])
    # One column per AU holding the level of the images synthesised for it (-1 elsewhere): the
    # balancing plan over these columns is exactly a per-cell draw over the synthesis plan's cells.
    cells = np.full((len(target_au), k_count), -1, np.int64)
    ok = target_au >= 0
    cells[np.flatnonzero(ok), target_au[ok]] = target_level[ok]
    pose_seed = int(np.random.SeedSequence([int(seed), int(pose_id)]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Empty cells are expected (the synthesis skipped them too).
        plan = balance.balance_plan(cells, per_level, seed=pose_seed, shuffle=False)
    return plan.flat_indices.astype(np.int64)


def render(images: np.ndarray, lift, pose, batch_size: int) -> np.ndarray:
    """uint8 renders of ``images`` at ``pose``, in fixed-size batches (one compilation)."""
    out = [np.clip(np.round(r), 0, 255).astype(np.uint8)
           for r in batching.map_padded(lambda chunk: augment_batch(chunk, lift, pose), images, batch_size)]
    size = pose.size
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _holds(path: str, idx: np.ndarray) -> bool:
    """Whether the pose chunk at ``path`` was rendered for the selection ``idx``."""
    with np.load(path) as z:
        return np.array_equal(z["synthetic_index"], idx)


def augment_set(synthetic: frames_lib.FrameSet, out_dir: str, *, poses, per_level: int, seed: int,
                size: int, template: np.ndarray | None, batch_size: int = 64,
                face_scale: float = canonical.FACE_SCALE,
                share: hosts.Share | None = None) -> tuple[frames_lib.FrameSet, dict]:
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
      face_scale: the 2-D template's face scale.
      share: this process's share of a multi-host run (default `jaxau.hosts.active`): it renders
        poses ``index``, ``index + count``, ... and waits for the others' pose chunks.

    Returns:
      ``(frame set, record)``; the record has ``images_per_second`` over the poses rendered now.
    """
    share = hosts.active() if share is None else share
    s_in = synthetic["image"].shape[1]
    lift = lifting(s_in, face_scale)
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    parts, rendered, seconds = [], 0, 0.0
    mine = set(share.mine(len(poses)))
    for i, (pose_id, yaw, pitch) in enumerate(poses):
        idx = select(synthetic, per_level, seed, pose_id)
        path = os.path.join(out_dir, "chunks", f"pose-{pose_id}.npz")
        if i not in mine:
            parts.append((pose_id, idx, path))
            continue
        if os.path.exists(path):
            if _holds(path, idx):
                parts.append((pose_id, idx, path))
                continue
            logging.warning("augment: %s holds another selection; re-rendering it.", path)
        t0 = time.perf_counter()
        geom = pose_geometry(pose_rotation_deg(yaw, pitch), size, template)
        # A view: the sources are read batch by batch as they are rendered.
        images = render(lazy_rows.take(synthetic["image"], idx), lift, geom, batch_size)
        seconds += time.perf_counter() - t0
        rendered += len(idx)
        frame_store.save_chunk(path, images, synthetic_index=idx)
        logging.info("augment: pose %d (yaw %g, pitch %g): %d images", pose_id, yaw, pitch, len(idx))
        parts.append((pose_id, idx, path))
        del images
    # Other processes' poses: a file counts once it holds this run's selection (an earlier run's
    # file with another selection is being re-rendered by its owner).
    selection = {path: idx for _, idx, path in parts}
    share.wait_for(list(selection), out_dir, "augment poses",
                   ready=lambda path: os.path.exists(path) and _holds(path, selection[path]))
    idx = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    # The rendered images stay in their pose chunks' files (the saved set links them in).
    image = frame_store.chunk_images([p[2] for p in parts], row_shape=(size, size, 3))
    frames = {"image": image,
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
                  batch_size: int = PREVIEW_COLUMNS, face_scale: float = canonical.FACE_SCALE) -> None:
    """One row per pose: the highest-level image of the first few AUs (same images in every row),
    after a first row of their frontal sources."""
    import cv2

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
    lift = lifting(synthetic["image"].shape[1], face_scale)
    src = synthetic["image"][np.asarray(picks)]
    tile = 128

    def tag(im, text):
        im = cv2.resize(np.asarray(im, np.uint8), (tile, tile), interpolation=cv2.INTER_LINEAR)
        cv2.putText(im, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        return im

    rows = [[tag(src[0], "frontal")] + [tag(im, "") for im in src[1:]]]
    for pose_id, yaw, pitch in poses:
        geom = pose_geometry(pose_rotation_deg(yaw, pitch), size, template)
        out = render(src, lift, geom, batch_size)
        rows.append([tag(out[0], f"pose {pose_id} ({yaw:g},{pitch:g})")] + [tag(im, "") for im in out[1:]])
    preview.write_sheet(path, rows, labels, tile=tile)
