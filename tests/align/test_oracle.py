"""The frontalisation oracle's frontal re-render is exactly a direct render at pose 0 with the same
identity, expression and scene."""

import numpy as np
import pytest

from jaxau.align import oracle
from jaxau.face import synth


@pytest.fixture(scope="module")
def requests():
    cfg = synth.get_config("fera_demo_large")
    return cfg, synth.subject_frames(cfg, "test", 0)


def test_frontal_request_is_the_pose_0_camera(requests):
    cfg, frames = requests
    fr = frames[2]  # session 0, first view (yaw -40), frame 2
    assert fr["pose"][1] == -40.0
    front = oracle.frontal_request(cfg, fr)
    # A direct request at yaw = pitch = roll = 0 with the session's camera draws (synth.subject_frames).
    rng = np.random.default_rng([cfg.seed, 13, synth.SPLITS.index("test"), 0, 0])
    direct = synth.camera(cfg, 0.0, 0.0, 0.0, rng)
    for k in ("rotation", "scale", "translation"):
        np.testing.assert_allclose(front["scene"][k], direct[k], atol=1e-4)
    assert front["pose"] == (fr["pose"][0], 0.0, 0.0)
    np.testing.assert_array_equal(front["intensity"], fr["intensity"])
    assert front["subject"] is fr["subject"]
    # Rendered: the oracle frame equals the direct render at pose 0 pixel for pixel.
    direct_req = {**fr, "scene": {**fr["scene"], **direct}}
    a, b = synth.render_frames(cfg, [front, direct_req])
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_allclose(a["landmarks_2d"], b["landmarks_2d"], atol=1e-3)


def test_every_view_of_a_moment_has_the_same_frontal_render(requests):
    cfg, frames = requests
    # Session 0 holds views yaw -40 / 0 / +40 of the same 4 moments (synth.subject_frames's order).
    same = [fr for fr in frames if fr["frame"] == 1 and fr["sequence"].endswith(("-p3", "-p4", "-p5"))
            and "-s00-" in fr["sequence"]]
    assert sorted(fr["pose"][1] for fr in same) == [-40.0, 0.0, 40.0]
    renders = synth.render_frames(cfg, [oracle.frontal_request(cfg, fr) for fr in same])
    posed = synth.render_frames(cfg, same)
    for r in renders[1:]:
        np.testing.assert_array_equal(r["image"], renders[0]["image"])
    # ...and the posed frames differ from it (the views are really turned).
    assert np.abs(posed[0]["landmarks_2d"] - renders[0]["landmarks_2d"]).max() > 5.0


def test_region_errors_count_only_each_regions_hull():
    # A target face with landmarks on a grid-like layout; the output differs from it by 40 grey
    # levels only inside the mouth landmarks' hull, and is black (not shown) far outside the face.
    size = 64
    rng = np.random.default_rng(0)
    lm = np.zeros((68, 2), np.float32)
    lm[:17] = np.stack([np.linspace(8, 56, 17), np.full(17, 50)], -1)         # jaw
    lm[17:27] = np.stack([np.linspace(14, 50, 10), np.full(10, 14)], -1)      # brows
    lm[27:36] = np.stack([np.full(9, 32), np.linspace(18, 36, 9)], -1)        # nose
    lm[36:48] = np.stack([np.tile(np.linspace(16, 48, 6), 2), np.repeat([20, 24], 6)], -1)  # eyes
    lm[48:68] = np.stack([np.tile(np.linspace(22, 42, 10), 2), np.repeat([42, 47], 10)], -1)  # mouth
    target = rng.uniform(30, 200, (1, size, size, 3))
    out = target.copy()
    mouth = oracle._hull_mask(lm[48:68], size)
    out[0][mouth] += 40.0
    got = oracle.region_errors(out, target, lm[None])
    assert set(got) == {f"photometric_mae_{r}" for r in oracle.REGIONS}
    assert got["photometric_mae_mouth"][0] == pytest.approx(40.0)
    assert got["photometric_mae_brows_eyes"][0] == 0.0 and got["photometric_mae_nose"][0] == 0.0
    # A region the output does not show at all has no error to report.
    dark = out.copy()
    dark[0][oracle._hull_mask(lm[27:36], size)] = 0.0
    assert np.isnan(oracle.region_errors(dark, target, lm[None])["photometric_mae_nose"][0])
