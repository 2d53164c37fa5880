"""2-D alignment: Procrustes of the 68 landmarks onto a frontal template and a similarity warp
(the paper's 2-D registration baseline).

The template is the canonical head's landmarks (:mod:`jaxau.align.canonical`), seen frontally (or
from a chosen head pose, for 2-D pose augmentation), placed by
:func:`jaxau.align.canonical.face_placement` (frontal landmark box's mean side ``face_scale`` x N,
centred), exactly where the 3-D alignment puts the frontalised face.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import geometry
from jaxau.align import canonical, crop as crop_lib
from jaxau.geometry.procrustes import procrustes_2d, similarity_matrix_2d


def template(size: int, face_scale: float = canonical.FACE_SCALE, rotation=None) -> np.ndarray:
    """``[68, 2]`` template landmarks in an N x N output (``rotation``: image-convention [3, 3],
    about the frontal landmark box's centre)."""
    m = canonical.registration_mesh()
    lm = m.canonical[m.landmarks].astype(np.float64)
    scale, t = canonical.face_placement(size, face_scale)
    centre = np.append((lm[:, :2].min(0) + lm[:, :2].max(0)) / 2, 0.0)
    pts = lm - centre
    if rotation is not None:
        pts = pts @ np.asarray(rotation, np.float64).T
    return (scale * (pts[:, :2] + centre[:2]) + t).astype(np.float32)


def alignment_matrix(landmarks, template_points):
    """2x3 similarity taking frame landmarks ``[68, 2]`` onto the template (least squares)."""
    s, r, t = procrustes_2d(jnp.asarray(landmarks)[:, :2], jnp.asarray(template_points))
    return similarity_matrix_2d(s, r, t)


_align = jax.jit(jax.vmap(alignment_matrix, in_axes=(0, None)))


def align_2d(images, landmarks, size: int, template_points) -> tuple[np.ndarray, np.ndarray]:
    """Aligns a batch: ``(aligned [B, N, N, 3] float32 in the input range, matrices [B, 2, 3])``."""
    mats = _align(jnp.asarray(landmarks, jnp.float32), jnp.asarray(template_points, jnp.float32))
    out = _warp(jnp.asarray(images), mats, size)
    return np.asarray(out), np.asarray(mats)


def _warp_impl(images, mats, size):
    return jax.vmap(lambda im, m: crop_lib.warp_affine(im, m, size))(images, mats)


_warp = jax.jit(_warp_impl, static_argnums=2)


def _mesh_mask_impl(vertices, mats, size):
    tris = jnp.asarray(canonical.registration_mesh().triangles)

    def one(v, m):
        xy = v[:, :2] @ m[:, :2].T + m[:, 2]
        return geometry.rasterize(jnp.concatenate([xy, v[:, 2:]], -1), tris, size, size).mask

    return jax.vmap(one)(vertices, mats)


_mesh_mask = jax.jit(_mesh_mask_impl, static_argnums=2)


def mesh_mask(vertices, mats, size: int) -> np.ndarray:
    """``[B, N, N]`` bool: where the registered meshes ``[B, Vm, 3]`` (image space) cover the 2-D
    aligned outputs of similarities ``mats [B, 2, 3]`` (``align2d.mask = 'mesh'``: a 2-D alignment
    restricted to the surface a 3-D alignment shows)."""
    return np.asarray(_mesh_mask(jnp.asarray(vertices, jnp.float32), jnp.asarray(mats, jnp.float32), size))
