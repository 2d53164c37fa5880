"""Real-data balancing (paper Sec. 4.2.2): N frames per AU and intensity level by minority
oversampling and majority undersampling, plus tf-free image augmentations.

Plan: for each AU k and level l (0 = absent, 1..5 = A..E) the frames whose label for AU k is l form a
pool (frames with -1 for AU k are never used for AU k). A pool of size c >= N gives N distinct frames
(undersampling, without replacement); a pool of size 0 < c < N gives every frame floor(N / c) times
plus N mod c distinct extra frames (oversampling that repeats frames as evenly as possible, rather
than i.i.d. draws that would leave some frames unused). A pool of size 0 is **skipped**: its row of
the plan is -1, it is listed in ``BalancePlan.skipped`` and a single warning gives the count -- never
an error, because small real sets often lack e.g. level E of some AU.

Each (AU, level) cell draws from its own generator seeded by (seed, k, l), so a cell's indices do not
depend on the other AUs or on N of other cells. The flattened plan lists every used entry once with its
"target AU" and level (the AU this frame was selected for; the frame's other labels still train their
heads), shuffled with ``seed``. `balanced_pool` turns a frame set into that plan's epoch pool and
records the label counts before and after.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

from typing import Mapping

import numpy as np

from jaxau import io_utils
from jaxau.au import NUM_LEVELS, UNKNOWN


@dataclasses.dataclass(frozen=True)
class BalancePlan:
    """Index plan of :func:`balance_plan`.

    Attributes:
      indices: [K, L, N] int64 frame indices (-1 in skipped cells).
      counts: [K, L] frames available per cell before resampling.
      skipped: ((au_index, level), ...) cells with no frame.
      flat_indices: [M] frame index per entry (M = N * number of non-skipped cells), shuffled.
      flat_target_au: [M] AU column each entry was selected for.
      flat_target_level: [M] the level it was selected at.
    """

    indices: np.ndarray
    counts: np.ndarray
    skipped: tuple[tuple[int, int], ...]
    flat_indices: np.ndarray
    flat_target_au: np.ndarray
    flat_target_level: np.ndarray


def _resample(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    c = len(pool)
    if c >= n:
        return rng.choice(pool, size=n, replace=False)
    reps, extra = divmod(n, c)
    out = np.concatenate([np.repeat(pool, reps), rng.choice(pool, size=extra, replace=False)])
    return rng.permutation(out)


def balance_plan(labels, n_per_level: int = 5000, *, seed: int = 0,
                 num_levels: int = NUM_LEVELS, shuffle: bool = True) -> BalancePlan:
    """Index plan with exactly ``n_per_level`` frames per AU and level.

    Args:
      labels: [num_frames, K] int labels (0..num_levels-1, -1 unknown).
      n_per_level: N (paper: 5,000).
      seed: seed of every draw.
      num_levels: levels per AU (6).
      shuffle: shuffle the flattened plan (else ordered by AU, level).

    Returns:
      A :class:`BalancePlan`.
    """
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be [num_frames, K], got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("labels must be integer levels (0..5, -1 unknown); got non-integers.")
        y = y.astype(np.int64)
    bad = (y != UNKNOWN) & ((y < 0) | (y >= num_levels))
    if bad.any():
        raise ValueError(f"labels hold values outside 0..{num_levels - 1} and -1: "
                         f"{sorted(set(y[bad].tolist()))[:10]}.")
    if n_per_level < 1:
        raise ValueError(f"n_per_level must be >= 1, got {n_per_level}.")
    num_aus = y.shape[1]
    indices = np.full((num_aus, num_levels, n_per_level), -1, dtype=np.int64)
    counts = np.zeros((num_aus, num_levels), dtype=np.int64)
    skipped = []
    for k in range(num_aus):
        for level in range(num_levels):
            pool = np.flatnonzero(y[:, k] == level)
            counts[k, level] = len(pool)
            if len(pool) == 0:
                skipped.append((k, level))
                continue
            rng = np.random.default_rng([seed, k, level])
            indices[k, level] = _resample(pool, n_per_level, rng)
    if skipped:
        warnings.warn(f"balance_plan: {len(skipped)} (AU, level) cell(s) have no frames and are "
                      f"skipped: {skipped[:12]}{' ...' if len(skipped) > 12 else ''}.",
                      stacklevel=2)
    used = counts > 0
    au_grid, level_grid = np.meshgrid(np.arange(num_aus), np.arange(num_levels), indexing="ij")
    flat = indices[used].reshape(-1)
    flat_au = np.repeat(au_grid[used], n_per_level)
    flat_level = np.repeat(level_grid[used], n_per_level)
    if shuffle:
        order = np.random.default_rng([seed, num_aus, num_levels, 0x5EED]).permutation(len(flat))
        flat, flat_au, flat_level = flat[order], flat_au[order], flat_level[order]
    return BalancePlan(indices, counts, tuple(skipped), flat, flat_au, flat_level)


# --- Augmentations (numpy for tf.data numpy_function / host code; jax for on-device batches) ---------

def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translates an [H, W, C] image by (dy, dx) pixels (content moves down/right for positive
    values), filling with the nearest edge pixel so no black borders appear."""
    h, w = image.shape[:2]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[rows][:, cols]


def random_flip_and_shift(image: np.ndarray, rng: np.random.Generator, *, flip_prob: float = 0.5,
                          max_shift: int = 0) -> np.ndarray:
    """Horizontal flip with probability ``flip_prob`` and a uniform shift in [-max_shift, max_shift]
    pixels per axis (crop jitter at constant size). AU intensity labels are side-agnostic, so a flip
    keeps them valid."""
    out = image[:, ::-1] if rng.random() < flip_prob else image
    if max_shift:
        dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
        out = shift_image(out, int(dy), int(dx))
    return np.ascontiguousarray(out)


def augment_batch(key, images, *, flip_prob: float = 0.5, max_shift: int = 0):
    """Batched, jittable version of :func:`random_flip_and_shift` for [B, H, W, C] jax arrays.

    Implemented as gathers with clipped indices (one per axis), so it matches ``shift_image``
    exactly for the same flip/shift draws.
    """
    import jax
    import jax.numpy as jnp

    b, h, w = images.shape[:3]
    k_flip, k_shift = jax.random.split(key)
    flip = jax.random.uniform(k_flip, (b,)) < flip_prob
    shifts = (jax.random.randint(k_shift, (b, 2), -max_shift, max_shift + 1) if max_shift
              else jnp.zeros((b, 2), jnp.int32))
    return _flip_shift_batch(images, flip, shifts)


def _flip_shift_batch(images, flip, shifts):
    import jax
    import jax.numpy as jnp

    h, w = images.shape[1:3]

    def one(img, f, s):
        cols = jnp.where(f, w - 1 - jnp.arange(w), jnp.arange(w))
        rows = jnp.clip(jnp.arange(h) - s[0], 0, h - 1)
        cols = cols[jnp.clip(jnp.arange(w) - s[1], 0, w - 1)]
        return img[rows][:, cols]

    return jax.vmap(one)(images, flip, shifts)


def label_histogram(labels: np.ndarray) -> np.ndarray:
    """[K, 6] counts of levels 0..5 per AU column (unknown -1 not counted)."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(np.clip(col[col >= 0], 0, 5), minlength=NUM_LEVELS)
                     for col in labels.T]) if labels.size else np.zeros((0, NUM_LEVELS), int)


def balanced_pool(frames: Mapping[str, np.ndarray], per_level: int, seed: int,
                  record_path: str | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The real-data balancing plan (paper Sec. 4.2.2) as an epoch pool of (frame, target AU) entries.

    Returns ``(frame_indices, target_aus)``, or ``(None, None)`` for no balancing.

    Writes the per-AU per-level frame counts before and after resampling to ``record_path`` (JSON)
    when given; the report plots them.
    """
    if not per_level:
        return None, None
    plan = balance_plan(frames["au_intensity"], per_level, seed=seed)
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


def level_weights(labels: np.ndarray) -> np.ndarray:
    """Sampling weights under which every AU's intensity levels are about equally likely.

    Per frame, the mean over its labelled AUs of ``1 / (frames at its level of that AU)``, normalised to
    sum 1 (exactly level-uniform for a single AU; for several, a compromise between their marginals).
    Unknown labels (-1) take no part; a frame without any known label gets weight 0, and a set with no
    known label at all gets uniform weights.

    Args:
      labels: integer levels ``[N, K]`` (0..5, -1 unknown).
    """
    labels = np.asarray(labels)
    known = labels >= 0
    w = np.zeros(len(labels))
    for k in range(labels.shape[1]):
        counts = np.bincount(np.clip(labels[known[:, k], k], 0, NUM_LEVELS - 1), minlength=NUM_LEVELS)
        level = np.clip(labels[:, k], 0, NUM_LEVELS - 1)
        w += np.where(known[:, k], 1.0 / np.maximum(counts[level], 1), 0.0)
    n_known = known.sum(1)
    w = np.where(n_known > 0, w / np.maximum(n_known, 1), 0.0)
    return w / w.sum() if w.sum() > 0 else np.full(len(labels), 1.0 / max(len(labels), 1))


def weighted_pool(labels: np.ndarray, seed: int) -> np.ndarray:
    """An epoch pool of ``N`` frame indices drawn with `level_weights` by systematic resampling.

    Each frame appears ``floor(N w)`` or ``ceil(N w)`` times (the lowest-variance draw with these
    expectations), the offset drawn from ``seed``; the pool is sorted (a sampler shuffles it).
    """
    w = level_weights(labels)
    n = len(w)
    positions = (np.random.default_rng([seed, 11]).random() + np.arange(n)) / n
    # Normalised so that the last edge is exactly 1 > every position: rounding in the sum cannot hand
    # a draw to a trailing frame of weight 0.
    edges = np.cumsum(w)
    edges /= edges[-1]
    return np.searchsorted(edges, positions, side="right").astype(np.int64)


def level_weighted_pool(frames: Mapping[str, np.ndarray], seed: int,
                        record_path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's labels train every head, frames drawn by `weighted_pool` (levels about equal).

    Returns ``(frame_indices, target_aus)`` with every target -1 (all labelled heads), an epoch of
    as many entries as frames. Writes the per-AU level counts before and after to ``record_path``
    (JSON, the schema of `balanced_pool`'s record, ``pool: 'levels'``) when given.
    """
    labels = np.asarray(frames["au_intensity"])
    pool = weighted_pool(labels, seed)
    if record_path:
        io_utils.write_json(record_path, {
            "au_names": [str(a) for a in frames["au_names"]], "per_level": 0, "pool": "levels",
            "before": label_histogram(labels).tolist(), "after": label_histogram(labels[pool]).tolist(),
            "skipped": []})
    return pool, np.full(len(pool), -1, np.int64)
