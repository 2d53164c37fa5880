"""Frame sets: a split of an AU dataset as in-memory numpy arrays, the unit the trainers consume.

A frame set is a dict with ``image`` uint8 [N, S, S, 3], ``au_intensity`` int32 [N, K] (-1 unknown),
``subject`` / ``sequence`` (str [N]), ``frame`` int32 [N], ``pose_id`` int32 [N], plus the AU names
under ``au_names`` (str [K]). It is what `load_tfds` reads from any registered TFDS dataset and what the
registration stages write (``save`` / ``load``, atomic .npz), so every trainer has one input format.

In-memory sets suit SynthFACS and registered subsets on one host; at FERA scale (millions of frames)
the same arrays are read per host from ``tfds.even_splits`` shards (see BUILD_NOTES.md, limits).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from jaxau import au as au_lib, io_utils
from jaxau.data import normalize, registry

FrameSet = dict  # str -> np.ndarray

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
    if img.dtype != np.uint8 or img.ndim != 4 or img.shape[-1] != 3:
        raise ValueError(f"{source}: image must be uint8 [N, H, W, 3], got {img.dtype} {img.shape}.")
    if frames["au_intensity"].shape[1:] != (len(frames["au_names"]),):
        raise ValueError(f"{source}: au_intensity has {frames['au_intensity'].shape[1:]} columns for "
                         f"{len(frames['au_names'])} AU names.")


def select(frames: FrameSet, mask: np.ndarray) -> FrameSet:
    """Rows where ``mask`` holds (au_names kept)."""
    return {k: (v if k == "au_names" else v[mask]) for k, v in frames.items()}


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
    out = {k: np.concatenate([np.asarray(s[k]) for s in sets]) for k in keys}
    out["au_names"] = np.asarray(sets[0]["au_names"])
    return out


def save(path: str, frames: FrameSet) -> None:
    validate(frames, path)
    io_utils.savez(path, **{k: np.asarray(v) for k, v in frames.items()})


def load(path: str) -> FrameSet:
    if not os.path.exists(path):
        raise FileNotFoundError(f"Frame set {path} not found: run the stage that writes it first.")
    with np.load(path, allow_pickle=False) as f:
        frames = {k: f[k] for k in f.files}
    validate(frames, path)
    return frames


def load_tfds(name: str, split: str, *, data_dir: str | None, image_size: int | None = None,
              aus: Sequence[str] | None = None, pose_ids: Sequence[int] | None = None,
              max_examples: int | None = None) -> FrameSet:
    """Reads a split of a registered dataset (`jaxau.data.registry`) into a frame set.

    Args:
      name: dataset name, e.g. ``'synthfacs/fera_small'``, ``'disfa/left'``.
      split: TFDS split expression (``'train'``, ``'test[:10%]'``, a per-host ``even_splits`` part).
      data_dir: TFDS data directory (where the dataset was built).
      image_size: resize images to S x S (area-averaging when shrinking); None keeps them.
      aus: AU columns to keep (default: all of the dataset's).
      pose_ids: keep only these pose ids.
      max_examples: stop after this many (after pose filtering).
    """
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
    rows: dict[str, list] = {k: [] for k in fields}
    # Batched when every image has one size (per-example iteration costs a Python round trip per
    # frame); frames of mixed sizes come one at a time, as a batch of one.
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    batched = ds.batch(256) if image_size is not None else ds.map(
        lambda ex: {k: tf.expand_dims(v, 0) for k, v in ex.items()})
    for ex in batched.as_numpy_iterator():
        for k in rows:
            rows[k].append(ex[k])
    if not rows["image"]:
        raise ValueError(f"Dataset {name!r} split {split!r} (pose ids {pose_ids}) has no examples in "
                         f"{data_dir}.")
    frames = {k: np.concatenate(v) for k, v in rows.items()}
    for k in ("subject", "sequence"):
        frames[k] = np.asarray([s.decode() if isinstance(s, bytes) else str(s) for s in frames[k]])
    frames["au_names"] = np.asarray(au_lib.canonical_aus(au_names))
    if aus is not None:
        frames = with_aus(frames, aus)
    validate(frames, f"{name}:{split}")
    return frames


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
    refs = normalize.references_for(kind, src["image"], src["subject"], src.get("neutral"))
    diff = normalize.normalize_frames(frames["image"], frames["subject"], refs, mode)
    out = dict(frames)
    out["image"] = np.clip(np.round(diff * 255.0), 0, 255).astype(np.uint8)
    return out
