"""2-D alignment: a similarity-transformed template is mapped back onto the template exactly."""

import numpy as np

from jaxau.align import crop, procrustes2d, registrar as register


def test_template_geometry():
    t = procrustes2d.template(100, 0.8)
    box = crop.landmark_box(t)
    np.testing.assert_allclose(((box[2] - box[0]) + (box[3] - box[1])) / 2, 80, rtol=1e-5)
    np.testing.assert_allclose([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], [50, 50], atol=1e-4)
    # Frontal and symmetric: iBUG 36 (right eye outer corner, image left) mirrors 45.
    assert t[36, 0] < 50 < t[45, 0]
    np.testing.assert_allclose(t[36, 0] + t[45, 0], 100, atol=1e-3)


def test_known_similarity_is_recovered():
    size = 64
    tmpl = procrustes2d.template(size, 0.8)
    ang, s, shift = 0.4, 1.7, np.array([13.0, -7.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    moved = (s * tmpl @ r.T + shift).astype(np.float32)
    mat = np.asarray(procrustes2d.alignment_matrix(moved, tmpl))
    np.testing.assert_allclose(crop.apply(mat, moved), tmpl, atol=2e-3)
    # The fitted matrix is the inverse of the applied similarity.
    np.testing.assert_allclose(mat[:, :2], r.T / s, atol=1e-5)


def test_align_2d_warps_the_image_with_the_fit():
    size = 32
    tmpl = procrustes2d.template(size, 0.8)
    # A frame whose landmarks are the template shifted by (+5, +3): the warp must shift back.
    frame = np.zeros((40, 40, 3), np.uint8)
    frame[10:20, 12:16] = 200
    out, mats = procrustes2d.align_2d(frame[None], (tmpl + [5.0, 3.0])[None], size, tmpl)
    np.testing.assert_allclose(mats[0], [[1, 0, -5], [0, 1, -3]], atol=1e-4)
    np.testing.assert_allclose(out[0][7:17, 7:11], 200, atol=0.01)
    assert out[0][20:, 20:].max() == 0


def test_posed_template_turns_the_face():
    rot = np.asarray(register.pose_rotation(np.deg2rad(30.0), 0.0, 0.0))
    posed = procrustes2d.template(64, 0.8, rot)
    frontal = procrustes2d.template(64, 0.8)
    # Yaw towards +x (subject's left, image right): the nose tip (30) moves right of the eye midline.
    mid = (posed[36, 0] + posed[45, 0]) / 2
    assert posed[30, 0] > mid + 1.0
    assert abs(frontal[30, 0] - (frontal[36, 0] + frontal[45, 0]) / 2) < 0.1
