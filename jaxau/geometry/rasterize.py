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
* Sub-pixel snapping: x, y are snapped to a 1/256-pixel grid (as GPUs do) for the coverage test,
  depth and barycentrics. For triangles spanning a few pixels every edge-function evaluation on the
  snapped grid is exact in float32, so coverage is decided exactly; for large triangles values are
  rounded but both triangles of a shared edge still get bit-identical (negated) values.
* Fill rule: top-left. A pixel centre exactly on an edge belongs to the triangle for which that edge is
  a top edge (horizontal, interior below) or a left edge (interior to the right). Each edge function is
  evaluated in one canonical vertex order (by (y, x) of its endpoints) and negated for the other
  triangle sharing the edge, so both triangles see bit-identical values: a closed tessellation covers
  every pixel exactly once -- no cracks, no double coverage.
* Depth ties (two triangles with bit-identical interpolated depth at a pixel): the lower triangle index
  wins. Deterministic.
* Degenerate (zero snapped area), non-finite (vertices or an area that overflows float32), fully
  off-screen triangles and triangles with an index outside ``[0, V)`` (e.g. -1 padding) are ignored.
* Empty pixels: ``triangle_id == -1``, ``mask == False``, ``barycentric == 0``, ``depth == 0``.
* Barycentrics ``(b0, b1, b2)`` weight the triangle's vertices in index order and are computed from
  the snapped x, y (so they lie in [0, 1] and sum to 1 up to rounding). Depth is
  ``z0 + b1 (z1 - z0) + b2 (z2 - z0)`` in float32.

Algorithm (work bounded by each triangle's footprint, not pixels x triangles):

1. Per-triangle setup: snapped coordinates, canonical edge functions, top-left flags and the pixel
   box (the pixel centres inside the triangle's bounding box), clipped to the image.
2. Triangles whose box holds at most two pixel centres (1x1, 1x2 or 2x1 -- all but ~0.3% of the
   valid triangles of a dense face mesh) have exactly two candidates, (i0, j0) and (i1, j1); both
   are evaluated for all triangles at once (two 1-D slots).
3. Larger triangles have their box cut into 4x4 tiles; the (triangle, tile) work items are numbered
   by a cumsum of tile counts and processed 1024 at a time by a ``lax.while_loop`` whose trip count
   is data dependent (one tile slot per ``fori_loop`` step), so shapes stay static under ``jit``
   while a few screen-filling triangles (a background quad) remain exact and cheap; no static
   capacity can overflow.
4. A scatter-max of depth builds the z-buffer; a second scatter-min of the triangle index among the
   candidates that hit the z-buffer value exactly resolves the winner (and exact ties, lowest index).
   (Packing depth and id into one sortable int32 key would leave ~13 bits of depth for 87k
   triangles: too coarse, so two passes.)
5. One gather pass per pixel computes the barycentrics of the winning triangle; depth is the
   z-buffer's value.

Memory is O(T + H*W) per image. Visibility is not differentiable; use
:func:`jaxau.geometry.interpolate` with ``vertices=`` for gradients with respect to positions.

On CPU, :func:`rasterize` runs the same contract as a serial C++ kernel instead
(:mod:`jaxau.geometry.native`; ``impl=``), a third of this path's CPU time; the steps above are the
path every other platform lowers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.geometry import native, worklist

# Sub-pixel precision of the coverage test: 8 bits, as in Direct3D 11.
SUBPIXEL_BITS = 8
_SNAP = float(2**SUBPIXEL_BITS)

# Triangles whose pixel box holds at most two pixel centres (almost every triangle of a dense face
# mesh) are evaluated all at once at their two candidate pixels. Larger ones are cut into
# _TILE x _TILE tiles of their box; (triangle, tile) work items are processed _CHUNK at a time in a
# while loop.
_TILE = 4
_CHUNK = 1024  # 1024 measured faster than 256 or 4096 on the PRNet-size benchmark


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
    """Per-triangle data for the edge and depth tests.

    Every field is a ``[T]`` array; per-edge fields are tuples of three (edge k runs from vertex k+1
    to vertex k+2, opposite vertex k). Keeping everything 1-D lets XLA:CPU vectorise each fusion over
    the long triangle axis (``[T, 3]`` or ``[3, T]`` layouts were 3-5x slower).

    The edge value at pixel centre p is ``c_k = dx_k * (p_y - ay_k) - dy_k * (p_x - ax_k)``, positive
    inside; ``(ax, ay)`` is the edge's canonical start and ``(dx, dy)`` its canonical direction
    times +-1, so the two triangles sharing an edge compute exact negatives of each other. Barycentric
    ``b_k = c_k * inv_area``; depth ``= z0 + c_1 * gz1 + c_2 * gz2``. Invalid triangles have
    ``dx = dy = 0`` and ``topleft = False`` so no pixel ever passes their test.
    """

    ax: tuple
    ay: tuple
    dx: tuple
    dy: tuple
    topleft: tuple  # bool: pixel centres exactly on this edge are inside
    inv_area: jax.Array  # 1 / |doubled area|
    z0: jax.Array
    gz1: jax.Array  # (z1 - z0) * inv_area
    gz2: jax.Array
    i0: jax.Array  # int32 pixel box (pixel centres inside the triangle's box), inclusive,
    i1: jax.Array  # clipped to the image
    j0: jax.Array
    j1: jax.Array
    valid: jax.Array  # bool


def _triangle_setup(vertices, triangles, height, width, cull_backfaces):
    """Per-triangle setup of one image: vertices [V,3], triangles [T,3] -> fields of length T."""
    vertices = vertices.astype(jnp.float32)
    num_v = vertices.shape[0]
    vx, vy, vz = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    corner = [triangles[:, k] for k in range(3)]
    # Out-of-range indices (e.g. -1 padding) mark a triangle as unused.
    finite = (corner[0] >= 0) & (corner[0] < num_v)
    for c in corner[1:]:
        finite &= (c >= 0) & (c < num_v)
    corner = [jnp.clip(c, 0, num_v - 1) for c in corner]
    x = [vx[c] for c in corner]
    y = [vy[c] for c in corner]
    z = [vz[c] for c in corner]
    for a in x + y + z:
        finite &= jnp.isfinite(a)
    x = [snap(jnp.where(finite, a, 0.0)) for a in x]
    y = [snap(jnp.where(finite, a, 0.0)) for a in y]
    z = [jnp.where(finite, a, 0.0) for a in z]
    area = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
    orient = jnp.where(area > 0, 1.0, -1.0).astype(jnp.float32)
    # Pixel box: pixel centres c = idx + 0.5 with min <= c <= max, clipped to the image.
    min3 = lambda a: jnp.minimum(jnp.minimum(a[0], a[1]), a[2])  # noqa: E731
    max3 = lambda a: jnp.maximum(jnp.maximum(a[0], a[1]), a[2])  # noqa: E731
    j0 = jnp.clip(jnp.ceil(min3(x) - 0.5), 0, width).astype(jnp.int32)
    j1 = jnp.clip(jnp.floor(max3(x) - 0.5), -1, width - 1).astype(jnp.int32)
    i0 = jnp.clip(jnp.ceil(min3(y) - 0.5), 0, height).astype(jnp.int32)
    i1 = jnp.clip(jnp.floor(max3(y) - 0.5), -1, height - 1).astype(jnp.int32)
    # An area that overflows float32 (coordinates beyond ~1e19 px) would turn every barycentric into
    # NaN: such triangles are ignored like degenerate ones.
    valid = finite & (area != 0) & jnp.isfinite(area) & (j0 <= j1) & (i0 <= i1)
    if cull_backfaces:
        valid &= area < 0
    ax, ay, dx, dy, topleft = [], [], [], [], []
    for k in range(3):
        xa, ya, xb, yb = x[(k + 1) % 3], y[(k + 1) % 3], x[(k + 2) % 3], y[(k + 2) % 3]
        # Canonical order: the endpoint with the smaller (y, x) first. Both triangles sharing an edge
        # then evaluate the same expression on the same numbers: their values are exact negatives.
        swap = (yb < ya) | ((yb == ya) & (xb < xa))
        ax.append(jnp.where(swap, xb, xa))
        ay.append(jnp.where(swap, yb, ya))
        # Sign making the value positive inside (negation is exact, so consistency survives).
        sign = jnp.where(valid, jnp.where(swap, -orient, orient), 0.0)
        dx.append((jnp.where(swap, xa, xb) - ax[k]) * sign)
        dy.append((jnp.where(swap, ya, yb) - ay[k]) * sign)
        # Edge direction with the interior on its positive side: top edges point right (+x) with the
        # interior below, left edges point up (-y) with the interior to their right.
        ex, ey = (xb - xa) * orient, (yb - ya) * orient
        topleft.append(((ey < 0) | ((ey == 0) & (ex > 0))) & valid)
    inv_area = 1.0 / jnp.where(valid, jnp.abs(area), 1.0)
    return _Setup(
        ax=tuple(ax), ay=tuple(ay), dx=tuple(dx), dy=tuple(dy), topleft=tuple(topleft),
        inv_area=inv_area, z0=z[0], gz1=(z[1] - z[0]) * inv_area, gz2=(z[2] - z[0]) * inv_area,
        i0=i0, i1=i1, j0=j0, j1=j1, valid=valid)


def _gather(s: _Setup, idx):
    """Selects triangles ``idx`` (any shape): every array field is indexed."""
    return jax.tree_util.tree_map(lambda a: a[idx], s)


def _edges(s: _Setup, px, py):
    """Edge values c_k (list of 3) and the top-left coverage test at pixel centres px, py."""
    inside, c = None, []
    for k in range(3):
        ck = s.dx[k] * (py - s.ay[k]) - s.dy[k] * (px - s.ax[k])
        ok = (ck > 0) | ((ck == 0) & s.topleft[k])
        inside = ok if inside is None else inside & ok
        c.append(ck)
    return inside, c


def _window(g: _Setup, ii, jj, height, width, active=None):
    """Covered flat pixel index (``height*width`` = none) and depth for candidates ii, jj [K, N].

    ``active`` (bool, broadcastable) additionally restricts the candidates and turns on bounds checks.
    """
    inside, c = _edges(g, jj.astype(jnp.float32) + 0.5, ii.astype(jnp.float32) + 0.5)
    if active is not None:
        inside &= active & (ii < height) & (jj < width)
    depth = g.z0 + c[1] * g.gz1 + c[2] * g.gz2
    pix = jnp.where(inside, ii * width + jj, height * width).reshape(-1)
    return pix, jnp.where(inside, depth, -jnp.inf).reshape(-1)


def _tiled(s: _Setup, sel, tile, buf, update, height, width, recompute):
    """One pass over the triangles ``sel`` (bool [T]): each pixel box is cut into tile x tile tiles,
    processed as a `jaxau.geometry.worklist` of (triangle, tile) items."""
    work = worklist.work_list(sel, s.i0, s.i1, s.j0, s.j1, tile)

    def body(c, buf):
        item, f, local = worklist.chunk_items(work, c, _CHUNK)
        # The chunk's setup is recomputed from the raw vertices and triangles: reading the full
        # setup here would force XLA to materialise all ~20 setup arrays of length T, which cost
        # more than the rest of the pass (the two-slot pass fuses the setup instead).
        g = recompute(f)
        ti = g.i0 + (local // work.tiles_w[f]) * tile
        tj = g.j0 + (local % work.tiles_w[f]) * tile
        active = item < work.n_items
        # One 1-D evaluation + update per tile slot, in a loop: a [tile*tile, CHUNK] broadcast made
        # XLA fuse the whole per-triangle setup into every element (several times slower), and
        # unrolling the slots tripled the compile time.
        def slot(n, buf):
            pix, depth = _window(g, ti + n // tile, tj + n % tile, height, width, active=active)
            return update(buf, pix, depth, f)

        return jax.lax.fori_loop(0, tile * tile, slot, buf)

    return worklist.over_chunks(work, _CHUNK, body, buf)


def _rasterize_image(vertices, triangles, height, width, cull_backfaces):
    """Rasterizes one image (vertices [V,3]); returns Fragments [H, W]."""
    num_tri = triangles.shape[0]
    npix = height * width
    if num_tri == 0:
        return Fragments(triangle_id=jnp.full((height, width), -1, jnp.int32),
                         barycentric=jnp.zeros((height, width, 3), jnp.float32),
                         depth=jnp.zeros((height, width), jnp.float32),
                         mask=jnp.zeros((height, width), bool))

    s = _triangle_setup(vertices, triangles, height, width, cull_backfaces)
    # Triangles whose pixel box (pixel centres inside the bounding box) holds at most two pixel
    # centres -- all but a few hundred of a dense face mesh's -- have exactly two candidates,
    # (i0, j0) and (i1, j1) (the same pixel for a one-centre box: the max/min updates are
    # idempotent, so evaluating it twice is harmless). Larger boxes are tiled (_tiled). Evaluating
    # every small triangle on a fixed 2x2 window instead cost four candidate slots over all T.
    two = s.valid & ((s.i1 - s.i0) + (s.j1 - s.j0) <= 1)
    large = s.valid & ~two
    gs = s._replace(dx=tuple(jnp.where(two, a, 0.0) for a in s.dx),
                    dy=tuple(jnp.where(two, a, 0.0) for a in s.dy),
                    topleft=tuple(a & two for a in s.topleft))
    tri_id = jnp.arange(num_tri, dtype=jnp.int32)
    recompute = lambda f: _triangle_setup(vertices, triangles[f], height, width,  # noqa: E731
                                          cull_backfaces)
    # Non-candidates of gs fail the exact edge test (zeroed edges); valid boxes lie in the image.
    slots = [_window(gs, s.i0, s.j0, height, width), _window(gs, s.i1, s.j1, height, width)]

    def run(buf, update):
        """One pass over all candidates: buf = update(buf, pix, depth, triangle id) per batch."""
        # (Splitting the triangles into cache-sized blocks scanned by lax.scan was 7x slower.)
        for pix, depth in slots:
            buf = update(buf, pix, depth, tri_id)
        return _tiled(s, large, _TILE, buf, update, height, width, recompute)

    # Pass 1: z-buffer (max depth).
    def zmax(buf, pix, depth, tri):
        del tri
        return buf.at[pix].max(depth, mode="drop")

    zbuf = run(jnp.full((npix,), -jnp.inf, jnp.float32), zmax)

    # Pass 2: among candidates at exactly the z-buffer depth, the lowest triangle index wins.
    def idmin(buf, pix, depth, tri):
        hit = depth == zbuf.at[pix].get(mode="fill", fill_value=jnp.nan)
        return buf.at[jnp.where(hit, pix, npix)].min(tri, mode="drop")

    idbuf = run(jnp.full((npix,), num_tri, jnp.int32), idmin)

    # Gather pass: barycentrics of the winner at each pixel centre; depth is the z-buffer's.
    mask = idbuf < num_tri
    g = _gather(s, jnp.minimum(idbuf, num_tri - 1))
    py = jnp.repeat(jnp.arange(height, dtype=jnp.float32) + 0.5, width)
    px = jnp.tile(jnp.arange(width, dtype=jnp.float32) + 0.5, height)
    _, c = _edges(g, px, py)
    bary = jnp.where(mask[:, None], jnp.stack([ck * g.inv_area for ck in c], axis=-1), 0.0)
    return Fragments(
        triangle_id=jnp.where(mask, idbuf, -1).reshape(height, width),
        barycentric=bary.reshape(height, width, 3),
        depth=jnp.where(mask, zbuf, 0.0).reshape(height, width),
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
              cull_backfaces: bool = False, impl: str | None = None) -> Fragments:
    """Rasterizes image-space triangles: visible triangle, barycentrics and depth per pixel.

    See the module docstring for the coordinate, winding, fill-rule and tie conventions.

    Args:
      vertices: float ``[..., V, 3]`` image-space ``(x, y, z)``; x right, y down, pixels; larger z is
        nearer. Leading dims are batch dims, rasterized one image after another (faster than
        ``jax.vmap``, which also works).
      triangles: int ``[T, 3]`` vertex indices, shared by the batch.
      height: output rows (static Python int).
      width: output columns (static Python int).
      cull_backfaces: drop triangles that appear clockwise on screen (see module docstring).
      impl: ``'auto'``, ``'native'`` or ``'xla'`` (default: ``$JAXAU_RASTERIZER`` or ``'auto'``):
        on CPU, ``auto`` and ``native`` use the C++ kernel of :mod:`jaxau.geometry.native` (the same
        contract; outputs identical to the bit where the arithmetic is exact, within float32
        rounding elsewhere; ~3x less CPU time); other platforms, and ``xla``, use the jax.numpy path.

    Returns:
      :class:`Fragments` with leading dims ``vertices.shape[:-2]``. Not differentiable (gradients are
      zero): use :func:`jaxau.geometry.interpolate` with ``vertices=`` for gradients.
    """
    # Visibility is piecewise constant: no gradient flows through rasterize itself (use interpolate
    # with vertices= for position gradients).
    vertices = jax.lax.stop_gradient(jnp.asarray(vertices))
    triangles = jnp.asarray(triangles)
    _check_inputs(vertices, triangles, height, width)
    triangles = triangles.astype(jnp.int32)
    batch = vertices.shape[:-2]
    impl = native.default_impl() if impl is None else impl
    if impl not in native.IMPLS:
        raise ValueError(f"rasterize: impl={impl!r}; choose one of {', '.join(native.IMPLS)}.")
    height, width = int(height), int(width)
    # 'auto' builds the kernel only where computations default to the CPU: a GPU / TPU host would
    # lower the jax.numpy branch anyway, and needs no compiler.
    on_cpu = impl == "native" or jax.default_backend() == "cpu"
    use_kernel = bool(triangles.shape[0]) and on_cpu and native.available(impl)
    if not batch and not use_kernel:
        return _rasterize_image(vertices, triangles, height, width, cull_backfaces)
    flat = vertices.reshape((-1,) + vertices.shape[-2:])

    def xla_path(v):
        # Images one after another (lax.map): each keeps its working set in cache. Flattening the
        # batch into one problem was ~5x slower per image, jax.vmap (batched scatters) ~9x.
        return jax.lax.map(lambda x: _rasterize_image(x, triangles, height, width, cull_backfaces), v)

    def kernel_path(v):
        ids, bary, depth = native.rasterize_cpu(v.astype(jnp.float32), triangles, height, width,
                                                cull_backfaces)
        return Fragments(triangle_id=ids, barycentric=bary, depth=depth, mask=ids >= 0)

    # The kernel where the computation runs on CPU, the XLA path on any other platform.
    out = (jax.lax.platform_dependent(flat, cpu=kernel_path, default=xla_path) if use_kernel
           else xla_path(flat))
    return jax.tree_util.tree_map(lambda a: a.reshape(batch + a.shape[1:]), out)
