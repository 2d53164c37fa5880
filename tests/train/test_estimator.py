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
