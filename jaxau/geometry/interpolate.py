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
import numpy as np

from jaxau.geometry.rasterize import Fragments


@jax.custom_jvp
def _combine(weights, values):
    """``sum_k weights[..., k] * values[..., k, :]``: weights ``[..., 3]``, values ``[..., 3, C]``.

    Written out as three products for the forward pass (on XLA:CPU a third faster than an einsum
    over the corner axis at 256^2), differentiated as the einsum (``_combine_jvp``): the products'
    own transpose made the backward pass through ``interpolate`` twice as slow.
    """
    return (weights[..., 0, None] * values[..., 0, :] + weights[..., 1, None] * values[..., 1, :]
            + weights[..., 2, None] * values[..., 2, :])


@_combine.defjvp
def _combine_jvp(primals, tangents):
    weights, values = primals
    d_weights, d_values = tangents
    return _combine(weights, values), (jnp.einsum("...k,...kc->...c", d_weights, values)
                                       + jnp.einsum("...k,...kc->...c", weights, d_values))


def _interpolate_flat(attributes, triangles, tri_id, bary, mask, vertices, batched_attr):
    """Interpolation over a flattened batch: tri_id [B,H,W]; attributes [B*V, C] or [V, C]."""
    num_b, height, width = tri_id.shape
    corner = triangles[jnp.where(mask, tri_id, 0)]  # [B,H,W,3]
    # One flat gather over the whole batch (its gradient is one flat scatter-add; a vmapped
    # gather's gradient is a batched scatter, several times slower on XLA:CPU).
    offset = None
    if batched_attr or vertices is not None:
        num_v = (vertices.shape[0] if vertices is not None else attributes.shape[0]) // num_b
        offset = (jnp.arange(num_b, dtype=jnp.int32) * num_v)[:, None, None, None]
    if vertices is not None:
        idx = corner + offset
        vx = vertices[:, 0].astype(jnp.float32)
        vy = vertices[:, 1].astype(jnp.float32)
        x = [vx[idx[..., k]] for k in range(3)]  # [B,H,W] each: per-vertex rows vectorise best
        y = [vy[idx[..., k]] for k in range(3)]
        py = jnp.arange(height, dtype=jnp.float32)[:, None] + 0.5
        px = jnp.arange(width, dtype=jnp.float32)[None, :] + 0.5
        # Edge function opposite vertex k, at the pixel centre.
        e = [(x[(k + 2) % 3] - x[(k + 1) % 3]) * (py - y[(k + 1) % 3])
             - (y[(k + 2) % 3] - y[(k + 1) % 3]) * (px - x[(k + 1) % 3]) for k in range(3)]
        area = e[0] + e[1] + e[2]
        # Safe denominator on empty / degenerate pixels keeps the backward pass NaN-free.
        ok = mask & (area != 0)
        inv = 1.0 / jnp.where(ok, area, 1.0)
        bary = jnp.stack([jnp.where(ok, ek * inv, 0.0) for ek in e], axis=-1)
    values = attributes[corner + offset if batched_attr else corner]  # [B,H,W,3,C]
    out = _combine(bary.astype(values.dtype), values)
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
    nb = int(np.prod(batch, dtype=np.int64)) if batch else 1
    lead = lambda a: a.reshape((nb,) + a.shape[len(batch):])  # noqa: E731
    batched_attr = attributes.ndim > 2
    out = _interpolate_flat(
        attributes.reshape((-1, attributes.shape[-1])), triangles, lead(fragments.triangle_id),
        lead(fragments.barycentric), lead(fragments.mask),
        None if vertices is None else vertices.reshape((-1, 3)), batched_attr)
    return out.reshape(batch + out.shape[1:])
