"""The registration mesh closes the eye and mouth openings: a frontal SynthFACS face, frontalised
with its exact mesh, has (almost) no empty pixels inside its landmark hull."""

import cv2
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from jaxau.align import canonical, frontalize, registrar as register
from jaxau.face import synth
from jaxau.face.asset import PART_EYE_L, load_asset

SIZE = 64


@pytest.fixture(scope="module")
def frontal_examples():
    cfg = synth.get_config("fera_demo_large")
    # Session 0 of two test subjects: views yaw -40 / 0 / +40, 4 frames each; keep the frontal ones.
    exs = [e for _, e in synth.generate_examples(cfg, "test", subjects=[0, 1], max_frames_per_subject=8)]
    return [e for e in exs if int(e["pose"]["id"]) == 4]


def test_membranes_are_linear_in_the_asset_and_on_the_eyeball():
    m = canonical.registration_mesh()
    a = load_asset()
    assert m.num_vertices > m.num_surface and m.membrane.shape == (m.num_vertices - m.num_surface, a.num_vertices)
    # Affine combinations (weights sum to 1): translation-equivariant, so they follow any pose.
    np.testing.assert_allclose(m.membrane.sum(1), 1.0, atol=1e-5)
    shift = np.array([0.3, -0.2, 0.5], np.float32)
    np.testing.assert_allclose(m.from_asset(a.vertices + shift), m.from_asset(a.vertices) + shift, atol=1e-5)
    # Eye membranes lie on the eyeball sphere's outer side: within the lids' radius of the eye centre.
    c = a.vertices[a.vertex_part == PART_EYE_L].mean(0)
    r = np.linalg.norm(a.vertices[a.vertex_part == PART_EYE_L] - c, axis=1).mean()
    d = m.from_asset(a.vertices)[m.num_surface:] - c
    near = np.linalg.norm(d, axis=1) < 2 * r
    assert near.sum() > 10
    np.testing.assert_array_less(np.abs(np.linalg.norm(d[near], axis=1) - r), 0.25 * r)
    assert (d[near, 2] > 0).all()  # the front of the eyeball
    # Every membrane vertex is in the UV map.
    assert ((m.uv >= 0) & (m.uv <= 1)).all()


def test_frontal_frontalisation_has_no_holes(frontal_examples):
    m = canonical.registration_mesh()
    assert len(frontal_examples) >= 4
    for ex in frontal_examples:
        v = m.from_asset(ex["vertices"])
        s, r, t, _ = register.fit_pose(jnp.asarray(v))
        out, mask = frontalize.frontalize_batch(jnp.asarray(ex["image"])[None], jnp.asarray(v)[None],
                                                jnp.asarray([s]), jnp.asarray(r)[None], jnp.asarray(t)[None],
                                                jnp.eye(3), size=SIZE)
        mask = np.asarray(mask[0])
        sc, tt = frontalize.output_placement(SIZE)
        placed = np.asarray(frontalize.place(jnp.asarray(v), s, r, t, jnp.eye(3), sc, jnp.asarray(tt)))
        hull = np.zeros((SIZE, SIZE), np.uint8)
        pts = cv2.convexHull(placed[m.landmarks, :2].astype(np.float32))[:, 0]
        cv2.fillConvexPoly(hull, np.round(pts - 0.5).astype(np.int32), 1)
        # One pixel in from the hull: the jaw landmarks lie on the face's frontal silhouette by their
        # definition, so the straight hull edges between them cross it at pixel scale.
        inside = binary_erosion(hull.astype(bool), iterations=1)
        empty = (inside & ~mask).sum() / inside.sum()
        assert empty < 0.01, empty
        # The openings themselves are covered: pixels at the eye centres and between the lips.
        for a, b in ((37, 41), (38, 40), (43, 47), (44, 46), (61, 67), (62, 66), (63, 65)):
            x, y = ((placed[m.landmarks[a], :2] + placed[m.landmarks[b], :2]) / 2).astype(int)
            assert mask[y, x], (a, b)
