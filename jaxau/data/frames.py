"""Frame sets: a split of an AU dataset as numpy arrays, the unit the trainers consume.

A frame set is a dict with ``image`` uint8 [N, S, S, 3], ``au_intensity`` int32 [N, K] (-1 unknown),
``subject`` / ``sequence`` (str [N]), ``frame`` int32 [N], ``pose_id`` int32 [N], plus the AU names
under ``au_names`` (str [K]). It is what `load_tfds` reads from any registered TFDS dataset and what the
registration, synthesis and augmentation stages write (``save`` / ``load``), so every trainer has one
input format.

``save`` writes a frame store (`jaxau.data.frame_store`: a directory of ``.npy`` files, atomic) and
``load`` reads it back with a *lazy* ``image`` (`jaxau.data.lazy_rows`): rows are read from disk only
when a batch of them is indexed, so a set far larger than RAM trains, scores and synthesises in flat
memory. `select`, `with_aus`, `concatenate` and `normalized` keep a lazy image lazy (index views,
per-batch normalisation) and an in-memory one in memory. Consumers index images by batches
(``image[indices]``, ``image[lo:hi]``); ``np.asarray(image)`` would read the whole set.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from jaxau import au as au_lib
from jaxau.data import frame_store, lazy_rows, normalize, registry, resolve

FrameSet = dict  # str -> np.ndarray (``image`` may be `lazy_rows.LazyRows`)

_REQUIRED = ("image", "au_intensity", "subject", "sequence", "frame", "pose_id", "au_names")


def validate(frames: Mapping[str, np.ndarray], source: str = "frame set") -> None:
    """Checks keys, dtypes and lengths, naming ``source`` and the offending field."""
    missing = [k for k in _REQUIRED if k not in frames]
    if missing:
        raise ValueError(f"{source}: missing fields {missing} (a frame set needs {list(_REQUIRED)}).")
    n = len(frames["image"])
    for k in _REQUIRED[1:-1]:
        if len(frames[k]) != n:
            raise ValueError(f"{source}: field {k!r} has {len(frames[k])} rows, image has {n}.")
    img = frames["image"]
    if np.dtype(img.dtype) != np.uint8 or img.ndim != 4 or img.shape[-1] != 3:
        raise ValueError(f"{source}: image must be uint8 [N, H, W, 3], got {img.dtype} {img.shape}.")
    if frames["au_intensity"].shape[1:] != (len(frames["au_names"]),):
        raise ValueError(f"{source}: au_intensity has {frames['au_intensity'].shape[1:]} columns for "
                         f"{len(frames['au_names'])} AU names.")


def select(frames: FrameSet, mask: np.ndarray) -> FrameSet:
    """Rows where ``mask`` holds, or at an index array ``mask`` (au_names kept; a lazy image stays a view)."""
    return {k: (v if k == "au_names" else lazy_rows.take(v, mask)) for k, v in frames.items()}


def select_poses(frames: FrameSet, poses: Any, what: str,
                 field: str = "data.train_poses") -> FrameSet:
    """The frames whose ``pose_id`` is in ``poses`` (a `jaxau.data.resolve.poses` spec; '' = all).

    ``field`` is the config field ``poses`` came from, named in the error when no frame matches.
    """
    wanted = resolve.poses(poses)
    if wanted is None:
        return frames
    keep = np.isin(np.asarray(frames["pose_id"]), wanted)
    if not keep.any():
        raise ValueError(f"{what}: no frame has a pose in {field}={poses!r} (poses present: "
                         f"{sorted(set(np.asarray(frames['pose_id']).tolist()))}); set {field} to one of them "
                         "or '' for all.")
    return select(frames, keep)


def with_aus(frames: FrameSet, aus: Sequence[str], missing: str = "error") -> FrameSet:
    """Keeps (and orders) the AU columns ``aus``.

    An optional ``target_au`` field (the AU column a balanced or synthetic entry was made for) is
    re-indexed to the new columns (-1 where its AU is dropped). ``missing``: what to do with AUs the
    frame set does not label: ``'error'`` (KeyError naming them) or ``'unknown'`` (a column of -1,
    e.g. MultiPIE faces as synthesis sources for an AU MultiPIE does not code).
    """
    if missing not in ("error", "unknown"):
        raise ValueError(f"with_aus: missing={missing!r}; use 'error' or 'unknown'.")
    out = dict(frames)
    old = [str(a) for a in frames["au_names"]]
    if missing == "unknown":
        have = set(au_lib.canonical_aus(old))
        wanted = au_lib.canonical_aus(aus)
        present = [a for a in wanted if a in have]
        cols = au_lib.select_aus(frames["au_intensity"], old, present)
        filled = np.full(cols.shape[:-1] + (len(wanted),), -1, np.int32)
        filled[..., [wanted.index(a) for a in present]] = cols
        out["au_intensity"] = filled
    else:
        out["au_intensity"] = au_lib.select_aus(frames["au_intensity"], old, aus)
    out["au_names"] = np.asarray(au_lib.canonical_aus(aus))
    if "target_au" in frames:
        new = list(out["au_names"])
        remap = np.asarray([new.index(a) if a in new else -1 for a in old] + [-1], np.int32)
        out["target_au"] = remap[np.asarray(frames["target_au"])]  # -1 indexes the trailing -1.
    return out


def concatenate(sets: Sequence[FrameSet]) -> FrameSet:
    """Rows of several frame sets with the same AU columns; fields not in every set are dropped."""
    if not sets:
        raise ValueError("concatenate needs at least one frame set.")
    names = [list(map(str, s["au_names"])) for s in sets]
    if any(n != names[0] for n in names):
        raise ValueError(f"frame sets have different AU columns {names}: apply with_aus first.")
    if len(sets) == 1:
        return dict(sets[0])
    keys = [k for k in sets[0] if k != "au_names" and all(k in s for s in sets)]
    out = {k: lazy_rows.concat([s[k] for s in sets]) for k in keys}
    out["au_names"] = np.asarray(sets[0]["au_names"])
    return out


def save(path: str, frames: FrameSet) -> str:
    """Writes ``frames`` (eager or lazy fields) as a frame store; returns its directory.

    ``path`` names the set: ``x.npz``, ``x.frames`` and ``x`` all write ``x.frames``
    (`jaxau.data.frame_store.store_path`), atomically.
    """
    validate(frames, path)
    return frame_store.write(path, frames)


def load(path: str, reader: str = "pread") -> FrameSet:
    """The frame set named ``path``: a store (lazy ``image``) or a legacy ``.npz`` file (in memory).

    ``x.npz`` and ``x.frames`` name the same set (`jaxau.data.frame_store.resolve`), so paths of
    older workdirs and configs keep working. ``reader``: how a store's images are read ('pread', or
    'mmap' for comparison).
    """
    found = frame_store.resolve(path)
    if found is None:
        raise FileNotFoundError(f"Frame set {path} not found (neither {frame_store.store_path(path)} nor "
                                f"{frame_store.legacy_path(path)}): run the stage that writes it first.")
    kind, where = found
    if kind == "store":
        frames = frame_store.read(where, reader)
    else:
        with np.load(where, allow_pickle=False) as f:
            frames = {k: f[k] for k in f.files}
    validate(frames, where)
    return frames


def exists(path: str) -> bool:
    """Whether the frame set named ``path`` exists (store or legacy ``.npz``)."""
    return frame_store.exists(path)


def _tfds_batches(name: str, split: str, *, data_dir: str | None, image_size: int | None,
                  aus: Sequence[str] | None, pose_ids: Sequence[int] | None, max_examples: int | None):
    """``(batches, finish)`` of a dataset split (arguments of `load_tfds`): an iterator of numpy row
    batches (strings decoded) and ``finish(frames)``, which adds ``au_names``, keeps the ``aus``
    columns and validates the assembled set."""
    import tensorflow as tf

    builder = registry.builder(name, data_dir=data_dir)
    au_names = list(builder.info.metadata.get("au_names", registry.au_names(name))) \
        if builder.info.metadata else list(registry.au_names(name))
    ds = builder.as_dataset(split=split, shuffle_files=False)
    # Dataset-provided neutral flags (SynthFACS) are what AU0 normalisation prefers (`normalized`).
    has_neutral = "neutral" in builder.info.features
    if pose_ids is not None:
        wanted = tf.constant(list(pose_ids), tf.int32)
        ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(tf.cast(ex["pose"]["id"], tf.int32), wanted)))
    if max_examples is not None:
        ds = ds.take(max_examples)

    def prepare(ex):
        image = ex["image"]
        if image_size is not None:
            image = tf.image.resize(image, (image_size, image_size), method="area", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        return {"image": image, "au_intensity": tf.cast(ex["au_intensity"], tf.int32),
                "subject": ex["subject"], "sequence": ex["sequence"],
                "frame": tf.cast(ex["frame"], tf.int32), "pose_id": tf.cast(ex["pose"]["id"], tf.int32),
                **({"neutral": ex["neutral"]} if has_neutral else {})}

    fields = ("image", "au_intensity", "subject", "sequence", "frame", "pose_id") + (("neutral",) if has_neutral else ())
    # Batched when every image has one size (per-example iteration costs a Python round trip per
    # frame); frames of mixed sizes come one at a time, as a batch of one.
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    batched = ds.batch(256) if image_size is not None else ds.map(
        lambda ex: {k: tf.expand_dims(v, 0) for k, v in ex.items()})

    def batches():
        seen = False
        for ex in batched.as_numpy_iterator():
            seen = True
            out = {k: ex[k] for k in fields}
            for k in ("subject", "sequence"):
                out[k] = np.asarray([s.decode() if isinstance(s, bytes) else str(s) for s in out[k]])
            yield out
        if not seen:
            raise ValueError(f"Dataset {name!r} split {split!r} (pose ids {pose_ids}) has no examples in "
                             f"{data_dir}.")

    def finish(frames):
        frames["au_names"] = np.asarray(au_lib.canonical_aus(au_names))
        if aus is not None:
            frames = with_aus(frames, aus)
        validate(frames, f"{name}:{split}")
        return frames

    return batches(), finish


def load_tfds(name: str, split: str, *, data_dir: str | None, image_size: int | None = None,
              aus: Sequence[str] | None = None, pose_ids: Sequence[int] | None = None,
              max_examples: int | None = None) -> FrameSet:
    """Reads a split of a registered dataset (`jaxau.data.registry`) into an in-memory frame set.

    Args:
      name: dataset name, e.g. ``'synthfacs/fera_small'``, ``'disfa/left'``.
      split: TFDS split expression (``'train'``, ``'test[:10%]'``, a per-host ``even_splits`` part).
      data_dir: TFDS data directory (where the dataset was built).
      image_size: resize images to S x S (area-averaging when shrinking); None keeps them.
      aus: AU columns to keep (default: all of the dataset's).
      pose_ids: keep only these pose ids.
      max_examples: stop after this many (after pose filtering).
    """
    batches, finish = _tfds_batches(name, split, data_dir=data_dir, image_size=image_size, aus=aus,
                                    pose_ids=pose_ids, max_examples=max_examples)
    rows = list(batches)
    return finish({k: np.concatenate([r[k] for r in rows]) for k in rows[0]})


def save_tfds(path: str, name: str, split: str, *, data_dir: str | None, image_size: int,
              aus: Sequence[str] | None = None, pose_ids: Sequence[int] | None = None,
              max_examples: int | None = None) -> FrameSet:
    """`load_tfds` streamed into a frame store at ``path`` (one batch of images in memory at a time).

    Returns the written set, read back lazily. ``image_size`` is required: a store has one image size.
    """
    batches, finish = _tfds_batches(name, split, data_dir=data_dir, image_size=image_size, aus=aus,
                                    pose_ids=pose_ids, max_examples=max_examples)
    written = frame_store.write_batches(path, batches, finish)
    return load(written)


def cached_tfds(cache_dir: str, name: str, split: str, *, data_dir: str | None, image_size: int,
                aus: Sequence[str] | None = None, pose_ids: Sequence[int] | None = None,
                max_examples: int | None = None) -> FrameSet:
    """`save_tfds` into ``cache_dir`` once, then read lazily: a split for the standalone launchers.

    The store is named by a hash of everything that shapes it: the arguments and the built
    dataset's files (paths, sizes, modification times), so rebuilding the dataset, another split,
    size, AU list or pose filter each get their own store, and a finished one is reused. Writes are
    atomic (`frame_store.write_batches`): an interrupted read leaves nothing that loads.
    """
    import os

    from jaxau import io_utils

    built = registry.builder(name, data_dir=data_dir).data_dir
    key = io_utils.settings_key({
        "name": name, "split": split, "image_size": int(image_size),
        "aus": None if aus is None else list(aus),
        "pose_ids": None if pose_ids is None else [int(p) for p in pose_ids],
        "max_examples": max_examples, "dataset_files": io_utils.directory_fingerprint(built)})
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{name}-{split}")[:80]
    path = os.path.join(cache_dir, f"{safe}-{key}")
    if exists(path):
        return load(path)
    os.makedirs(cache_dir, exist_ok=True)
    return save_tfds(path, name, split, data_dir=data_dir, image_size=image_size, aus=aus,
                     pose_ids=pose_ids, max_examples=max_examples)


def normalized(frames: FrameSet, kind: str, mode: str = "half",
               references_from: FrameSet | None = None) -> FrameSet:
    """Personal normalisation of a frame set (paper Sec. 4.5; `jaxau.data.normalize`).

    ``kind``: 'none' (unchanged), 'mean' (frame minus the subject's mean image over this set) or 'au0'
    (frame minus the subject's neutral frame: the mean of frames flagged ``neutral`` when the set has
    that field, else the frame nearest the subject's median image). No AU labels are used, so the same
    call serves training and test sets. ``references_from``: take the per-subject references from this
    frame set instead (a synthetic set uses its source subjects' real frames). The 'half' difference
    0.5 + 0.5 d is stored back as uint8.
    """
    if kind == "none":
        return frames
    src = frames if references_from is None else references_from
    if lazy_rows.is_lazy(src["image"]):
        refs = _streamed_references(kind, src["image"], src["subject"], src.get("neutral"))
    else:
        refs = normalize.references_for(kind, src["image"], src["subject"], src.get("neutral"))

    def apply(images, side):
        diff = normalize.normalize_frames(images, side["subject"], refs, mode)
        return np.clip(np.round(diff * 255.0), 0, 255).astype(np.uint8)

    if lazy_rows.is_lazy(frames["image"]):
        # Fail now, not at the first batch: every subject needs a reference.
        missing = sorted({str(s) for s in np.unique(np.asarray(frames["subject"]))} - {str(k) for k in refs})
        if missing:
            raise KeyError(f"No normalization reference for subjects {missing[:10]}: compute references "
                           "over the split that contains them (mean_references / neutral_references).")
    out = dict(frames)
    out["image"] = lazy_rows.map_rows(frames["image"], apply, {"subject": frames["subject"]})
    return out


def _streamed_references(kind: str, images: lazy_rows.LazyRows, subjects, neutral=None) -> dict:
    """`normalize.references_for` over lazy images, equal to it on the same frames exactly.

    'mean' streams row blocks through `normalize.SubjectMeans` (float64 sums of uint8 / 255 values
    are exact, so block order does not change a bit); 'au0' reads one subject's flagged neutral
    frames at a time, and a subject without flags in blocks, twice (`normalize.nearest_median_frame`:
    the pixel-wise median from a histogram, then the nearest frame).
    """
    subjects = np.asarray(subjects)
    if kind == "mean":
        acc = normalize.SubjectMeans()
        for lo in range(0, len(images), lazy_rows.BLOCK_ROWS):
            acc.update(images[lo:lo + lazy_rows.BLOCK_ROWS], subjects[lo:lo + lazy_rows.BLOCK_ROWS])
        return acc.result()
    if kind != "au0":
        return normalize.references_for(kind, None, subjects)
    flags = None if neutral is None else np.asarray(neutral, bool)
    refs = {}
    for subject in dict.fromkeys(subjects.tolist()):
        rows = np.flatnonzero(subjects == subject)
        if flags is not None and flags[rows].any():
            rows = rows[flags[rows]]
        elif images.dtype == np.uint8:
            key = normalize._keys(subjects[rows[:1]])[0]
            refs[key] = normalize.nearest_median_frame(
                lambda rows=rows: (images[rows[lo:lo + lazy_rows.BLOCK_ROWS]]
                                   for lo in range(0, len(rows), lazy_rows.BLOCK_ROWS)))
            continue
        part, _ = normalize.neutral_references(images[rows], subjects[rows],
                                               None if flags is None else flags[rows])
        refs.update(part)
    return refs
