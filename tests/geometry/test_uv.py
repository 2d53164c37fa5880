"""jaxau.geometry.uv: UV position maps against matplotlib's triangle interpolator, round trips."""

import jax
import numpy as np
from matplotlib.tri import LinearTriInterpolator, Triangulation

from jaxau.geometry import grid_uv, render_uv_position_map, sample_position_map, uv_fragments

S = 16


def ellipse_grid_mesh():
    """A PRNet-style layout: grid points inside an ellipse, two triangles per fully inside cell."""
    r, c = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    inside = ((c - 7.5) / 7.2) ** 2 + ((r - 7.5) / 6.1) ** 2 <= 1
    index = -np.ones((S, S), int)
    index[inside] = np.arange(inside.sum())
    a, b, cc, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    ok = (a >= 0) & (b >= 0) & (cc >= 0) & (d >= 0)
    tris = np.concatenate([np.stack([a[ok], cc[ok], b[ok]], 1), np.stack([b[ok], cc[ok], d[ok]], 1)])
    return r[inside], c[inside], tris.astype(np.int32)


def test_position_map_matches_reference_and_round_trips():
    rows, cols, tris = ellipse_grid_mesh()
    uv = np.asarray(grid_uv(rows, cols, S))
    rng = np.random.default_rng(0)
    pos = np.stack([cols * 2.0, rows * -1.5, np.sin(cols / 3.0) + rng.normal(size=cols.size)], 1)
    pos = pos.astype(np.float32)
    frag = jax.jit(uv_fragments, static_argnums=(2, 3))(uv, tris, S, S)
    pmap, mask = render_uv_position_map(pos, uv, tris, S, S, fragments=frag)
    pmap, mask = np.asarray(pmap), np.asarray(mask)
    # Independent reference: matplotlib's linear interpolation over the same triangles, evaluated
    # at texel centres, in texel units.
    tri = Triangulation(uv[:, 0] * S, uv[:, 1] * S, tris)
    yy, xx = np.meshgrid(np.arange(S) + 0.5, np.arange(S) + 0.5, indexing="ij")
    for k in range(3):
        ref = LinearTriInterpolator(tri, pos[:, k])(xx, yy)
        np.testing.assert_allclose(pmap[..., k][mask], ref.filled(np.nan)[mask], atol=1e-4)
    assert np.all(pmap[~mask] == 0)
    # Every vertex sits on a texel centre; interior vertices are always covered, so sampling the map
    # at the UVs returns them exactly.
    covered = mask[rows, cols]
    assert covered.mean() > 0.8
    back = np.asarray(sample_position_map(pmap, uv))
    np.testing.assert_allclose(back[covered], pos[covered], atol=1e-5)
    # Batched positions reuse the same fragments.
    both, _ = render_uv_position_map(np.stack([pos, 2 * pos]), uv, tris, S, S, fragments=frag)
    np.testing.assert_allclose(both[1], 2 * pmap, atol=1e-5)
    np.testing.assert_allclose(sample_position_map(both, uv)[1][covered], 2 * pos[covered],
                               atol=1e-4)
