"""The ``fera_medium`` SynthFACS config (the ``:medium`` experiments' data)."""

from jaxau.face import synth


def test_config_shape():
    cfg = synth.get_config("fera_medium")
    large = synth.get_config("fera_demo_large")
    # fera_demo_large's views, spacing, sizes and domain; more subjects and sessions.
    for field in ("domain", "aus", "poses", "all_poses", "image_size", "uv_size", "frame_stride", "occupancy"):
        assert getattr(cfg, field) == getattr(large, field), field
    assert cfg.subjects == {"train": 90, "validation": 15, "test": 30}
    assert cfg.examples_per_subject() == 6 * 5 * 3
    assert sum(cfg.subjects.values()) * cfg.examples_per_subject() == 12_150
    # 900 test frames per view from 30 subjects (the comment's claim).
    assert cfg.subjects["test"] * cfg.examples_per_subject() // len(cfg.poses) == 900


def test_subjects_do_not_repeat_across_splits():
    cfg = synth.get_config("fera_medium")
    # Distinct identities (shape coefficients), not just distinct names.
    n = 12
    ids = {split: {synth.subject_frames(cfg, split, i)[0]["subject"].identity.tobytes() for i in range(n)}
           for split in cfg.subjects}
    assert all(len(v) == n for v in ids.values())
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["validation"])
