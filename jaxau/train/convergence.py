"""How far an estimator's training got: the ICC of every kept checkpoint on validation frames.

A column's test ICC mixes what its training set can teach with how far its estimators got in their
step budget, and the two call for different fixes (other data or more steps). Scoring each kept
checkpoint on the estimator's own validation frames (never the test split) tells them apart:

- ``rise``: the mean ICC gained between the last two kept checkpoints. A column still rising at its
  last step is limited by its budget as well as by its data.
- unlearned heads: across a column's seeds, an AU whose final validation ICC is below ``fraction`` of
  the median over the seeds, where that median is at least ``floor``: that seed's head had not begun
  to learn what the other seeds' heads learnt. Such a head makes a column's seeds spread more than
  their agreement elsewhere would suggest, and averaging more seeds dilutes it without explaining it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Sequence

import numpy as np

from jaxau.data import frames as frames_lib
from jaxau.evaluation import metrics
from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import estimator


@dataclasses.dataclass(frozen=True)
class Curve:
    """Validation ICC(3,1) of one estimator at each of its kept checkpoints.

    Attributes:
      model_dir: the estimator's run directory.
      steps: the kept checkpoint steps, oldest first.
      au_names: the estimator's AUs (the columns of ``icc`` and ``spread``).
      icc: ``[checkpoints, AUs]`` ICC(3,1) of the read-out intensities against the frames' levels.
      spread: ``[checkpoints, AUs]`` standard deviation of the read-out intensities (a head that has
        not begun to learn reads nearly the same level for every frame).
    """

    model_dir: str
    steps: tuple[int, ...]
    au_names: tuple[str, ...]
    icc: np.ndarray
    spread: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Mean ICC over AUs at each kept checkpoint."""
        return self.icc.mean(axis=1)

    @property
    def rise(self) -> float:
        """Mean ICC gained between the last two kept checkpoints (NaN with one checkpoint)."""
        return float(self.mean[-1] - self.mean[-2]) if len(self.steps) > 1 else float("nan")


def learning_curve(model_dir: str, frames: frames_lib.FrameSet, batch_size: int = 64) -> Curve:
    """Scores every kept checkpoint of the estimator in ``model_dir`` on ``frames``.

    Args:
      model_dir: an estimator run directory (`jaxau.train.estimator.train`'s workdir).
      frames: labelled frames at the estimator's image size, normalised as it was trained (its
        validation split).
      batch_size: inference batch size.
    """
    steps = checkpoint_lib.kept_steps(model_dir)
    if not steps:
        raise FileNotFoundError(f"{model_dir} has no finished checkpoint: train the estimator first.")
    iccs, spreads, au_names = [], [], None
    for step in steps:
        predictor = estimator.Predictor(model_dir, batch_size=batch_size, step=step)
        au_names = predictor.au_names
        labelled = frames_lib.with_aus(frames, list(au_names))
        pred = predictor.intensities(np.asarray(labelled["image"]))
        with warnings.catch_warnings():  # an early head may read one level for every frame: ICC 0.
            warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
            iccs.append(np.atleast_1d(metrics.icc(np.asarray(labelled["au_intensity"]), pred)))
        spreads.append(np.asarray(pred, np.float64).std(axis=0))
    return Curve(model_dir, tuple(steps), tuple(au_names), np.stack(iccs), np.stack(spreads))


def unlearned_heads(curves: Sequence[Curve], fraction: float = 0.5, floor: float = 0.2) -> list[dict]:
    """Heads of one seed that did not learn what the column's other seeds learnt (module docstring).

    Args:
      curves: the learning curves of one column's estimators (its seeds), same AUs.
      fraction: a head is unlearned below this fraction of its AU's median final ICC over the seeds.
      floor: only AUs whose median final ICC reaches this are judged (a hard AU every seed reads
        poorly is not one seed's failure).

    Returns:
      One record per unlearned head: seed index, model_dir, AU, its final ICC and spread, and the
      median final ICC and spread of that AU over the seeds.
    """
    if len(curves) < 2:
        return []
    names = curves[0].au_names
    if any(c.au_names != names for c in curves):
        raise ValueError("the curves of one column must read the same AUs in the same order.")
    final = np.stack([c.icc[-1] for c in curves])
    spread = np.stack([c.spread[-1] for c in curves])
    median, median_spread = np.median(final, axis=0), np.median(spread, axis=0)
    out = []
    for seed, k in zip(*np.nonzero((final < fraction * median) & (median >= floor))):
        out.append({"seed": int(seed), "model_dir": curves[seed].model_dir, "au": names[k],
                    "icc": float(final[seed, k]), "median_icc": float(median[k]),
                    "spread": float(spread[seed, k]), "median_spread": float(median_spread[k])})
    return out


def column_summary(curves: Sequence[Curve], rising: float = 0.02, **unlearned_kw) -> dict:
    """One column's convergence: its seeds' mean curve, last rise, rising AUs and unlearned heads.

    Args:
      curves: the column's estimators' curves (one per seed), with the same kept steps.
      rising: an AU is still rising when its seed-mean ICC gained at least this over the last
        interval between kept checkpoints.
      **unlearned_kw: ``fraction`` / ``floor`` of `unlearned_heads`.
    """
    steps = curves[0].steps
    if any(c.steps != steps for c in curves):
        raise ValueError(f"the column's estimators kept different steps: {[c.steps for c in curves]}.")
    icc = np.stack([c.icc for c in curves])          # [seeds, checkpoints, AUs]
    by_au = icc.mean(axis=0)
    gained = by_au[-1] - by_au[-2] if len(steps) > 1 else np.full(by_au.shape[1], np.nan)
    return {"steps": list(steps), "seeds": len(curves),
            "icc_mean": [round(float(v), 4) for v in icc.mean(axis=(0, 2))],
            "icc_mean_per_seed": [[round(float(v), 4) for v in c.mean] for c in curves],
            "final_per_au": {a: round(float(v), 4) for a, v in zip(curves[0].au_names, by_au[-1])},
            "rise": round(float(np.mean([c.rise for c in curves])), 4),
            "rising_aus": [a for a, g in zip(curves[0].au_names, gained) if g >= rising],
            "unlearned": unlearned_heads(curves, **unlearned_kw)}
