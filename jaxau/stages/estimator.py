"""Estimator stages: train VGG16 on real (resampled) or synthetic frames, evaluate on real test frames.

Each reads frame sets written by its input stage (``frames_raw``, ``register_2d``, ``register_3d``;
``synthesis`` for the synthetic training set) and writes the model directory, ``eval/metrics.json``
(per-AU ICC/PCC/MAE overall and per pose) and ``eval/predictions.csv``.
"""

from __future__ import annotations

import os

from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage


def _estimator_cfg(config, source_dir: str) -> dict:
    """The estimator section plus how its frames were made, so `launch/predict.py` can redo it."""
    from jaxau import pipeline

    cfg = dict(config.estimator)
    cfg["image_size"] = int(config.data.image_size)
    name = os.path.basename(source_dir.rstrip("/")).rsplit("-", 1)[0]
    mode = {"register_2d": "2d", "register_3d": "3d"}.get(name, "none")
    alignment = {"mode": mode, "image_size": int(config.data.image_size)}
    if mode != "none":
        alignment["registration_dir"] = pipeline.stage_inputs(source_dir)["registration"]
        alignment.update({k: dict(config[k]) for k in ("align", "align2d", "align3d")})
    cfg["alignment"] = alignment
    return cfg


def _load(config, path: str) -> frames_lib.FrameSet:
    """A frame set, personally normalised per ``config.estimator.normalization`` (Sec. 4.5)."""
    return frames_lib.normalized(frames_lib.load(path), config.estimator.get("normalization", "none"))


def _train_and_evaluate(config, stage_dir, train, pool, targets, test_source_dir, val) -> dict:
    from jaxau.train import estimator

    result = estimator.train(_estimator_cfg(config, test_source_dir), stage_dir, train, pool=pool,
                             pool_target_au=targets,
                             val_frames=val, seed=int(config.seed), name="estimator")
    if result.preempted:
        raise SystemExit(143)
    from jaxau.train import estimator_runs

    test = _load(config, frames_stage.split_path(test_source_dir, "test"))
    record = estimator_runs.score(config, stage_dir, test, os.path.join(stage_dir, "eval"))
    return {"icc_mean": record["icc"]["mean"], "mae_mean": record["mae"]["mean"],
            "train_examples": int(len(pool) if pool is not None else len(train["image"]))}


def run_real(config, stage_dir: str, inputs) -> dict:
    """Real frames of the input stage, balanced by majority under- / minority over-sampling."""
    from jaxau.train import estimator_runs

    (source,) = [d for name, d in inputs.items() if name != "data"]
    train = frames_lib.with_aus(_load(config, frames_stage.split_path(source, "train")), frames_stage.aus(config))
    val = _load(config, frames_stage.split_path(source, "validation"))
    pool, targets = estimator_runs.balanced_pool(train, int(config.estimator.per_level), int(config.seed),
                                                 os.path.join(stage_dir, "balance.json"))
    return _train_and_evaluate(config, stage_dir, train, pool, targets, source, val)


def run_synthetic(config, stage_dir: str, inputs) -> dict:
    """The synthetic balanced set written by the ``synthesis`` stage; tested on real registered frames."""
    train = frames_lib.with_aus(_load(config, os.path.join(inputs["synthesis"], "synthetic.npz")),
                                frames_stage.aus(config))
    real = inputs["register_3d"]
    val = _load(config, frames_stage.split_path(real, "validation"))
    return _train_and_evaluate(config, stage_dir, train, None, None, real, val)
