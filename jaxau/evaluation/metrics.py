"""AU-intensity metrics: ICC(3,1), Pearson r and MAE per AU (metrics.md §1-3).

All functions take ``y_true`` and ``y_pred`` as ``[N]`` or ``[N, K]`` (frames x AUs) and return a float
or a ``[K]`` array. Ground truth uses the jaxau label convention (0..5, -1 = unknown); ``unknown``
chooses what happens to -1 frames: ``'drop'`` (default; per AU, only labelled frames count -- OpenFace's
extraction) or ``'as_zero'`` (scored as absent -- the FERA 2015 baseline scripts). Pooling is over all
given frames; the mean over AUs is unweighted (paper Tables 2-4).

Undefined cases never return NaN for ICC and PCC: when a series is constant (e.g. an AU never present
in the test set and never predicted) the correlation is 0/0. We return ``constant_value`` (default 0.0,
i.e. "no evidence of agreement"; it cannot inflate a mean over AUs) and emit an
:class:`UndefinedMetricWarning` naming the column. The same holds for fewer than 2 valid frames.
MAE with zero valid frames is NaN (with the warning): there is no sensible finite value.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Mapping, Sequence

import numpy as np

from jaxau.au import UNKNOWN

UNKNOWN_POLICIES = ("drop", "as_zero")


class UndefinedMetricWarning(UserWarning):
    """A metric was 0/0 for some column and was replaced by a documented value."""


def prepare(y_true, y_pred, unknown: str):
    """Validated float64 ``[N, K]`` truth and predictions, the valid mask and whether input was ``[N]``.

    Unknown labels (-1) are masked out (``'drop'``) or scored as 0 (``'as_zero'``).
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true shape {t.shape} != y_pred shape {p.shape}; both must be [N] or [N, K].")
    if t.ndim not in (1, 2):
        raise ValueError(f"y_true/y_pred must be [N] or [N, K], got shape {t.shape}.")
    if unknown not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown={unknown!r}: use 'drop' or 'as_zero'.")
    if np.isnan(p).any():
        raise ValueError("y_pred contains NaN; predictions must be finite.")
    squeeze = t.ndim == 1
    t, p = t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)
    unk = t == UNKNOWN
    if unknown == "as_zero":
        t = np.where(unk, 0.0, t)
        valid = np.ones_like(unk)
    else:
        valid = ~unk
    return t, p, valid, squeeze


def _moments(t, p, valid):
    """Per column: n, and the biased (1/n) variances and covariance over valid frames."""
    w = valid.astype(np.float64)
    n = w.sum(0)
    safe = np.maximum(n, 1)
    mt, mp = (w * t).sum(0) / safe, (w * p).sum(0) / safe
    dt, dp = (t - mt) * w, (p - mp) * w
    return n, (dt * dt).sum(0) / safe, (dp * dp).sum(0) / safe, (dt * dp).sum(0) / safe


def _finish(values, undefined, name, constant_value, squeeze, why):
    if undefined.any():
        cols = np.flatnonzero(undefined).tolist()
        warnings.warn(f"{name} undefined ({why}) for column(s) {cols}; reporting {constant_value}.",
                      UndefinedMetricWarning, stacklevel=3)
        values = np.where(undefined, constant_value, values)
    return float(values[0]) if squeeze else values


def icc(y_true, y_pred, *, unknown: str = "drop", constant_value: float = 0.0):
    """ICC(3,1): two-way mixed, consistency, single rater (Shrout & Fleiss), per column.

    With two raters (truth, prediction) the ANOVA definition reduces to 2 s_xy / (s_x^2 + s_y^2):
    a scale mismatch lowers it, a constant offset does not.

    Args:
      y_true: [N] or [N, K] labels (0..5, -1 unknown).
      y_pred: same shape, predicted intensities (finite floats).
      unknown: 'drop' or 'as_zero' (module docstring).
      constant_value: value reported where ICC is 0/0 (both series constant, or < 2 frames).

    Returns:
      float for [N] input, else [K] float64 array.
    """
    t, p, valid, squeeze = prepare(y_true, y_pred, unknown)
    n, vt, vp, cov = _moments(t, p, valid)
    denom = vt + vp
    # Relative tolerance: variances of exactly constant float series can come out as ~1e-33.
    undefined = (n < 2) | (denom <= 1e-12 * (1.0 + np.abs(t).max(initial=0) + np.abs(p).max(initial=0)) ** 2)
    values = 2.0 * cov / np.where(undefined, 1.0, denom)
    return _finish(values, undefined, "ICC(3,1)", constant_value, squeeze,
                   "both series constant or < 2 valid frames")


def pcc(y_true, y_pred, *, unknown: str = "drop", constant_value: float = 0.0):
    """Pearson correlation per column (same conventions as :func:`icc`; 0/0 when either is constant)."""
    t, p, valid, squeeze = prepare(y_true, y_pred, unknown)
    n, vt, vp, cov = _moments(t, p, valid)
    tiny = 1e-12 * (1.0 + np.abs(t).max(initial=0) + np.abs(p).max(initial=0)) ** 2
    undefined = (n < 2) | (vt <= tiny) | (vp <= tiny)
    values = cov / np.sqrt(np.where(undefined, 1.0, vt * vp))
    return _finish(values, undefined, "PCC", constant_value, squeeze,
                   "a series is constant or < 2 valid frames")


def mae(y_true, y_pred, *, unknown: str = "drop"):
    """Mean absolute error per column in intensity units (NaN + warning when no frame is valid)."""
    t, p, valid, squeeze = prepare(y_true, y_pred, unknown)
    n = valid.sum(0)
    values = (np.abs(t - p) * valid).sum(0) / np.maximum(n, 1)
    return _finish(values, n == 0, "MAE", float("nan"), squeeze, "no valid frames")


@dataclasses.dataclass
class AUScores:
    """Per-AU scores and their unweighted means.

    Attributes:
      au_names: column names.
      icc, pcc, mae: [K] arrays.
      num_frames: [K] frames scored per AU (after the unknown policy).
      unknown: the policy used ('drop' / 'as_zero'), to be reported with the numbers.
    """

    au_names: tuple[str, ...]
    icc: np.ndarray
    pcc: np.ndarray
    mae: np.ndarray
    num_frames: np.ndarray
    unknown: str

    @property
    def mean(self) -> dict[str, float]:
        """Unweighted means over AUs (NaN MAE columns ignored)."""
        return {"icc": float(np.mean(self.icc)), "pcc": float(np.mean(self.pcc)),
                "mae": float(np.nanmean(self.mae)) if np.isfinite(self.mae).any() else float("nan")}

    def as_dict(self) -> dict[str, dict[str, float]]:
        """{metric: {AU: value, ..., 'mean': value}} (the input of the table formatter)."""
        out = {}
        for metric in ("icc", "pcc", "mae"):
            vals = getattr(self, metric)
            out[metric] = {a: float(v) for a, v in zip(self.au_names, vals)}
            out[metric]["mean"] = self.mean[metric]
        return out


def evaluate(y_true, y_pred, au_names: Sequence[str], *, unknown: str = "drop") -> AUScores:
    """ICC, PCC, MAE per AU for [N, K] labels and predictions."""
    t = np.asarray(y_true)
    if t.ndim != 2 or t.shape[1] != len(au_names):
        raise ValueError(f"y_true must be [N, {len(au_names)}] for AUs {list(au_names)}, got {t.shape}.")
    _, _, valid, _ = prepare(y_true, y_pred, unknown)
    return AUScores(tuple(au_names), icc(y_true, y_pred, unknown=unknown),
                    pcc(y_true, y_pred, unknown=unknown), mae(y_true, y_pred, unknown=unknown),
                    valid.sum(0).astype(np.int64), unknown)


def evaluate_by_group(y_true, y_pred, groups, au_names: Sequence[str], *, unknown: str = "drop"
                      ) -> Mapping[object, AUScores]:
    """Scores per group, e.g. per head pose (paper Fig. 5) or per domain.

    Args:
      groups: [N] group key per frame (pose id, 'frontal', ...). Frames are pooled within a group.

    Returns:
      {group: AUScores}, groups in sorted order.
    """
    g = np.asarray(groups)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if g.shape != (t.shape[0],):
        raise ValueError(f"groups must be [N] = [{t.shape[0]}], got {g.shape}.")
    return {key.item() if hasattr(key, "item") else key:
            evaluate(t[g == key], p[g == key], au_names, unknown=unknown) for key in np.unique(g)}
