"""3-D alignment: move a registered mesh to the canonical frontal frame (or any chosen head pose),
colour its vertices from the frame and rasterize it to N x N (paper Sec. 3.1).

Steps for one frame (all JAX, batched with ``vmap``):
  1. visibility: rasterize the registered mesh in the input frame; a vertex is visible when its
     depth is within ``tolerance`` (fraction of the face size) of the nearest surface at its pixel;
  2. colour (``sampling``): ``'pixel'`` (default) carries each output pixel's surface point back to
     the frame (the vertices' image positions, interpolated with the output's barycentrics) and
     samples the frame there bilinearly, so the output keeps the frame's own detail, as PRNet's dense
     UV texture does; ``'vertex'`` samples the frame once per vertex and interpolates those colours
     (a low-pass filter: the mesh has fewer vertices in the mouth and eye regions than the face has
     pixels). Both are multiplied by visibility, so self-occluded surface comes out black, as in the
     paper's non-frontal experiments;
  3. pose removal: ``canonical = R^T (v - t) / s`` with the fitted similarity
     (:func:`jaxau.align.registrar.fit_pose`) -- identity and expression stay, pose / scale go;
  4. target pose: rotate by the image-convention rotation of the wanted (yaw, pitch, roll)
     (identity = frontal; other poses give the paper's 3-D pose augmentation, Fig. 5 c) and place
     with a fixed output similarity: the template's frontal landmark box gets mean side
     ``face_scale`` x N, centred (the 2-D alignment's template placement);
  5. rasterize with ``jaxau.geometry.rasterize`` and colour the pixels; background black.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import geometry
from jaxau.align import canonical
from jaxau.align.registrar import template_size
from jaxau.geometry.texture import sample_texture


def output_placement(size: int, face_scale: float = canonical.FACE_SCALE):
    """``(scale, translation [2])`` placing canonical (decimetre) points in an N x N output: the
    2-D template's placement (:func:`jaxau.align.canonical.face_placement`), so a frontal face gets
    the same landmark box from both alignments."""
    return canonical.face_placement(size, face_scale)


def vertex_visibility(vertices, triangles, height: int, width: int, tolerance):
    """1.0 for vertices not hidden behind other surface in the frame, else 0.0 (``[V]``)."""
    frags = geometry.rasterize(vertices, triangles, height, width)
    col = jnp.clip(jnp.floor(vertices[:, 0]).astype(jnp.int32), 0, width - 1)
    row = jnp.clip(jnp.floor(vertices[:, 1]).astype(jnp.int32), 0, height - 1)
    depth = jnp.where(frags.mask, frags.depth, -jnp.inf)[row, col]
    inside = (vertices[:, 0] >= 0) & (vertices[:, 0] < width) & (vertices[:, 1] >= 0) & (vertices[:, 1] < height)
    return (inside & (vertices[:, 2] >= depth - tolerance)).astype(jnp.float32)


def vertex_colors(image, vertices):
    """Bilinear colours ``[V, C]`` of a frame ``[H, W, C]`` at image-space vertices ``[V, 2+]``."""
    return sample_texture(jnp.asarray(image, jnp.float32), vertices[:, None, :2], texel_units=True)[:, 0]


def place(vertices, scale, rotation, translation, target_rotation, out_scale, out_translation):
    """Image-space vertices -> output-frame vertices: undo the fitted similarity, apply the target
    rotation (image convention) and the output placement."""
    canon = jnp.einsum("ji,vj->vi", rotation, vertices - translation) / scale  # R^T (v - t) / s
    posed = canon @ target_rotation.T
    xy = out_scale * posed[:, :2] + out_translation
    return jnp.concatenate([xy, out_scale * posed[:, 2:]], -1)


def render_vertex_colors(vertices, colors, triangles, size: int):
    """Rasterizes coloured vertices to ``size`` x ``size``: ``(image [N, N, C], mask [N, N])``."""
    frags = geometry.rasterize(vertices, triangles, size, size)
    img = geometry.interpolate(colors, triangles, frags)
    return jnp.where(frags.mask[..., None], img, 0.0), frags.mask


SAMPLING = ("pixel", "vertex")


def frontalize(image, vertices, scale, rotation, translation, size: int, *, target_rotation=None,
               occluded_black: bool = True, tolerance: float = 0.03, placement=None,
               sampling: str = "pixel"):
    """3-D alignment of one frame (see the module docstring).

    Args:
      image: ``[H, W, 3]`` frame (uint8 or float; output in the same value range, float32).
      vertices: ``[Vm, 3]`` registered image-space vertices (:class:`jaxau.align.registrar.Registrar`).
      scale, rotation, translation: the fitted similarity (``fit_pose``).
      size: output side N.
      target_rotation: ``[3, 3]`` image-convention rotation of the output pose (None = frontal;
        :func:`jaxau.align.registrar.pose_rotation` builds one from yaw / pitch / roll).
      occluded_black: black out surface hidden in the input frame.
      tolerance: visibility depth tolerance as a fraction of the fitted face size.
      placement: ``(out_scale, out_translation)``; default :func:`output_placement`.
      sampling: ``'pixel'`` or ``'vertex'`` (module docstring, step 2).

    Returns:
      ``(aligned [N, N, 3] float32, mask [N, N] bool)``.
    """
    if sampling not in SAMPLING:
        raise ValueError(f"frontalize: sampling={sampling!r} is not one of {SAMPLING}.")
    m = canonical.registration_mesh()
    tris = jnp.asarray(m.triangles)
    h, w = image.shape[:2]
    visible = jnp.ones(vertices.shape[0], jnp.float32)
    if occluded_black:
        tol = tolerance * scale * template_size()
        visible = vertex_visibility(vertices, tris, h, w, tol)
    if target_rotation is None:
        target_rotation = jnp.eye(3, dtype=jnp.float32)
    out_scale, out_t = output_placement(size) if placement is None else placement
    out_v = place(vertices, scale, rotation, translation, target_rotation, out_scale, jnp.asarray(out_t))
    if sampling == "vertex":
        return render_vertex_colors(out_v, vertex_colors(image, vertices) * visible[:, None], tris, size)
    frags = geometry.rasterize(out_v, tris, size, size)
    # Per output pixel: where its surface point lies in the frame (x, y) and how visible it is there.
    where = geometry.interpolate(jnp.concatenate([vertices[:, :2], visible[:, None]], -1), tris, frags)
    img = sample_texture(jnp.asarray(image, jnp.float32), where[..., :2], texel_units=True) * where[..., 2:]
    return jnp.where(frags.mask[..., None], img, 0.0), frags.mask


@functools.partial(jax.jit, static_argnames=("size", "occluded_black", "sampling"))
def frontalize_batch(images, vertices, scale, rotation, translation, target_rotation, *, size: int,
                     occluded_black: bool = True, sampling: str = "pixel"):
    """`frontalize` over a batch (one target rotation ``[3, 3]`` or one per frame ``[B, 3, 3]``)."""
    target_rotation = jnp.broadcast_to(target_rotation, (images.shape[0], 3, 3))
    fn = lambda im, v, s, r, t, tr: frontalize(im, v, s, r, t, size, target_rotation=tr,  # noqa: E731
                                               occluded_black=occluded_black, sampling=sampling)
    return jax.vmap(fn)(images, vertices, scale, rotation, translation, target_rotation)
