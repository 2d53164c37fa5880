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
