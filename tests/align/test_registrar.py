"""Registration inference math: pose angles, similarity fit, map decoding and the Registrar plumbing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.align import canonical, crop, registrar as register
from jaxau.models.prnet import PRNet, init_variables
from jaxau.train import prnet as reg_train

ANGLES = np.deg2rad([25.0, -12.0, 7.0])  # yaw, pitch, roll


def posed_mesh(scale=30.0, angles=ANGLES, t=(64.0, 60.0, 5.0)):
    m = canonical.registration_mesh()
    r = np.asarray(register.pose_rotation(*angles))
    return (scale * m.canonical @ r.T + np.asarray(t, np.float32)).astype(np.float32), r


def test_pose_rotation_matches_synthfacs_camera_and_angles_invert():
    from jaxau.face.render import rotation_matrix

    r = np.asarray(register.pose_rotation(*ANGLES))
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)
    rh = np.asarray(rotation_matrix(ANGLES[0], ANGLES[1], ANGLES[2]))
    np.testing.assert_allclose(r, np.diag([1, -1, 1]) @ rh @ np.diag([1, -1, 1]), atol=1e-6)
    np.testing.assert_allclose(np.stack(register.head_angles(jnp.asarray(r))), ANGLES, atol=1e-5)


def test_fit_pose_recovers_a_known_similarity():
    v, r = posed_mesh()
    s, rot, t, err = register.fit_pose(jnp.asarray(v))
    np.testing.assert_allclose(float(s), 30.0, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(rot), r, atol=1e-4)
    np.testing.assert_allclose(np.asarray(t), [64, 60, 5], atol=1e-3)
    assert float(err) < 1e-4
    # A distorted mesh (random offsets of 10% of the face size) gets a clearly larger fit error.
    noisy = v + np.random.default_rng(0).normal(0, 3.0, v.shape).astype(np.float32)
    assert float(register.fit_pose(jnp.asarray(noisy))[3]) > 0.02


def test_position_map_encode_decode_round_trip():
    size = 64
    v, _ = posed_mesh(scale=20.0, t=(70.0, 66.0, 0.0))
    m = crop.box_crop_matrix(crop.landmark_box(v[canonical.registration_mesh().landmarks]), size)
    pm = canonical.render_position_maps(v[None], size)[0]
    target = register.crop_target(jnp.asarray(pm), jnp.asarray(m), size) / (1.1 * size)
    out = np.asarray(register.decode(target[None], jnp.asarray(m)[None], 1.1 * size))[0]
    err = np.linalg.norm(out[:, :2] - v[:, :2], axis=-1)
    # Bilinear sampling of a 64^2 map at 3k vertices: near-exact on most of the face; vertices hidden
    # where the cylindrical UV projection folds (under the nose, nostrils) read the covering surface.
    assert np.median(err) < 0.1 and np.percentile(err, 75) < 1.0, np.percentile(err, [50, 75, 90, 99])
    lm_err = err[canonical.registration_mesh().landmarks]
    assert np.median(lm_err) < 0.2 and lm_err.max() < 3.0, np.sort(lm_err)[-5:]
    dz = out[:, 2] - v[:, 2]
    # Depth is recovered up to one offset (the face's mean depth).
    assert np.median(np.abs(dz - np.median(dz))) < 0.2


@pytest.fixture(scope="module")
def neutral_registrar():
    """A PRNet whose last BN outputs 0 (sigmoid 0.5), so the Registrar returns its mean map exactly."""
    size = 32
    model = PRNet(size=size, width=2, scale_output=False)
    variables = jax.device_get(init_variables(model, jax.random.key(0)))
    last = "Conv2d_transpose_16"
    variables["params"][last]["BatchNorm"]["scale"] = np.zeros_like(variables["params"][last]["BatchNorm"]["scale"])
    variables["params"][last]["BatchNorm"]["bias"] = np.zeros_like(variables["params"][last]["BatchNorm"]["bias"])
    v, r = posed_mesh(scale=24.0, t=(60.0, 58.0, 0.0))
    box = crop.landmark_box(v[canonical.registration_mesh().landmarks])
    m = crop.box_crop_matrix(box, size)
    pm = canonical.render_position_maps(v[None], size)[0]
    mean_map = np.asarray(register.crop_target(jnp.asarray(pm), jnp.asarray(m), size)) / (1.1 * size)
    settings = reg_train.settings({"image_size": size, "base_width": 2, "mean_map": mean_map})
    return register.Registrar(model=model, variables=variables, settings=settings, batch_size=4), v, box


def test_registrar_plumbing_returns_the_mesh_its_map_encodes(neutral_registrar):
    registrar, v, box = neutral_registrar
    images = np.zeros((3, 120, 128, 3), np.uint8)
    res = registrar(images, np.repeat(box[None], 3, 0))  # 3 frames: padded to the batch of 4
    assert res.vertices.shape == (3, canonical.registration_mesh().num_vertices, 3)
    # Coarse 32^2 map: landmarks within a pixel or so (the jaw at the map's edge is coarser).
    lm = canonical.registration_mesh().landmarks
    lm_err = np.linalg.norm(res.landmarks[0, :, :2] - v[lm, :2], axis=-1)
    assert np.median(lm_err) < 0.5 and np.percentile(lm_err, 90) < 1.5, np.percentile(lm_err, [50, 90, 100])
    np.testing.assert_allclose(res.landmarks[2], res.landmarks[0], atol=1e-4)  # padded batch: same result
    np.testing.assert_allclose(res.pose[0], np.rad2deg(ANGLES), atol=1.0)
    np.testing.assert_allclose(res.scale[0], 24.0, rtol=0.02)
    assert res.fit_error[0] < 0.02
    with pytest.raises(ValueError, match="boxes"):
        registrar(images, box[None])
