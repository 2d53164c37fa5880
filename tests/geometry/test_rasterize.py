"""jaxau.geometry.rasterize against a brute-force numpy reference, watertightness, edge cases."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import Delaunay

from jaxau.geometry import rasterize
from tests.geometry.reference import rasterize_reference

H, W = 20, 24
# Every mesh is padded to this size (index -1 = unused triangle) so the tests share compilations.
NV, NT = 165, 55


@pytest.fixture(scope="module", params=["xla", "native"])
def raster(request):
    """One jitted rasterizer per implementation and (static) configuration, shared by the tests:
    every test that takes it checks the jax.numpy path and the C++ kernel alike."""
    return jax.jit(functools.partial(rasterize, impl=request.param), static_argnums=(2, 3),
                   static_argnames=("cull_backfaces",))


def pad(v, t, nv=NV, nt=NT):
    v = np.concatenate([v, np.zeros((nv - len(v), 3), np.float32)]).astype(np.float32)
    t = np.concatenate([t, -np.ones((nt - len(t), 3), np.int32)]).astype(np.int32)
    return v, t


def random_soup(seed, n_small=50, n_big=5, grid=None):
    """Unshared triangles: many small ones, a few large ones that overlap and intersect in depth."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-3, [W + 3, H + 3], size=(n_small, 1, 2))
    small = centres + rng.normal(size=(n_small, 3, 2)) * 1.5
    big = rng.uniform(-12, [W + 12, H + 12], size=(n_big, 3, 2))
    xy = np.concatenate([small, big]).reshape(-1, 2)
    if grid is not None:  # vertices on a coarse grid: many pixel centres exactly on edges/vertices
        xy = np.round(xy * grid) / grid
    z = rng.uniform(0, 10, size=(len(xy), 1))  # per-vertex z: triangles intersect each other
    return np.concatenate([xy, z], 1).astype(np.float32), np.arange(len(xy)).reshape(-1, 3)


def compare(frag, ref, tie_tol=1e-4):
    rid, rbary, rdepth, second = ref
    tie = (rdepth - second) < tie_tol  # (near-)exact depth ties may legitimately differ
    tid = np.asarray(frag.triangle_id)
    assert np.array_equal(tid[~tie], rid[~tie])
    assert np.array_equal(np.asarray(frag.mask), rid >= 0)
    hit = (rid >= 0) & ~tie
    np.testing.assert_allclose(np.asarray(frag.barycentric)[hit], rbary[hit], atol=1e-5)
    np.testing.assert_allclose(np.asarray(frag.depth)[hit], rdepth[hit], rtol=1e-5, atol=1e-4)
    assert not np.any(np.isnan(np.asarray(frag.barycentric)))


@pytest.mark.parametrize("seed,grid", [(0, None), (1, None), (2, 4), (3, 2)])
def test_matches_brute_force(raster, seed, grid):
    v, t = random_soup(seed, grid=grid)
    compare(raster(v, t, H, W), rasterize_reference(v, t, H, W))


def test_cull_backfaces_matches_reference(raster):
    v, t = random_soup(4)
    frag = raster(v, t, H, W, cull_backfaces=True)
    compare(frag, rasterize_reference(v, t, H, W, cull_backfaces=True))
    # Counter-clockwise on screen (negative signed area with y down) is front facing.
    tri = np.array([[0, 1, 2]], np.int32)
    ccw = np.array([[2, 2, 1], [2, 18, 1], [20, 2, 1]], np.float32)  # down, then right: CCW on screen
    assert raster(*pad(ccw, tri), H, W, cull_backfaces=True).mask.any()
    assert not raster(*pad(ccw[::-1].copy(), tri), H, W, cull_backfaces=True).mask.any()


def test_exact_depth_tie_lowest_index_wins(raster):
    quad = np.array([[0, 0, 1], [W, 0, 1], [0, H, 1], [W, H, 1]], np.float32)
    tris = np.array([[0, 1, 2], [1, 3, 2], [0, 1, 3], [0, 3, 2]], np.int32)  # two coplanar covers
    tid = np.asarray(raster(*pad(quad, tris), H, W).triangle_id)
    ref = rasterize_reference(quad, tris, H, W)[0]
    assert np.array_equal(tid, ref)
    assert set(np.unique(tid)) <= {0, 1}


def assert_covered_exactly_once(raster, v, t, nt=256):
    """Every pixel is covered by exactly one triangle of the tessellation (v, t).

    Each triangle gets its own constant depth (unshared vertices keep identical x, y on shared
    edges); rendering with the depths and with the depths negated picks the same triangle at every
    pixel iff no pixel is covered twice, and the mask is full iff none is missed.
    """
    depth = np.random.default_rng(0).permutation(len(t)).astype(np.float32)
    xy = v[t.reshape(-1), :2]
    flat = np.arange(3 * len(t)).reshape(-1, 3)
    ids = []
    for sign in (1, -1):
        vz = np.concatenate([xy, sign * np.repeat(depth, 3)[:, None]], 1).astype(np.float32)
        frag = raster(*pad(vz, flat, 3 * nt, nt), H, W)
        assert bool(frag.mask.all()), "crack: a pixel is covered by no triangle"
        ids.append(np.asarray(frag.triangle_id))
    assert np.array_equal(ids[0], ids[1]), "a pixel is covered by two triangles"


def grid_mesh(nx, ny, x0, y0, x1, y1, z=1.0):
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    gx, gy = np.meshgrid(xs, ys)
    v = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)], 1).astype(np.float32)
    idx = np.arange(v.shape[0]).reshape(ny + 1, nx + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    t = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3),
                        np.stack([b, c, d], -1).reshape(-1, 3)]).astype(np.int32)
    return v, t


def test_watertight_regular_grid(raster):
    # Cell diagonals pass exactly through pixel centres, vertices sit on pixel corners: every
    # tie-breaking case of the fill rule occurs.
    v, t = grid_mesh(W // 2, H // 2, 0, 0, W, H)
    assert_covered_exactly_once(raster, v, t)


def test_watertight_random_triangulation_with_large_triangles(raster):
    rng = np.random.default_rng(7)
    # Points on a 1/2-pixel grid (many exactly on pixel centres) inside a square beyond the image,
    # plus the square's corners: a mix of tiny and image-sized triangles, both windings.
    pts = np.round(rng.uniform(-2, [W + 2, H + 2], size=(40, 2)) * 2) / 2
    pts = np.unique(np.concatenate([pts, [[-2, -2], [W + 2, -2], [-2, H + 2], [W + 2, H + 2]]]),
                    axis=0)
    t = Delaunay(pts).simplices.astype(np.int32)
    t[::2] = t[::2, ::-1]  # mixed windings must not matter without culling
    v = np.concatenate([pts, np.ones((len(pts), 1))], 1).astype(np.float32)
    assert_covered_exactly_once(raster, v, t)


def test_screen_filling_triangles_are_exact(raster):
    # Two triangles covering the whole image (background quad) + a small one in front.
    v = np.array([[-5, -5, 0], [W + 5, -5, 0], [-5, H + 5, 0], [W + 5, H + 5, 0],
                  [3, 3, 1], [9, 4, 1], [5, 11, 1]], np.float32)
    t = np.array([[0, 1, 2], [1, 3, 2], [4, 5, 6]], np.int32)
    compare(raster(*pad(v, t), H, W), rasterize_reference(v, t, H, W))


def test_many_large_triangles_span_several_chunks():
    # More (triangle, tile) work items than one chunk holds: exercises the while loop.
    rng = np.random.default_rng(3)
    h, w = 40, 40
    big = rng.uniform(-5, 45, size=(150, 3, 2))
    v = np.concatenate([big.reshape(-1, 2), rng.uniform(0, 1, (450, 1))], 1).astype(np.float32)
    t = np.arange(450).reshape(-1, 3).astype(np.int32)
    frag = jax.jit(rasterize, static_argnums=(2, 3))(v, t, h, w)
    compare(frag, rasterize_reference(v, t, h, w))


def test_degenerate_offscreen_nan_and_padding_are_ignored(raster):
    v = np.array([[1, 1, 0], [15, 2, 0], [4, 14, 0],  # a real triangle
                  [2, 2, 5], [8, 8, 5], [14, 14, 5],  # collinear (zero area), nearer
                  [100, 100, 9], [120, 100, 9], [100, 130, 9],  # off-screen
                  [np.nan, 3, 9], [10, 3, 9], [3, 10, 9],  # NaN vertex
                  [0, 0, 7], [W, 0, 7], [0, H, 7],
                  [np.inf, 3, 9], [12, 3, 9], [3, 12, 9],  # infinite x of a first corner
                  [-np.inf, 3, 9], [np.inf, 3, 9], [3, 12, np.inf],
                  [-1e20, -1e20, 9], [1e20, -1e20, 9], [0, 1e20, 9]],  # area overflows float32
                 np.float32)
    t = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, -1], [12, 13, 99],
                  [15, 16, 17], [18, 19, 20], [1, 0, 20], [21, 22, 23]], np.int32)
    frag = raster(*pad(v, t), H, W)
    assert set(np.unique(np.asarray(frag.triangle_id))) == {-1, 0}
    for a in frag:
        assert np.all(np.isfinite(np.asarray(a, np.float32)))
    empty = ~np.asarray(frag.mask)
    assert np.all(np.asarray(frag.barycentric)[empty] == 0) and np.all(np.asarray(frag.depth)[empty] == 0)
    # No triangles at all.
    none = rasterize(v, np.zeros((0, 3), np.int32), 4, 5)
    assert none.triangle_id.shape == (4, 5) and not bool(none.mask.any())


def test_batch_dims_and_vmap_agree_with_single_images(raster):
    v, t = random_soup(5)
    vs = np.stack([v, v + np.float32([1.5, -0.75, 0]), v * np.float32([1, 1, -1])])
    batched = raster(vs.reshape(3, 1, -1, 3), t, H, W)
    assert batched.triangle_id.shape == (3, 1, H, W) and batched.barycentric.shape == (3, 1, H, W, 3)
    for i in range(3):
        single = raster(vs[i], t, H, W)
        # Ids and masks agree exactly; floats up to rounding (separately compiled code).
        np.testing.assert_array_equal(np.asarray(batched.triangle_id[i, 0]), single.triangle_id)
        np.testing.assert_array_equal(np.asarray(batched.mask[i, 0]), single.mask)
        np.testing.assert_allclose(batched.barycentric[i, 0], single.barycentric, atol=1e-6)
        np.testing.assert_allclose(batched.depth[i, 0], single.depth, atol=1e-5)
    mapped = jax.jit(jax.vmap(lambda x: raster(x, t, H, W)))(vs)
    np.testing.assert_array_equal(mapped.triangle_id, np.asarray(batched.triangle_id)[:, 0])
    np.testing.assert_allclose(mapped.barycentric, np.asarray(batched.barycentric)[:, 0], atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"vertices must have shape \[\.\.\., V, 3\]"):
        rasterize(np.zeros((4, 2)), np.zeros((1, 3), np.int32), 8, 8)
    with pytest.raises(ValueError, match=r"triangles must have shape \[T, 3\]"):
        rasterize(np.zeros((4, 3)), np.zeros((3,), np.int32), 8, 8)
    with pytest.raises(ValueError, match="integer"):
        rasterize(np.zeros((4, 3)), np.zeros((1, 3), np.float32), 8, 8)
    with pytest.raises(ValueError, match=r"impl='gpu'; choose one of auto, native, xla"):
        rasterize(np.zeros((4, 3)), np.zeros((1, 3), np.int32), 8, 8, impl="gpu")
    with pytest.raises(ValueError, match="static"):
        rasterize(np.zeros((4, 3)), np.zeros((1, 3), np.int32), jnp.int32(8), 8)
