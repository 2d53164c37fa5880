"""Confidence intervals for ICC(3,1) by a cluster bootstrap over test subjects.

Frames of one subject are correlated (same face, same sessions), so resampling frames would give
intervals that are far too narrow. :class:`SubjectBootstrap` resamples *subjects* with replacement;
a subject drawn ``k`` times contributes each of its frames with weight ``k``, which is exactly the
ICC of the data set with those frames duplicated ``k`` times (:func:`weighted_icc`).

Intervals are percentile intervals over ``num_samples`` resamples. With several training seeds
(estimators of one column trained with different seeds on the same training set) each resample
also redraws the seeds: the column's value in a resample is the mean ICC over S seeds drawn with
replacement (:func:`seed_draws`), so the interval covers both the test subjects and the estimator's
own training draw: a verdict then says what another set of seeds would most likely say too. Plain
resampling of S values gives (S - 1) / S of the variance of their mean (half at S = 2), so the
drawn seeds' deviation from the seed mean is scaled by sqrt(S / (S - 1)), which makes the
bootstrap variance of the seed mean the unbiased s^2 / S (:func:`seed_resampled`). The
subject-only interval (these S estimators taken as fixed) is reported beside it
(``ci95_subjects``). With one seed the interval cannot see the estimator's draw at all.

Two columns are compared on the *same* resamples (:func:`paired_difference`): the interval of the
difference of their mean ICCs is far narrower than the two intervals suggest when the columns share
test frames. Its verdict is ``'yes'`` when the whole interval lies above 0, ``'no'`` when it lies
below 0, and ``'not resolved'`` otherwise.

How much a column loses away from the view it was trained on (paper Fig. 5) is :func:`pose_drops`:
the ICC on the reference view's frames minus the ICC on another view's, both on the same subject
resamples (a test subject is drawn with all of its views). Two columns' drops are compared on the
same resamples too (:func:`drop_differences`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from jaxau.evaluation import metrics

CONFIDENCE = 0.95
VERDICTS = ("yes", "no", "not resolved")


class SubjectBootstrap:
    """Subject-level resampling weights for a fixed list of test frames.

    Attributes:
      subjects: ``[N]`` subject id per frame.
      weights: ``[B, N]`` float64, the number of times each frame's subject was drawn in each resample.
      num_subjects: number of distinct subjects.
    """

    def __init__(self, subjects: Sequence, num_samples: int = 1000, seed: int = 0):
        subj = np.asarray(subjects)
        if subj.ndim != 1 or subj.size == 0:
            raise ValueError(f"subjects must be a non-empty [N] array of subject ids, got shape {subj.shape}.")
        if num_samples < 1:
            raise ValueError(f"num_samples={num_samples}: use at least 1 resample (1000 for a 95% interval).")
        ids, index = np.unique(subj, return_inverse=True)
        if ids.size < 2:
            raise ValueError(f"a subject bootstrap needs at least 2 test subjects, got {ids.size} "
                             f"({ids.tolist()}); test on more subjects.")
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, ids.size, size=(num_samples, ids.size))
        counts = np.zeros((num_samples, ids.size))
        np.add.at(counts, (np.arange(num_samples)[:, None], draws), 1.0)
        self.subjects = subj
        self.num_subjects = int(ids.size)
        self.weights = counts[:, index]


def weighted_moments(t: np.ndarray, p: np.ndarray, valid: np.ndarray, weights: np.ndarray):
    """Weighted variances of truth and prediction and their covariance per resample and AU.

    Args:
      t, p: ``[N, K]`` float truth and prediction.
      valid: ``[N, K]`` bool, frames that count for each AU.
      weights: ``[B, N]`` non-negative frame weights.

    Returns:
      ``(var_t, var_p, cov)``, each ``[B, K]`` (population moments: divided by the total weight).
    """
    w = weights[:, :, None] * valid[None].astype(np.float64)  # [B, N, K]
    safe = np.maximum(w.sum(1), 1e-300)
    mt = (w * t).sum(1) / safe
    mp = (w * p).sum(1) / safe
    dt = t[None] - mt[:, None]
    dp = p[None] - mp[:, None]
    return (w * dt * dt).sum(1) / safe, (w * dp * dp).sum(1) / safe, (w * dt * dp).sum(1) / safe


def weighted_icc(t: np.ndarray, p: np.ndarray, valid: np.ndarray, weights: np.ndarray,
                 constant_value: float = 0.0) -> np.ndarray:
    """ICC(3,1) per AU with frame weights, vectorised over resamples.

    Args:
      t, p: ``[N, K]`` float truth and prediction.
      valid: ``[N, K]`` bool, frames that count for each AU.
      weights: ``[B, N]`` non-negative frame weights (integer weights = duplicated frames).
      constant_value: value where the ICC is 0/0 (as :func:`jaxau.evaluation.metrics.icc`).

    Returns:
      ``[B, K]`` ICC values.
    """
    vt, vp, cov = weighted_moments(t, p, valid, weights)
    denom = vt + vp
    scale = (1.0 + np.abs(t).max(initial=0) + np.abs(p).max(initial=0)) ** 2
    # Fewer than 2 distinct frames (n counts duplicates) or both series constant: 0/0.
    distinct = (weights[:, :, None] > 0) & valid[None]
    undefined = (distinct.sum(1) < 2) | (denom <= 1e-12 * scale)
    return np.where(undefined, constant_value, 2.0 * cov / np.where(undefined, 1.0, denom))


def percentile_interval(samples: np.ndarray, confidence: float) -> list[float]:
    """``[lo, hi]``: the central ``confidence`` percentile interval of resampled values ``[B]``."""
    lo, hi = np.quantile(samples, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return [float(lo), float(hi)]


def seed_draws(num_seeds: int, num_samples: int, seed: int = 0) -> np.ndarray:
    """``[B, S]`` seed indices drawn with replacement for each of ``num_samples`` resamples.

    The draws depend only on ``(seed, num_seeds, num_samples)`` and not on the subject draws, so two
    columns with the same number of seeds redraw the same seed indices in every resample: estimators
    trained with the same seed are paired the way test frames are (a column against itself gives
    exactly 0).
    """
    return np.random.default_rng([int(seed), 0x5EED, int(num_seeds)]).integers(
        0, num_seeds, size=(num_samples, num_seeds))


def seed_resampled(per_seed: np.ndarray, seed: int) -> np.ndarray:
    """``[B, ...]`` seed-redrawn values of per-seed resampled values ``[S, B, ...]``.

    Resample b's value is the seed mean plus sqrt(S / (S - 1)) times the mean deviation of S seeds
    drawn with replacement (:func:`seed_draws`); with one seed it is that seed's value.
    """
    s, b = per_seed.shape[:2]
    mean = per_seed.mean(0)
    if s == 1:
        return mean
    drawn = np.take_along_axis(per_seed, seed_draws(s, b, seed).T.reshape((s, b) + (1,) * (per_seed.ndim - 2)),
                               axis=0).mean(0)
    return mean + np.sqrt(s / (s - 1)) * (drawn - mean)


def _seed_iccs(y_true, y_pred, unknown):
    """Per-seed ICC inputs: truth/valid [N, K] and predictions [S, N, K]."""
    p = np.asarray(y_pred, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3:
        raise ValueError(f"y_pred must be [N, K] or [seeds, N, K], got shape {p.shape}.")
    t, p0, valid, _ = metrics.prepare(y_true, p[0], unknown)
    preds = [p0] + [metrics.prepare(y_true, q, unknown)[1] for q in p[1:]]
    return t, np.stack(preds), valid


def _per_seed(t, preds, valid, weights):
    """[S, K] point ICCs and [S, B, K] resampled ICCs per seed (``weights``: [B, N] resample weights)."""
    ones = np.ones((1, t.shape[0]))
    point = np.stack([weighted_icc(t, q, valid, ones)[0] for q in preds])
    return point, np.stack([weighted_icc(t, q, valid, weights) for q in preds])


def _resampled(t, preds, valid, weights):
    """[S, K] point ICCs and [B, K] seed-averaged resampled ICCs (``weights``: [B, N] resample weights)."""
    point, per_seed = _per_seed(t, preds, valid, weights)
    return point, per_seed.mean(0)


def column_interval(y_true, y_pred, subjects, au_names: Sequence[str], *, num_samples: int = 1000,
                    seed: int = 0, unknown: str = "drop", confidence: float = CONFIDENCE) -> dict:
    """Mean ICC and per-AU ICC of one column with bootstrap intervals over test subjects.

    Args:
      y_true: ``[N, K]`` labels (0..5, -1 unknown).
      y_pred: ``[N, K]`` predictions, or ``[S, N, K]`` for S training seeds.
      subjects: ``[N]`` subject id per frame.
      au_names: the K AU names.

    Returns:
      ``{'icc': mean over AUs (seed-averaged), 'ci95': [lo, hi], 'ci95_subjects': [lo, hi],
      'per_au': {AU: {'icc', 'ci95'}}, 'seeds': S, 'icc_per_seed': [S means], 'seed_spread': std
      over seeds of the mean ICC, 'num_subjects', 'num_frames', 'num_samples'}``: ``ci95`` over test
      subjects and (S > 1) the seeds, ``ci95_subjects`` over test subjects alone (equal at S = 1);
      with S > 1 also ``'seed_agreement'`` (the mean
      over AUs of the mean Pearson correlation of two seeds' predictions, `seed_agreement`) and
      ``'averaged_icc'`` / ``'averaged_ci95'`` (the mean ICC of the seeds' averaged predictions, an
      ensemble of the column's estimators, on the same resamples).
    """
    t, preds, valid = _seed_iccs(y_true, y_pred, unknown)
    if t.shape[1] != len(au_names):
        raise ValueError(f"y_true has {t.shape[1]} AU columns but au_names lists {len(au_names)}.")
    boot = SubjectBootstrap(subjects, num_samples, seed)
    if boot.subjects.shape[0] != t.shape[0]:
        raise ValueError(f"subjects has {boot.subjects.shape[0]} entries for {t.shape[0]} frames.")
    point, per_seed = _per_seed(t, preds, valid, boot.weights)
    resampled = seed_resampled(per_seed, seed)
    per_au = {a: {"icc": float(point[:, k].mean()), "ci95": percentile_interval(resampled[:, k], confidence)}
              for k, a in enumerate(au_names)}
    seed_means = point.mean(1)
    out = {"icc": float(seed_means.mean()), "ci95": percentile_interval(resampled.mean(1), confidence),
           "ci95_subjects": percentile_interval(per_seed.mean(0).mean(1), confidence),
           "per_au": per_au, "seeds": int(preds.shape[0]),
           "icc_per_seed": [float(v) for v in seed_means],
           "seed_spread": float(seed_means.std(ddof=1)) if preds.shape[0] > 1 else 0.0,
           "num_subjects": boot.num_subjects, "num_frames": int(t.shape[0]),
           "num_samples": int(num_samples)}
    if preds.shape[0] > 1:
        averaged_point, averaged_resampled = _resampled(t, preds.mean(0)[None], valid, boot.weights)
        out["seed_agreement"] = seed_agreement(preds, valid)
        out["averaged_icc"] = float(averaged_point.mean())
        out["averaged_ci95"] = percentile_interval(averaged_resampled.mean(1), confidence)
    return out


def seed_agreement(preds: np.ndarray, valid: np.ndarray) -> float:
    """How much estimators trained with different seeds agree: per AU, the Pearson correlation of
    two seeds' predictions over the frames that count for it, averaged over seed pairs, then over
    AUs (a pair where either seed predicts a constant is left out; NaN if every one is).

    Args:
      preds: ``[S, N, K]`` predictions of S >= 2 seeds.
      valid: ``[N, K]`` bool, frames that count for each AU.
    """
    values = []
    for k in range(preds.shape[2]):
        x = preds[:, valid[:, k], k]
        x = x - x.mean(1, keepdims=True)
        norm = np.sqrt((x * x).sum(1))
        pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x)) if norm[i] > 0 and norm[j] > 0]
        if pairs:
            values.append(np.mean([(x[i] * x[j]).sum() / (norm[i] * norm[j]) for i, j in pairs]))
    return float(np.mean(values)) if values else float("nan")


def verdict(ci: Sequence[float]) -> str:
    """'yes' if the interval lies above 0, 'no' if below 0, else 'not resolved'."""
    lo, hi = ci
    if lo > 0:
        return "yes"
    if hi < 0:
        return "no"
    return "not resolved"


def paired_difference(y_true, pred_a, pred_b, subjects, *, num_samples: int = 1000, seed: int = 0,
                      unknown: str = "drop", confidence: float = CONFIDENCE) -> dict:
    """Mean-ICC difference A - B on the same test frames and the same subject resamples.

    Args:
      y_true: ``[N, K]`` labels shared by both columns.
      pred_a, pred_b: ``[N, K]`` or ``[S, N, K]`` predictions of the two columns on those frames.
      subjects: ``[N]`` subject id per frame.

    Returns:
      ``{'difference': A - B, 'ci95': [lo, hi], 'verdict': 'yes' | 'no' | 'not resolved',
      'ci95_subjects': [lo, hi]}``, where 'yes' reads "A > B"; ``ci95`` (and the verdict) redraws
      each column's seeds in every resample (:func:`seed_draws`: columns with equal seed counts are
      paired by seed), ``ci95_subjects`` the test subjects alone.
    """
    boot = SubjectBootstrap(subjects, num_samples, seed)
    t, pa, valid = _seed_iccs(y_true, pred_a, unknown)
    _, pb, _ = _seed_iccs(y_true, pred_b, unknown)
    if boot.subjects.shape[0] != t.shape[0]:
        raise ValueError(f"subjects has {boot.subjects.shape[0]} entries for {t.shape[0]} frames.")
    point_a, seeds_a = _per_seed(t, pa, valid, boot.weights)
    point_b, seeds_b = _per_seed(t, pb, valid, boot.weights)
    diff = float(point_a.mean() - point_b.mean())
    ci = percentile_interval(seed_resampled(seeds_a, seed).mean(1) - seed_resampled(seeds_b, seed).mean(1),
                             confidence)
    return {"difference": diff, "ci95": ci, "verdict": verdict(ci),
            "ci95_subjects": percentile_interval(seeds_a.mean(0).mean(1) - seeds_b.mean(0).mean(1), confidence)}


def frame_keys(pred: Mapping) -> list[tuple]:
    """``(subject, sequence, frame)`` of each row of a predictions file (`read_predictions_csv`)."""
    return list(zip(pred["subject"], pred["sequence"], np.asarray(pred["frame"]).tolist()))


def pose_mask(pred: Mapping, poses: Sequence[int] | None) -> np.ndarray:
    """``[N]`` bool: the rows of a predictions file at ``poses`` (all rows where ``poses`` is None)."""
    n = len(pred["subject"])
    if poses is None:
        return np.ones(n, bool)
    if "pose_id" not in pred:
        raise ValueError("these predictions have no pose_id column; re-run the score stage to select poses.")
    return np.isin(np.asarray(pred["pose_id"]), list(poses))


def column_from_predictions(pred: Mapping, *, poses: Sequence[int] | None = None, **kwargs) -> dict:
    """:func:`column_interval` of one predictions file (`read_predictions_csv`), optionally per pose."""
    m = pose_mask(pred, poses)
    return column_interval(np.asarray(pred["y_true"])[m], np.asarray(pred["y_pred"])[..., m, :],
                           np.asarray(pred["subject"])[m], list(pred["au_names"]), **kwargs)


def compare_predictions(a: Mapping, b: Mapping, *, poses: Sequence[int] | None = None, **kwargs) -> dict:
    """:func:`paired_difference` (A - B) of two columns' predictions on the test frames both scored.

    Frames are matched by (subject, sequence, frame); AUs by name (those both columns predict).

    Raises:
      ValueError: the columns share no frame or AU, or their labels differ on a shared frame
        (different test sets: such columns cannot be compared frame by frame).
    """
    aus = [x for x in a["au_names"] if x in set(b["au_names"])]
    ka, kb = frame_keys(a), frame_keys(b)
    index_b = {k: i for i, k in enumerate(kb)}
    ma = pose_mask(a, poses)
    rows = [(i, index_b[k]) for i, k in enumerate(ka) if ma[i] and k in index_b]
    if not rows or not aus:
        raise ValueError(f"the two columns share {len(rows)} test frames and AUs {aus}: nothing to compare.")
    ia, ib = map(np.asarray, zip(*rows))
    ca = [list(a["au_names"]).index(x) for x in aus]
    cb = [list(b["au_names"]).index(x) for x in aus]
    ta, tb = np.asarray(a["y_true"])[ia][:, ca], np.asarray(b["y_true"])[ib][:, cb]
    if not np.array_equal(ta, tb):
        raise ValueError("the two columns' labels differ on shared frames: they were tested on different sets.")
    out = paired_difference(ta, np.asarray(a["y_pred"])[..., ia, :][..., ca], np.asarray(b["y_pred"])[..., ib, :][..., cb],
                            np.asarray(a["subject"])[ia], **kwargs)
    out.update(num_frames=int(len(ia)), num_subjects=int(len(set(np.asarray(a["subject"])[ia].tolist()))),
               aus=aus)
    return out


def pose_drops(pred: Mapping, reference: Sequence[int], *, num_samples: int = 1000, seed: int = 0,
               unknown: str = "drop", confidence: float = CONFIDENCE) -> dict:
    """How much one column's mean ICC falls from the ``reference`` views to each other view.

    Args:
      pred: a predictions file with ``pose_id`` (`read_predictions_csv`; ``y_pred`` ``[N, K]`` or
        ``[S, N, K]``).
      reference: the reference pose ids (the view the estimator was trained on).

    Returns:
      ``{'reference': mean ICC on the reference views, 'by_pose': {pose: {'icc', 'drop', 'ci95',
      'verdict'}}, 'samples': {pose: [B] resampled drops}}``; ``drop`` = reference ICC - that view's
      ICC, seed-averaged; verdict 'yes' = the column is worse at that view. Each resample redraws
      the seeds (one draw for both views: a seed's drop is one estimator's).

    Raises:
      ValueError: no ``pose_id`` column, or no frame at the reference views.
    """
    if "pose_id" not in pred:
        raise ValueError("these predictions have no pose_id column; re-run the score stage to compare poses.")
    pose = np.asarray(pred["pose_id"])
    ref = np.isin(pose, list(reference))
    if not ref.any():
        raise ValueError(f"no test frame at the reference views {list(reference)} (views {sorted(set(pose.tolist()))}).")
    boot = SubjectBootstrap(pred["subject"], num_samples, seed)
    t, preds, valid = _seed_iccs(pred["y_true"], pred["y_pred"], unknown)

    def mean_icc(mask):
        point, per_seed = _per_seed(t[mask], preds[:, mask], valid[mask], boot.weights[:, mask])
        return float(point.mean()), per_seed.mean(2)  # [S, B] per-seed mean ICC

    ref_point, ref_seeds = mean_icc(ref)
    out = {"reference": ref_point, "reference_poses": [int(p) for p in reference], "by_pose": {}, "samples": {},
           "subjects": sorted({str(x) for x in np.asarray(pred["subject"]).tolist()}), "num_samples": int(num_samples)}
    for p in sorted(set(pose[~ref].tolist())):
        point, view_seeds = mean_icc(pose == p)
        drops = seed_resampled(ref_seeds - view_seeds, seed)
        ci = percentile_interval(drops, confidence)
        out["by_pose"][str(p)] = {"icc": point, "drop": ref_point - point, "ci95": ci, "verdict": verdict(ci)}
        out["samples"][str(p)] = drops
    return out


def drop_differences(a: Mapping, b: Mapping, *, confidence: float = CONFIDENCE) -> dict:
    """Drop of column A minus drop of column B per view (:func:`pose_drops` records made with the same
    resamples: the same test subjects, ``num_samples`` and ``seed``; columns with equal seed counts
    redraw the same seed indices); verdict 'yes' = A loses more.

    Raises:
      ValueError: the two records were not resampled alike (other test subjects or sample counts).
    """
    if a["subjects"] != b["subjects"] or a["num_samples"] != b["num_samples"]:
        raise ValueError("the two columns' drops were resampled over different test subjects or sample counts: "
                         "their drops cannot be compared resample by resample.")
    out = {}
    for p in sorted(set(a["samples"]) & set(b["samples"]), key=int):
        da, db = np.asarray(a["samples"][p]), np.asarray(b["samples"][p])
        ci = percentile_interval(da - db, confidence)
        out[p] = {"difference": a["by_pose"][p]["drop"] - b["by_pose"][p]["drop"], "ci95": ci, "verdict": verdict(ci)}
    return out
