"""How an estimator reads each true intensity level: its level profile, gain, noise and cross-talk.

ICC(3,1) of two series (truth ``t``, read-out ``p``) is ``2 cov / (var_t + var_p)``. Writing the
read-out as a line in the truth plus what the line does not explain, ``p = a + g t + e``, with the
*gain* ``g = cov / var_t`` (predicted levels per true level; 1 for a calibrated read-out) and the
*noise* ``s = sd(e)`` (what the read-out does beyond the line: scatter within a level and a curved
profile), the ICC is exactly::

    ICC = 2 g / (1 + g^2 + s^2 / var_t)

so two estimators with the same ICC can fail differently: one reads every level too faintly (gain
well below 1, little noise), another reads the levels in order but scatters (gain near 1, noise
large). The offset ``a`` does not enter (ICC(3,1) is a consistency measure). The noise splits into
a part between test subjects (the head misreads each face by its own constant: an identity cue) and
a part frame by frame (:func:`subject_share`). :func:`level_profile`
gives, per AU, the mean read-out at each true level (the calibration curve), the gain and noise
with subject-bootstrap intervals (seeds redrawn as in `jaxau.evaluation.bootstrap`), and the
*cross-talk*: the coefficients of a multiple regression of each head's read-out on every AU's true
level, so a head that also responds to another AU (an AU01 head that rises with AU04) shows it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from jaxau.evaluation import bootstrap, metrics

NUM_LEVELS = 6


def _number(x) -> float | None:
    """A float for JSON, None where undefined (no frame at a level, a constant truth)."""
    return float(x) if np.isfinite(x) else None


def _gain_noise(t: np.ndarray, p: np.ndarray, valid: np.ndarray, weights: np.ndarray):
    """Gain, noise and the truth's variance per resample and AU: ``[B, K]`` each (weights ``[B, N]``)."""
    vt, vp, cov = bootstrap.weighted_moments(t, p, valid, weights)
    gain = np.where(vt > 0, cov / np.where(vt > 0, vt, 1.0), np.nan)
    noise = np.sqrt(np.maximum(vp - np.nan_to_num(gain) ** 2 * vt, 0.0))
    return gain, noise, vt


def subject_share(t: np.ndarray, p: np.ndarray, valid: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """``[K]`` share of the noise variance that is between test subjects: the frame-weighted variance
    of each subject's mean residual (read-out minus the gain line) over the residuals' variance. 1: the
    head misreads each face by its own constant (an identity cue); 0: it scatters frame by frame."""
    _, ids = np.unique(np.asarray(subjects), return_inverse=True)
    out = np.full(t.shape[1], np.nan)
    for j in range(t.shape[1]):
        v = valid[:, j]
        tj, pj, sj = t[v, j], p[v, j], ids[v]
        if tj.size < 2 or tj.var() == 0:
            continue
        gain = np.cov(tj, pj, bias=True)[0, 1] / tj.var()
        e = pj - pj.mean() - gain * (tj - tj.mean())
        total = float((e * e).mean())
        if total <= 1e-12 * max(float(pj.var()), 1e-300):  # on its line up to rounding: nothing to split
            continue
        counts = np.bincount(sj)
        means = np.bincount(sj, weights=e) / np.maximum(counts, 1)
        out[j] = float((counts * means ** 2).sum() / counts.sum() / total)
    return out


def cross_talk(y_true: np.ndarray, y_pred: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[K, K]`` coefficients: row k, column j = how much head k's read-out rises per level of AU j,
    the other AUs' levels held fixed (least squares with an intercept over frames where every AU is
    known; NaN where fewer frames than unknowns or an AU's level never varies)."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    k = t.shape[1]
    rows = np.asarray(valid).all(1)
    x = np.concatenate([np.ones((int(rows.sum()), 1)), t[rows]], axis=1)
    if x.shape[0] <= k + 1 or np.linalg.matrix_rank(x) < k + 1:
        return np.full((k, k), np.nan)
    coef, *_ = np.linalg.lstsq(x, p[rows], rcond=None)  # [1 + K, K]: intercept, then one row per true AU
    return coef[1:].T


def level_profile(y_true, y_pred, subjects, au_names: Sequence[str], *, unknown: str = "drop",
                  num_samples: int = 1000, seed: int = 0,
                  confidence: float = bootstrap.CONFIDENCE) -> dict:
    """The read-out of each AU by true level, its gain and noise (see the module docstring).

    Args:
      y_true: ``[N, K]`` true levels (0-5; unknown labels as in `jaxau.evaluation.metrics.prepare`).
      y_pred: ``[N, K]`` read-outs, or ``[S, N, K]`` for S estimator seeds of one column.
      subjects: ``[N]`` subject id per frame (the bootstrap's unit).
      au_names: the K AU names.

    Returns:
      ``{'aus': {au: {'counts': [6], 'mean': [6] mean read-out per true level (None where none),
      'gain', 'gain_ci95', 'noise', 'noise_ci95', 'sd_true', 'icc', 'noise_between_subjects'}},
      'cross_talk': [K, K] list, 'au_names', 'seeds'}``. Gain and noise are per-seed values averaged over seeds (one estimator's
      read-out, not the ensemble's); ``icc`` is ``2 g / (1 + g^2 + s^2 / var_t)`` from them, the
      seed-mean ICC(3,1) when there is one seed. The level means and the cross-talk are of the
      seed-averaged read-out (both are linear in it). Intervals: subject resamples, seeds redrawn.
      Undefined values (an AU whose true level never varies; cross-talk without enough frames) are
      None.
    """
    preds = np.asarray(y_pred, np.float64)
    preds = preds[None] if preds.ndim == 2 else preds
    t, _, valid, _ = metrics.prepare(y_true, preds[0], unknown)
    if preds.ndim != 3 or preds.shape[1:] != t.shape:
        raise ValueError(f"y_pred has shape {preds.shape}; expected [N, K] or [seeds, N, K] with [N, K] = {t.shape}.")
    if len(au_names) != t.shape[1]:
        raise ValueError(f"{len(au_names)} AU names for {t.shape[1]} label columns.")
    boot = bootstrap.SubjectBootstrap(subjects, num_samples, seed)
    if boot.subjects.shape[0] != t.shape[0]:
        raise ValueError(f"subjects has {boot.subjects.shape[0]} entries for {t.shape[0]} frames.")
    ones = np.ones((1, t.shape[0]))
    point = [_gain_noise(t, p, valid, ones) for p in preds]  # per seed: ([1, K] gain, noise, var_t)
    gain = np.mean([g[0] for g, _, _ in point], 0)
    noise = np.mean([s[0] for _, s, _ in point], 0)
    var_t = point[0][2][0]
    resampled = [_gain_noise(t, p, valid, boot.weights) for p in preds]
    gain_b = bootstrap.seed_resampled(np.stack([g for g, _, _ in resampled]), seed)  # [B, K]
    noise_b = bootstrap.seed_resampled(np.stack([s for _, s, _ in resampled]), seed)
    share = np.mean([subject_share(t, p, valid, boot.subjects) for p in preds], 0)
    mean_pred = preds.mean(0)
    out: dict = {"aus": {}, "au_names": list(au_names), "seeds": int(preds.shape[0])}
    for j, au in enumerate(au_names):
        v = valid[:, j]
        levels = np.clip(np.rint(t[v, j]), 0, NUM_LEVELS - 1).astype(int)
        counts = np.bincount(levels, minlength=NUM_LEVELS)[:NUM_LEVELS]
        sums = np.bincount(levels, weights=mean_pred[v, j], minlength=NUM_LEVELS)[:NUM_LEVELS]
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        g, s, vt = float(gain[j]), float(noise[j]), float(var_t[j])
        icc = 2 * g / (1 + g * g + s * s / vt) if vt > 0 and np.isfinite(g) else float("nan")
        finite = gain_b[:, j][np.isfinite(gain_b[:, j])]
        out["aus"][au] = {
            "counts": counts.tolist(), "mean": [_number(x) for x in means], "gain": _number(g),
            "noise": _number(s), "sd_true": _number(np.sqrt(vt)), "icc": _number(icc),
            "noise_between_subjects": _number(share[j]),
            "gain_ci95": bootstrap.percentile_interval(finite, confidence) if finite.size else [None, None],
            "noise_ci95": bootstrap.percentile_interval(noise_b[:, j], confidence)}
    out["cross_talk"] = [[_number(x) for x in row] for row in cross_talk(t, mean_pred, valid)]
    return out


def profile_from_predictions(pred: Mapping, *, poses: Sequence[int] | None = None, **kwargs) -> dict:
    """:func:`level_profile` of one column's predictions (`jaxau.report.statistics.load_seeds`),
    optionally on some head poses only."""
    m = bootstrap.pose_mask(pred, poses)
    return level_profile(np.asarray(pred["y_true"])[m], np.asarray(pred["y_pred"])[..., m, :],
                         np.asarray(pred["subject"])[m], list(pred["au_names"]), **kwargs)


def largest_cross_talk(profile: Mapping, au: str) -> tuple[str, float] | None:
    """The other AU whose true level moves ``au``'s head most (by absolute coefficient), or None."""
    names = profile["au_names"]
    row = np.asarray([np.nan if x is None else x for x in profile["cross_talk"][names.index(au)]], np.float64)
    others = [(names[j], float(row[j])) for j in range(len(names)) if names[j] != au and np.isfinite(row[j])]
    return max(others, key=lambda x: abs(x[1])) if others else None
