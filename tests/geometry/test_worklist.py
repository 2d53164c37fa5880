"""Tile work lists: every (triangle, tile) item of the selected triangles exactly once, in order."""

import jax.numpy as jnp
import numpy as np

from jaxau.geometry import worklist


def test_blocked_cumsum_equals_numpy_cumsum_across_blocks():
    x = np.random.default_rng(0).integers(0, 9, 1000)
    np.testing.assert_array_equal(np.asarray(worklist.blocked_cumsum(jnp.asarray(x))), np.cumsum(x))


def test_chunks_enumerate_each_tile_of_each_selected_triangle_once():
    rng = np.random.default_rng(1)
    n, tile, chunk = 40, 4, 16
    i0, j0 = rng.integers(0, 30, n), rng.integers(0, 30, n)
    i1, j1 = i0 + rng.integers(0, 13, n), j0 + rng.integers(0, 9, n)
    sel = rng.random(n) < 0.6
    # Brute force: the tiles of each selected triangle's box, row-major, in triangle order.
    expected = [(f, a, b) for f in range(n) if sel[f]
                for a in range(i0[f], i1[f] + 1, tile) for b in range(j0[f], j1[f] + 1, tile)]
    work = worklist.work_list(jnp.asarray(sel), *(jnp.asarray(a) for a in (i0, i1, j0, j1)), tile)
    assert int(work.n_items) == len(expected)

    def body(c, seen):
        item, tri, local = worklist.chunk_items(work, c, chunk)
        ti = jnp.asarray(i0)[tri] + (local // work.tiles_w[tri]) * tile
        tj = jnp.asarray(j0)[tri] + (local % work.tiles_w[tri]) * tile
        rows = jnp.stack([tri, ti, tj], -1)
        return seen.at[item].set(jnp.where((item < work.n_items)[:, None], rows, -1), mode="drop")

    seen = worklist.over_chunks(work, chunk, body, jnp.full((len(expected), 3), -1, jnp.int32))
    assert [tuple(map(int, r)) for r in np.asarray(seen)] == expected
