"""jaxau.geometry.soft_silhouette: numpy SoftRas reference, sigma -> 0 limit, finite differences,
fitting a non-overlapping shape, NaN safety, batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxau.geometry import interpolate, rasterize, soft_radius, soft_silhouette

H, W = 20, 24
NV, NT = 36, 12


def pad(v, t):
    v = np.concatenate([v, np.zeros((NV - len(v), 3))]).astype(v.dtype)
    t = np.concatenate([t, -np.ones((NT - len(t), 3), np.int32)]).astype(np.int32)
    return v, t


def soup(seed, dtype=np.float32):
    """Small (sub- to few-pixel) and large (image-sized) triangles, both windings, padded."""
    rng = np.random.default_rng(seed)
    small = rng.uniform([2, 2], [W - 2, H - 2], size=(8, 1, 2)) + rng.normal(size=(8, 3, 2)) * 0.8
    big = rng.uniform(-6, [W + 6, H + 6], size=(2, 3, 2))
    xy = np.concatenate([small, big]).reshape(-1, 2)
    v = np.concatenate([xy, rng.uniform(size=(len(xy), 1))], 1).astype(dtype)
    return pad(v, np.arange(len(xy)).reshape(-1, 3))


def reference(v, t, sigma):
    """Untruncated SoftRas silhouette in float64: alpha, min distance to any edge, hard mask [H,W]."""
    py, px = np.mgrid[0:H, 0:W] + 0.5
    keep = np.ones((H, W))
    covered = np.zeros((H, W), bool)
    dmin = np.full((H, W), np.inf)
    for tri in t:
        if np.any(tri < 0):
            continue
        p = np.asarray(v, np.float64)[tri, :2]
        area = (p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[1, 1] - p[0, 1]) * (p[2, 0] - p[0, 0])
        if area == 0:
            continue
        d2, side = np.full((H, W), np.inf), []
        for k in range(3):
            a, b = p[k], p[(k + 1) % 3]
            ab = b - a
            s = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / (ab @ ab), 0, 1)
            d2 = np.minimum(d2, (px - a[0] - s * ab[0]) ** 2 + (py - a[1] - s * ab[1]) ** 2)
            side.append(np.sign(area) * (ab[0] * (py - a[1]) - ab[1] * (px - a[0])) >= 0)
        inside = side[0] & side[1] & side[2]
        prob = 0.5 * (1 + np.tanh(0.5 * np.where(inside, 1, -1) * d2 / sigma**2))  # sigmoid
        keep *= 1 - prob
        dmin = np.minimum(dmin, np.sqrt(d2))
        covered |= inside
    return 1 - keep, dmin, covered


raster = jax.jit(rasterize, static_argnums=(2, 3))


@pytest.fixture(scope="module")
def soft():
    return jax.jit(soft_silhouette, static_argnums=(2, 3), static_argnames=("sigma",))


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_untruncated_reference(soft, seed):
    v, t = soup(seed)
    alpha = np.asarray(soft(v, t, H, W, sigma=0.5))
    ref, _, _ = reference(v, t, 0.5)
    # Truncation changes each triangle's log-survival term by at most ~2 * SOFT_EPS.
    np.testing.assert_allclose(alpha, ref, atol=NT * 2e-4)
    assert 0.05 < alpha.mean() < 0.95 and np.all((alpha >= 0) & (alpha <= 1))


def test_small_sigma_converges_to_hard_mask_away_from_edges(soft):
    v, t = soup(2)
    _, dist, mask = reference(v, t, 1.0)
    # The hard rasterizer agrees with the reference's mask away from edges (snapping aside).
    hard = np.asarray(raster(v, t, H, W).mask)
    np.testing.assert_array_equal(hard[dist > 0.01], mask[dist > 0.01])
    errors = []
    for sigma in (0.5, 0.04):
        away = dist > 3 * sigma  # farther from every edge than the soft band
        err = np.abs(np.asarray(soft(v, t, H, W, sigma=sigma)) - mask)
        errors.append(err[dist > 0.15].max())
        assert err[away].max() < 1e-3
    # Pixels at > 0.15 px from every edge converge to the mask.
    assert errors[-1] < 1e-5
    assert errors[0] > 0.1


def test_cost_is_bounded_by_the_dilated_footprint(soft):
    # Nothing beyond radius ~3 sigma of a triangle is touched: exactly zero there.
    v = np.array([[8, 6, 0], [12, 7, 0], [9, 11, 0]], np.float32)
    alpha = np.asarray(soft(*pad(v, np.array([[0, 1, 2]])), H, W, sigma=0.5))
    _, dist, _ = reference(*pad(v, np.array([[0, 1, 2]])), 0.5)
    assert np.all(alpha[dist > soft_radius(0.5)] == 0)
    assert np.all(alpha[dist < soft_radius(0.5) * 0.9] > 0)


def test_gradients_match_finite_differences_float64():
    with jax.enable_x64(True):
        weights = jnp.asarray(np.random.default_rng(3).normal(size=(H, W)))
        v, t = soup(4, np.float64)
        for sigma in (0.6,):  # radius 1.8 px: windows for the small triangles, tiles for the big
            f = jax.jit(lambda v, s=sigma: jnp.sum(soft_silhouette(v, t, H, W, sigma=s) * weights))
            check_grads(f, (v,), order=1, modes=["rev"], eps=1e-6, atol=1e-5, rtol=1e-5)
            g = np.asarray(jax.grad(f)(v))
            assert np.all(np.abs(g[:30, :2]).sum(1) > 0) and np.all(g[:, 2] == 0)
            assert np.all(g[30:] == 0)  # padding vertices


def test_fitting_moves_a_non_overlapping_triangle_onto_its_target(soft):
    t = np.array([[0, 1, 2]], np.int32)
    target = np.array([[4, 4, 0], [12, 5, 0], [6, 13, 0]], np.float32)
    start = target + np.float32([[9, 2, 0]])  # shifted right: no overlap with the target
    hard_target = reference(*pad(target, t), 1.0)[2]
    hard_start = reference(*pad(start, t), 1.0)[2]
    assert not np.any(hard_target & hard_start)
    goal = soft(*pad(target, t), H, W, sigma=1.0)

    # The hard silhouette (interpolate with vertices=) gives exactly zero gradient here.
    def hard_loss(v):
        frag = rasterize(v, t, H, W)
        sil = interpolate(jnp.ones((3, 1)), t, frag, vertices=v)[..., 0]
        return jnp.sum((sil - hard_target) ** 2)
    assert np.abs(np.asarray(jax.jit(jax.grad(hard_loss))(start))).max() < 1e-6  # zero up to rounding

    v0, tp = pad(start, t)

    @jax.jit
    def step(shift):
        def loss(shift):
            v = jnp.asarray(v0).at[:3, :2].add(shift)
            return jnp.sum((soft_silhouette(v, tp, H, W, sigma=1.0) - goal) ** 2)
        value, grad = jax.value_and_grad(loss)(shift)
        return value, shift - 0.2 * grad

    shift = jnp.zeros(2)
    first, _ = step(shift)
    for _ in range(25):
        value, shift = step(shift)
    assert float(value) < 1e-3 * float(first)
    np.testing.assert_allclose(shift, [-9, -2], atol=0.05)  # exactly onto the target


def test_no_nan_for_empty_degenerate_nan_and_padding(soft):
    v = np.array([[2, 2, 0], [8, 8, 0], [14, 14, 0],  # collinear
                  [5, 5, 0], [5, 5, 0], [9, 3, 0],  # repeated vertex
                  [np.nan, 3, 0], [10, 3, 0], [3, 10, 0],  # NaN vertex
                  [500, 500, 0], [520, 500, 0], [500, 530, 0]], np.float32)  # off screen
    vv, tt = pad(v, np.arange(12).reshape(4, 3))
    grad = jax.jit(jax.grad(lambda x, tt: jnp.sum(soft_silhouette(x, tt, H, W, sigma=0.5))))
    assert np.all(np.asarray(soft(vv, tt, H, W, sigma=0.5)) == 0)
    assert np.all(np.asarray(grad(vv, tt)) == 0)
    # Huge finite coordinates (a triangle covering the image): finite values and gradients.
    huge = np.array([[1e15, 2, 0], [-1e15, 5, 0], [3, 1e15, 0]], np.float32)
    vv, tt = pad(huge, np.array([[0, 1, 2]]))
    assert np.all(np.isfinite(np.asarray(soft(vv, tt, H, W, sigma=0.5))))
    assert np.all(np.isfinite(np.asarray(grad(vv, tt))))
    # Empty triangle list.
    none = soft_silhouette(v, np.zeros((0, 3), np.int32), 4, 5)
    assert none.shape == (4, 5) and not np.any(np.asarray(none))


def test_batch_dims_agree_with_single_images(soft):
    v, t = soup(5)
    vs = np.stack([v, v + np.float32([1.5, -0.75, 0])]).reshape(2, 1, NV, 3)
    batched = np.asarray(soft(vs, t, H, W, sigma=0.5))
    assert batched.shape == (2, 1, H, W)
    for i in range(2):
        np.testing.assert_allclose(batched[i, 0], soft(vs[i, 0], t, H, W, sigma=0.5), atol=1e-6)
    # Gradients: leading batch dims (lax.map), jax.vmap and one image at a time agree.
    weights = jnp.asarray(np.random.default_rng(1).normal(size=(H, W)).astype(np.float32))
    loss = lambda x: jnp.sum(soft_silhouette(x, t, H, W, sigma=0.5) * weights)  # noqa: E731
    grad = jax.jit(jax.grad(loss))
    single = np.stack([grad(vs[i, 0]) for i in range(2)])
    assert np.abs(single).max() > 0.1
    np.testing.assert_allclose(jax.jit(jax.vmap(grad))(vs[:, 0]), single, atol=1e-5)
    np.testing.assert_allclose(grad(vs), np.stack([single], 1), atol=1e-5)


def test_bad_sigma_raises():
    v, t = soup(0)
    for sigma in (0.0, -1.0, float("nan"), jnp.float32(1.0)):
        with pytest.raises(ValueError, match="sigma must be a positive"):
            soft_silhouette(v, t, H, W, sigma=sigma)
