"""jaxau.geometry.texture: bilinear sampling against cv2.remap, supersampling helpers."""

import cv2
import jax
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxau.geometry import box_downsample, rasterize, sample_texture, supersample_vertices


@pytest.mark.parametrize("channels", [1, 3])
def test_matches_cv2_remap_with_replicated_border(channels):
    rng = np.random.default_rng(channels)
    tex = rng.uniform(size=(13, 17, channels)).astype(np.float32)
    # Sample inside, on texel centres and well outside the texture (clamp-to-edge).
    x = rng.uniform(-4, 21, size=(9, 11)).astype(np.float32)
    y = rng.uniform(-4, 17, size=(9, 11)).astype(np.float32)
    x[0, :4], y[0, :4] = [0, 5, 16, 3], [0, 7, 12, 12]
    # cv2 quantises sample positions to 1/32 texel (INTER_TAB_SIZE); on that grid it is exact.
    x, y = np.round(x * 32) / 32, np.round(y * 32) / 32
    # cv2 puts texel centres at integers; ours are at +0.5 (normalised: (c + 0.5) / W).
    expect = cv2.remap(tex, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    expect = expect.reshape(9, 11, channels)
    uv = np.stack([(x + 0.5) / 17, (y + 0.5) / 13], -1)
    np.testing.assert_allclose(sample_texture(tex, uv), expect, atol=1e-5)
    texel = np.stack([x + 0.5, y + 0.5], -1)
    np.testing.assert_allclose(sample_texture(tex, texel, texel_units=True), expect, atol=1e-5)
    # Exact at texel centres.
    np.testing.assert_allclose(sample_texture(tex, uv)[0, :4], tex[[0, 7, 12, 12], [0, 5, 16, 3]],
                               atol=1e-6)


def test_gradients_and_batching():
    rng = np.random.default_rng(3)
    tex = rng.uniform(size=(6, 5, 2)).astype(np.float32)
    # Texel coordinates kept >= 0.1 texel away from the kinks at texel centres (integers + 0.5 here).
    xy = rng.integers(1, 4, size=(4, 4, 2)) + 0.5 + rng.uniform(0.1, 0.9, size=(4, 4, 2))
    check_grads(lambda t, c: sample_texture(t, c, texel_units=True), (tex, xy.astype(np.float32)),
                order=1, modes=["rev"], eps=1e-2, atol=1e-2, rtol=1e-2)
    uv = (xy / np.array([5, 6])).astype(np.float32)
    batched = jax.jit(sample_texture)(np.stack([tex, 2 * tex]), np.stack([uv, uv]))
    np.testing.assert_allclose(batched[1], 2 * sample_texture(tex, uv), rtol=1e-6)
    g = jax.grad(lambda c: sample_texture(tex, c).sum())(np.full((2, 2, 2), 5.0, np.float32))
    assert np.all(g == 0)  # clamped far outside: no gradient, no NaN


def test_supersampling_gives_fractional_coverage():
    # A half-plane edge through the middle of pixel column 2: at 4x the pixel is half covered.
    v = np.array([[2.5, -1, 0], [9, -1, 0], [2.5, 9, 0], [9, 9, 0]], np.float32)
    t = np.array([[0, 2, 1], [1, 2, 3]], np.int32)
    big = rasterize(supersample_vertices(v, 4), t, 32, 32)
    cover = np.asarray(box_downsample(big.mask[..., None].astype(np.float32), 4))[..., 0]
    np.testing.assert_allclose(cover[:, 2], 0.5)
    np.testing.assert_allclose(cover[:, 3:], 1.0)
    np.testing.assert_allclose(cover[:, :2], 0.0)
    with pytest.raises(ValueError, match="multiple of factor"):
        box_downsample(np.zeros((6, 6, 1)), 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="texture must be"):
        sample_texture(np.zeros((4, 4)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="uv must end in 2"):
        sample_texture(np.zeros((4, 4, 1)), np.zeros((2, 2, 3)))
