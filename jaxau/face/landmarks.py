"""The 68 iBUG / 300-W landmarks of the SynthFACS head, as vertex indices (``FaceAsset.landmarks``).

Semantics (iBUG-68, 0-based, "right"/"left" = the subject's; the subject's right appears on the
image left in a frontal view):

====== =====================================================================================
0-16   jaw contour, from the subject's right ear level (0) via the chin (8) to the left (16)
17-21  right brow, outer -> inner;   22-26 left brow, inner -> outer
27-30  nose bridge, from the nasal root (27) to the tip (30)
31-35  nose base, right alar base (31), subnasale (33), left alar base (35)
36-41  right eye: outer corner 36, upper lid 37-38, inner corner 39, lower lid 40-41
42-47  left eye:  inner corner 42, upper lid 43-44, outer corner 45, lower lid 46-47
48-59  outer lip contour: right corner 48, upper lip 49-53 (51 on the midline), left corner 54,
       lower lip 55-59 (57 on the midline)
60-67  inner lip contour: right corner 60, upper 61-63, left corner 64, lower 65-67
====== =====================================================================================

How they were chosen (``tools/build_face_asset.py``; the mesh is exactly symmetric, so every point
is picked on the subject's left and mirrored through ``hm08.mirror``):

* eyes: the lid-margin loop = skin vertices shared with the eye-socket lining; corners are its x
  extremes, lid points the loop vertices nearest 1/3 and 2/3 of the corner-to-corner span;
* inner lips: the same on the mouth lining; outer lips: the boundary of the MakeHuman lip mask,
  taking the highest (upper) / lowest (lower) boundary vertex in a 3 mm column;
* brows: 5 points along the procedural brow curve (:mod:`jaxau.face.brows`) that the renderer
  paints, so the brow landmarks sit on the drawn brows;
* nose: midline vertices; tip = most anterior, subnasale = most posterior between tip and lip;
  alar bases 31/35 and nostril points 32/34 where the 300-W mean shape puts them relative to the
  subnasale (+-0.165 / +-0.085 inter-ocular distances across, 0.057 / 0.027 above);
* inner mouth corners 60/64: on the mouth-opening loop at 0.85 of the outer corners' half-width
  (the lining's own x extremes fold into the commissure, at the outer corners);
* jaw: the outline of the MakeHuman face mask seen from the front, cut where it crosses the height
  of the outer eye corners (iBUG's 0/16) and resampled by arc length via the chin.

Checked against the 300-W mean shape (``tests/face/test_landmark_semantics.py``), in inter-ocular
distances: jaw ends 0.01 above the outer-corner line (mean shape: 0.01-0.03 below), nose base and
mouth corners within 0.05.

Jaw points are fixed vertices, not the pose-dependent silhouette: at large yaw the far-side contour
points lie on the cheek, not on the occluding outline (as in 3D-registered landmark sets).
"""

from __future__ import annotations

import numpy as np

from jaxau.face.asset import FaceAsset

NUM_LANDMARKS = 68
JAW = slice(0, 17)
RIGHT_BROW, LEFT_BROW = slice(17, 22), slice(22, 27)
NOSE_BRIDGE, NOSE_BASE = slice(27, 31), slice(31, 36)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)
MIDLINE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)
# (right, left) partners under a left-right flip of the face.
MIRROR_PAIRS = ([(k, 16 - k) for k in range(8)] + [(17 + k, 26 - k) for k in range(5)]
                + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
                   (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)])


def flip_permutation() -> np.ndarray:
    """Index permutation mapping landmarks of an image to those of its horizontal mirror."""
    perm = np.arange(NUM_LANDMARKS)
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


def landmark_positions(asset: FaceAsset, vertices: np.ndarray) -> np.ndarray:
    """The ``[..., 68, 3]`` landmark positions of any ``[..., V, 3]`` vertex array of the asset."""
    return np.asarray(vertices)[..., asset.landmarks, :]
