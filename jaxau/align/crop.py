"""Similarity crops of faces from boxes, their inverses, and a bilinear affine warp (JAX).

Coordinates follow the rasterizer's convention (``jaxau.geometry``): x right, y down, pixels, with
pixel (row i, col j) centred at (j + 0.5, i + 0.5). A crop is a 2x3 matrix ``M`` mapping image
points to crop points, ``p_crop = M[:, :2] @ p + M[:, 2]``; depth (z) scales by the similarity's
scale ``sqrt(det M[:, :2])``.

Face boxes are ``[x0, y0, x1, y1]`` in *landmark-box* convention: the tight box of the 68 iBUG
landmarks (brows to chin, jaw to jaw). Boxes from other sources (a face detector, a user's CSV) are
converted to this convention first (:mod:`jaxau.align.detect`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# The crop around a landmark box: side = CROP_SCALE * mean box side, centre moved up by
# CROP_SHIFT * box height so the forehead above the brows (inside our UV map) stays in the crop.
CROP_SCALE = 1.8
CROP_SHIFT = 0.03


def landmark_box(landmarks) -> np.ndarray:
    """Tight ``[..., 4]`` box ``(x0, y0, x1, y1)`` of ``[..., 68, 2+]`` landmarks (numpy)."""
    lm = np.asarray(landmarks)[..., :2]
    return np.concatenate([lm.min(-2), lm.max(-2)], -1).astype(np.float32)


def box_size(box) -> np.ndarray:
    """AFLW2000-3D's normaliser: ``sqrt(width * height)`` of a box ``[..., 4]``."""
    box = np.asarray(box, np.float32)
    return np.sqrt(np.maximum(box[..., 2] - box[..., 0], 0) * np.maximum(box[..., 3] - box[..., 1], 0))


def crop_matrix(center, side, size: int, angle=0.0):
    """The 2x3 matrix mapping a square of ``side`` pixels centred at ``center``, rotated by ``angle``
    (radians, counter-clockwise on screen is negative in y-down images), onto a ``size`` crop.

    Works on numpy or JAX inputs, with leading batch dimensions on all of them.
    """
    xp = jnp if any(isinstance(v, jax.Array) for v in (center, side, angle)) else np
    center = xp.asarray(center, xp.float32)
    s = size / xp.asarray(side, xp.float32)
    c, sn = xp.cos(xp.asarray(angle, xp.float32)), xp.sin(xp.asarray(angle, xp.float32))
    c, sn = c * s, sn * s
    a = xp.stack([xp.stack([c, -sn], -1), xp.stack([sn, c], -1)], -2)  # [..., 2, 2]
    half = xp.full(center.shape, size / 2.0, xp.float32)
    t = half - xp.einsum("...ij,...j->...i", a, center)
    return xp.concatenate([a, t[..., None]], -1)


def box_crop_matrix(box, size: int, scale: float = CROP_SCALE, shift: float = CROP_SHIFT) -> np.ndarray:
    """Crop matrices ``[..., 2, 3]`` of landmark boxes ``[..., 4]`` (no rotation)."""
    box = np.asarray(box, np.float32)
    w, h = box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]
    center = np.stack([(box[..., 0] + box[..., 2]) / 2, (box[..., 1] + box[..., 3]) / 2 - shift * h], -1)
    return crop_matrix(center, scale * (w + h) / 2, size)


def invert(m):
    """Inverse of 2x3 affine matrices ``[..., 2, 3]`` (numpy or JAX)."""
    xp = jnp if isinstance(m, jax.Array) else np
    a, t = m[..., :2], m[..., 2]
    ai = xp.linalg.inv(a)
    return xp.concatenate([ai, -xp.einsum("...ij,...j->...i", ai, t)[..., None]], -1)


def matrix_scale(m):
    """The isotropic scale of similarity matrices ``[..., 2, 3]``."""
    xp = jnp if isinstance(m, jax.Array) else np
    return xp.sqrt(xp.abs(m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]))


def apply(m, points):
    """Applies ``[..., 2, 3]`` matrices to ``[..., N, 2+]`` points; a z column is scaled."""
    xp = jnp if isinstance(m, jax.Array) or isinstance(points, jax.Array) else np
    xy = xp.einsum("...ij,...nj->...ni", m[..., :2], points[..., :2]) + m[..., None, :, 2]
    if points.shape[-1] == 2:
        return xy
    z = points[..., 2:] * matrix_scale(m)[..., None, None]
    return xp.concatenate([xy, z], -1)


def warp_affine(image, m, size: int, *, border: float = 0.0):
    """Bilinear warp: output pixel ``p`` takes ``image`` at ``invert(m) @ p`` (one image, JAX).

    Args:
      image: ``[H, W, C]`` (any dtype; sampled as float32).
      m: ``[2, 3]`` image -> output matrix.
      size: output side.
      border: value outside the image (the interpolation fades to it over the last pixel).

    Returns:
      ``[size, size, C]`` float32.
    """
    image = jnp.asarray(image, jnp.float32)
    h, w = image.shape[:2]
    mi = invert(jnp.asarray(m, jnp.float32))
    centres = jnp.arange(size, dtype=jnp.float32) + 0.5
    gx, gy = jnp.meshgrid(centres, centres)
    sx = mi[0, 0] * gx + mi[0, 1] * gy + mi[0, 2] - 0.5  # continuous index (pixel centres at k)
    sy = mi[1, 0] * gx + mi[1, 1] * gy + mi[1, 2] - 0.5
    x0, y0 = jnp.floor(sx), jnp.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)

    def tap(yi, xi):
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        v = image[jnp.clip(yi, 0, h - 1), jnp.clip(xi, 0, w - 1)]
        return jnp.where(ok[..., None], v, border)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy
