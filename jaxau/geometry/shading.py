"""Vertex normals and Lambertian shading (ambient + one directional light).

Normals follow the triangles' winding with the right-hand rule: ``n = (v1 - v0) x (v2 - v0)``. For a
mesh in a right-handed frame whose triangles are counter-clockwise seen from outside, normals point
outwards. Vertex normals are area-weighted means of the adjacent face normals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _safe_normalize(v, eps=1e-12):
    # Gradient-safe: no sqrt(0) on isolated vertices or degenerate faces.
    sq = jnp.sum(v * v, axis=-1, keepdims=True)
    return v * jax.lax.rsqrt(jnp.maximum(sq, eps))


def face_normals(vertices, triangles, *, normalize=True):
    """Per-triangle normals ``[..., T, 3]`` (unnormalised: length = twice the triangle's area)."""
    vertices = jnp.asarray(vertices)
    tri = jnp.asarray(triangles)
    v0, v1, v2 = (vertices[..., tri[:, k], :] for k in range(3))
    n = jnp.cross(v1 - v0, v2 - v0)
    return _safe_normalize(n) if normalize else n


def vertex_normals(vertices, triangles):
    """Unit per-vertex normals ``[..., V, 3]``: area-weighted sums of adjacent face normals.

    Vertices used by no (non-degenerate) triangle get the zero vector.
    """
    vertices = jnp.asarray(vertices)
    tri = jnp.asarray(triangles).astype(jnp.int32)
    n = face_normals(vertices, tri, normalize=False)  # area weighting comes for free
    acc = jnp.zeros(vertices.shape, n.dtype)
    for k in range(3):
        acc = acc.at[..., tri[:, k], :].add(n)
    return _safe_normalize(acc)


def lambertian(albedo, normals, light_direction, *, ambient=0.3, diffuse=0.7):
    """Lambertian shading: ``albedo * (ambient + diffuse * max(0, n . l))``.

    Args:
      albedo: ``[..., C]`` surface colour (e.g. interpolated vertex colours).
      normals: ``[..., 3]`` unit normals (interpolated normals are re-normalised here).
      light_direction: ``[3]`` (or broadcastable) direction *towards* the light; normalised here.
      ambient: scalar or ``[C]`` ambient light colour / intensity.
      diffuse: scalar or ``[C]`` directional light colour / intensity.

    Returns:
      ``[..., C]`` shaded colour.
    """
    n = _safe_normalize(jnp.asarray(normals))
    l_dir = _safe_normalize(jnp.asarray(light_direction, n.dtype))
    cos = jnp.maximum(jnp.sum(n * l_dir, axis=-1, keepdims=True), 0.0)
    return jnp.asarray(albedo) * (jnp.asarray(ambient) + jnp.asarray(diffuse) * cos)
