"""The estimator's training batches: the flip augmentation is a pixel-exact left-right mirror.

The batches are the ones `jaxau.train.estimator.train` hands to the training loop (the loop is
replaced by a stub that only keeps them), so no training step is compiled or run.
"""

import numpy as np

from jaxau.train import estimator

N, SIZE, BATCH, STEPS = 24, 32, 8, 6
CFG = {"width": 1 / 16, "image_size": SIZE, "batch_size": BATCH, "num_steps": STEPS,
       "learning_rate": 1e-3, "dropout": 0.0, "freeze": "", "pretrained": "", "readout": "argmax",
       "flip": True, "checkpoint_every": 100, "log_every": 100, "eval_every": 0}


def _frames():
    rng = np.random.default_rng(0)
    return {"image": rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8),
            "au_intensity": rng.integers(0, 6, (N, 2)).astype(np.int32),
            "subject": np.asarray([f"S{i % 3}" for i in range(N)]), "sequence": np.asarray(["T"] * N),
            "frame": np.arange(N, dtype=np.int32), "pose_id": np.zeros(N, np.int32),
            "au_names": np.asarray(["AU01", "AU12"])}


def _training_batches(cfg, frames, workdir, monkeypatch):
    """The batches `estimator.train` would feed its training loop for steps 0..num_steps-1."""
    captured = {}

    def stub(**kwargs):
        captured.update(kwargs)

    monkeypatch.setattr(estimator.loop, "train", stub)
    estimator.train(cfg, workdir, frames, seed=0)
    return list(captured["batches"](0))


def test_flip_mirrors_left_right_exactly_and_keeps_labels(tmp_path, monkeypatch):
    """Every augmented image equals its source frame or that frame mirrored left-right
    (``image[:, ::-1]``) pixel for pixel, with the frame's labels; both occur. An up-down or
    transposed flip, or a flip that moved labels, matches neither."""
    frames = _frames()
    batches = _training_batches(CFG, frames, str(tmp_path), monkeypatch)
    assert len(batches) == STEPS
    src = frames["image"].reshape(N, -1)
    mirrored = frames["image"][:, :, ::-1].reshape(N, -1)
    kinds = []
    for b in batches:
        assert b["image"].shape == (BATCH, SIZE, SIZE, 3) and b["image"].dtype == np.uint8
        for img, labels in zip(b["image"].reshape(BATCH, -1), b["au_intensity"]):
            same = np.flatnonzero((src == img).all(1))
            flipped = np.flatnonzero((mirrored == img).all(1))
            assert len(same) + len(flipped) == 1, "augmented image is neither a frame nor its mirror"
            j = np.concatenate([same, flipped])[0]
            np.testing.assert_array_equal(labels, frames["au_intensity"][j])
            kinds.append(len(flipped))
    # 48 fair draws: both outcomes occur (a miss has probability 2 * 2**-48).
    assert 0 < sum(kinds) < len(kinds), kinds


def test_no_flip_leaves_images_untouched(tmp_path, monkeypatch):
    """With ``flip`` off the batches are the sampled frames themselves."""
    frames = _frames()
    batches = _training_batches({**CFG, "flip": False}, frames, str(tmp_path), monkeypatch)
    src = frames["image"].reshape(N, -1)
    for b in batches:
        for img in b["image"].reshape(BATCH, -1):
            assert (src == img).all(1).sum() == 1
