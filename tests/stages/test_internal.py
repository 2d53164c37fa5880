"""Stage ``internal``: the critic of a 2-step generator scored like an estimator (same files as score())."""

import json
import os

import numpy as np
import pytest

from jaxau.data import frames as frames_lib

# Tiny settings; n_critic 1 makes every step a D+G step, so only one training step is compiled.
GEN = dict(image_size=16, g_width=4, g_blocks=0, d_width=4, d_layers=3, batch_size=8, num_steps=2,
           n_critic=1, log_every=1, checkpoint_every=2, grid_every=0)


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    import configs.demo as demo
    from jaxau.train import generator as gen_train
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = demo.get_config()
    config.data.data_dir = data_dir
    config.data.image_size = 16
    config.data.test_poses = "4"
    root = tmp_path_factory.mktemp("internal")
    # Stand-in for a register_3d stage: the tiny set's frames at 16 x 16.
    reg = str(root / "register_3d")
    os.makedirs(reg)
    aus = config.data.aus.split(",")
    for split in ("train", "test"):
        frames = frames_lib.load_tfds("synthfacs/fera_small", split, data_dir=data_dir, image_size=16, aus=aus)
        frames_lib.save(os.path.join(reg, f"{split}.npz"), frames)
    gen_dir = str(root / "generator")
    result = gen_train.train(GEN, gen_dir, frames_lib.load(os.path.join(reg, "train.npz")), seed=0)
    assert int(result.step) == 2
    return config, reg, gen_dir, root


@pytest.fixture(scope="module")
def stage(trained):
    from jaxau.stages import internal

    config, reg, gen_dir, root = trained
    out = str(root / "internal")
    summary = internal.run(config, out, {"generator": gen_dir, "test": reg})
    return out, summary


def test_intensity_mapping_of_hand_made_regression_outputs():
    from jaxau.stages.internal import regression_intensities

    # Units of the expression loss: level / 5. Continuous, clipped to [0, 5] (the head is unbounded).
    out = np.array([[-0.3, 0.0, 0.09, 0.11, 0.29, 0.31],
                    [0.5, 0.61, 0.79, 0.99, 1.0, 1.7]], np.float32)
    np.testing.assert_allclose(regression_intensities(out), [[0, 0, 0.45, 0.55, 1.45, 1.55],
                                                             [2.5, 3.05, 3.95, 4.95, 5, 5]], rtol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        regression_intensities(np.array([[np.nan]]))


def test_critic_outputs_are_the_critics_au_head(trained):
    """Batched, padded, jitted outputs equal one direct call of D on all frames."""
    from jaxau.stages import internal
    from jaxau.train import generator as gen_train

    _, reg, gen_dir, _ = trained
    disc, params, gen = gen_train.load_critic(gen_dir)
    assert gen.step == 2 and disc.num_aus == len(gen.au_names) == 7
    images = frames_lib.load(os.path.join(reg, "test.npz"))["image"][:11]
    batched = internal.critic_outputs(disc, params, images, batch_size=4)  # 3 batches, the last padded.
    direct = np.asarray(disc.apply({"params": params}, gen_train.to_unit(images))[1])
    np.testing.assert_allclose(batched, direct, rtol=1e-5, atol=1e-6)
    assert batched.shape == (11, 7) and np.std(batched) > 0


def test_stage_writes_exactly_what_score_writes(stage, trained, monkeypatch, tmp_path):
    """The stage's files equal `estimator_stage.score`'s for a model predicting the same levels."""
    from jaxau.stages import estimator as estimator_stage
    from jaxau.stages import internal
    from jaxau.train import generator as gen_train

    config, reg, gen_dir, _ = trained
    out, summary = stage
    with open(os.path.join(out, "eval", "metrics.json")) as f:
        record = json.load(f)
    disc, params, gen = gen_train.load_critic(gen_dir)
    test = frames_lib.load(os.path.join(reg, "test.npz"))
    levels = internal.regression_intensities(internal.critic_outputs(disc, params, test["image"]))

    class SameLevels:  # Test double for estimator.Predictor: a "model" predicting the critic's levels.
        def __init__(self, model_dir):
            self.au_names, self.step = gen.au_names, gen.step

        def intensities(self, images):
            assert images.shape == test["image"].shape
            return levels

    monkeypatch.setattr(estimator_stage.estimator, "Predictor", SameLevels)
    ref = estimator_stage.score(estimator_stage.score_config(config), "unused", test, str(tmp_path),
                               aus=config.data.aus.split(","))
    assert set(record) == set(ref) and set(record["icc"]) == set(ref["icc"])
    for name in ("metrics.json", "predictions.csv", "table.md"):
        with open(os.path.join(out, "eval", name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), name
    # Headline on the frontal pose only (config.data.test_poses = '4'); every pose in by_pose.
    assert record["poses"] == [4] and record["num_frames"] == int(np.sum(test["pose_id"] == 4))
    assert sorted(record["by_pose"]) == sorted(str(p) for p in np.unique(test["pose_id"]))
    assert summary["icc_mean"] == record["icc"]["mean"] and summary["mae_mean"] == record["mae"]["mean"]


def test_stage_refuses_frames_of_another_size(trained, tmp_path):
    from jaxau.stages import internal

    config, reg, gen_dir, _ = trained
    frames = frames_lib.load(os.path.join(reg, "test.npz"))
    frames["image"] = np.zeros((len(frames["image"]), 32, 32, 3), np.uint8)
    other = tmp_path / "reg32"
    frames_lib.save(str(other / "test.npz"), frames)
    with pytest.raises(ValueError, match="takes 16 x 16"):
        internal.run(config, str(tmp_path / "out"), {"generator": gen_dir, "test": str(other)})
    with pytest.raises(FileNotFoundError, match="generator.json"):
        internal.run(config, str(tmp_path / "out"), {"generator": str(tmp_path), "test": reg})


def test_scoring_keeps_the_requested_aus_in_model_order(trained, monkeypatch, tmp_path):
    """Non-constant levels, a subset of AUs in another order, all poses: each AU scored on its column."""
    from jaxau.evaluation import metrics
    from jaxau.stages import estimator as estimator_stage

    config, reg, _, _ = trained
    config = config.copy_and_resolve_references()
    config.data.test_poses = ""
    test = frames_lib.load(os.path.join(reg, "test.npz"))
    model_aus = [str(a) for a in test["au_names"]]
    rng = np.random.default_rng(0)
    levels = np.clip(test["au_intensity"] + rng.integers(-1, 2, test["au_intensity"].shape), 0, 5)
    aus = ["AU12", "AU04", "AU06", "AU99"]  # AU99: not predicted, ignored.

    class Fixed:
        def __init__(self, model_dir):
            self.au_names, self.step = tuple(model_aus), 7

        def intensities(self, images):
            return levels

    monkeypatch.setattr(estimator_stage.estimator, "Predictor", Fixed)
    ref = estimator_stage.score(config, "unused", test, str(tmp_path / "ref"), aus=aus)
    assert ref["poses"] is None and list(ref["icc"]) == ["AU04", "AU06", "AU12", "mean"]
    # Varied predictions: the comparison is not between constants.
    assert all(levels[:, model_aus.index(a)].std() > 0 for a in aus[:3]) and ref["icc"]["mean"] != 0
    for a in ("AU04", "AU06", "AU12"):
        k = model_aus.index(a)
        expected = metrics.icc(test["au_intensity"][:, k:k + 1], levels[:, k:k + 1])[0]
        assert ref["icc"][a] == pytest.approx(float(expected))
