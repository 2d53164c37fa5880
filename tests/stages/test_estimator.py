"""The estimator stage's training-set assembly (real balanced + synthetic parts) and test-set splits."""

import json
import os

import ml_collections
import numpy as np
import pytest

from jaxau.data import balance, frames as frames_lib
from jaxau.stages import estimator as stage

AUS = ["AU01", "AU12"]


def _frames(n, seed, aus=AUS, target=False):
    rng = np.random.default_rng(seed)
    f = {"image": rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
         "au_intensity": rng.integers(0, 6, (n, len(aus))).astype(np.int32),
         "subject": np.asarray([f"s{i % 3}" for i in range(n)]), "sequence": np.asarray(["q"] * n),
         "frame": np.arange(n, dtype=np.int32), "pose_id": np.full(n, 4, np.int32), "au_names": np.asarray(aus)}
    if target:
        f["target_au"] = (np.arange(n) % len(aus)).astype(np.int32)
    return f


def _config(per_level=3, synthetic_heads="target", train_poses=""):
    return ml_collections.ConfigDict({"seed": 0, "data": {"aus": ",".join(AUS), "test_poses": "4"},
                                      "estimator": {"per_level": per_level, "normalization": "none",
                                                    "synthetic_heads": synthetic_heads,
                                                    "train_poses": train_poses},
                                      "eval": {"splits": "train,validation,test", "poses": "", "aus": "AU12"}})


def test_combined_training_set_is_balanced_real_plus_whole_synthetic(tmp_path):
    real_dir, synth_dir, out = tmp_path / "real", tmp_path / "synth", tmp_path / "out"
    for d in (real_dir, synth_dir, out):
        d.mkdir()
    real = _frames(40, 0)
    # The synthetic set labels one more AU, in another order: columns are matched by name.
    synth = _frames(10, 1, aus=["AU12", "AU04", "AU01"], target=True)
    frames_lib.save(str(real_dir / "train.npz"), real)
    frames_lib.save(str(synth_dir / "synthetic.npz"), synth)
    frames, pool, target = stage.training_set(_config(), str(out), {"train_real0": str(real_dir),
                                                                    "train_set1": str(synth_dir)})
    assert list(frames["au_names"]) == AUS and len(frames["image"]) == 50
    real_part, synth_part = pool < 40, pool >= 40
    # Real: per_level entries per AU and level (levels without frames are skipped, logged).
    assert real_part.sum() <= 3 * 6 * 2 and set(target[real_part]) <= {0, 1}
    np.testing.assert_array_equal(pool[synth_part], 40 + np.arange(10))
    # Synthetic target AUs re-indexed to the estimator's columns: AU12 (0 there) -> 1, AU04 -> -1, AU01 -> 0.
    np.testing.assert_array_equal(target[synth_part], np.asarray([1, -1, 0] * 4)[:10])
    np.testing.assert_array_equal(frames["au_intensity"][40:], synth["au_intensity"][:, [2, 0]])
    assert (out / "balance.json").exists()


def test_train_poses_keeps_the_real_frames_of_those_views_and_every_synthetic_image(tmp_path):
    real_dir, synth_dir, out = tmp_path / "real", tmp_path / "synth", tmp_path / "out"
    for d in (real_dir, synth_dir, out):
        d.mkdir()
    real = _frames(30, 0)
    real["pose_id"] = np.asarray([3, 4, 5] * 10, np.int32)
    synth = _frames(6, 1, target=True)
    synth["pose_id"] = np.full(6, 3, np.int32)            # Not a training view: kept (a balanced set).
    frames_lib.save(str(real_dir / "train.npz"), real)
    frames_lib.save(str(synth_dir / "synthetic.npz"), synth)
    inputs = {"train_real0": str(real_dir), "train_set1": str(synth_dir)}
    frames, pool, _ = stage.training_set(_config(per_level=0, train_poses="4"), str(out), inputs)
    assert len(frames["image"]) == 16 and list(frames["pose_id"][:10]) == [4] * 10
    np.testing.assert_array_equal(frames["image"][:10], real["image"][1::3])
    np.testing.assert_array_equal(pool, np.arange(16))
    everything, _, _ = stage.training_set(_config(per_level=0), str(out), inputs)
    assert len(everything["image"]) == 36
    with pytest.raises(ValueError, match="estimator.train_poses='7'"):
        stage.training_set(_config(per_level=0, train_poses="7"), str(out), inputs)


def test_synthetic_heads_all_trains_every_head_with_the_target_vector(tmp_path):
    synth_dir, out = tmp_path / "synth", tmp_path / "out"
    synth_dir.mkdir()
    out.mkdir()
    synth = _frames(10, 1, aus=["AU12", "AU04", "AU01"], target=True)
    frames_lib.save(str(synth_dir / "synthetic.npz"), synth)
    frames, pool, target = stage.training_set(_config(synthetic_heads="all"), str(out), {"train_set0": str(synth_dir)})
    np.testing.assert_array_equal(pool, np.arange(10))
    np.testing.assert_array_equal(target, np.full(10, -1))       # -1: every labelled head
    np.testing.assert_array_equal(frames["au_intensity"], synth["au_intensity"][:, [2, 0]])
    _, _, target = stage.training_set(_config(synthetic_heads="target"), str(out), {"train_set0": str(synth_dir)})
    np.testing.assert_array_equal(target, np.asarray([1, -1, 0] * 4)[:10])
    with pytest.raises(ValueError, match="synthetic_heads='some'"):
        stage.training_set(_config(synthetic_heads="some"), str(out), {"train_set0": str(synth_dir)})


def test_test_set_concatenates_the_configured_splits(tmp_path):
    for i, split in enumerate(("train", "validation", "test")):
        frames_lib.save(str(tmp_path / f"{split}.npz"), _frames(5 + i, i))
    assert len(stage.test_set(_config(), str(tmp_path))["image"]) == 5 + 6 + 7
    c = _config()
    c.eval.splits = "test"
    assert len(stage.test_set(c, str(tmp_path))["image"]) == 7
    assert stage.score_config(_config()).data.test_poses == ""


def test_concatenate_rejects_different_au_columns():
    with pytest.raises(ValueError, match="with_aus"):
        frames_lib.concatenate([_frames(2, 0), _frames(2, 1, aus=["AU12", "AU01"])])
    both = frames_lib.concatenate([_frames(2, 0, target=True), _frames(3, 1)])
    assert len(both["image"]) == 5 and "target_au" not in both  # Only fields every set has.


def test_synthetic_set_is_normalised_with_its_sources_input(tmp_path):
    """A ``sources<i>`` input gives the synthetic set's personal references (the source subjects'
    real frames), not the set's own statistics."""
    src_dir, synth_dir, out = tmp_path / "src", tmp_path / "synth", tmp_path / "out"
    for d in (src_dir, synth_dir, out):
        d.mkdir()
    sources = _frames(30, 2)
    synth = _frames(12, 3, target=True)
    frames_lib.save(str(src_dir / "train.npz"), sources)
    frames_lib.save(str(synth_dir / "synthetic.npz"), synth)
    cfg = _config(synthetic_heads="all")
    cfg.estimator.normalization = "mean"
    with_src, _, _ = stage.training_set(cfg, str(out), {"train_set0": str(synth_dir), "sources0": str(src_dir)})
    expected = frames_lib.normalized(frames_lib.load(str(synth_dir / "synthetic.npz")), "mean",
                                     references_from=frames_lib.load(str(src_dir / "train.npz")))
    np.testing.assert_array_equal(with_src["image"], expected["image"])
    own, _, _ = stage.training_set(cfg, str(out), {"train_set0": str(synth_dir)})
    assert not np.array_equal(own["image"], with_src["image"])


def test_registered_frames_need_the_registration_input(tmp_path):
    cfg = ml_collections.ConfigDict({"data": {"image_size": 32}, "estimator": {"width": 1.0},
                                     "align": {"face_scale": 0.8}, "align2d": {"pose": ""}, "align3d": {"pose": ""}})
    frames_dir = str(tmp_path / "register_3d-abc")
    out = stage._estimator_cfg(cfg, frames_dir, "/runs/registration-123")
    assert out["alignment"]["mode"] == "3d" and out["alignment"]["registration_dir"] == "/runs/registration-123"
    with pytest.raises(ValueError, match="'registration' input"):
        stage._estimator_cfg(cfg, frames_dir, None)
    assert stage._estimator_cfg(cfg, str(tmp_path / "frames_raw-abc"), None)["alignment"] == {
        "mode": "none", "image_size": 32}


def test_standalone_splits_are_read_from_a_frame_store_under_the_workdir(request, tmp_path):
    # launch/train_estimator.py / evaluate.py: the split streams into <workdir>/frames once and is
    # read lazily (a split larger than memory trains); the second read reuses the store.
    from jaxau.data import lazy_rows
    from tests.stages import tiny_synthfacs
    from configs.estimator import synthfacs_real

    config = synthfacs_real.get_config()
    config.data.name = "synthfacs/fera_small"
    config.data.data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config.data.aus = "AU12,AU01"
    config.estimator.image_size = 16
    config.estimator.normalization = "mean"
    workdir = str(tmp_path / "run")
    got = stage.load_split(config, workdir, "train", None)
    assert lazy_rows.is_lazy(got["image"])
    (store,) = os.listdir(os.path.join(workdir, "frames"))
    want = frames_lib.normalized(frames_lib.load_tfds("synthfacs/fera_small", "train",
                                                      data_dir=config.data.data_dir, image_size=16,
                                                      aus=["AU12", "AU01"]), "mean")
    np.testing.assert_array_equal(np.asarray(got["image"]), want["image"])
    np.testing.assert_array_equal(got["au_intensity"], want["au_intensity"])
    stage.load_split(config, workdir, "train", None)
    assert os.listdir(os.path.join(workdir, "frames")) == [store]


def test_level_weighted_real_pool_draws_every_head_with_levels_about_equal(tmp_path):
    real_dir, out = tmp_path / "real", tmp_path / "out"
    real_dir.mkdir()
    out.mkdir()
    real = _frames(60, 0)
    real["au_intensity"] = np.random.default_rng(3).choice(6, size=(60, 2), p=[0.8, 0.08, 0.05, 0.04, 0.02, 0.01])
    frames_lib.save(str(real_dir / "train.npz"), real)
    c = _config(per_level=0)
    c.estimator.real_pool = "levels"
    frames, pool, target = stage.training_set(c, str(out), {"train_real0": str(real_dir)})
    # Every frame trains every head; the pool is balance.weighted_pool's draw with the config's seed.
    assert len(frames["image"]) == 60 and (target == -1).all()
    np.testing.assert_array_equal(pool, balance.weighted_pool(real["au_intensity"], 0))
    for k in range(2):
        assert np.mean(real["au_intensity"][pool, k] == 0) < np.mean(real["au_intensity"][:, k] == 0) - 0.1
    record = json.loads((out / "balance.json").read_text())
    assert record["pool"] == "levels" and record["before"] == balance.label_histogram(real["au_intensity"]).tolist()
    assert record["after"] == balance.label_histogram(real["au_intensity"][pool]).tolist()
    # 'frames' (and a config without the field) keeps every frame once.
    del c.estimator["real_pool"]
    np.testing.assert_array_equal(stage.training_set(c, str(out), {"train_real0": str(real_dir)})[1], np.arange(60))
    c.estimator.real_pool = "levels"
    c.estimator.per_level = 3
    with pytest.raises(ValueError, match="per_level=3 asks for the paper's per-AU plan"):
        stage.training_set(c, str(out), {"train_real0": str(real_dir)})
    c.estimator.real_pool = "balanced"
    with pytest.raises(ValueError, match="real_pool='balanced'"):
        stage.real_pool(c)
