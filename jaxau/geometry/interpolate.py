"""Barycentric interpolation of per-vertex attributes over rasterized fragments.

Gradients:
* with respect to ``attributes``: always (a gather + weighted sum);
* with respect to vertex positions: pass ``vertices=`` (the image-space vertices that were
  rasterized). The barycentrics of each pixel's *winning* triangle (``fragments.triangle_id``) are then
  recomputed from ``vertices`` (unsnapped) at the pixel centre, a smooth function of the vertex x, y
  whose derivative is exact. Values differ from ``fragments.barycentric`` only by the rasterizer's
  1/256-pixel snapping. Visibility (which triangle wins) is not differentiated: gradients flow inside
  visible triangles, not through occlusion boundaries or silhouettes. Empty pixels output 0 and get
  zero gradient (never NaN), as do degenerate triangles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxau.geometry.rasterize import Fragments


def _single(attributes, triangles, tri_id, bary, mask, vertices):
    height, width = tri_id.shape
    tid = jnp.where(mask, tri_id, 0)
    corner = triangles[tid]  # [H,W,3]
    if vertices is not None:
        tri = vertices[corner][..., :2].astype(jnp.float32)  # [H,W,3,2]
        py = jnp.arange(height, dtype=jnp.float32)[:, None] + 0.5
        px = jnp.arange(width, dtype=jnp.float32)[None, :] + 0.5
        x, y = tri[..., 0], tri[..., 1]
        xa, ya = jnp.roll(x, -1, axis=-1), jnp.roll(y, -1, axis=-1)
        xb, yb = jnp.roll(x, -2, axis=-1), jnp.roll(y, -2, axis=-1)
        e = (xb - xa) * (py[..., None] - ya) - (yb - ya) * (px[..., None] - xa)
        area = jnp.sum(e, axis=-1)
        # Safe denominator on empty / degenerate pixels keeps the backward pass NaN-free.
        ok = mask & (area != 0)
        area = jnp.where(ok, area, 1.0)
        bary = jnp.where(ok[..., None], e / area[..., None], 0.0)
    values = attributes[corner]  # [H,W,3,C]
    out = jnp.einsum("hwk,hwkc->hwc", bary.astype(values.dtype), values)
    return jnp.where(mask[..., None], out, 0.0)


def interpolate(attributes: jax.Array, triangles: jax.Array, fragments: Fragments,
                vertices: jax.Array | None = None) -> jax.Array:
    """Interpolates per-vertex attributes at every pixel with the fragments' barycentrics.

    Args:
      attributes: ``[V, C]`` (shared by the batch) or ``[..., V, C]`` (one per batch element).
      triangles: int ``[T, 3]``, the triangles that were rasterized.
      fragments: :class:`Fragments` from :func:`rasterize`, leading dims ``[...]``.
      vertices: optional ``[..., V, 3]`` image-space vertices that were rasterized; pass them to get
        gradients with respect to vertex positions (see module docstring).

    Returns:
      ``[..., H, W, C]``; 0 on empty pixels.
    """
    attributes = jnp.asarray(attributes)
    triangles = jnp.asarray(triangles).astype(jnp.int32)
    batch = fragments.triangle_id.shape[:-2]
    if attributes.ndim < 2:
        raise ValueError(f"interpolate: attributes must be [V, C] or [..., V, C], got "
                         f"{attributes.shape}; add a trailing channel axis for scalars.")
    if attributes.ndim not in (2, 2 + len(batch)) or (
            attributes.ndim > 2 and attributes.shape[:-2] != batch):
        raise ValueError(f"interpolate: attributes {attributes.shape} do not match the fragments' "
                         f"batch dims {batch}; use [V, C] or {batch + ('V', 'C')}.")
    if vertices is not None:
        vertices = jnp.asarray(vertices)
        if vertices.shape[:-2] != batch or vertices.shape[-1] != 3:
            raise ValueError(f"interpolate: vertices {vertices.shape} must be {batch + ('V', 3)}, "
                             "the vertices that were rasterized.")
    if not batch:
        return _single(attributes, triangles, fragments.triangle_id, fragments.barycentric,
                       fragments.mask, vertices)
    flat = lambda a: a.reshape((-1,) + a.shape[len(batch):])  # noqa: E731
    attr_axis = 0 if attributes.ndim > 2 else None
    vert_axis = None if vertices is None else 0
    out = jax.vmap(_single, in_axes=(attr_axis, None, 0, 0, 0, vert_axis))(
        flat(attributes) if attr_axis == 0 else attributes, triangles,
        flat(fragments.triangle_id), flat(fragments.barycentric), flat(fragments.mask),
        None if vertices is None else flat(vertices))
    return out.reshape(batch + out.shape[1:])
