"""Soft silhouettes (SoftRas-style): a coverage whose gradients reach silhouette edges.

Hard rasterization is piecewise constant in the vertex positions, so a loss on the mask has zero
gradient and a shape that does not overlap its target gets no signal. Following Liu et al., "Soft
Rasterizer" (ICCV 2019), each triangle ``f`` instead covers pixel centre ``p`` with probability

    D_f(p) = sigmoid(delta * d(p, f)^2 / sigma^2),

where ``d`` is the Euclidean distance (pixels) from ``p`` to the triangle's boundary and ``delta`` is
+1 inside, -1 outside. The triangles are aggregated as independent events,
``alpha(p) = 1 - prod_f (1 - D_f(p)) = 1 - exp(-sum_f softplus(delta d^2 / sigma^2))``, which is
accumulated as a scatter-add of ``softplus`` terms (stable; no product of many numbers near 1).

``sigma`` (pixels) sets the width of the soft edge: alpha falls from 0.5 on an isolated edge to
sigmoid(-1) ~ 0.27 at one sigma outside. As ``sigma -> 0`` alpha tends to the hard mask at every
pixel centre not on an edge.

Cost is bounded by each triangle's footprint: ``D_f`` is truncated where
``d > radius = sigma * sqrt(log((1 - eps) / eps))`` (eps = :data:`SOFT_EPS`, radius ~ 3 sigma),
so a triangle touches only the pixel centres of its bounding box dilated by ``radius``. The truncated
term is shifted down by its value at the cutoff, so alpha stays continuous (exactly 0 far from the
mesh). Triangles whose dilated box holds at most ``k x k`` pixel centres (``k`` from the radius) use
one fixed ``k x k`` window each; larger ones are cut into tiles processed chunk by chunk in a
``while_loop`` (as in :mod:`jaxau.geometry.rasterize`), so one screen-filling triangle costs its
area, not ``T x H x W``. The backward pass is a second sweep over the same candidates (a
``custom_vjp``; reverse-mode through ``while_loop`` is not available) that accumulates per-triangle
gradients and scatters them to the vertices once (under ``jax.vmap`` it runs image by image).
Forward-mode (``jax.jvp``) is not supported.

Conventions are the rasterizer's: x right, y down, pixel centres at +0.5. Coordinates are *not*
snapped (the function must be smooth). Triangles with zero area, non-finite coordinates or an index
outside ``[0, V)`` are ignored (zero contribution and zero gradient), as in :func:`rasterize`. z is
ignored: every triangle adds to the silhouette whatever its depth (silhouettes, not visibility).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.geometry import worklist
from jaxau.geometry.rasterize import _check_inputs

# Truncation level of one triangle's coverage probability: D_f < SOFT_EPS is dropped.
SOFT_EPS = 1e-4
_LOGIT = math.log((1.0 - SOFT_EPS) / SOFT_EPS)  # (radius / sigma)^2
_SHIFT = math.log1p(math.exp(-_LOGIT))  # softplus(-_LOGIT): the term's value at the cutoff
_TILE = 4
_CHUNK = 2048


def soft_radius(sigma: float) -> float:
    """Distance (pixels) beyond which a triangle's soft coverage is truncated to exactly 0."""
    return float(sigma) * math.sqrt(_LOGIT)


def _term(coords, px, py, inv_s2):
    """Truncated ``softplus(delta d^2 / sigma^2) - shift`` of one triangle at one pixel centre.

    ``coords`` is a tuple (x0, y0, x1, y1, x2, y2) of arrays broadcastable with px, py. Smooth except
    where the closest boundary feature changes (measure zero) and at the truncation radius.
    """
    x = coords[0::2]
    y = coords[1::2]
    d2 = None
    inside_pos = inside_neg = None
    for k in range(3):
        ax, ay, bx, by = x[(k + 1) % 3], y[(k + 1) % 3], x[(k + 2) % 3], y[(k + 2) % 3]
        ex, ey = bx - ax, by - ay
        qx, qy = px - ax, py - ay
        # Edge function, sign tells the side; both windings are handled by requiring one common sign.
        e = ex * qy - ey * qx
        inside_pos = (e >= 0) if inside_pos is None else inside_pos & (e >= 0)
        inside_neg = (e <= 0) if inside_neg is None else inside_neg & (e <= 0)
        len2 = ex * ex + ey * ey
        # Safe denominator: a zero-length edge only occurs on degenerate (masked) triangles.
        t = jnp.clip((qx * ex + qy * ey) / jnp.where(len2 > 0, len2, 1.0), 0.0, 1.0)
        rx, ry = qx - t * ex, qy - t * ey
        dk = rx * rx + ry * ry
        d2 = dk if d2 is None else jnp.minimum(d2, dk)
    inside = inside_pos | inside_neg
    arg = jnp.where(inside, d2, -d2) * inv_s2
    keep = inside | (d2 * inv_s2 < _LOGIT)
    # Clamp before softplus so masked-out lanes never overflow (their gradient is masked anyway).
    return jnp.where(keep, jax.nn.softplus(jnp.minimum(arg, 80.0)) - _SHIFT, 0.0)


def _setup(vertices, triangles, height, width, radius):
    """Per-triangle coordinates (6 rows, invalid ones zeroed), validity and dilated pixel boxes."""
    num_v = vertices.shape[0]
    corner = [triangles[:, k] for k in range(3)]
    valid = jnp.ones(triangles.shape[0], bool)
    for c in corner:
        valid &= (c >= 0) & (c < num_v)
    corner = [jnp.clip(c, 0, num_v - 1) for c in corner]
    coords = []
    for c in corner:
        coords += [vertices[c, 0], vertices[c, 1]]
    for a in coords:
        valid &= jnp.isfinite(a)
    coords = tuple(jnp.where(valid, a, 0.0) for a in coords)
    x, y = coords[0::2], coords[1::2]
    area = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
    valid &= area != 0
    sx = jax.lax.stop_gradient
    lo_x = sx(jnp.minimum(jnp.minimum(x[0], x[1]), x[2])) - radius
    hi_x = sx(jnp.maximum(jnp.maximum(x[0], x[1]), x[2])) + radius
    lo_y = sx(jnp.minimum(jnp.minimum(y[0], y[1]), y[2])) - radius
    hi_y = sx(jnp.maximum(jnp.maximum(y[0], y[1]), y[2])) + radius
    # Pixel centres idx + 0.5 inside the dilated box, clipped to the image (float clip first: huge
    # finite coordinates must not overflow int32).
    j0 = jnp.ceil(jnp.clip(lo_x - 0.5, -1.0, width)).astype(jnp.int32)
    j1 = jnp.floor(jnp.clip(hi_x - 0.5, -1.0, width)).astype(jnp.int32)
    i0 = jnp.ceil(jnp.clip(lo_y - 0.5, -1.0, height)).astype(jnp.int32)
    i1 = jnp.floor(jnp.clip(hi_y - 0.5, -1.0, height)).astype(jnp.int32)
    j0, i0 = jnp.maximum(j0, 0), jnp.maximum(i0, 0)
    j1, i1 = jnp.minimum(j1, width - 1), jnp.minimum(i1, height - 1)
    valid &= (j0 <= j1) & (i0 <= i1)
    return coords, valid, (i0, i1, j0, j1), corner


def _sweep(box, valid, height, width, window, visit, carry):
    """Calls ``visit(carry, tri, ii, jj, active, small)`` over every (triangle, pixel) candidate.

    ``tri`` is None for the small-triangle windows (then every array is aligned with the triangle
    axis) and an int32 index array for chunks of large-triangle tiles.
    """
    i0, i1, j0, j1 = box
    kh, kw = min(window, height), min(window, width)
    small = valid & (i1 - i0 < kh) & (j1 - j0 < kw)
    wi, wj = jnp.minimum(i0, height - kh), jnp.minimum(j0, width - kw)

    def slot(n, carry):
        # One window slot per iteration: a loop rather than kh*kw unrolled passes keeps the
        # compile time independent of the window (8x8 for sigma = 1 px).
        ii, jj = wi + n // kw, wj + n % kw
        active = small & (ii >= i0) & (ii <= i1) & (jj >= j0) & (jj <= j1)
        return visit(carry, None, ii, jj, active)

    carry = jax.lax.fori_loop(0, kh * kw, slot, carry)
    large = valid & ~small
    work = worklist.work_list(large, i0, i1, j0, j1, _TILE)
    ti = jnp.repeat(jnp.arange(_TILE, dtype=jnp.int32), _TILE)[:, None]
    tj = jnp.tile(jnp.arange(_TILE, dtype=jnp.int32), _TILE)[:, None]

    def body(c, carry):
        item, f, local = worklist.chunk_items(work, c, _CHUNK)
        ii = i0[f] + (local // work.tiles_w[f]) * _TILE + ti  # [TILE*TILE, CHUNK]
        jj = j0[f] + (local % work.tiles_w[f]) * _TILE + tj
        active = (item < work.n_items) & (ii <= i1[f]) & (jj <= j1[f])
        tri = jnp.broadcast_to(f, ii.shape)
        return visit(carry, tri.reshape(-1), ii.reshape(-1), jj.reshape(-1), active.reshape(-1))

    return worklist.over_chunks(work, _CHUNK, body, carry)


def _window_size(radius):
    # A sub-pixel triangle (extent <= 1 px) dilated by the radius spans < 1 + 2 radius: at most
    # floor(1 + 2 radius) + 1 pixel centres per axis.
    return int(math.floor(1.0 + 2.0 * radius)) + 1


def _soft_sum_fwd_image(vertices, triangles, height, width, sigma):
    """sum_f of the truncated softplus terms at each pixel: [H*W]."""
    radius = soft_radius(sigma)
    coords, valid, box, _ = _setup(vertices, triangles, height, width, radius)
    npix = height * width
    inv_s2 = 1.0 / (sigma * sigma)
    dtype = vertices.dtype

    def visit(acc, tri, ii, jj, active):
        g = coords if tri is None else tuple(a[tri] for a in coords)
        val = _term(g, jj.astype(dtype) + 0.5, ii.astype(dtype) + 0.5, inv_s2)
        pix = jnp.where(active, ii * width + jj, npix)
        return acc.at[pix].add(jnp.where(active, val, 0.0), mode="drop")

    return _sweep(box, valid, height, width, _window_size(radius), visit,
                  jnp.zeros((npix,), dtype))


def _soft_sum_bwd_image(vertices, triangles, height, width, sigma, g_sum):
    """Gradient of <g_sum, soft sum> with respect to vertices [V, 3] (z gets 0)."""
    radius = soft_radius(sigma)
    coords, valid, box, corner = _setup(vertices, triangles, height, width, radius)
    npix = height * width
    inv_s2 = 1.0 / (sigma * sigma)
    dtype = vertices.dtype
    num_tri = triangles.shape[0]

    def visit(acc, tri, ii, jj, active):
        g = coords if tri is None else tuple(a[tri] for a in coords)
        pix = jnp.where(active, ii * width + jj, npix)
        cot = jnp.where(active, g_sum.at[pix].get(mode="fill", fill_value=0.0), 0.0)
        px, py = jj.astype(dtype) + 0.5, ii.astype(dtype) + 0.5
        _, pull = jax.vjp(lambda *c: _term(c, px, py, inv_s2), *g)
        grads = pull(cot)
        if tri is None:  # aligned with the triangle axis: plain sums, no scatter
            return tuple(a + b for a, b in zip(acc, grads))
        return tuple(a.at[tri].add(b, mode="drop") for a, b in zip(acc, grads))

    zero = tuple(jnp.zeros((num_tri,), dtype) for _ in range(6))
    gt = _sweep(box, valid, height, width, _window_size(radius), visit, zero)
    gt = [jnp.where(valid, a, 0.0) for a in gt]
    gv = jnp.zeros((vertices.shape[0], 3), dtype)
    for k in range(3):
        gv = gv.at[corner[k], 0].add(gt[2 * k]).at[corner[k], 1].add(gt[2 * k + 1])
    return gv


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _soft_sum(vertices, triangles, height, width, sigma):
    return _soft_sum_fwd_image(vertices, triangles, height, width, sigma)


def _soft_sum_fwd(vertices, triangles, height, width, sigma):
    return _soft_sum(vertices, triangles, height, width, sigma), (vertices, triangles)


def _soft_sum_bwd(height, width, sigma, res, g):
    vertices, triangles = res
    # Under jax.vmap the batched while_loop version of this sweep returned wrong gradients (the
    # forward sweep batches correctly; cause not found): batch it as a loop over images instead.
    # (Every array goes in as an argument: the wrapped function must not close over tracers.)
    bwd = jax.custom_batching.sequential_vmap(
        lambda v, t, g: _soft_sum_bwd_image(v, t, height, width, sigma, g))
    gv = bwd(vertices, triangles, g)
    # Integer triangles get a float0 cotangent.
    return gv, np.zeros(triangles.shape, jax.dtypes.float0)


_soft_sum.defvjp(_soft_sum_fwd, _soft_sum_bwd)


def soft_silhouette(vertices: jax.Array, triangles: jax.Array, height: int, width: int, *,
                    sigma: float = 0.5) -> jax.Array:
    """SoftRas-style soft coverage of image-space triangles, differentiable w.r.t. positions.

    See the module docstring for the model, truncation and cost.

    Args:
      vertices: float ``[..., V, 3]`` image-space ``(x, y, z)`` (z unused); x right, y down, pixels.
        Leading dims are batch dims (images one after another). float64 is kept under
        ``jax.experimental.enable_x64``; other dtypes are computed in float32.
      triangles: int ``[T, 3]`` vertex indices, shared by the batch; either winding.
      height: output rows (static Python int).
      width: output columns (static Python int).
      sigma: edge softness in pixels (static, > 0). Alpha is 0.5 on an isolated edge and
        ``sigmoid(-(d / sigma)^2)`` at distance d outside; influence is cut at ~3.03 sigma.
        Smaller is sharper (closer to the hard mask) but passes gradients over a narrower band.

    Returns:
      alpha, ``[..., H, W]`` in [0, 1] (float32, or float64 for float64 input). Reverse-mode
      differentiable with respect to ``vertices`` (x, y; z gets 0).
    """
    vertices = jnp.asarray(vertices)
    triangles = jnp.asarray(triangles)
    try:
        _check_inputs(vertices, triangles, height, width)
    except ValueError as e:  # same checks as rasterize; name this function in the message
        raise ValueError(str(e).replace("rasterize:", "soft_silhouette:", 1)) from None
    if not (isinstance(sigma, (int, float, np.floating)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"soft_silhouette: sigma must be a positive Python float (pixels, static), "
                         f"got {sigma!r}.")
    if vertices.dtype != jnp.float64:
        vertices = vertices.astype(jnp.float32)
    triangles = triangles.astype(jnp.int32)
    height, width, sigma = int(height), int(width), float(sigma)
    batch = vertices.shape[:-2]

    def one(v):
        if triangles.shape[0] == 0:
            return jnp.zeros((height, width), v.dtype)
        s = _soft_sum(v, triangles, height, width, sigma)
        return (-jnp.expm1(-s)).reshape(height, width)

    if not batch:
        return one(vertices)
    out = jax.lax.map(one, vertices.reshape((-1,) + vertices.shape[-2:]))
    return out.reshape(batch + (height, width))
