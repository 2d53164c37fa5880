"""One face scale for both alignments: a frontal face's 68-landmark box is the same after 2-D
Procrustes and after 3-D frontalisation (``config.align.face_scale``)."""

import numpy as np
import pytest

from jaxau.align import canonical, crop, frontalize, procrustes2d, registrar as register
from jaxau.face.asset import load_asset


def identity_face(k: int) -> np.ndarray:
    """Registration-mesh vertices of an identity other than the template (head frame -> image convention)."""
    a = load_asset()
    v = a.vertices + 0.8 * a.identity_targets[k]
    return canonical.registration_mesh().from_asset(v[None])[0] @ canonical.FLIP_Y


@pytest.mark.parametrize("size,face_scale,k", [(64, 0.8, 3), (112, 0.6, 17)])
def test_landmark_boxes_of_2d_and_3d_outputs_agree(size, face_scale, k):
    m = canonical.registration_mesh()
    # The face in a frame: scaled, rolled 8 degrees, shifted.
    r = np.asarray(register.pose_rotation(0.0, 0.0, np.deg2rad(8.0)))
    frame_v = (150.0 * identity_face(k) @ r.T + np.array([200.0, 180.0, 0.0])).astype(np.float32)
    s, rot, t, _ = register.fit_pose(frame_v)
    # 3-D: the frontalised mesh's landmarks in the output.
    out_scale, out_t = frontalize.output_placement(size, face_scale)
    placed = np.asarray(frontalize.place(frame_v, s, rot, t, np.eye(3, dtype=np.float32), out_scale, out_t))
    box3 = crop.landmark_box(placed[m.landmarks])
    # 2-D: the frame's landmarks after Procrustes onto the template.
    tmpl = procrustes2d.template(size, face_scale)
    mat = np.asarray(procrustes2d.alignment_matrix(frame_v[m.landmarks, :2], tmpl))
    box2 = crop.landmark_box(crop.apply(mat, frame_v[m.landmarks, :2]))
    side2, side3 = crop.box_size(box2), crop.box_size(box3)
    assert abs(side3 / side2 - 1) < 0.05, (box2, box3)
    # The box side is face_scale x N (mean side; the identity differs from the template a little).
    assert abs(((box2[2] - box2[0] + box2[3] - box2[1]) / 2) / (face_scale * size) - 1) < 0.05
    # Same place: centres within 5 % of the side.
    c2, c3 = (box2[:2] + box2[2:]) / 2, (box3[:2] + box3[2:]) / 2
    assert np.abs(c2 - c3).max() < 0.05 * side2, (c2, c3)


def test_bad_face_scale_is_one_clear_error():
    with pytest.raises(ValueError, match="face_scale"):
        canonical.face_placement(64, 0.0)
