"""Experiment-level estimator runs: load the data a config names, train, evaluate, write artifacts.

Used by ``launch/train_estimator.py``, ``launch/evaluate.py`` and the pipeline's estimator stages.
Artifacts of an evaluation (``<workdir>/eval/<split>/``): ``metrics.json`` (per-AU ICC/PCC/MAE, means,
per-pose breakdown, the unknown-label policy), ``predictions.csv`` (subject, sequence, frame,
AUxx_true, AUxx_pred) and ``table.md`` (a Table-2-style row).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from jaxau import io_utils
from jaxau.data import frames as frames_lib
from jaxau.data import resolve
from jaxau.train import estimator


def load_split(config: Any, workdir: str, split: str, pose_spec: Any = None) -> frames_lib.FrameSet:
    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    aus = [a for a in str(config.data.aus).replace(",", " ").split() if a]
    return frames_lib.load_tfds(config.data.name, split, data_dir=directory,
                                image_size=int(config.estimator.image_size), aus=aus,
                                pose_ids=resolve.poses(pose_spec))


def balanced_pool(frames: frames_lib.FrameSet, per_level: int, seed: int) -> np.ndarray | None:
    """The real-data balancing plan (paper Sec. 4.2.2) as an epoch pool, or None for no balancing."""
    if not per_level:
        return None
    from jaxau.data import balance

    plan = balance.balance_plan(frames["au_intensity"], per_level, seed=seed)
    logging.info("balanced pool: %d entries (%s)", len(plan.indices), plan.summary())
    return plan.indices


def train_on_real(config: Any, workdir: str) -> dict:
    """Trains on ``config.data``'s training split (balanced), then evaluates on its test split."""
    train = load_split(config, workdir, config.data.train_split, config.data.get("train_poses"))
    val = load_split(config, workdir, config.data.val_split, config.data.get("test_poses"))
    pool = balanced_pool(train, int(config.estimator.per_level), int(config.seed))
    result = estimator.train(config.estimator, workdir, train, pool=pool, val_frames=val,
                             seed=int(config.seed))
    if result.preempted:
        raise SystemExit(143)
    return evaluate(config, workdir)


def evaluate(config: Any, workdir: str, split: str | None = None, model_dir: str | None = None) -> dict:
    """Evaluates the model in ``model_dir`` (default ``workdir``) on ``split`` of ``config.data``."""
    from jaxau.evaluation import metrics, predictions_csv, tables

    split = split or config.data.test_split
    predictor = estimator.Predictor(model_dir or workdir)
    test = load_split(config, workdir, split, None)
    test = frames_lib.with_aus(test, predictor.au_names)
    pred = predictor.intensities(test["image"])
    out_dir = os.path.join(workdir, "eval", split.replace("/", "_"))
    aus = list(predictor.au_names)
    headline_poses = resolve.poses(config.data.get("test_poses"))
    mask = np.ones(len(pred), bool) if headline_poses is None else np.isin(test["pose_id"], headline_poses)
    scores = metrics.evaluate(test["au_intensity"][mask], pred[mask], aus)
    by_pose = metrics.evaluate_by_group(test["au_intensity"], pred, test["pose_id"], aus)
    predictions_csv.write_predictions_csv(os.path.join(out_dir, "predictions.csv"), subject=test["subject"],
                                          sequence=test["sequence"], frame=test["frame"],
                                          y_true=test["au_intensity"], y_pred=pred, au_names=aus)
    record = {"split": split, "poses": headline_poses, "step": predictor.step, "num_frames": int(mask.sum()),
              "unknown_labels": scores.unknown, **scores.as_dict(),
              "by_pose": {str(k): v.as_dict() for k, v in by_pose.items()}}
    io_utils.write_json(os.path.join(out_dir, "metrics.json"), record)
    table = tables.format_table({config.get("name", "estimator"): record["icc"]}, aus,
                                title=f"ICC(3,1) on {config.data.name} {split} (poses {headline_poses or 'all'})")
    io_utils.write_text(os.path.join(out_dir, "table.md"), table + "\n")
    print(table, flush=True)
    return record
