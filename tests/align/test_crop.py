"""Crops: matrix algebra, inverse-crop round trip, and the bilinear warp against cv2.warpAffine."""

import cv2
import jax.numpy as jnp
import numpy as np

from jaxau.align import crop


def test_landmark_box_and_size_by_hand():
    lm = np.array([[10, 20], [30, 25], [20, 60]], np.float32)
    np.testing.assert_allclose(crop.landmark_box(lm), [10, 20, 30, 60])
    np.testing.assert_allclose(crop.box_size([10, 20, 30, 60]), np.sqrt(20 * 40))


def test_box_crop_centres_box_and_scales_by_hand():
    box = np.array([40, 50, 80, 90], np.float32)  # 40 x 40, centre (60, 70)
    m = crop.box_crop_matrix(box, 64, scale=2.0, shift=0.25)
    # side 80 px -> 64 px: scale 0.8; centre moved up by 0.25 * 40 = 10 -> (60, 60) maps to (32, 32).
    np.testing.assert_allclose(m[:, :2], 0.8 * np.eye(2), atol=1e-6)
    np.testing.assert_allclose(crop.apply(m, np.array([[60.0, 60.0]])), [[32, 32]], atol=1e-5)


def test_crop_inverse_round_trip_with_rotation_and_depth():
    rng = np.random.default_rng(0)
    m = crop.crop_matrix(np.array([50.0, 70.0]), 90.0, 64, angle=0.3)
    pts = rng.uniform(0, 128, (20, 3)).astype(np.float32)
    back = crop.apply(crop.invert(m), crop.apply(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-3)
    np.testing.assert_allclose(crop.matrix_scale(m), 64 / 90.0, rtol=1e-6)
    # numpy and JAX paths agree.
    np.testing.assert_allclose(np.asarray(crop.apply(jnp.asarray(m), jnp.asarray(pts))), crop.apply(m, pts),
                               atol=1e-4)


def test_warp_affine_matches_scipy_exactly_and_cv2_up_to_its_fixed_point_coordinates():
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, (48, 40, 3)).astype(np.float32)
    m = crop.crop_matrix(np.array([21.0, 23.0]), 30.0, 32, angle=0.2)
    ours = np.asarray(crop.warp_affine(img, m, 32))
    mi = crop.invert(m)
    gy, gx = np.mgrid[0:32, 0:32] + 0.5
    sx = mi[0, 0] * gx + mi[0, 1] * gy + mi[0, 2] - 0.5
    sy = mi[1, 0] * gx + mi[1, 1] * gy + mi[1, 2] - 0.5
    ref_scipy = np.stack([map_coordinates(img[..., c].astype(np.float64), [sy, sx], order=1, mode="constant")
                          for c in range(3)], -1)
    np.testing.assert_allclose(ours, ref_scipy, atol=2e-3)
    # cv2 quantises source coordinates to 1/32 pixel: compare on a smooth image.
    yy, xx = np.mgrid[0:48, 0:40]
    img = np.stack([2 * xx + yy, 100 + 50 * np.sin(xx / 6.0), 3 * yy], -1).astype(np.float32)
    ours = np.asarray(crop.warp_affine(img, m, 32))
    # cv2 puts pixel centres at integers; ours at +0.5: convert the matrix.
    a, t = m[:, :2], m[:, 2]
    m_cv = np.concatenate([a, (a @ [0.5, 0.5] + t - 0.5)[:, None]], 1)
    ref = cv2.warpAffine(img, m_cv, (32, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # The source window (side 30 around (21, 23)) lies inside the image, away from borders.
    np.testing.assert_allclose(ours[2:-2, 2:-2], ref[2:-2, 2:-2], atol=0.2)


def test_warp_outside_is_border_value():
    img = np.full((8, 8, 3), 100, np.uint8)
    m = crop.crop_matrix(np.array([100.0, 100.0]), 8.0, 8)  # far outside the frame
    assert np.all(np.asarray(crop.warp_affine(img, m, 8)) == 0)
