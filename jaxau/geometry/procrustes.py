"""Point-set alignment: similarity (Umeyama), least-squares affine, 2-D Procrustes.

All fits map ``src`` onto ``dst`` (``dst ~ f(src)``), accept optional non-negative per-point
``weights`` and are differentiable (SVD-based; gradients are undefined only for degenerate inputs).
"""

from __future__ import annotations

import jax.numpy as jnp


def _weights(n, weights, dtype):
    if weights is None:
        return jnp.full((n,), 1.0 / n, dtype)
    w = jnp.asarray(weights, dtype)
    return w / jnp.sum(w)


def umeyama(src, dst, weights=None, *, with_scale=True):
    """Least-squares similarity ``dst ~ s * R @ src + t`` (Umeyama 1991), any dimension d.

    Args:
      src: ``[N, d]`` points.
      dst: ``[N, d]`` corresponding points.
      weights: optional ``[N]`` non-negative weights.
      with_scale: fit the scale (False: rigid fit, s = 1).

    Returns:
      ``(s, R [d, d], t [d])`` with ``det(R) = +1`` (reflections are excluded).
    """
    src = jnp.asarray(src, jnp.float32)
    dst = jnp.asarray(dst, jnp.float32)
    if src.shape != dst.shape or src.ndim != 2:
        raise ValueError(f"umeyama: src {src.shape} and dst {dst.shape} must both be [N, d].")
    n, d = src.shape
    w = _weights(n, weights, src.dtype)
    mu_s = w @ src
    mu_d = w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs  # [d, d] = sum w (dst - mu)(src - mu)^T
    u, sig, vt = jnp.linalg.svd(cov)
    # Flip the smallest singular direction when needed so that R is a rotation, not a reflection.
    sign = jnp.sign(jnp.linalg.det(u) * jnp.linalg.det(vt))
    sign = jnp.where(sign == 0, 1.0, sign)
    flip = jnp.ones((d,), src.dtype).at[-1].set(sign)
    rot = (u * flip) @ vt
    var_s = jnp.sum(w * jnp.sum(xs ** 2, axis=1))
    scale = jnp.sum(sig * flip) / var_s if with_scale else jnp.asarray(1.0, src.dtype)
    return scale, rot, mu_d - scale * rot @ mu_s


def apply_similarity(points, scale, rotation, translation):
    """``scale * R @ p + t`` for ``points [..., N, d]``."""
    return scale * jnp.einsum("ij,...nj->...ni", rotation, jnp.asarray(points)) + translation


def fit_affine(src, dst, weights=None):
    """Least-squares affine map ``dst ~ A @ src + b`` (PRNet's frontalisation uses this in 3-D).

    Args:
      src: ``[N, d]``; needs at least d + 1 points in general position.
      dst: ``[N, e]``.
      weights: optional ``[N]`` non-negative weights.

    Returns:
      ``(A [e, d], b [e])``.
    """
    src = jnp.asarray(src, jnp.float32)
    dst = jnp.asarray(dst, jnp.float32)
    if src.ndim != 2 or dst.ndim != 2 or src.shape[0] != dst.shape[0]:
        raise ValueError(f"fit_affine: src {src.shape} and dst {dst.shape} must be [N, d], [N, e].")
    n = src.shape[0]
    w = jnp.sqrt(_weights(n, weights, src.dtype))[:, None]
    # Centre first: better conditioned than solving for [A | b] on raw homogeneous coordinates.
    ww = w[:, 0] ** 2 / jnp.sum(w[:, 0] ** 2)
    mu_s, mu_d = ww @ src, ww @ dst
    sol, *_ = jnp.linalg.lstsq(w * (src - mu_s), w * (dst - mu_d))
    a = sol.T
    return a, mu_d - a @ mu_s


def procrustes_2d(src, dst, weights=None):
    """2-D similarity (e.g. 68 landmarks onto a frontal template): ``(s, R [2, 2], t [2])``."""
    src = jnp.asarray(src)
    if src.ndim != 2 or src.shape[-1] != 2:
        raise ValueError(f"procrustes_2d: src must be [N, 2], got {src.shape}.")
    return umeyama(src, dst, weights)


def similarity_matrix_2d(scale, rotation, translation):
    """The 2x3 matrix of a 2-D similarity (for ``cv2.warpAffine``-style image warps)."""
    return jnp.concatenate([scale * rotation, translation[:, None]], axis=1)
