"""Rendered SynthFACS frames: landmarks vs the render, UV position maps, face detection, determinism."""

import cv2
import numpy as np
import pytest

from jaxau import geometry
from jaxau.face import synth
from jaxau.face.asset import PART_EYE_L, PART_EYE_R, REGION_FACE, load_asset

CONFIG = "disfa_small"  # frontal, 128 px, 128 px position maps


@pytest.fixture(scope="module")
def frames():
    # Two subjects x 4 frames of the train split, and 4 of a test subject (one compiled renderer).
    out = []
    for split, subj in (("train", 0), ("train", 1), ("test", 0)):
        out += [e for _, e in synth.generate_examples(CONFIG, split, subjects=[subj],
                                                      max_frames_per_subject=4)]
    return out


@pytest.fixture(scope="module")
def asset():
    return load_asset()


@pytest.fixture(scope="module")
def fragments(frames, asset):
    """Re-rasterizes every frame's image-space vertices at once (one jit compile)."""
    import jax

    size = frames[0]["image"].shape[0]
    verts = np.stack([e["vertices"] for e in frames])
    frag = jax.jit(geometry.rasterize, static_argnums=(2, 3))(verts, asset.triangles, size, size)
    return jax.tree_util.tree_map(np.asarray, frag)


def test_example_fields(frames):
    cfg = synth.get_config(CONFIG)
    ex = frames[0]
    assert ex["image"].shape == (128, 128, 3) and ex["image"].dtype == np.uint8
    assert ex["au_intensity"].shape == (len(cfg.aus),) and ex["au_intensity"].dtype == np.int32
    assert ex["vertices"].shape == (4832, 3) and ex["landmarks_2d"].shape == (68, 2)
    assert ex["uv_position_map"].shape == (128, 128, 3)
    np.testing.assert_array_equal(ex["landmarks_3d"][:, :2], ex["landmarks_2d"])
    for e in frames:
        assert ((e["au_intensity"] >= 0) & (e["au_intensity"] <= 5)).all()
        np.testing.assert_array_equal(
            e["au_intensity"], np.searchsorted([0.5, 1.5, 2.5, 3.5, 4.5],
                                               e["au_intensity_continuous"], side="right"))
        if e["neutral"]:
            assert (e["au_intensity"] == 0).all()


def test_landmarks_lie_on_the_rendered_face(frames, fragments, asset):
    for i, ex in enumerate(frames):
        mask = fragments.mask[i]
        depth = fragments.depth[i]
        lm = ex["landmarks_3d"]
        cols = np.clip(lm[:, 0].astype(int), 0, 127)
        rows = np.clip(lm[:, 1].astype(int), 0, 127)
        # Every landmark projects into the face mask (the contour within a 2-pixel band).
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert mask[rows[17:], cols[17:]].all()
        assert grown[rows[:17], cols[:17]].all()
        # Brows, nose, eyes and outer lips are visible: the z-buffer there is the landmark's surface.
        vis = np.arange(17, 60)
        scale = np.linalg.norm(lm[36] - lm[45])  # ~ 1 decimetre in pixels
        gap = np.abs(depth[rows[vis], cols[vis]] - lm[vis, 2])
        assert np.median(gap) < 0.02 * scale and (gap < 0.08 * scale).mean() > 0.95, gap
        # The centre of each eye's landmark ring shows the eyeball (iris/pupil).
        tri_part = asset.triangle_part[fragments.triangle_id[i]]
        for ring in (slice(36, 42), slice(42, 48)):
            cx, cy = lm[ring, :2].mean(0)
            assert tri_part[int(cy), int(cx)] in (PART_EYE_L, PART_EYE_R)


def test_uv_position_map_reproduces_the_mesh(frames, asset):
    sel = (asset.region >= REGION_FACE)  # skin of the face, no mouth/eye lining
    sel = sel & (asset.uv > 0.03).all(1) & (asset.uv < 0.97).all(1)
    for ex in frames[:4]:
        pm = ex["uv_position_map"].astype(np.float32)
        s = pm.shape[0]
        # Pixel (i, j) of the map is sampled at uv = ((j + 0.5) / S, (i + 0.5) / S).
        x, y = asset.uv[sel, 0] * s - 0.5, asset.uv[sel, 1] * s - 0.5
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        taps = np.stack([pm[y0, x0], pm[y0, x0 + 1], pm[y0 + 1, x0], pm[y0 + 1, x0 + 1]], 1)
        w = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 1)
        # The map is empty in the eye and mouth openings: vertices on the lid and lip margins are
        # sampled from their filled taps only (bilinear weights renormalised).
        w = w * (np.abs(taps).sum(-1) > 0)
        covered = w.sum(1) > 0.2
        assert covered.mean() > 0.99
        got = (taps * w[..., None]).sum(1)[covered] / w.sum(1)[covered][:, None]
        err = np.linalg.norm(got - ex["vertices"][sel][covered], axis=1)
        assert np.median(err) < 0.15 and np.percentile(err, 95) < 0.6, (np.median(err), err.max())


def test_haar_cascade_finds_the_frontal_faces(frames):
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not casc.empty()
    found = 0
    for ex in frames:
        grey = cv2.cvtColor(ex["image"], cv2.COLOR_RGB2GRAY)
        boxes = casc.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3, minSize=(30, 30))
        # The detected box must contain the nose tip.
        nx, ny = ex["landmarks_2d"][30]
        found += any(x <= nx <= x + w and y <= ny <= y + h for x, y, w, h in boxes)
    assert found >= len(frames) - 1, f"{found}/{len(frames)}"


def test_same_seed_same_bytes(frames):
    again = [e for _, e in synth.generate_examples(CONFIG, "train", subjects=[0],
                                                   max_frames_per_subject=4)]
    for a, b in zip(frames[:4], again):
        for k in ("image", "vertices", "uv_position_map", "landmarks_2d", "au_intensity"):
            assert a[k].tobytes() == b[k].tobytes(), k
    assert frames[0]["image"].tobytes() != frames[4]["image"].tobytes()  # subject 1 differs


def test_bad_inputs_are_named():
    with pytest.raises(KeyError, match="known"):
        synth.get_config("fera_tiny")
    with pytest.raises(ValueError, match="split"):
        next(synth.generate_examples(CONFIG, "dev"))
    with pytest.raises(ValueError, match="outside"):
        next(synth.generate_examples(CONFIG, "train", subjects=[99]))
