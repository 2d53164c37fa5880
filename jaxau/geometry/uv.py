"""UV-space rendering: UV position maps and sampling vertices back from them.

UV convention: the one of :mod:`jaxau.geometry.texture` -- ``u`` along columns (x), ``v`` along rows
(y, down), normalised to [0, 1]; texel (r, c) has its centre at ``((c + 0.5) / W, (r + 0.5) / H)``.
A PRNet-style layout whose vertex k sits on grid point (row r_k, col c_k) of an S x S map therefore
has ``uv_k = ((c_k + 0.5) / S, (r_k + 0.5) / S)``: see :func:`grid_uv`.

A UV position map holds, per texel, the 3-D position of the surface point mapped there; texels that
no triangle covers are 0 and ``mask`` is False. Overlapping UV islands resolve to the lowest
triangle index (all UV-space depths are equal, so the rasterizer's tie rule applies).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxau.geometry.interpolate import interpolate
from jaxau.geometry.rasterize import Fragments, rasterize
from jaxau.geometry.texture import sample_texture


def grid_uv(rows, cols, size):
    """UVs of vertices sitting on texel centres of a ``size`` x ``size`` grid (PRNet layout)."""
    rows = jnp.asarray(rows, jnp.float32)
    cols = jnp.asarray(cols, jnp.float32)
    size_h, size_w = (size, size) if isinstance(size, int) else size
    return jnp.stack([(cols + 0.5) / size_w, (rows + 0.5) / size_h], axis=-1)


def uv_fragments(uv, triangles, height, width) -> Fragments:
    """Rasterizes the mesh in its UV layout (``uv [V, 2]``) at ``height x width`` texels."""
    uv = jnp.asarray(uv, jnp.float32)
    if uv.ndim != 2 or uv.shape[-1] != 2:
        raise ValueError(f"uv_fragments: uv must be [V, 2] in [0, 1], got {uv.shape}.")
    image = jnp.stack([uv[:, 0] * width, uv[:, 1] * height, jnp.zeros_like(uv[:, 0])], axis=-1)
    return rasterize(image, triangles, height, width)


def render_uv_position_map(positions, uv, triangles, height, width, *, fragments=None):
    """UV position map: every covered texel gets the barycentric mix of its triangle's positions.

    Args:
      positions: ``[V, 3]`` or ``[..., V, 3]`` per-vertex 3-D positions (any frame).
      uv: ``[V, 2]`` per-vertex UVs (module convention).
      triangles: ``[T, 3]``.
      height: map rows; width: map columns.
      fragments: optional precomputed :func:`uv_fragments` (the UV layout is usually fixed, so
        rasterize it once and reuse it for every mesh).

    Returns:
      ``(position_map [..., height, width, 3], mask [height, width])``.
    """
    if fragments is None:
        fragments = uv_fragments(uv, triangles, height, width)
    positions = jnp.asarray(positions)
    if positions.ndim == 2:
        return interpolate(positions, triangles, fragments), fragments.mask
    batch = positions.shape[:-2]
    flat = positions.reshape((-1,) + positions.shape[-2:])
    # Same fragments for every mesh: move the batch into channels and interpolate once.
    stacked = jnp.moveaxis(flat, 0, 1).reshape(flat.shape[1], -1)  # [V, B*3]
    maps = interpolate(stacked, triangles, fragments)  # [H, W, B*3]
    maps = jnp.moveaxis(maps.reshape(height, width, -1, 3), 2, 0)
    return maps.reshape(batch + (height, width, 3)), fragments.mask


def sample_position_map(position_map, uv):
    """Vertices from a UV position map: bilinear samples at ``uv [V, 2]`` -> ``[..., V, 3]``.

    Exact at texel centres (e.g. PRNet's grid layout), so ``render_uv_position_map`` followed by
    this returns the input vertices for such layouts.
    """
    position_map = jnp.asarray(position_map)
    uv = jnp.asarray(uv)
    if position_map.ndim > 3:
        uv = jnp.broadcast_to(uv, position_map.shape[:-3] + uv.shape)
    return sample_texture(position_map, uv[..., None, :])[..., 0, :]
