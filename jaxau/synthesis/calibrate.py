"""Edit-magnitude calibration: the edit scale at which a real-frame reader sees generated expressions
as strongly as real ones.

A generator can point its edits the right way and draw too little of them (`jaxau.synthesis.fidelity`'s
edit gain); an estimator trained on such images learns compressed intensities. Drawing each image as
``src + k (G(src) - src)`` (`jaxau.synthesis.synthesize.generate_images`) scales the edit. This module
chooses ``k`` without oracle renders or test frames: a reader trained on real frames (the experiment's
real estimator of the same registration) reads labelled real validation frames and the generator's
images at each ``k`` of a grid; per AU, the least-squares slope of its read-out on the label (real) or
the target level (generated) says how strongly it responds to one intensity level. The *mismatch* at
``k`` is the weighted mean over AUs of the squared difference of the two slopes, weighted by the real
labels' variances (an AU with one positive validation frame cannot say how the reader responds to
it; an AU the generator does not draw adds the same amount at every ``k`` and does not move the
choice). Past the edit size the reader can follow, the mismatch flattens (larger edits add artefacts
the reader does not see but an estimator trained on them learns), so the choice is the one-standard-
error rule: the smallest ``k`` whose mismatch is within one bootstrap standard error (validation
frames and generated entries resampled) of the smallest mismatch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


class NothingToCalibrate(ValueError):
    """No AU label varies in the real frames: there is no reader response to match."""


def grid(maximum: float, minimum: float = 0.5, step: float = 0.25) -> np.ndarray:
    """The edit scales tried: ``minimum, minimum + step, ..., maximum`` (1, the generator's own
    images, is always on it)."""
    steps_to_one = (1.0 - minimum) / step
    if not minimum <= 1.0 <= maximum or abs(steps_to_one - round(steps_to_one)) > 1e-9:
        raise ValueError(f"the edit-scale grid {minimum}:{maximum}:{step} must contain 1")
    count = int(np.floor((maximum - minimum) / step + 1e-9)) + 1
    return np.round(minimum + step * np.arange(count), 6)


def au_slopes(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per AU, the least-squares slope of ``predictions[:, a]`` on ``labels[:, a]`` and the labels' variance.

    Frames whose label is unknown (< 0) are left out of that AU; an AU with no label variance has
    slope NaN and variance 0.
    """
    predictions = np.asarray(predictions, np.float64)
    labels = np.asarray(labels)
    slopes = np.full(labels.shape[1], np.nan)
    variances = np.zeros(labels.shape[1])
    for a in range(labels.shape[1]):
        known = labels[:, a] >= 0
        x = labels[known, a].astype(np.float64)
        y = predictions[known, a]
        if len(x) < 2:
            continue
        variance = x.var()
        if variance > 0:
            variances[a] = variance
            slopes[a] = ((x - x.mean()) * (y - y.mean())).mean() / variance
    return slopes, variances


def weighted_slope(slopes: np.ndarray, weights: np.ndarray) -> float:
    """``sum(w s) / sum(w)`` over the AUs with a finite slope and a positive weight (NaN if none)."""
    use = np.isfinite(slopes) & (weights > 0)
    if not use.any():
        return float("nan")
    return float((weights[use] * slopes[use]).sum() / weights[use].sum())


def mismatch(generated: np.ndarray, real: np.ndarray, weights: np.ndarray) -> float:
    """``sum_a w_a (generated_a - real_a)^2 / sum_a w_a`` over the AUs where both slopes are finite and
    ``w_a > 0`` (NaN if none)."""
    use = np.isfinite(generated) & np.isfinite(real) & (weights > 0)
    if not use.any():
        return float("nan")
    return float((weights[use] * (generated[use] - real[use]) ** 2).sum() / weights[use].sum())


def calibrate(generate: Callable[[np.ndarray, np.ndarray, Sequence[float]], dict],
              read: Callable[[np.ndarray], np.ndarray], real_images: np.ndarray, real_labels: np.ndarray,
              images: np.ndarray, targets: np.ndarray, scales: Sequence[float], au_names: Sequence[str],
              *, resamples: int = 200, seed: int = 0) -> dict:
    """Chooses the edit scale (module docstring).

    Args:
      generate: ``generate(sources, targets, scales) -> {k: uint8 images}`` (the generator's images
        at every scale of ``scales``).
      read: the real-frame reader, ``read(uint8 images) -> [N, K]`` intensities.
      real_images, real_labels: labelled real frames the reader was not trained on (validation).
      images, targets: the generator's sources and their target levels (a sample of the plan).
      scales: the grid, ascending.
      au_names: the K AU names (for the record).
      resamples, seed: the bootstrap of the mismatch's standard error.

    Returns:
      A JSON-able record: ``edit_scale`` (the choice), ``best_scale`` (the smallest mismatch's),
      ``mismatch`` per scale and ``mismatch_se`` (at the best scale), the weighted mean slopes
      (``slope_real``, ``slope_generated`` per scale), the per-AU slopes and weights, and the sample
      sizes.

    Raises:
      NothingToCalibrate: no AU varies in the real frames' labels.
    """
    scales = [float(k) for k in scales]
    real_labels, targets = np.asarray(real_labels), np.asarray(targets)
    real_pred = np.asarray(read(real_images), np.float64)
    real_slopes, weights = au_slopes(real_pred, real_labels)
    if not (weights > 0).any():
        raise NothingToCalibrate(f"no AU label varies in the {len(real_labels)} real validation frames")
    drawn = generate(images, targets, scales)
    generated_pred = [np.asarray(read(drawn[k]), np.float64) for k in scales]
    per_scale = [au_slopes(p, targets)[0] for p in generated_pred]
    curve = np.array([mismatch(s, real_slopes, weights) for s in per_scale])
    best = int(np.nanargmin(curve))
    rng = np.random.default_rng(seed)
    boot = np.empty(resamples)
    for b in range(resamples):
        r = rng.integers(0, len(real_labels), len(real_labels))
        g = rng.integers(0, len(targets), len(targets))
        boot[b] = mismatch(au_slopes(generated_pred[best][g], targets[g])[0],
                           au_slopes(real_pred[r], real_labels[r])[0], weights)
    se = float(np.nanstd(boot, ddof=1)) if np.isfinite(boot).sum() > 1 else 0.0
    chosen = next(j for j in range(len(scales)) if curve[j] <= curve[best] + se)
    names = [str(a) for a in au_names]
    return {"edit_scale": scales[chosen], "best_scale": scales[best], "grid": scales,
            "mismatch": curve.tolist(), "mismatch_se": se,
            "slope_real": weighted_slope(real_slopes, weights),
            "slope_generated": [weighted_slope(s, weights) for s in per_scale],
            "au_weights": dict(zip(names, weights.tolist())),
            "au_slopes_real": dict(zip(names, real_slopes.tolist())),
            "au_slopes_generated": dict(zip(names, per_scale[chosen].tolist())),
            "au_slopes_generated_at_1": dict(zip(names, per_scale[scales.index(1.0)].tolist()))
            if 1.0 in scales else None,
            "real_frames": int(len(real_labels)), "sample": int(len(targets)), "resamples": int(resamples)}
