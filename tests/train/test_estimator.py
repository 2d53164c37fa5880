"""Estimator training end to end on a tiny generated frame set: loss falls, resume, predictor, scoring.

The frames are a fixture (a bright square whose brightness encodes the AU level), not a dataset.
"""

import json
import os

import ml_collections
import numpy as np
import pytest

from jaxau.train import estimator, estimator_runs

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
    record = estimator_runs.score(config, workdir, frames, str(tmp_path))
    assert record["icc"]["mean"] > 0.3  # Learnt the encoded levels (an untrained net scores ~0).
    assert record["num_frames"] == 96 and set(record["by_pose"]) == {"0"}
    header = open(tmp_path / "predictions.csv").readline().strip().split(",")
    assert header[:3] == ["subject", "sequence", "frame"] and "AU12_pred" in header


def test_image_size_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        estimator.train({**CFG, "image_size": 64}, str(tmp_path), make_frames(8))


def test_plan_entries_train_only_their_target_head():
    import jax

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
    step = jax.vmap(estimator.make_train_step(model, tx), in_axes=(None, 0, None), out_axes=(None, None),
                    axis_name="data")
    state, _ = step(TrainState.create(params, tx), jax.tree.map(lambda x: x[None], batch), jax.random.key(0))
    old, new = params["head"]["kernel"], state.params["head"]["kernel"]
    assert not np.allclose(old[:, :6], new[:, :6])         # AU01's six logits moved,
    np.testing.assert_array_equal(old[:, 6:], new[:, 6:])   # AU12's head got exactly zero gradient.


def test_flip_augmentation_runs(tmp_path):
    # The fixture's squares encode AU identity by position, so flipping is only exercised here.
    result = estimator.train({**CFG, "flip": True, "num_steps": 2}, str(tmp_path), make_frames(16))
    assert result.step == 2
