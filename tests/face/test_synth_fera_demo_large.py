"""The ``fera_demo_large`` SynthFACS config (the demo's estimator-sized data, issue #8)."""

import dataclasses

import numpy as np

from jaxau import au as au_lib
from jaxau.face import synth
from jaxau.face.asset import load_asset


def test_config_shape():
    cfg = synth.get_config("fera_demo_large")
    assert cfg.domain == "fera" and cfg.aus == au_lib.FERA2017_AUS
    # fera_demo's 3 frontal-row views with the ids they have in the 9-view `fera` config (4 = frontal).
    assert cfg.poses == ((3, -40.0, 0.0), (4, 0.0, 0.0), (5, 40.0, 0.0))
    assert cfg.poses == synth.get_config("fera_demo").poses and cfg.all_poses
    assert cfg.image_size == 64 and cfg.uv_size == 64
    assert cfg.examples_per_subject() == 4 * 4 * 3
    assert cfg.subjects == {"train": 45, "validation": 12, "test": 30}
    # Appended: the existing configs (and their cached builds) come first, unchanged.
    assert list(synth.CONFIGS)[-2:] == ["fera_demo_large", "fera_medium"]


def test_validation_split_holds_every_au_and_leaves_the_other_splits_alone():
    # Frame requests only. The critic's ICC and the edit-scale calibration are scored on the frontal
    # validation frames: every AU needs positive frames there (6 subjects had a single AU04 frame).
    cfg = synth.get_config("fera_demo_large")
    labels = np.stack([f["labels"] for i in range(cfg.subjects["validation"])
                       for f in synth.subject_frames(cfg, "validation", i) if f["pose"][0] == 4])
    positives = (labels[:, [cfg.aus.index(a) for a in au_lib.FERA2017_AUS]] > 0).sum(0)
    assert positives.min() >= 8, dict(zip(au_lib.FERA2017_AUS, positives))
    # Subjects are drawn per (split, index): no split's count changes another split's frames (the
    # demo's training, validation and first 10 test subjects are those of 6 validation / 10 test).
    for changed, others in (({"validation": 6}, ("train", "test")), ({"test": 10}, ("train", "validation"))):
        fewer = dataclasses.replace(cfg, subjects={**cfg.subjects, **changed})
        for split in others:
            a, b = synth.subject_frames(cfg, split, 3), synth.subject_frames(fewer, split, 3)
            assert [f["sequence"] for f in a] == [f["sequence"] for f in b]
            assert all(np.array_equal(x["labels"], y["labels"]) for x, y in zip(a, b))
            for x, y in zip(a, b):
                assert x["scene"].keys() == y["scene"].keys()
                assert all(np.array_equal(x["scene"][k], y["scene"][k]) for k in x["scene"])
            assert np.array_equal(a[0]["subject"].identity, b[0]["subject"].identity)


def test_every_view_of_a_frame_has_its_labels_and_labels_vary():
    # Frame requests only (no rendering): 6 training subjects.
    cfg = synth.get_config("fera_demo_large")
    frames = [f for i in range(6) for f in synth.subject_frames(cfg, "train", i)]
    assert len(frames) == 6 * cfg.examples_per_subject()
    by_moment = {}
    for f in frames:
        session = f["sequence"].rsplit("-p", 1)[0]
        by_moment.setdefault((session, f["frame"]), []).append(f)
    # Each moment is rendered once per view, all views carrying the same labels.
    assert all(sorted(g["pose"][0] for g in grp) == [3, 4, 5] for grp in by_moment.values())
    assert all(all(np.array_equal(g["labels"], grp[0]["labels"]) for g in grp) for grp in by_moment.values())
    labels = np.stack([grp[0]["labels"] for grp in by_moment.values()])
    au12 = labels[:, cfg.aus.index("AU12")]
    assert 0.05 < (au12 > 0).mean() < 0.6
    # Frames 1.5 s apart: some 6 s session holds both a smile and no smile.
    sessions = np.asarray([k[0] for k in by_moment])
    assert any(len(set(au12[sessions == s])) > 1 for s in set(sessions))
    # Distinct identities: 6 subjects, 6 different shape offsets.
    idents = {f["subject"].name: f["subject"].identity for f in frames}
    assert len(idents) == 6
    assert min(np.abs(a - b).max() for i, a in enumerate(idents.values())
               for j, b in enumerate(idents.values()) if i < j) > 0


def test_renders_64px_with_a_position_map_that_matches_the_landmarks():
    key, ex = next(synth.generate_examples("fera_demo_large", "test", subjects=[0], max_frames_per_subject=1))
    assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
    assert ex["pose"]["id"] == 3 and ex["pose"]["yaw"] == -40.0 and key.startswith("fera-te000-s00-p3-")
    uv = ex["uv_position_map"].astype(np.float32)
    assert uv.shape == (64, 64, 3) and np.isfinite(uv).all()
    # The position map holds the image-space surface at fixed UV texels (PRNet): the texel under each
    # landmark vertex's UV coordinate holds that landmark's image position (to within the texel's
    # interpolation, < 1 px at this size). Texels outside the map's triangles are 0.
    asset = load_asset()
    texel = np.clip(np.floor(np.asarray(asset.uv)[np.asarray(asset.landmarks)] * 64).astype(int), 0, 63)
    at = uv[texel[:, 1], texel[:, 0]]
    covered = np.abs(at).sum(1) > 0
    assert covered.sum() >= 50, covered.sum()
    err = np.abs(at[covered, :2] - ex["landmarks_2d"][covered]).max(1)
    assert np.median(err) < 0.75 and np.percentile(err, 90) < 2.0, err
