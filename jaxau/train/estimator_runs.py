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
from jaxau.data import au as au_lib
from jaxau.data import frames as frames_lib
from jaxau.data import resolve
from jaxau.train import estimator


def load_split(config: Any, workdir: str, split: str, pose_spec: Any = None) -> frames_lib.FrameSet:
    """A split of ``config.data`` at the estimator's size, personally normalised as configured."""
    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    aus = au_lib.parse_aus(config.data.aus)
    frames = frames_lib.load_tfds(config.data.name, split, data_dir=directory,
                                  image_size=int(config.estimator.image_size), aus=aus,
                                  pose_ids=resolve.poses(pose_spec))
    return frames_lib.normalized(frames, config.estimator.get("normalization", "none"))


def balanced_pool(frames: frames_lib.FrameSet, per_level: int, seed: int,
                  record_path: str | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The real-data balancing plan (paper Sec. 4.2.2) as an epoch pool of (frame, target AU) entries.

    Returns ``(frame_indices, target_aus)``, or ``(None, None)`` for no balancing.

    Writes the per-AU per-level frame counts before and after resampling to ``record_path`` (JSON)
    when given; the report plots them.
    """
    if not per_level:
        return None, None
    from jaxau.data import balance
    from jaxau.stages.data import label_histogram

    plan = balance.balance_plan(frames["au_intensity"], per_level, seed=seed)
    if plan.skipped:
        logging.warning("balancing: %d (AU, level) cells have no frame and were skipped: %s",
                        len(plan.skipped), [(str(frames["au_names"][k]), lvl) for k, lvl in plan.skipped])
    if record_path:
        io_utils.write_json(record_path, {
            "au_names": [str(a) for a in frames["au_names"]], "per_level": per_level,
            "before": label_histogram(frames["au_intensity"]).tolist(),
            # Per AU: the levels of the entries drawn for that AU (what its head is trained on).
            "after": [np.bincount(plan.flat_target_level[plan.flat_target_au == k], minlength=6).tolist()
                      for k in range(len(frames["au_names"]))],
            "skipped": [list(map(int, c)) for c in plan.skipped]})
    return plan.flat_indices, plan.flat_target_au


def train_on_real(config: Any, workdir: str) -> dict:
    """Trains on ``config.data``'s training split (balanced), then evaluates on its test split."""
    train = load_split(config, workdir, config.data.train_split, config.data.get("train_poses"))
    val = load_split(config, workdir, config.data.val_split, config.data.get("test_poses"))
    pool, targets = balanced_pool(train, int(config.estimator.per_level), int(config.seed),
                                  os.path.join(workdir, "balance.json"))
    result = estimator.train(config.estimator, workdir, train, pool=pool, pool_target_au=targets,
                             val_frames=val, seed=int(config.seed))
    if result.preempted:
        raise SystemExit(143)
    return evaluate(config, workdir)


def score(config: Any, model_dir: str, test: frames_lib.FrameSet, out_dir: str,
          title: str | None = None, aus: Any = None) -> dict:
    """Scores the model in ``model_dir`` on a frame set; writes metrics.json, predictions.csv, table.md.

    The headline numbers use the poses in ``config.data.test_poses`` (all when empty); the per-pose
    breakdown (paper Fig. 5) always covers every pose. ``aus`` restricts scoring to the AUs a test set
    labels (default: every AU the model predicts), e.g. the 5 FERA AUs DISFA codes.
    """
    predictor = estimator.Predictor(model_dir)
    pred = predictor.intensities(test["image"])
    return score_predictions(config, test, pred, predictor.au_names, aus, predictor.step, out_dir, title)


def score_predictions(config: Any, test: frames_lib.FrameSet, pred: np.ndarray, model_aus, aus, step: int,
                      out_dir: str, title: str | None = None) -> dict:
    """Scores predicted levels against a frame set's labels; writes metrics.json, predictions.csv, table.md.

    Args:
      config: the experiment config; ``config.data.test_poses`` selects the headline poses.
      test: the test frame set (any AU columns, matched by name).
      pred: ``[N, len(model_aus)]`` predicted levels.
      model_aus: the AU columns of ``pred``.
      aus: the AUs to score (None: all of ``model_aus``); those the model lacks are ignored.
      step: the model's training step (recorded).
      out_dir: output directory.
      title: table title.

    Returns:
      The metrics record (per-AU and mean ICC/PCC/MAE, per pose, frames scored).
    """
    from jaxau.evaluation import metrics, predictions_csv, tables

    model_aus = [str(a) for a in model_aus]
    aus = model_aus if aus is None else [a for a in model_aus if a in set(aus)]
    if not aus:
        raise ValueError(f"none of the requested AUs is predicted by the model ({model_aus}).")
    test = frames_lib.with_aus(test, aus)
    pred = np.asarray(pred)[:, [model_aus.index(a) for a in aus]]
    poses = resolve.poses(config.data.get("test_poses"))
    mask = np.ones(len(pred), bool) if poses is None else np.isin(test["pose_id"], poses)
    if not mask.any():
        raise ValueError(f"No test frame has a pose in config.data.test_poses={poses}.")
    scores = metrics.evaluate(test["au_intensity"][mask], pred[mask], aus)
    by_pose = metrics.evaluate_by_group(test["au_intensity"], pred, test["pose_id"], aus)
    predictions_csv.write_predictions_csv(os.path.join(out_dir, "predictions.csv"), subject=test["subject"],
                                          sequence=test["sequence"], frame=test["frame"],
                                          y_true=test["au_intensity"], y_pred=pred, au_names=aus,
                                          pose_id=test["pose_id"])
    record = {"poses": poses, "step": int(step), "num_frames": int(mask.sum()),
              "unknown_labels": scores.unknown, **scores.as_dict(),
              "by_pose": {str(k): v.as_dict() for k, v in by_pose.items()}}
    io_utils.write_json(os.path.join(out_dir, "metrics.json"), record)
    table = tables.format_table({config.get("name", "estimator"): record["icc"]}, aus,
                                title=title or f"ICC(3,1) (poses {poses or 'all'})")
    io_utils.write_text(os.path.join(out_dir, "table.md"), table + "\n")
    return record


def evaluate(config: Any, workdir: str, split: str | None = None, model_dir: str | None = None) -> dict:
    """Evaluates the model in ``model_dir`` (default ``workdir``) on ``split`` of ``config.data``."""
    split = split or config.data.test_split
    test = load_split(config, workdir, split, None)
    record = score(config, model_dir or workdir, test, os.path.join(workdir, "eval", split.replace("/", "_")),
                   title=f"ICC(3,1) on {config.data.name} {split}")
    with open(os.path.join(workdir, "eval", split.replace("/", "_"), "table.md"), encoding="utf-8") as f:
        print(f.read(), flush=True)
    return record
