"""Scoring predicted AU intensities against a frame set's labels.

Artifacts (``out_dir``): ``metrics.json`` (per-AU ICC/PCC/MAE, means, per-pose breakdown, the
unknown-label policy), ``predictions.csv`` (subject, sequence, frame, AUxx_true, AUxx_pred) and
``table.md`` (a Table-2-style row).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jaxau import io_utils
from jaxau.data import frames as frames_lib, resolve
from jaxau.evaluation import metrics, predictions_csv, tables


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
