"""UV weight mask and position-map sampling."""

import numpy as np

from jaxau.face import uvmap
from jaxau.face.asset import REGION_ENM, REGION_FACE, REGION_LANDMARK, REGION_REST, load_asset


def test_weight_mask_regions():
    a = load_asset()
    size = 128
    reg = uvmap.region_map(a, size)
    w = uvmap.weight_mask(size)
    assert reg.shape == w.shape == (size, size)
    assert set(np.unique(w)) <= {0.0, 3.0, 4.0, 16.0}
    # Landmarks carry the top weight at their UV position.
    px = (a.uv[a.landmarks] * size).astype(int)
    assert (reg[px[:, 1], px[:, 0]] == REGION_LANDMARK).all()
    assert (w[px[:, 1], px[:, 0]] == 16.0).all()
    # Nose tip region (between eyes and mouth, centre column) is eyes-nose-mouth or landmark.
    nose = (a.uv[a.landmarks[29]] * size).astype(int)
    assert reg[nose[1], nose[0]] in (REGION_ENM, REGION_LANDMARK)
    # The cheek is plain face, the corners of the square are rest (ears / background).
    cheek = ((a.uv[a.landmarks[2]] + a.uv[a.landmarks[31]]) / 2 * size).astype(int)
    assert reg[cheek[1], cheek[0]] == REGION_FACE
    assert reg[0, 0] == REGION_REST and reg[-1, -1] == REGION_REST
    # Face + features cover a good part of the square.
    assert 0.3 < (reg > REGION_REST).mean() < 0.95


def test_sample_vertices_hand_case():
    # A map whose value is the pixel's own (col, row, 1): bilinear sampling returns uv*S - 0.5.
    s = 8
    jj, ii = np.meshgrid(np.arange(s), np.arange(s))
    pm = np.stack([jj, ii, np.ones_like(ii)], -1).astype(np.float32)
    uv = np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.25]], np.float32)
    got = np.asarray(uvmap.sample_vertices(pm, uv))
    np.testing.assert_allclose(got[:, :2], uv * s - 0.5, atol=1e-5)
    np.testing.assert_allclose(got[:, 2], 1.0, atol=1e-6)
