"""jaxau.geometry.transforms, procrustes and shading against hand-computed / scipy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from jaxau.geometry import (apply_similarity, euler_to_rotation, face_normals, fit_affine,
                            lambertian, orthographic, procrustes_2d, prnet_pose_angles,
                            rotation_to_euler, umeyama, vertex_normals, weak_perspective,
                            y_up_to_image)


def test_euler_convention_against_scipy_and_by_hand():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-1.4, 1.4, size=(20, 3)).astype(np.float32)
    r = np.asarray(euler_to_rotation(angles[:, 0], angles[:, 1], angles[:, 2]))
    # scipy's extrinsic 'xyz' = Rz @ Ry @ Rx, the documented order.
    np.testing.assert_allclose(r, Rotation.from_euler("xyz", angles).as_matrix(), atol=1e-6)
    # Positive yaw turns +z towards +x; positive pitch turns +y towards +z; roll +x towards +y.
    np.testing.assert_allclose(euler_to_rotation(0, np.pi / 2, 0) @ np.float32([0, 0, 1]), [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(euler_to_rotation(np.pi / 2, 0, 0) @ np.float32([0, 1, 0]), [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(euler_to_rotation(0, 0, np.pi / 2) @ np.float32([1, 0, 0]), [0, 1, 0], atol=1e-6)


def test_rotation_round_trips_and_prnet_angles():
    rng = np.random.default_rng(1)
    pitch, yaw, roll = rng.uniform(-1.5, 1.5, size=(3, 50)).astype(np.float32)
    r = euler_to_rotation(pitch, yaw, roll)
    back = rotation_to_euler(r)
    np.testing.assert_allclose(np.stack(back), np.stack([pitch, yaw, roll]), atol=1e-4)
    np.testing.assert_allclose(euler_to_rotation(*back), r, atol=1e-5)
    np.testing.assert_allclose(np.stack(prnet_pose_angles(r)), np.stack([-yaw, pitch, roll]),
                               atol=1e-4)
    # Gimbal lock still reproduces the matrix.
    locked = euler_to_rotation(0.3, np.pi / 2, 0.2)
    np.testing.assert_allclose(euler_to_rotation(*rotation_to_euler(locked)), locked, atol=1e-5)


def test_projections():
    p = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, -2.0]], np.float32)
    r = np.asarray(euler_to_rotation(0.1, 0.2, 0.3))
    out = weak_perspective(p, 2.0, r, np.array([10.0, 20.0]))
    np.testing.assert_allclose(out, 2.0 * p @ r.T + [10, 20, 0], atol=1e-5)
    np.testing.assert_allclose(orthographic(p), p)
    np.testing.assert_allclose(y_up_to_image(p, 64), [[1, 62, 3], [-1, 63.5, -2]])
    batched = weak_perspective(np.stack([p, p]), np.array([1.0, 2.0]), np.stack([r, r]),
                               np.zeros((2, 2)))
    np.testing.assert_allclose(batched[1], 2 * batched[0], atol=1e-5)


@pytest.mark.parametrize("dim", [2, 3])
def test_umeyama_recovers_known_similarity(dim):
    rng = np.random.default_rng(dim)
    src = rng.normal(size=(30, dim)).astype(np.float32)
    if dim == 3:
        rot = Rotation.from_euler("xyz", [0.4, -0.7, 1.1]).as_matrix()
    else:
        a = 2.3  # > pi/2: a large 2-D rotation
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    t = rng.normal(size=dim)
    dst = (1.7 * src @ rot.T + t).astype(np.float32)
    fit = procrustes_2d if dim == 2 else umeyama
    s, r, tt = fit(src, dst)
    np.testing.assert_allclose(s, 1.7, rtol=1e-5)
    np.testing.assert_allclose(r, rot, atol=1e-5)
    np.testing.assert_allclose(tt, t, atol=1e-5)
    np.testing.assert_allclose(apply_similarity(src, s, r, tt), dst, atol=1e-4)
    # A mirrored target still yields a proper rotation (det +1).
    _, r_m, _ = umeyama(src, src * np.r_[-1.0, np.ones(dim - 1)].astype(np.float32))
    np.testing.assert_allclose(np.linalg.det(r_m), 1.0, atol=1e-5)


def test_weighted_umeyama_ignores_zero_weight_outliers():
    rng = np.random.default_rng(5)
    src = rng.normal(size=(20, 3)).astype(np.float32)
    dst = src * 2.0 + 1.0
    dst[:3] += 50  # outliers
    w = np.ones(20, np.float32)
    w[:3] = 0
    s, r, t = umeyama(src, dst, w)
    np.testing.assert_allclose([s], [2.0], rtol=1e-5)
    np.testing.assert_allclose(r, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(t, [1, 1, 1], atol=1e-4)


def test_fit_affine_matches_numpy_lstsq():
    rng = np.random.default_rng(6)
    src = rng.normal(size=(40, 3))
    a = rng.normal(size=(3, 3))
    dst = src @ a.T + [1, 2, 3] + rng.normal(scale=0.01, size=(40, 3))
    sol = np.linalg.lstsq(np.c_[src, np.ones(40)], dst, rcond=None)[0]  # PRNet's formulation
    got_a, got_b = fit_affine(src.astype(np.float32), dst.astype(np.float32))
    np.testing.assert_allclose(got_a, sol[:3].T, atol=1e-4)
    np.testing.assert_allclose(got_b, sol[3], atol=1e-4)
    with pytest.raises(ValueError, match="fit_affine"):
        fit_affine(src[:, :2][None], dst)


def test_normals_and_lambertian():
    # A unit cube's corner: an axis-aligned tetrahedron wound counter-clockwise from outside.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    t = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    fn = np.asarray(face_normals(v, t))
    np.testing.assert_allclose(fn[:3], [[0, 0, -1], [0, -1, 0], [-1, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(fn[3], np.ones(3) / np.sqrt(3), atol=1e-6)
    vn = np.asarray(vertex_normals(v, t))
    # Vertex 0 touches three unit-area-weighted faces: the normalised mean of -x, -y, -z.
    np.testing.assert_allclose(vn[0], -np.ones(3) / np.sqrt(3), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vn, axis=1), 1.0, atol=1e-6)
    # An unused vertex gets a zero normal and finite gradients.
    v5 = np.concatenate([v, [[5, 5, 5]]]).astype(np.float32)
    assert np.all(np.asarray(vertex_normals(v5, t))[4] == 0)
    g = jax.grad(lambda x: vertex_normals(x, t).sum())(v5)
    assert np.all(np.isfinite(g))
    albedo = np.array([[0.5, 0.2, 1.0]], np.float32)
    n = np.array([[0, 0, 1]], np.float32)
    light = np.array([0, 1, 1], np.float32)  # 45 degrees
    np.testing.assert_allclose(lambertian(albedo, n, light, ambient=0.2, diffuse=0.8),
                               albedo * (0.2 + 0.8 / np.sqrt(2)), rtol=1e-6)
    np.testing.assert_allclose(lambertian(albedo, -n, light, ambient=0.2, diffuse=0.8),
                               albedo * 0.2, rtol=1e-6)  # facing away: ambient only
