"""Supersampled (anti-aliased) attribute rendering: rasterize at k x, interpolate, box-filter.

Each output pixel averages ``k x k`` samples on a regular grid (sample (a, b) of pixel (i, j) at
``(j + (b + 0.5) / k, i + (a + 0.5) / k)``), so an edge pixel's coverage is the fraction of its
``k^2`` samples inside the mesh: the pixel's area under the mesh quantised to ``1/k^2`` (error at
most ``1/(2k)`` for a straight edge). Cost is that of a ``k``-times larger render plus the filter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxau.geometry.interpolate import interpolate
from jaxau.geometry.rasterize import rasterize
from jaxau.geometry.texture import box_downsample, supersample_vertices


def render_attributes(vertices: jax.Array, triangles: jax.Array, attributes: jax.Array,
                      height: int, width: int, *, supersample: int = 1, background=0.0,
                      cull_backfaces: bool = False) -> tuple[jax.Array, jax.Array]:
    """Renders per-vertex attributes with ``supersample**2`` samples per pixel.

    Args:
      vertices: float ``[..., V, 3]`` image-space ``(x, y, z)`` at the *output* resolution (the
        rasterizer's conventions: x right, y down, pixel centres at +0.5, larger z nearer).
      triangles: int ``[T, 3]``.
      attributes: ``[V, C]`` or ``[..., V, C]`` per-vertex attributes (e.g. colours).
      height: output rows (static int).
      width: output columns (static int).
      supersample: samples per pixel along each axis, k >= 1 (static); 1 is plain rasterization.
      background: value of uncovered samples, a scalar or ``[C]``, composited per sample before
        filtering (so edge pixels blend the surface and the background by coverage).
      cull_backfaces: as in :func:`jaxau.geometry.rasterize`.

    Returns:
      ``(image [..., H, W, C], coverage [..., H, W])``: the box-filtered image and the fraction of
      each pixel's samples covered by a triangle (multiples of ``1/k^2``). Differentiable with
      respect to ``attributes`` and, inside visible triangles, ``vertices`` (through
      :func:`interpolate` with ``vertices=``; edges themselves are not differentiated -- see
      :func:`jaxau.geometry.soft_silhouette` for that).
    """
    if not (isinstance(supersample, int) and supersample >= 1):
        raise ValueError(f"render_attributes: supersample must be a Python int >= 1, got "
                         f"{supersample!r}.")
    vertices = jnp.asarray(vertices)
    attributes = jnp.asarray(attributes)
    background = jnp.asarray(background)
    channels = attributes.shape[-1] if attributes.ndim else None
    if background.ndim > 1 or (background.ndim == 1 and background.shape[0] != channels):
        raise ValueError(f"render_attributes: background must be a scalar or [C={channels}] (the "
                         f"attributes' channels), got shape {background.shape}.")
    k = supersample
    big = supersample_vertices(vertices, k) if k > 1 else vertices
    frag = rasterize(big, triangles, height * k, width * k, cull_backfaces=cull_backfaces)
    values = interpolate(attributes, triangles, frag, vertices=big)
    values = jnp.where(frag.mask[..., None], values, background.astype(values.dtype))
    coverage = frag.mask.astype(values.dtype)[..., None]
    if k > 1:
        values = box_downsample(values, k)
        coverage = box_downsample(coverage, k)
    return values, coverage[..., 0]
