"""Personal normalizations of paper Sec. 4.5 (metrics.md §4): AU0 and personal mean texture.

Both replace a frame x by its difference to a per-subject reference image r:

- **mean texture**: r = the subject's mean image over all its frames in the split (all poses pooled;
  no labels used). Computed streaming with :class:`SubjectMeans` so a split never has to fit in memory.
- **AU0**: r = the subject's neutral frame. Where the dataset flags neutral frames (SynthFACS's
  ``neutral`` feature), r is the mean of the subject's flagged frames. Where it does not (real data;
  or a subject without any flagged frame), r is the subject's frame nearest (L2) to its pixel-wise
  median image: AU base rates are skewed towards "absent", so the median is close to a neutral face,
  and picking a real frame keeps it sharp. No AU labels are used, so the same rule applies to test data.
  :func:`neutral_references` reports which rule each subject got.

Input images are uint8 (divided by 255) or float in [0, 1]. The difference d = x - r lies in [-1, 1];
``mode='half'`` (default) feeds ``0.5 + 0.5 * d`` -- again in [0, 1], zero difference = mid-grey -- so
the estimator's ImageNet preprocessing and pretrained first layer see the usual input range;
``mode='raw'`` returns d itself (pair it with ``VGG16(preprocessing='none')``).

The same normalization is meant for training and test (synthetic training images use their source
subject's references). All functions work on numpy arrays; :func:`difference` is also pure jax.numpy
and can run inside a jitted step.
"""

from __future__ import annotations

from typing import Callable, Hashable, Iterable, Mapping

import numpy as np

NORMALIZATIONS = ("none", "au0", "mean")
DIFFERENCE_MODES = ("half", "raw")


def _as_float(images) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images must be uint8 or float in [0, 1], got dtype {x.dtype}.")
    return x.astype(np.float32, copy=False)


def _keys(subjects) -> list[Hashable]:
    return [s.decode() if isinstance(s, bytes) else (s.item() if hasattr(s, "item") else s)
            for s in np.asarray(subjects).reshape(-1)]


class SubjectMeans:
    """Streaming per-subject mean image (float64 accumulators, one pass over a split in chunks)."""

    def __init__(self):
        self._sum: dict[Hashable, np.ndarray] = {}
        self._count: dict[Hashable, int] = {}

    def update(self, images, subjects) -> "SubjectMeans":
        """Adds a chunk: images [B, H, W, C], subjects [B] (str/bytes/int)."""
        x = _as_float(images)
        keys = _keys(subjects)
        if len(keys) != x.shape[0]:
            raise ValueError(f"subjects has {len(keys)} entries but images has {x.shape[0]} frames.")
        for key in dict.fromkeys(keys):
            sel = np.array([k == key for k in keys])
            part = x[sel].sum(0, dtype=np.float64)
            if key in self._sum:
                if self._sum[key].shape != part.shape:
                    raise ValueError(f"subject {key!r}: image shape {part.shape} differs from earlier "
                                     f"{self._sum[key].shape}; normalise registered frames of one size.")
                self._sum[key] += part
                self._count[key] += int(sel.sum())
            else:
                self._sum[key], self._count[key] = part, int(sel.sum())
        return self

    def result(self) -> dict[Hashable, np.ndarray]:
        """{subject: float32 mean image}."""
        return {k: (s / self._count[k]).astype(np.float32) for k, s in self._sum.items()}


def mean_references(images, subjects) -> dict[Hashable, np.ndarray]:
    """Personal mean texture per subject over the given frames."""
    return SubjectMeans().update(images, subjects).result()


def neutral_references(images, subjects, neutral=None, *, max_frames: int | None = None,
                       seed: int = 0) -> tuple[dict[Hashable, np.ndarray], dict[Hashable, str]]:
    """AU0 reference (neutral image) per subject.

    Args:
      images: [N, H, W, C] frames of the split.
      subjects: [N] subject ids.
      neutral: optional [N] bool flag of neutral frames (dataset-provided).
      max_frames: subsample at most this many frames per subject for the median fallback (memory).
      seed: seed of that subsample.

    Returns:
      ({subject: reference image float32}, {subject: 'flag' or 'nearest_median'}).
    """
    x = _as_float(images)
    keys = np.array(_keys(subjects), dtype=object)
    if len(keys) != x.shape[0]:
        raise ValueError(f"subjects has {len(keys)} entries but images has {x.shape[0]} frames.")
    flags = None if neutral is None else np.asarray(neutral, dtype=bool).reshape(-1)
    if flags is not None and flags.shape[0] != x.shape[0]:
        raise ValueError(f"neutral has {flags.shape[0]} entries but images has {x.shape[0]} frames.")
    refs, how = {}, {}
    rng = np.random.default_rng(seed)
    for key in dict.fromkeys(keys.tolist()):
        idx = np.flatnonzero(keys == key)
        if flags is not None and flags[idx].any():
            refs[key] = x[idx[flags[idx]]].mean(0).astype(np.float32)
            how[key] = "flag"
            continue
        if max_frames is not None and len(idx) > max_frames:
            idx = np.sort(rng.choice(idx, size=max_frames, replace=False))
        frames = x[idx]
        median = np.median(frames, axis=0)
        dist = ((frames - median) ** 2).reshape(len(idx), -1).sum(1)
        refs[key] = frames[int(np.argmin(dist))].astype(np.float32)
        how[key] = "nearest_median"
    return refs, how


def streamed_median(blocks: Iterable[np.ndarray]) -> np.ndarray:
    """``np.median(frames / 255, axis=0)`` in float32, bit for bit, over uint8 frames read in blocks.

    Memory is one block and a per-pixel histogram (``H*W*C*256`` counts), not the frames: the
    pixel-wise median of uint8 values is one or two order statistics, read off the cumulative
    histogram, then averaged as `np.median` does.
    """
    counts, n, shape = None, 0, None
    for block in blocks:
        block = np.asarray(block)
        if block.dtype != np.uint8:
            raise ValueError(f"streamed_median needs uint8 frames, got {block.dtype}.")
        if counts is None:
            shape = block.shape[1:]
            d = int(np.prod(shape))
            counts = np.zeros(d * 256, np.int64)
            offsets = np.arange(d, dtype=np.int64) * 256
        flat = block.reshape(len(block), -1)
        # A few rows at a time: the bincount index is rows x pixels int64s.
        for lo in range(0, len(flat), 16):
            counts += np.bincount((flat[lo:lo + 16] + offsets).reshape(-1), minlength=counts.size)
        n += len(block)
    if not n:
        raise ValueError("streamed_median: no frames.")
    cumulative = np.cumsum(counts.reshape(-1, 256), axis=1)

    def order_statistic(k):  # the k-th smallest value (0-based) of every pixel
        return (cumulative <= k).sum(axis=1).astype(np.uint8).reshape(shape)

    # np.median: the mean of the middle one (odd n) or two (even n) sorted values, in float32 here.
    middle = [order_statistic(n // 2)] if n % 2 else [order_statistic(n // 2 - 1), order_statistic(n // 2)]
    return np.mean(np.stack([_as_float(m) for m in middle]), axis=0)


def nearest_median_frame(blocks: Callable[[], Iterable[np.ndarray]]) -> np.ndarray:
    """The AU0 fallback of `neutral_references` for one subject, over uint8 frames read in blocks.

    Equal bit for bit to ``neutral_references``' 'nearest_median' reference of the same frames, in
    memory bounded by one block and a histogram instead of the subject's whole split: the median
    from `streamed_median` (pass 1), then the nearest frame, the first of equally near ones (pass 2).

    Args:
      blocks: called once per pass; each call yields the subject's frames in the same order as
        ``[b, H, W, C]`` uint8 blocks.

    Returns:
      The float32 reference image (the nearest frame / 255).
    """
    median = streamed_median(blocks())
    best, best_dist = None, None
    for block in blocks():
        x = _as_float(block)
        dist = ((x - median) ** 2).reshape(len(x), -1).sum(1)
        i = int(np.argmin(dist))
        if best_dist is None or dist[i] < best_dist:  # strict: the first minimum wins, as argmin's
            best, best_dist = x[i].copy(), dist[i]
    return best.astype(np.float32)


def difference(images, references, mode: str = "half"):
    """Difference image for the estimator (pure; numpy or jax arrays, jittable).

    Args:
      images: [..., H, W, C] float in [0, 1].
      references: broadcastable to ``images`` (e.g. [B, H, W, C] gathered per frame).
      mode: 'half' (0.5 + 0.5 * d, in [0, 1]) or 'raw' (d in [-1, 1]).
    """
    d = images - references
    if mode == "half":
        return 0.5 + 0.5 * d
    if mode == "raw":
        return d
    raise ValueError(f"Unknown difference mode {mode!r}: use one of {DIFFERENCE_MODES}.")


def normalize_frames(images, subjects, references: Mapping[Hashable, np.ndarray],
                     mode: str = "half") -> np.ndarray:
    """Applies a per-subject reference to each frame (numpy, for tf.data numpy_function or host code).

    Raises:
      KeyError: a subject has no reference; names the missing subjects and how to compute them.
    """
    x = _as_float(images)
    keys = _keys(subjects)
    missing = sorted({str(k) for k in keys if k not in references})
    if missing:
        raise KeyError(f"No normalization reference for subjects {missing[:10]}: compute references "
                       "over the split that contains them (mean_references / neutral_references).")
    ref = np.stack([references[k] for k in keys])
    if ref.shape != x.shape:
        raise ValueError(f"reference shape {ref.shape[1:]} != image shape {x.shape[1:]}.")
    return np.asarray(difference(x, ref, mode), dtype=np.float32)


def references_for(kind: str, images, subjects, neutral=None, **kwargs):
    """References for a normalization name: 'mean', 'au0' (or 'none' -> None)."""
    if kind == "none":
        return None
    if kind == "mean":
        return mean_references(images, subjects)
    if kind == "au0":
        return neutral_references(images, subjects, neutral, **kwargs)[0]
    raise ValueError(f"Unknown normalization {kind!r}: use one of {NORMALIZATIONS}.")


def iter_subject_means(chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[Hashable, np.ndarray]:
    """Mean texture per subject from an iterable of (images, subjects) chunks (e.g. tfds batches)."""
    acc = SubjectMeans()
    for images, subjects in chunks:
        acc.update(images, subjects)
    return acc.result()
