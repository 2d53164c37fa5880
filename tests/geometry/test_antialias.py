"""jaxau.geometry.render_attributes: coverage against the analytic area of a half-plane per pixel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.geometry import render_attributes

H, W = 12, 16
# Shared argument shapes: one compilation per supersampling factor.
ONES = np.ones((3, 3), np.float32)
BLUE = np.array([0.0, 0.0, 1.0], np.float32)


def half_plane_area(p, q):
    """Area of each unit pixel [j, j+1] x [i, i+1] left of the directed line p -> q (y down).

    Sutherland-Hodgman clip of the pixel square by the half-plane, then the shoelace formula.
    """
    out = np.zeros((H, W))
    side = lambda x, y: (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])  # noqa: E731
    for i in range(H):
        for j in range(W):
            poly = [(j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)]
            clipped = []
            for a, b in zip(poly, poly[1:] + poly[:1]):
                sa, sb = side(*a), side(*b)
                if sa >= 0:
                    clipped.append(a)
                if sa * sb < 0:
                    t = sa / (sa - sb)
                    clipped.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
            if len(clipped) >= 3:
                x, y = np.array(clipped).T
                out[i, j] = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return out


def half_plane_mesh(p, q):
    """One huge triangle whose edge p -> q crosses the image; its other edges stay outside."""
    apex = ((p[0] + q[0]) / 2, p[1] - 1000.0)
    v = np.array([[*p, 1.0], [*q, 1.0], [*apex, 1.0]], np.float32)
    return v, np.array([[0, 1, 2]], np.int32)


@pytest.fixture(scope="module")
def render():
    return jax.jit(render_attributes, static_argnums=(3, 4),
                   static_argnames=("supersample", "cull_backfaces"))


def test_vertical_edge_on_the_sample_grid_is_exact(render):
    # Edge at x = 5.25 (between sample columns 0.125 and 0.375 of k = 4): covered fraction 3/4.
    p, q = (5.25, 30.0), (5.25, -30.0)
    v, t = half_plane_mesh(p, q)
    v[2] = [-500.0, 0.0, 1.0]  # apex far to the left: the triangle covers x < 5.25
    _, cov = render(v, t, ONES, H, W, supersample=4, background=BLUE)
    expect = np.zeros((H, W))
    expect[:, :5] = 1.0
    expect[:, 5] = 0.25
    np.testing.assert_array_equal(np.asarray(cov), expect)


@pytest.mark.parametrize("k", [4, 8])
def test_slanted_edge_coverage_matches_analytic_area(render, k):
    p, q = (-3.0, 3.3), (19.0, 10.1)  # slope 0.31: every row sees a different sub-pixel offset
    v, t = half_plane_mesh(p, q)
    _, cov = render(v, t, ONES, H, W, supersample=k, background=BLUE)
    cov = np.asarray(cov, np.float64)
    area = half_plane_area(q, p)  # covered side is above the line (towards the apex)
    assert np.all(np.abs(cov * k * k - np.round(cov * k * k)) < 1e-5)  # multiples of 1/k^2
    edge = (area > 0) & (area < 1)
    assert edge.sum() >= W
    # A straight edge misses at most half a sample column per sample row: |error| <= 1/(2k).
    assert np.abs(cov - area).max() <= 1 / (2 * k) + 1e-6
    assert np.abs(cov - area)[edge].mean() < 1 / (4 * k)
    np.testing.assert_array_equal(cov[~edge], area[~edge])


def test_colours_blend_with_background_by_coverage(render):
    v, t = half_plane_mesh((-3.0, 3.3), (19.0, 10.1))
    red = np.array([1.0, 0.2, 0.0], np.float32)
    img, cov = render(v, t, np.tile(red, (3, 1)), H, W, supersample=4, background=BLUE)
    cov = np.asarray(cov)[..., None]
    assert 0 < cov.mean() < 1
    np.testing.assert_allclose(img, cov * red + (1 - cov) * BLUE, atol=1e-6)
    # Gradients reach the attributes: per channel, the three vertices' barycentric weights summed
    # over all samples add up to the covered area.
    grad = jax.jit(jax.grad(lambda a: jnp.sum(render_attributes(v, t, a, H, W, supersample=4,
                                                                background=BLUE)[0])))(ONES)
    np.testing.assert_allclose(np.asarray(grad).sum(0), np.full(3, cov.sum()), rtol=1e-5)


def test_bad_arguments_raise():
    v, t = half_plane_mesh((-3.0, 3.3), (19.0, 10.1))
    with pytest.raises(ValueError, match="supersample must be"):
        render_attributes(v, t, np.ones((3, 1)), H, W, supersample=0)
    with pytest.raises(ValueError, match="background must be"):
        render_attributes(v, t, np.ones((3, 2)), H, W, background=np.zeros(3))
