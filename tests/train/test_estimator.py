"""Estimator training end to end on a tiny generated frame set: loss falls, resume, predictor, scoring.

The frames are a fixture (a bright square whose brightness encodes the AU level), not a dataset.
"""

import json
import os

import jax
import ml_collections
import numpy as np
import pytest

from jaxau.stages import estimator as estimator_stage
from jaxau.train import estimator

AUS = np.asarray(["AU01", "AU12"])


def make_frames(n=96, size=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, size=(n, 2)).astype(np.int32)
    labels[rng.random((n, 2)) < 0.05] = -1  # A few unknown labels, masked out of the loss.
    images = np.zeros((n, size, size, 3), np.uint8)
    for i, (a, b) in enumerate(np.maximum(labels, 0)):
        images[i, 4:14, 4:14, 0] = 40 * a + 30
        images[i, 18:28, 18:28, 1] = 40 * b + 30
    images = np.clip(images + rng.integers(0, 20, images.shape), 0, 255).astype(np.uint8)
    return {"image": images, "au_intensity": labels, "subject": np.asarray([f"S{i % 4}" for i in range(n)]),
            "sequence": np.asarray(["T1"] * n), "frame": np.arange(n, dtype=np.int32),
            "pose_id": np.zeros(n, np.int32), "au_names": AUS}


CFG = {"width": 1 / 16, "image_size": 32, "batch_size": 16, "num_steps": 60, "learning_rate": 3e-3,
       "dropout": 0.0, "freeze": "", "pretrained": "", "readout": "argmax", "flip": False,
       "checkpoint_every": 30, "log_every": 10, "eval_every": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("est"))
    frames = make_frames()
    result = estimator.train(CFG, workdir, frames, seed=0)
    return workdir, frames, result


def test_loss_falls_and_checkpoint_is_final(trained):
    workdir, _, result = trained
    assert result.step == CFG["num_steps"] and not result.preempted
    rows = [json.loads(line) for line in open(os.path.join(workdir, "estimator_metrics.jsonl"))]
    losses = [r["loss"] for r in rows]
    assert losses[-1] < 0.75 * losses[0], losses


def test_rerun_resumes_instead_of_retraining(trained):
    workdir, frames, _ = trained
    again = estimator.train(CFG, workdir, frames, seed=0)
    assert again.start_step == CFG["num_steps"] and again.step == CFG["num_steps"]


def test_predictor_and_scores(trained, tmp_path):
    workdir, frames, result = trained
    pred = estimator.Predictor(workdir, batch_size=32)
    assert pred.au_names == tuple(AUS) and pred.step == CFG["num_steps"]
    logits = pred.logits(frames["image"][:40])  # 40 = one full batch + a padded one.
    assert logits.shape == (40, 2, 6)
    direct = estimator.predict_logits(estimator.make_predict_fn(pred.model), result.state.params,
                                      frames["image"][:40], 40)
    np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-5)
    config = ml_collections.ConfigDict({"name": "tiny", "data": {"test_poses": "0"}})
    record = estimator_stage.score(config, workdir, frames, str(tmp_path))
    assert record["icc"]["mean"] > 0.3  # Learnt the encoded levels (an untrained net scores ~0).
    assert record["num_frames"] == 96 and set(record["by_pose"]) == {"0"}
    header = open(tmp_path / "predictions.csv").readline().strip().split(",")
    assert header[:3] == ["subject", "sequence", "frame"] and "AU12_pred" in header


def test_intensities_of_selects_and_orders_the_asked_aus(trained):
    workdir, frames, _ = trained
    pred = estimator.Predictor(workdir, batch_size=32)
    images = frames["image"][:8]
    full = pred.intensities(images)
    np.testing.assert_array_equal(pred.intensities_of(images, ["AU12", "AU01"]), full[:, [1, 0]])
    np.testing.assert_array_equal(pred.intensities_of(images, [np.str_("AU12")]), full[:, [1]])


def test_image_size_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        estimator.train({**CFG, "image_size": 64}, str(tmp_path), make_frames(8))


def test_plan_entries_train_only_their_target_head():

    from jaxau.models import vgg
    from jaxau.train import optimizers
    from jaxau.train.state import TrainState

    frames = make_frames(8)
    model = estimator.model_from_config({**CFG, "dropout": 0.0}, 2)
    params = vgg.init_params(model, 32, 0)["params"]
    tx = optimizers.make_optimizer({"learning_rate": 1e-2}, params)
    source = estimator.PlanSource(frames, np.arange(8), np.zeros(8, np.int32))  # All entries for AU01.
    batch = source[np.arange(8)]
    assert set(batch) == {"image", "au_intensity", "target_au"}
    # jit: the eager vmapped step dispatched op by op and took over a minute on the loaded CPU.
    step = jax.jit(jax.vmap(estimator.make_train_step(model, tx), in_axes=(None, 0, None),
                            out_axes=(None, None), axis_name="data"))
    state, _ = step(TrainState.create(params, tx), jax.tree.map(lambda x: x[None], batch), jax.random.key(0))
    old, new = params["head"]["kernel"], state.params["head"]["kernel"]
    assert not np.allclose(old[:, :6], new[:, :6])         # AU01's six logits moved,
    np.testing.assert_array_equal(old[:, 6:], new[:, 6:])   # AU12's head got exactly zero gradient.


def test_flip_augmentation_runs(tmp_path):
    # The fixture's squares encode AU identity by position, so flipping is only exercised here.
    result = estimator.train({**CFG, "flip": True, "num_steps": 2}, str(tmp_path), make_frames(16))
    assert result.step == 2


def test_batchnorm_variant_trains_and_restores_statistics(tmp_path):
    frames = make_frames(64)
    cfg = {**CFG, "norm": "batch", "num_steps": 40, "checkpoint_every": 40}
    result = estimator.train(cfg, str(tmp_path), frames, seed=0)
    stats = result.state.model_state["batch_stats"]
    assert set(stats) == {f"{c}_bn" for c in estimator.vgg.CONV_LAYERS}
    assert np.abs(np.asarray(stats["block1_conv1_bn"]["mean"])).max() > 0.1  # moved from the zero init
    rows = [json.loads(line) for line in open(tmp_path / "estimator_metrics.jsonl")]
    assert rows[-1]["loss"] < 0.75 * rows[0]["loss"]
    pred = estimator.Predictor(str(tmp_path), batch_size=32)
    np.testing.assert_array_equal(pred.model_state["batch_stats"]["block3_conv2_bn"]["var"],
                                  stats["block3_conv2_bn"]["var"])
    direct = estimator.predict_logits(estimator.make_predict_fn(pred.model), result.state.params,
                                      frames["image"][:32], 32, model_state=result.state.model_state)
    np.testing.assert_allclose(pred.logits(frames["image"][:32]), direct, rtol=1e-5, atol=1e-5)
    # With the initial statistics (mean 0, variance 1) the logits differ: the trained ones are used.
    fresh = {"batch_stats": estimator.vgg.init_params(pred.model, 32)["batch_stats"]}
    bare = estimator.predict_logits(estimator.make_predict_fn(pred.model), result.state.params,
                                    frames["image"][:32], 32, model_state=fresh)
    assert not np.allclose(bare, direct, atol=1e-3)


def test_batchnorm_statistics_are_averaged_over_devices():
    # Two vmapped "devices" with half a batch each: the new running statistics are the mean of what
    # each device's half alone would give (flax momentum update on each, then averaged).
    from jaxau.train import optimizers
    from jaxau.train.state import TrainState

    frames = make_frames(8)
    cfg = {**CFG, "norm": "batch"}
    model = estimator.model_from_config(cfg, 2)
    variables = estimator.vgg.init_params(model, 32, 0)
    tx = optimizers.make_optimizer({"learning_rate": 1e-2}, variables["params"])
    state = TrainState.create(variables["params"], tx, {"batch_stats": variables["batch_stats"]})
    source = estimator.PlanSource(frames, np.arange(8), np.full(8, -1, np.int32))
    batch = jax.tree.map(lambda x: x.reshape((2, 4) + x.shape[1:]), source[np.arange(8)])
    step = jax.jit(jax.vmap(estimator.make_train_step(model, tx), in_axes=(None, 0, None),
                            out_axes=(None, None), axis_name="data"))
    new, _ = step(state, batch, jax.random.key(0))
    stats = jax.jit(lambda x: model.apply(variables, x.astype(np.float32) / 255.0, train=True,
                                          mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)}
                                          )[1]["batch_stats"])
    halves = [stats(batch["image"][d]) for d in range(2)]
    for name in ("block1_conv1_bn", "block5_conv3_bn"):
        for k in ("mean", "var"):
            want = (np.asarray(halves[0][name][k]) + np.asarray(halves[1][name][k])) / 2
            np.testing.assert_allclose(new.model_state["batch_stats"][name][k], want, rtol=1e-4, atol=1e-5)


def test_pretrained_values():
    assert estimator.pretrained_file({"pretrained": ""}) is None
    assert estimator.pretrained_file({"pretrained": "none"}) is None
    assert estimator.pretrained_file({"pretrained": "/w.h5"}) == "/w.h5"
    with pytest.raises(ValueError, match="pass the ImageNet VGG16 weights file, or 'none'"):
        estimator.pretrained_file({"pretrained": "required"})
