"""3-D alignment: move a registered mesh to the canonical frontal frame (or any chosen head pose),
colour its vertices from the frame and rasterize it to N x N (paper Sec. 3.1).

Steps for one frame (all JAX, batched with ``vmap``):
  1. visibility: rasterize the registered mesh in the input frame (its depth buffer); a surface
     point is visible when its depth is within ``tolerance`` (fraction of the face size) of the
     nearest surface there. ``visibility='vertex'`` tests the vertices at the frame's resolution and
     interpolates the 0/1 results over each output triangle, so a vertex misjudged at a fold or a
     silhouette (the buffer's pixel centre lies on the nearer surface) darkens every triangle
     around it; ``'pixel'`` tests each output pixel's own surface point against a buffer at
     ``VISIBILITY_UPSAMPLE`` x the frame's resolution (pixel sampling only), so only surface that is
     really behind goes black;
  2. colour (``sampling``): ``'pixel'`` (default) carries each output pixel's surface point back to
     the frame (the vertices' image positions, interpolated with the output's barycentrics) and
     samples the frame there bilinearly, so the output keeps the frame's own detail, as PRNet's dense
     UV texture does; ``'vertex'`` samples the frame once per vertex and interpolates those colours
     (a low-pass filter: the mesh has fewer vertices in the mouth and eye regions than the face has
     pixels). Both are multiplied by visibility, so self-occluded surface comes out black, as in the
     paper's non-frontal experiments; ``fill='mirror'`` instead gives occluded surface the colour of
     its mirror image across the face's plane of symmetry where that is visible (the soft symmetry
     of Hassner et al., "Effective face frontalization", CVPR 2015), black only where both are hidden;
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


# The frame's depth buffer for per-pixel visibility is rasterized at this multiple of its resolution.
VISIBILITY_UPSAMPLE = 2


def point_visibility(points, point_triangles, vertices, triangles, height: int, width: int, tolerance):
    """1.0 where image-space surface points ``[..., 3]`` of the mesh ``vertices`` (on triangles
    ``point_triangles [...]``) are not hidden behind other surface in the frame, else 0.0.

    The frame's depth buffer is rasterized at ``VISIBILITY_UPSAMPLE`` x. A point is visible when
    its depth is within ``tolerance`` of the buffer's, or when the buffer shows a triangle sharing a
    vertex with the point's own: at grazing angles the buffer's sample, a fraction of a pixel away
    on the same surface, can differ in depth by more than any fixed tolerance.
    """
    return visibility_from_buffer(depth_buffer(vertices, triangles, height, width), points, point_triangles,
                                  triangles, height, width, tolerance)


def depth_buffer(vertices, triangles, height: int, width: int):
    """The frame's fragments at ``VISIBILITY_UPSAMPLE`` x its resolution (`point_visibility`'s buffer)."""
    up = VISIBILITY_UPSAMPLE
    return geometry.rasterize(vertices * jnp.asarray([up, up, 1.0]), triangles, height * up, width * up)


def visibility_from_buffer(frags, points, point_triangles, triangles, height: int, width: int, tolerance):
    """`point_visibility` against a buffer from `depth_buffer` (one buffer serves several queries)."""
    up = VISIBILITY_UPSAMPLE
    col = jnp.clip(jnp.floor(points[..., 0] * up).astype(jnp.int32), 0, width * up - 1)
    row = jnp.clip(jnp.floor(points[..., 1] * up).astype(jnp.int32), 0, height * up - 1)
    depth = jnp.where(frags.mask, frags.depth, -jnp.inf)[row, col]
    seen = triangles[jnp.maximum(frags.triangle_id[row, col], 0)]              # [..., 3]
    own = triangles[jnp.maximum(point_triangles, 0)]                            # [..., 3]
    neighbour = frags.mask[row, col] & (seen[..., :, None] == own[..., None, :]).any((-2, -1))
    inside = (points[..., 0] >= 0) & (points[..., 0] < width) & (points[..., 1] >= 0) & (points[..., 1] < height)
    return (inside & ((points[..., 2] >= depth - tolerance) | neighbour)).astype(jnp.float32)


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
VISIBILITY = ("pixel", "vertex")
FILLS = ("none", "mirror")


def frontalize(image, vertices, scale, rotation, translation, size: int, *, target_rotation=None,
               occluded_black: bool = True, tolerance: float = 0.03, placement=None,
               sampling: str = "pixel", visibility: str = "vertex", fill: str = "none"):
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
      visibility: ``'vertex'`` or ``'pixel'`` (module docstring, step 1; ``'pixel'`` needs pixel
        sampling).
      fill: ``'none'`` (occluded surface black) or ``'mirror'`` (coloured from its visible mirror
        image; module docstring, step 2). Only with ``occluded_black``.

    Returns:
      ``(aligned [N, N, 3] float32, mask [N, N] bool)``.
    """
    if sampling not in SAMPLING:
        raise ValueError(f"frontalize: sampling={sampling!r} is not one of {SAMPLING}.")
    if visibility not in VISIBILITY or (visibility == "pixel" and sampling != "pixel"):
        raise ValueError(f"frontalize: visibility={visibility!r} must be one of {VISIBILITY}; 'pixel' "
                         "needs sampling='pixel'.")
    if fill not in FILLS:
        raise ValueError(f"frontalize: fill={fill!r} is not one of {FILLS}.")
    mirror = fill == "mirror" and occluded_black
    m = canonical.registration_mesh()
    tris = jnp.asarray(m.triangles)
    h, w = image.shape[:2]
    visible = jnp.ones(vertices.shape[0], jnp.float32)
    tol = tolerance * scale * template_size()
    per_vertex = occluded_black and visibility == "vertex"
    if per_vertex:
        visible = vertex_visibility(vertices, tris, h, w, tol)
    if target_rotation is None:
        target_rotation = jnp.eye(3, dtype=jnp.float32)
    out_scale, out_t = output_placement(size) if placement is None else placement
    out_v = place(vertices, scale, rotation, translation, target_rotation, out_scale, jnp.asarray(out_t))
    if mirror:
        mirror_vertex, mirror_triangle = (jnp.asarray(x) for x in canonical.mirror_maps())
    if sampling == "vertex":
        colors = vertex_colors(image, vertices)
        out_colors = colors * visible[:, None]
        if mirror:
            out_colors += (1.0 - visible[:, None]) * (colors * visible[:, None])[mirror_vertex]
        return render_vertex_colors(out_v, out_colors, tris, size)
    frags = geometry.rasterize(out_v, tris, size, size)
    # Per output pixel: where its surface point lies in the frame (x, y, depth) and how visible the
    # vertices around it are there.
    carried = jnp.concatenate([vertices, visible[:, None]], -1)  # frame position and visibility
    where = geometry.interpolate(carried, tris, frags)
    shown = where[..., 3:]
    if occluded_black and visibility == "pixel":
        buffer = depth_buffer(vertices, tris, h, w)
        shown = visibility_from_buffer(buffer, where[..., :3], frags.triangle_id, tris, h, w, tol)[..., None]
    frame = jnp.asarray(image, jnp.float32)
    img = sample_texture(frame, where[..., :2], texel_units=True) * shown
    if mirror:
        # The same output pixel's mirror surface point: the mirror vertices' frame positions under
        # the same barycentrics.
        there = geometry.interpolate(carried[mirror_vertex], tris, frags)
        shown_there = there[..., 3:]
        if visibility == "pixel":
            own = jnp.where(frags.triangle_id >= 0, mirror_triangle[jnp.maximum(frags.triangle_id, 0)], -1)
            shown_there = visibility_from_buffer(buffer, there[..., :3], own, tris, h, w, tol)[..., None]
        img += (1.0 - shown) * shown_there * sample_texture(frame, there[..., :2], texel_units=True)
    return jnp.where(frags.mask[..., None], img, 0.0), frags.mask


@functools.partial(jax.jit, static_argnames=("size", "occluded_black", "sampling", "visibility", "fill"))
def frontalize_batch(images, vertices, scale, rotation, translation, target_rotation, *, size: int,
                     occluded_black: bool = True, sampling: str = "pixel", visibility: str = "vertex",
                     fill: str = "none"):
    """`frontalize` over a batch (one target rotation ``[3, 3]`` or one per frame ``[B, 3, 3]``)."""
    target_rotation = jnp.broadcast_to(target_rotation, (images.shape[0], 3, 3))
    fn = lambda im, v, s, r, t, tr: frontalize(im, v, s, r, t, size, target_rotation=tr,  # noqa: E731
                                               occluded_black=occluded_black, sampling=sampling,
                                               visibility=visibility, fill=fill)
    return jax.vmap(fn)(images, vertices, scale, rotation, translation, target_rotation)
