"""Tile work lists: the large triangles of a rasterization pass, cut into ``tile x tile`` pixel tiles
and processed a fixed-size chunk of (triangle, tile) items at a time.

Items are numbered by an inclusive cumsum of per-triangle tile counts in triangle order (0 for
triangles not in the pass); a chunk of item numbers finds its triangles by binary search -- no
compaction, no static capacity -- and a ``while_loop`` with a data-dependent trip count runs over
the chunks. Used by the hard rasterizer (`jaxau.geometry.rasterize`) and the soft silhouette
(`jaxau.geometry.soft`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


def blocked_cumsum(x):
    """Inclusive int32 cumsum of a 1-D array (two-level; ~2x faster than jnp.cumsum on XLA:CPU)."""
    n, block = x.shape[0], 256
    nb = -(-n // block)
    rows = jnp.cumsum(jnp.pad(x.astype(jnp.int32), (0, nb * block - n)).reshape(nb, block), axis=1)
    offsets = jnp.cumsum(rows[:, -1]) - rows[:, -1]
    return (rows + offsets[:, None]).reshape(-1)[:n]


class WorkList(NamedTuple):
    """The (triangle, tile) items of one pass."""

    tiles_w: jax.Array    # [T] tiles per row of each triangle's pixel box
    tiles: jax.Array      # [T] tiles of each triangle (0 when not in the pass)
    tiles_end: jax.Array  # [T] inclusive cumsum of ``tiles``
    n_items: jax.Array    # () total items


def work_list(selected, i0, i1, j0, j1, tile: int) -> WorkList:
    """Items of the triangles ``selected`` (bool [T]) whose pixel boxes are rows ``i0..i1`` and
    columns ``j0..j1`` (inclusive), cut into ``tile x tile`` tiles."""
    tiles_w = (j1 - j0) // tile + 1
    tiles = jnp.where(selected, ((i1 - i0) // tile + 1) * tiles_w, 0)
    tiles_end = blocked_cumsum(tiles)
    return WorkList(tiles_w, tiles, tiles_end, tiles_end[-1])


def chunk_items(work: WorkList, c, chunk: int):
    """``(item, tri, local)`` of chunk ``c``: item numbers ``[chunk]``, their triangle and their tile
    index within that triangle (items past ``work.n_items`` map to the last triangle; mask them)."""
    item = c * chunk + jnp.arange(chunk, dtype=jnp.int32)
    tri = jnp.minimum(jnp.searchsorted(work.tiles_end, item, side="right", method="scan"),
                      work.tiles.shape[0] - 1)
    local = item - (work.tiles_end[tri] - work.tiles[tri])
    return item, tri, local


def over_chunks(work: WorkList, chunk: int, body: Callable[[Any, Any], Any], carry):
    """``carry = body(c, carry)`` for every chunk ``c`` of ``chunk`` items, in a ``while_loop``."""
    n_chunks = (work.n_items + chunk - 1) // chunk
    return jax.lax.while_loop(lambda s: s[0] < n_chunks, lambda s: (s[0] + 1, body(s[0], s[1])),
                              (jnp.int32(0), carry))[1]
