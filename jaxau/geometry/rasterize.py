"""Triangle rasterization in image space: visibility, barycentrics and depth per pixel.

Conventions (the DESIGN.md "Rasterizer" contract):

* Image-space vertices ``[..., V, 3]`` hold ``(x, y, z)``: x to the right and y down, both in pixels;
  pixel (row i, col j) covers ``[j, j+1) x [i, i+1)`` and is sampled at its centre
  ``(x, y) = (j + 0.5, i + 0.5)``. **Larger z is nearer the camera** and wins the depth test.
* Depth is interpolated linearly in screen space (exact for orthographic / weak-perspective cameras,
  which is what the face pipeline uses).
* Winding: the 2-D signed area ``cross(p1 - p0, p2 - p0)`` (x right, y down) is *negative* for a
  triangle that appears counter-clockwise to the viewer. ``cull_backfaces=True`` keeps only those
  (counter-clockwise on screen = front facing, OpenGL's default); otherwise both windings are drawn.
* Sub-pixel snapping: for the coverage test the x, y coordinates are snapped to a 1/256-pixel grid
  (as GPUs do). For triangles spanning at most a few pixels every edge-function evaluation on the
  snapped grid is exact in float32, so coverage is decided exactly.
* Fill rule: top-left. A pixel centre exactly on an edge belongs to the triangle for which that edge is
  a top edge (horizontal, interior below) or a left edge (interior to the right). Each edge function is
  evaluated in one canonical vertex order (by (y, x) of its endpoints) and negated for the other
  triangle sharing the edge, so both triangles see bit-identical values: a closed tessellation covers
  every pixel exactly once -- no cracks, no double coverage.
* Depth ties (two triangles with bit-identical interpolated depth at a pixel): the lower triangle index
  wins. Deterministic.
* Degenerate (zero snapped area), non-finite and fully off-screen triangles are ignored.
* Empty pixels: ``triangle_id == -1``, ``mask == False``, ``barycentric == 0``, ``depth == 0``.
* Barycentrics ``(b0, b1, b2)`` weight the triangle's vertices in index order and are computed from
  the snapped x, y (so they lie in [0, 1] and sum to 1 up to rounding).

Algorithm (work bounded by each triangle's footprint, not pixels x triangles):

1. Per-triangle setup: snapped coordinates, canonical edge functions, top-left flags, the pixel
   bounding box (pixel centres inside the triangle's box), clipped to the image.
2. Triangles are put into size tiers by their clipped box: tier 0 (box <= 2x2 pixels -- almost every
   triangle of a dense face mesh) is evaluated for all triangles at once over a fixed 2x2 window;
   larger tiers (8, 32, 128, ... up to the full image) are compacted and processed in fixed-size
   chunks by a ``lax.while_loop`` whose trip count depends on how many triangles the tier holds, so
   shapes stay static under ``jit`` while a few screen-filling triangles remain exact and cheap.
3. A scatter-max of depth builds the z-buffer; a second scatter-min of the triangle index among the
   candidates that hit the z-buffer value resolves the winner (and exact ties, lowest index).
4. One gather pass per pixel recomputes barycentrics and depth for the winning triangle.

Memory is O(T + H*W) per image. Visibility is not differentiable; use
:func:`jaxau.geometry.interpolate` with ``vertices=`` for gradients with respect to positions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# Sub-pixel precision of the coverage test: 8 bits, as in Direct3D 11.
SUBPIXEL_BITS = 8
_SNAP = float(2**SUBPIXEL_BITS)

# Tier-0 window (pixels per side) and the growth factor of the larger tiers' windows.
_SMALL_WINDOW = 2
_TIER_GROWTH = 4
# Candidate (triangle x pixel) evaluations per while-loop chunk of the larger tiers.
_CHUNK_CANDIDATES = 1 << 16


class Fragments(NamedTuple):
    """Per-pixel rasterization result (a pytree; leading batch dims follow the vertices').

    Attributes:
      triangle_id: int32 ``[..., H, W]``, index of the visible triangle, -1 where empty.
      barycentric: float32 ``[..., H, W, 3]``, weights of the triangle's three vertices; 0 where empty.
      depth: float32 ``[..., H, W]``, interpolated z of the visible surface; 0 where empty.
      mask: bool ``[..., H, W]``, True where a triangle covers the pixel centre.
    """

    triangle_id: jax.Array
    barycentric: jax.Array
    depth: jax.Array
    mask: jax.Array


def snap(xy: jax.Array) -> jax.Array:
    """Rounds image-space x, y to the rasterizer's 1/256-pixel grid (no gradient through rounding)."""
    return jnp.round(xy * _SNAP) / _SNAP


class _Setup(NamedTuple):
    """Per-triangle data for the edge and depth tests (arrays of length T or [T, 3])."""

    ax: jax.Array  # [T,3] canonical start of each edge (snapped)
    ay: jax.Array
    dx: jax.Array  # [T,3] canonical edge direction
    dy: jax.Array
    sgn: jax.Array  # [T,3] +-1: sign turning the canonical value into "positive inside"
    edge_sign: jax.Array  # [T,3] +-1: canonical value -> value in triangle winding
    topleft: jax.Array  # [T,3] bool
    inv_area: jax.Array  # [T] 1 / signed doubled area (triangle winding)
    z: jax.Array  # [T,3]
    i0: jax.Array  # [T] int32 pixel box, inclusive
    i1: jax.Array
    j0: jax.Array
    j1: jax.Array
    valid: jax.Array  # [T] bool


def _triangle_setup(vertices, triangles, height, width, cull_backfaces):
    """Computes the per-triangle setup for one image (vertices [V,3])."""
    vertices = vertices.astype(jnp.float32)
    tri = vertices[triangles]  # [T,3,3]
    finite = jnp.all(jnp.isfinite(tri), axis=(1, 2))
    tri = jnp.where(finite[:, None, None], tri, 0.0)
    xy = snap(tri[..., :2])
    x, y, z = xy[..., 0], xy[..., 1], tri[..., 2]
    # Edge k runs from vertex k+1 to vertex k+2 (opposite vertex k).
    xa, ya = jnp.roll(x, -1, axis=1), jnp.roll(y, -1, axis=1)
    xb, yb = jnp.roll(x, -2, axis=1), jnp.roll(y, -2, axis=1)
    # Canonical order: the endpoint with the smaller (y, x) first. Both triangles sharing an edge then
    # evaluate the same expression on the same numbers, so their values are exact negatives.
    swap = (yb < ya) | ((yb == ya) & (xb < xa))
    ax = jnp.where(swap, xb, xa)
    ay = jnp.where(swap, yb, ya)
    dx = jnp.where(swap, xa, xb) - ax
    dy = jnp.where(swap, ya, yb) - ay
    edge_sign = jnp.where(swap, -1.0, 1.0).astype(jnp.float32)
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    orient = jnp.where(area > 0, 1.0, -1.0).astype(jnp.float32)
    # Edge direction in the triangle's winding, flipped so the interior is on the positive side.
    ex = (xb - xa) * orient[:, None]
    ey = (yb - ya) * orient[:, None]
    topleft = (ey < 0) | ((ey == 0) & (ex > 0))
    safe_area = jnp.where(area == 0, 1.0, area)
    # Pixel box: pixel centres c = idx + 0.5 with min <= c <= max, clipped to the image.
    fmin = lambda a: jnp.min(a, axis=1)  # noqa: E731
    fmax = lambda a: jnp.max(a, axis=1)  # noqa: E731
    j0 = jnp.clip(jnp.ceil(fmin(x) - 0.5), 0, width).astype(jnp.int32)
    j1 = jnp.clip(jnp.floor(fmax(x) - 0.5), -1, width - 1).astype(jnp.int32)
    i0 = jnp.clip(jnp.ceil(fmin(y) - 0.5), 0, height).astype(jnp.int32)
    i1 = jnp.clip(jnp.floor(fmax(y) - 0.5), -1, height - 1).astype(jnp.int32)
    valid = finite & (area != 0) & (j0 <= j1) & (i0 <= i1)
    if cull_backfaces:
        valid &= area < 0
    return _Setup(
        ax=ax, ay=ay, dx=dx, dy=dy, sgn=edge_sign * orient[:, None], edge_sign=edge_sign,
        topleft=topleft, inv_area=1.0 / safe_area, z=z, i0=i0, i1=i1, j0=j0, j1=j1, valid=valid)


def _edge_values(s: _Setup, px, py):
    """Canonical edge values [..., 3] at pixel centres; s fields broadcast against px, py [...,1]."""
    return s.dx * (py - s.ay) - s.dy * (px - s.ax)


def _inside_and_depth(s: _Setup, px, py):
    """Coverage test (top-left rule) and interpolated depth; s fields are [...,3] / [...]."""
    c = _edge_values(s, px, py)
    inside = jnp.all((s.sgn * c > 0) | ((c == 0) & s.topleft), axis=-1)
    e = c * s.edge_sign  # edge functions in triangle winding: b_k = e_k / area
    z = s.z
    depth = z[..., 0] + (e[..., 1] * (z[..., 1] - z[..., 0])
                         + e[..., 2] * (z[..., 2] - z[..., 0])) * s.inv_area
    return inside, depth, e


def _candidates(s: _Setup, tri_ids, kh, kw, height, width):
    """Evaluates triangles ``tri_ids`` [N] on their kh x kw pixel windows.

    Returns:
      pix: int32 [N*kh*kw] flat pixel index, ``height*width`` (dropped by scatters) where not covered.
      depth: float32 [N*kh*kw], -inf where not covered.
    """
    g = jax.tree_util.tree_map(lambda a: a[tri_ids], s)
    ii = g.i0[:, None, None] + jnp.arange(kh, dtype=jnp.int32)[None, :, None]  # [N,kh,1]
    jj = g.j0[:, None, None] + jnp.arange(kw, dtype=jnp.int32)[None, None, :]  # [N,1,kw]
    in_box = (ii <= g.i1[:, None, None]) & (jj <= g.j1[:, None, None]) & g.valid[:, None, None]
    py = (ii.astype(jnp.float32) + 0.5)[..., None]
    px = (jj.astype(jnp.float32) + 0.5)[..., None]
    per_tri = lambda a: a[:, None, None]  # noqa: E731
    gs = g._replace(ax=per_tri(g.ax), ay=per_tri(g.ay), dx=per_tri(g.dx), dy=per_tri(g.dy),
                    sgn=per_tri(g.sgn), edge_sign=per_tri(g.edge_sign), topleft=per_tri(g.topleft),
                    z=per_tri(g.z), inv_area=per_tri(g.inv_area))
    inside, depth, _ = _inside_and_depth(gs, px, py)
    inside = inside & in_box
    pix = jnp.where(inside, ii * width + jj, height * width).reshape(-1)
    depth = jnp.where(inside, depth, -jnp.inf).reshape(-1)
    return pix, depth


def _tier_windows(height, width):
    """Static window sizes (kh, kw) of the size tiers."""
    windows, k = [], _SMALL_WINDOW
    while True:
        windows.append((min(k, height), min(k, width)))
        if k >= max(height, width):
            return windows
        k *= _TIER_GROWTH


def _rasterize_single(vertices, triangles, height, width, cull_backfaces):
    num_tri = triangles.shape[0]
    npix = height * width
    s = _triangle_setup(vertices, triangles, height, width, cull_backfaces)
    windows = _tier_windows(height, width)
    extent = jnp.maximum(s.i1 - s.i0, s.j1 - s.j0) + 1
    tier = jnp.zeros((num_tri,), jnp.int32)
    for k, _ in enumerate(windows[:-1]):
        tier = tier + (extent > max(windows[k])).astype(jnp.int32)
    tier = jnp.where(s.valid, tier, -1)

    # Tier 0: every triangle on a fixed 2x2 window; those of other tiers are masked out.
    kh0, kw0 = windows[0]
    small = s._replace(valid=tier == 0)
    pix0, depth0 = _candidates(small, jnp.arange(num_tri, dtype=jnp.int32), kh0, kw0, height, width)
    tri0 = jnp.repeat(jnp.arange(num_tri, dtype=jnp.int32), kh0 * kw0)

    # Larger tiers: compacted lists of triangle ids, processed in static-size chunks.
    big = []
    for t in range(1, len(windows)):
        kh, kw = windows[t]
        chunk = max(1, _CHUNK_CANDIDATES // (kh * kw))
        padded = -(-num_tri // chunk) * chunk
        ids = jnp.nonzero(tier == t, size=padded, fill_value=num_tri)[0].astype(jnp.int32)
        count = jnp.sum(tier == t)
        big.append((kh, kw, chunk, ids, count))
    # Index num_tri is a padding triangle that is never valid.
    s_pad = jax.tree_util.tree_map(
        lambda a: jnp.concatenate([a, jnp.zeros((1,) + a.shape[1:], a.dtype)]), s)
    s_pad = s_pad._replace(valid=jnp.concatenate([tier, jnp.full((1,), -1, jnp.int32)]))

    def tier_loop(t, kh, kw, chunk, ids, count, init, update):
        st = s_pad._replace(valid=s_pad.valid == t)

        def body(carry):
            c, buf = carry
            tid = jax.lax.dynamic_slice_in_dim(ids, c * chunk, chunk)
            pix, depth = _candidates(st, tid, kh, kw, height, width)
            return c + 1, update(buf, pix, depth, jnp.repeat(tid, kh * kw))

        n_chunks = (count + chunk - 1) // chunk
        return jax.lax.while_loop(lambda cb: cb[0] < n_chunks, body, (jnp.int32(0), init))[1]

    # Pass 1: z-buffer (max depth).
    def zmax(buf, pix, depth, tid):
        return buf.at[pix].max(depth, mode="drop")

    zbuf = zmax(jnp.full((npix,), -jnp.inf, jnp.float32), pix0, depth0, tri0)
    for t, (kh, kw, chunk, ids, count) in enumerate(big, start=1):
        zbuf = tier_loop(t, kh, kw, chunk, ids, count, zbuf, zmax)

    # Pass 2: among candidates at the z-buffer depth, the lowest triangle index wins.
    def idmin(buf, pix, depth, tid):
        hit = depth == zbuf.at[pix].get(mode="fill", fill_value=jnp.nan)
        return buf.at[jnp.where(hit, pix, npix)].min(tid, mode="drop")

    idbuf = idmin(jnp.full((npix,), num_tri, jnp.int32), pix0, depth0, tri0)
    for t, (kh, kw, chunk, ids, count) in enumerate(big, start=1):
        idbuf = tier_loop(t, kh, kw, chunk, ids, count, idbuf, idmin)

    # Gather pass: barycentrics and depth of the winner at each pixel centre.
    mask = idbuf < num_tri
    g = jax.tree_util.tree_map(lambda a: a[jnp.minimum(idbuf, num_tri)], s_pad)
    rows = jnp.arange(height, dtype=jnp.float32) + 0.5
    cols = jnp.arange(width, dtype=jnp.float32) + 0.5
    py = jnp.repeat(rows, width)[:, None]
    px = jnp.tile(cols, height)[:, None]
    _, depth, e = _inside_and_depth(g, px, py)
    bary = e * g.inv_area[:, None]
    bary = jnp.where(mask[:, None], bary, 0.0)
    depth = jnp.where(mask, depth, 0.0)
    tri_id = jnp.where(mask, idbuf, -1)
    return Fragments(
        triangle_id=tri_id.reshape(height, width),
        barycentric=bary.reshape(height, width, 3),
        depth=depth.reshape(height, width),
        mask=mask.reshape(height, width))


def _check_inputs(vertices, triangles, height, width):
    if vertices.ndim < 2 or vertices.shape[-1] != 3:
        raise ValueError(f"rasterize: vertices must have shape [..., V, 3] (x, y, z in pixels), got "
                         f"{vertices.shape}.")
    if triangles.ndim != 2 or triangles.shape[-1] != 3:
        raise ValueError(f"rasterize: triangles must have shape [T, 3], got {triangles.shape}; batch "
                         "the vertices, not the triangles.")
    if not jnp.issubdtype(triangles.dtype, jnp.integer):
        raise ValueError(f"rasterize: triangles must be integer vertex indices, got {triangles.dtype}.")
    if not (isinstance(height, (int, np.integer)) and isinstance(width, (int, np.integer))
            and height > 0 and width > 0):
        raise ValueError(f"rasterize: height and width must be positive Python ints (static), got "
                         f"{height!r}, {width!r}.")
    if triangles.shape[0] >= np.iinfo(np.int32).max // 2:
        raise ValueError(f"rasterize: too many triangles ({triangles.shape[0]}) for int32 ids.")


def rasterize(vertices: jax.Array, triangles: jax.Array, height: int, width: int, *,
              cull_backfaces: bool = False) -> Fragments:
    """Rasterizes image-space triangles: visible triangle, barycentrics and depth per pixel.

    See the module docstring for the coordinate, winding, fill-rule and tie conventions.

    Args:
      vertices: float ``[..., V, 3]`` image-space ``(x, y, z)``; x right, y down, pixels; larger z is
        nearer. Leading dims are batch dims (``jax.vmap`` works too).
      triangles: int ``[T, 3]`` vertex indices, shared by the batch.
      height: output rows (static Python int).
      width: output columns (static Python int).
      cull_backfaces: drop triangles that appear clockwise on screen (see module docstring).

    Returns:
      :class:`Fragments` with leading dims ``vertices.shape[:-2]``.
    """
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    _check_inputs(vertices, triangles, height, width)
    triangles = triangles.astype(jnp.int32)
    batch = vertices.shape[:-2]
    fn = lambda v: _rasterize_single(v, triangles, int(height), int(width), cull_backfaces)  # noqa
    if not batch:
        return fn(vertices)
    flat = vertices.reshape((-1,) + vertices.shape[-2:])
    out = jax.vmap(fn)(flat)
    return jax.tree_util.tree_map(lambda a: a.reshape(batch + a.shape[1:]), out)
