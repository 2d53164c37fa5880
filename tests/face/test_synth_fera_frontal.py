"""The ``fera_frontal`` SynthFACS config (estimator-sized FERA domain, issue #5)."""

import numpy as np

from jaxau import au as au_lib
from jaxau.face import synth


def test_config_shape():
    cfg = synth.get_config("fera_frontal")
    assert cfg.domain == "fera" and cfg.aus == au_lib.FERA2017_AUS
    # Only FERA's frontal view, with the id it has in the 9-view `fera` config.
    assert cfg.poses == ((4, 0.0, 0.0),) and synth.get_config("fera").poses[4] == (4, 0.0, 0.0)
    assert cfg.image_size == 64 and cfg.uv_size == 0
    assert cfg.examples_per_subject() == 8 * 6
    assert cfg.subjects == {"train": 60, "validation": 10, "test": 20}


def test_labels_vary_within_sessions_and_are_not_degenerate():
    # Frame requests only (no rendering): the labels a build would store for 6 training subjects.
    cfg = synth.get_config("fera_frontal")
    frames = [f for i in range(6) for f in synth.subject_frames(cfg, "train", i)]
    assert len(frames) == 6 * cfg.examples_per_subject()
    labels = np.stack([f["labels"] for f in frames])
    assert {f["pose"][0] for f in frames} == {4}
    seqs = np.asarray([f["sequence"] for f in frames])
    assert len(set(seqs)) == 6 * cfg.sessions
    au12 = labels[:, cfg.aus.index("AU12")]
    # Smiles come and go inside the 7.5 s sessions: some session holds both absent and present frames.
    assert any(len(set(au12[seqs == s])) > 1 for s in set(seqs))
    assert 0.05 < (au12 > 0).mean() < 0.6
    # Labels are the levels of the continuous intensities (frames 1.5 s apart are not all equal).
    cont = np.stack([f["intensity_labelled"] for f in frames])
    assert np.all((cont > 0) >= (labels > 0)) and len(np.unique(cont[:, cfg.aus.index("AU12")])) > 20


def test_renders_frontal_64px_without_position_maps():
    key, ex = next(synth.generate_examples("fera_frontal", "test", subjects=[0], max_frames_per_subject=1))
    assert ex["image"].shape == (64, 64, 3) and ex["image"].dtype == np.uint8
    assert ex["pose"]["id"] == 4 and ex["pose"]["yaw"] == 0.0 and "uv_position_map" not in ex
    assert ex["subject"] == "fera-te000" and key.startswith("fera-te000-s00-p4-")
    # A face, not an empty frame: the centre is much brighter than the dark studio background.
    img = ex["image"].astype(float)
    assert img[24:40, 24:40].mean() > 2 * img[:6, :6].mean()
