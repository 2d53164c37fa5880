"""jaxau.geometry.interpolate: values against numpy, gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxau.geometry import interpolate, rasterize

H, W = 12, 14


@pytest.fixture(scope="module")
def scene():
    """A few overlapping triangles (some pixels empty) with random 3-channel attributes."""
    rng = np.random.default_rng(0)
    v = np.array([[1, 1, 0], [12, 2, 0], [3, 11, 0],
                  [6, 3, 1], [13.5, 6, 2], [7, 11.5, 1],
                  [2, 5, 3], [5, 5.2, 3], [3.5, 9, 3],
                  [9, 9, 5], [9, 9, 5], [11, 11, 5]], np.float32)  # last: degenerate
    t = np.arange(12).reshape(4, 3).astype(np.int32)
    attr = rng.normal(size=(12, 3)).astype(np.float32)
    frag = jax.jit(rasterize, static_argnums=(2, 3))(v, t, H, W)
    return v, t, attr, frag


def test_values_match_numpy(scene):
    v, t, attr, frag = scene
    out = np.asarray(jax.jit(interpolate)(attr, t, frag))
    tid, bary, mask = map(np.asarray, (frag.triangle_id, frag.barycentric, frag.mask))
    assert mask.any() and not mask.all()
    expect = np.einsum("hwk,hwkc->hwc", bary, attr[t[np.maximum(tid, 0)]]) * mask[..., None]
    np.testing.assert_allclose(out, expect, atol=1e-6)
    # With vertices the barycentrics are recomputed unsnapped: equal up to the 1/256 px snapping.
    out_v = np.asarray(jax.jit(interpolate)(attr, t, frag, vertices=v))
    np.testing.assert_allclose(out_v, out, atol=0.05)


def test_gradients_finite_differences(scene):
    v, t, attr, frag = scene
    weights = np.random.default_rng(1).normal(size=(H, W, 3)).astype(np.float32)

    def loss(attr, verts):
        return jnp.sum(weights * interpolate(attr, t, frag, vertices=verts))

    # Visibility (frag) is fixed, so the loss is smooth in both arguments.
    check_grads(loss, (attr, v), order=1, modes=["rev"], eps=1e-2, atol=2e-2, rtol=2e-2)


def test_no_nan_gradients_anywhere(scene):
    v, t, attr, _ = scene

    def loss(attr, verts):
        frag = rasterize(verts, t, H, W)  # inside grad: contributes no gradient, never NaN
        return jnp.sum(interpolate(attr, t, frag, vertices=verts) ** 2)

    g_attr, g_v = jax.jit(jax.grad(loss, argnums=(0, 1)))(attr, v)
    assert np.all(np.isfinite(g_attr)) and np.all(np.isfinite(g_v))
    # Vertices of the hidden degenerate triangle get exactly zero gradient.
    assert np.all(np.asarray(g_v)[9:] == 0) and np.any(np.asarray(g_v)[:9] != 0)


def test_batched_attributes_and_vertices(scene):
    v, t, attr, _ = scene
    vs = np.stack([v, v + np.float32([0.5, 0.25, 0])])
    attrs = np.stack([attr, -attr])
    frag = jax.jit(rasterize, static_argnums=(2, 3))(vs, t, H, W)
    interp = jax.jit(interpolate)
    out = interp(attrs, t, frag, vertices=vs)
    shared = interp(attr, t, frag)
    assert out.shape == (2, H, W, 3) and shared.shape == (2, H, W, 3)
    for i in range(2):
        single = jax.tree_util.tree_map(lambda a: a[i], frag)
        np.testing.assert_allclose(out[i], interp(attrs[i], t, single, vertices=vs[i]), atol=1e-6)
        np.testing.assert_allclose(shared[i], interp(attr, t, single), atol=1e-6)


def test_bad_shapes_raise(scene):
    v, t, attr, frag = scene
    with pytest.raises(ValueError, match="attributes must be"):
        interpolate(attr[:, 0], t, frag)
    with pytest.raises(ValueError, match="vertices"):
        interpolate(attr, t, frag, vertices=v[None])
