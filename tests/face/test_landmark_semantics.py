"""The asset's 68 landmark vertices follow the iBUG-68 definition, group by group.

Reference: the 300-W mean shape (the dlib / OpenFace 68-point template, an average of 2-D iBUG
annotations), seen from the front and normalised like ours: origin at the midpoint of the outer eye
corners (36, 45), unit = their distance (IOD), y down. Tolerances are stated per group.
"""

import numpy as np
import pytest

from jaxau.face import landmarks as lms
from jaxau.face.asset import load_asset

# 300-W mean-shape points (x, y) in IOD units from the outer-eye-corner midpoint (y down), the two
# sides averaged (the template is nearly, not exactly, symmetric).
REF = {0: (-0.840, 0.008), 31: (-0.1635, 0.5215), 32: (-0.085, 0.5535), 33: (0.0, 0.581),
       48: (-0.3265, 0.7855), 60: (-0.2755, 0.7935)}


@pytest.fixture(scope="module")
def frontal():
    a = load_asset()
    p = a.vertices[a.landmarks][:, :2] * np.array([1.0, -1.0])  # head frame (y up) -> image (y down)
    c = (p[36] + p[45]) / 2
    return (p - c) / np.linalg.norm(p[45] - p[36])


def test_symmetric_pairs(frontal):
    for a, b in lms.MIRROR_PAIRS:
        np.testing.assert_allclose(frontal[a], frontal[b] * [-1, 1], atol=1e-5)


def test_jaw_ends_at_eye_corner_height(frontal):
    # iBUG 0/16 start the contour at the outer eye corners' height (the mean shape: 0.01-0.03 IOD below);
    # 0.05 IOD (4 mm) allows for the face-mask outline's vertex spacing there.
    assert abs(frontal[0, 1] - frontal[36, 1]) < 0.05
    assert abs(frontal[16, 1] - frontal[45, 1]) < 0.05
    # On the face outline, outside the eyes: the mean shape has them 0.83-0.86 IOD out; our face-mask
    # outline at that height is 0.06 narrower (its temples), 0.1 IOD covers both.
    assert abs(abs(frontal[0, 0]) - 0.84) < 0.1
    # Contour order: monotonic down to the chin on each side.
    assert np.all(np.diff(frontal[0:9, 1]) > 0) and np.all(np.diff(frontal[8:17, 1]) < 0)


def test_nose_base(frontal):
    # Alar bases / nostrils: within 0.02 IOD (1.7 mm, the vertex spacing around the nose base) of the
    # mean shape's position relative to the subnasale, below the tip 30 and above the subnasale 33.
    for k in (31, 32):
        rel = frontal[k] - frontal[33]
        ref = np.array(REF[k]) - np.array(REF[33])
        np.testing.assert_allclose(rel, ref, atol=0.02, err_msg=f"landmark {k}")
    assert frontal[30, 1] < frontal[31, 1] < frontal[32, 1] < frontal[33, 1]


def test_inner_mouth_corners_inside_outer(frontal):
    # The mean shape has 60/64 at 0.84 of the outer corners' half-width; 0.75-0.95 is wide enough for
    # mouth-shape variation but excludes inner corners on top of the outer ones (the lining's extremes).
    ratio = frontal[60, 0] / frontal[48, 0]
    assert 0.75 < ratio < 0.95
    assert abs(frontal[60, 1] - frontal[48, 1]) < 0.05  # on the mouth line
    # Inner lip: 61-63 above 65-67 (the neutral mouth is slightly open), midline points centred.
    assert frontal[62, 1] < frontal[66, 1] and abs(frontal[62, 0]) < 1e-6


def test_eye_and_brow_order(frontal):
    assert frontal[36, 0] < frontal[39, 0] < frontal[42, 0] < frontal[45, 0]
    assert np.all(frontal[17:27, 1] < frontal[36:48, 1].min())
