"""Stages ``register_2d`` / ``register_3d``: registered derived datasets.

For every split of ``config.data.name``: face boxes (ground truth where the dataset has landmarks,
else the Haar cascade, or a user CSV via ``config.align.boxes``) -> registration
(:class:`jaxau.align.registrar.Registrar`, model from the ``registration`` stage) -> 2-D Procrustes
alignment or 3-D frontalization (:class:`jaxau.align.aligner.Aligner`) at ``config.data.image_size``.
Labels, subject, sequence, frame and pose are kept; AU columns are ``config.data.aus``.

Output: ``<stage_dir>/{train,validation,test}.frames`` frame sets (`jaxau.data.frames`),
``failures.json`` (per split: count and the frames that failed -- no face box, or a registration
whose fit error exceeds ``config.align.max_fit_error`` -- never silently dropped) and
``preview_2d.png`` / ``preview_3d.png``, and on SynthFACS data ``oracle.json``: the frontalisation
oracle (:mod:`jaxau.align.oracle`) on the first ``config.align.oracle_frames`` test frames. Work is
written per chunk (``chunks/<key>/<split>-<k>.npz`` with its images in ``<split>-<k>.image.npy``,
atomic), so an interrupted stage resumes at the first unfinished chunk. In a multi-host run each
process registers its share of the chunks (`jaxau.hosts`: chunk ``k`` on process ``k mod n``, read
as a TFDS slice), and process 0 assembles the frame sets and writes the stage's files once every
chunk exists: the same files as one process. The frame sets link the chunks' image files in
(`jaxau.data.frame_store`), so that assembly copies no images.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from jaxau import hosts, io_utils
from jaxau.align import exact, oracle, preview
from jaxau.align.aligner import Aligner, parse_pose
from jaxau.au import SPLITS
from jaxau.data import frame_store, frames as frames_lib, registry
from jaxau.stages import data as data_stage, frames as frames_stage
from jaxau.train import prnet as reg_train
from jaxau.validate import ConfigError

FRAME_FIELDS = ("image", "au_intensity", "subject", "sequence", "frame", "pose_id")
# Carried when the dataset has it (SynthFACS flags neutral frames; AU0 normalisation uses the flag).
OPTIONAL_FIELDS = ("neutral",)


def check(config) -> None:
    """Checks ``config.align.registration`` (one line, before any stage runs)."""
    kind = str(config.align.registration)
    if kind not in exact.REGISTRATIONS:
        raise ConfigError(f"config.align.registration={kind!r} is not one of {exact.REGISTRATIONS}: pass "
                          "--config.align.registration=network.")
    if kind == "exact" and oracle.synth_config(config.data.name) is None:
        raise ConfigError(f"config.align.registration='exact' registers SynthFACS frames with their true meshes, "
                          f"but config.data.name={str(config.data.name)!r} is not SynthFACS: use 'network'.")


def make_aligner(config, mode: str, model_dir: str) -> Aligner:
    """The :class:`jaxau.align.aligner.Aligner` of ``mode``: with the registrar trained in ``model_dir``,
    or with SynthFACS's true meshes when ``config.align.registration`` is ``'exact'``."""
    batch_size = int(config.align.batch_size)
    if str(config.align.registration) == "exact":
        registrar = exact.ExactRegistrar(oracle.synth_config(config.data.name), batch_size=batch_size)
    else:
        registrar = reg_train.load_registrar(model_dir, batch_size=batch_size)
    return Aligner(config, mode, registrar)


def _iterate(config, directory: str, split: str, chunk: int):
    """Yields numpy chunks of a split (image, labels, ids, landmarks_2d when present)."""
    import tensorflow as tf

    builder = registry.builder(config.data.name, data_dir=directory)
    feats = builder.info.features
    has_lm = "landmarks_2d" in feats
    has_neutral = "neutral" in feats
    au_names = list(builder.info.metadata["au_names"]) if builder.info.metadata else []

    def prep(ex):
        out = {"image": ex["image"], "au_intensity": tf.cast(ex["au_intensity"], tf.int32),
               "subject": ex["subject"], "sequence": ex["sequence"], "frame": tf.cast(ex["frame"], tf.int32),
               "pose_id": tf.cast(ex["pose"]["id"], tf.int32)}
        if has_lm:
            out["landmarks_2d"] = ex["landmarks_2d"]
        if has_neutral:
            out["neutral"] = ex["neutral"]
        return out

    ds = builder.as_dataset(split=split, shuffle_files=False).map(prep).batch(chunk)
    for b in ds.as_numpy_iterator():
        for k in ("subject", "sequence"):
            b[k] = np.asarray([s.decode() for s in b[k]])
        yield b, au_names
    return


def _num_examples(config, directory, split) -> int:
    info = registry.builder(config.data.name, data_dir=directory).info
    return int(info.splits[split].num_examples) if split in info.splits else 0


def chunk_directory(config, stage_dir: str, model_dir: str, mode: str) -> str:
    """``<stage_dir>/chunks/<key>``: finished chunks are reused only by a run with the same settings
    (mode, alignment and data settings, and the registration model's files)."""
    settings = {"mode": mode, "model": os.path.realpath(model_dir),
                "model_files": io_utils.directory_fingerprint(os.path.join(model_dir, "checkpoints")),
                **{k: config[k].to_dict() for k in ("data", "align", "align2d", "align3d") if k in config}}
    return os.path.join(stage_dir, "chunks", io_utils.settings_key(settings))


def _chunks(config, directory: str, split: str, chunk: int, total: int, ks):
    """Yields ``(k, (batch, au_names))`` for chunk indices ``ks``, each read as its own TFDS slice."""
    for k in ks:
        yield k, next(_iterate(config, directory, f"{split}[{k * chunk}:{min((k + 1) * chunk, total)}]", chunk))


def register_split(config, directory: str, stage_dir: str, split: str, aligner: Aligner, chunk: int,
                   chunk_dir: str | None = None, share: hosts.Share | None = None) -> dict | None:
    """Registers one split chunk by chunk (resumable); writes ``<split>.npz``; returns its failures.

    ``chunk_dir`` (default ``<stage_dir>/chunks``) holds finished chunks; key it by the settings
    (`chunk_directory`) wherever the same stage directory may be reused with other settings.
    ``share`` (default `jaxau.hosts.active`): in a multi-host run this process registers its chunks,
    waits for the others', and only the leader writes the split (the others return None).
    """
    share = hosts.active() if share is None else share
    total = _num_examples(config, directory, split)
    if total == 0:
        return {"count": 0, "frames": [], "total": 0}
    n_chunks = -(-total // chunk)
    chunk_dir = chunk_dir or os.path.join(stage_dir, "chunks")
    os.makedirs(chunk_dir, exist_ok=True)
    aus = frames_stage.aus(config)
    paths = [os.path.join(chunk_dir, f"{split}-{k:05d}.npz") for k in range(n_chunks)]
    if share.count == 1:
        batches = enumerate(_iterate(config, directory, split, chunk))  # One pass over the split.
    else:  # Only this share's chunks are read (and decoded) here.
        batches = _chunks(config, directory, split, chunk, total,
                          [k for k in share.mine(n_chunks) if not os.path.exists(paths[k])])
    done = 0
    start = time.time()
    for k, (batch, au_names) in batches:
        path = paths[k]
        if os.path.exists(path):
            continue
        aligned, ok, reasons, _ = aligner(batch)
        fields = FRAME_FIELDS[1:] + tuple(f for f in OPTIONAL_FIELDS if f in batch)
        fs = {"image": aligned[ok], **{f: batch[f][ok] for f in fields}, "au_names": np.asarray(au_names)}
        fs = frames_lib.with_aus(fs, aus)
        failed = ~ok
        frame_store.save_chunk(path, fs.pop("image"), **fs, failed_sequence=batch["sequence"][failed],
                               failed_frame=batch["frame"][failed],
                               failed_reason=np.asarray([r for r in reasons if r]))
        done += len(ok)
        rate = done / max(time.time() - start, 1e-9)
        print(f"[register_{aligner.mode}] {split}: chunk {k + 1}/{n_chunks} ({done} new frames, "
              f"{int(failed.sum())} failed in chunk, {rate:.1f} frames/s)", flush=True)
    share.wait_for(paths, stage_dir, f"register_{aligner.mode} {split} chunks")
    if not share.leader:
        return None
    parts, failures = [], []
    for path in paths:
        # Every field but the images.
        with np.load(path, allow_pickle=False) as z:
            parts.append({f: z[f] for f in FRAME_FIELDS[1:] + OPTIONAL_FIELDS + ("au_names",) if f in z.files})
            failures += [{"sequence": str(s), "frame": int(f), "reason": str(r)}
                         for s, f, r in zip(z["failed_sequence"], z["failed_frame"], z["failed_reason"])]
    merged = {f: np.concatenate([p[f] for p in parts]) for f in FRAME_FIELDS[1:] + OPTIONAL_FIELDS
              if all(f in p for p in parts)}
    # The images stay in the chunks' files: the store links them in (`frame_store.write`).
    merged["image"] = frame_store.chunk_images(paths, row_shape=(int(config.data.image_size),) * 2 + (3,))
    merged["au_names"] = parts[0]["au_names"]
    if len(merged["image"]) == 0:
        raise ValueError(f"register_{aligner.mode}: every frame of split {split!r} failed ({failures[:3]} ...): "
                         "check the face boxes (config.align.boxes) and config.align.max_fit_error.")
    frames_lib.save(frames_stage.split_path(stage_dir, split), merged)
    return {"count": len(failures), "total": total, "frames": failures}


def register_dataset(config, directory: str, out_dir: str, model_dir: str, mode: str,
                     splits=SPLITS, share: hosts.Share | None = None) -> dict:
    """Registers ``splits`` of ``config.data.name`` (TFDS in ``directory``) into ``out_dir``.

    Returns the summary: frames written and failed per split ({} on a multi-host run's processes
    other than the leader, which writes the files; ``share`` as in `register_split`).
    """
    share = hosts.active() if share is None else share
    aligner = make_aligner(config, mode, model_dir)
    chunk = int(config.align.chunk_size)
    failures = {}
    chunk_dir = chunk_directory(config, out_dir, model_dir, mode)
    for split in splits:
        failures[split] = register_split(config, directory, out_dir, split, aligner, chunk, chunk_dir, share)
    if not share.leader:
        return {}
    for split in splits:
        if failures[split]["count"]:
            logging.warning("register_%s %s: %d of %d frames failed (listed in failures.json)", mode, split,
                            failures[split]["count"], failures[split]["total"])
    io_utils.write_json(os.path.join(out_dir, "failures.json"), failures)
    summary = {}
    if "test" in splits and failures["test"]["total"]:
        write_preview(config, directory, out_dir, aligner)
        summary.update(run_oracle(config, directory, out_dir, aligner))
    for split in splits:
        summary[f"{split}_frames"] = failures[split]["total"] - failures[split]["count"]
        summary[f"{split}_failed"] = failures[split]["count"]
    return summary


def run_oracle(config, directory: str, out_dir: str, aligner: Aligner) -> dict:
    """The frontalisation oracle (:mod:`jaxau.align.oracle`) on the first ``config.align.oracle_frames``
    test frames of a SynthFACS dataset: ``oracle.json`` and its headline numbers ({} for other data)."""
    synth_config = oracle.synth_config(config.data.name)
    n = int(config.align.oracle_frames)
    # The oracle's target is the frontal face: an alignment to another pose has nothing to match.
    posed = parse_pose(config[f"align{aligner.mode}"].pose) is not None
    if synth_config is None or n <= 0 or posed:
        return {}
    start = time.time()
    batch, _ = next(_iterate(config, directory, "test", n))
    rec = oracle.evaluate(aligner, batch, synth_config, "test")
    rec["seconds"] = time.time() - start
    io_utils.write_json(os.path.join(out_dir, "oracle.json"), rec)
    keys = ("landmark_error", "landmark_error_exact", "photometric_mae", "coverage")
    return {"oracle_" + k: round(rec["all"][k], 4) for k in keys} | {
        "oracle_by_pose": {p: {k: round(v[k], 4) for k in keys} for p, v in rec["poses"].items()}}


def _run(config, stage_dir: str, inputs, mode: str) -> dict:
    directory = data_stage.tfds_dir(config, inputs["data"])
    return register_dataset(config, directory, stage_dir, inputs["registration"], mode)


def write_preview(config, directory: str, stage_dir: str, aligner: Aligner) -> None:
    """``preview_<mode>.png``: test frames at every pose with landmarks, and their aligned outputs."""
    batch, _ = next(_iterate(config, directory, "test", 1024))
    idx = preview.one_per_pose(batch["pose_id"])
    sub = {k: v[idx] for k, v in batch.items()}
    aligned, ok, _, res = aligner(sub)
    inputs = [preview.draw_landmarks(im, lm) for im, lm in zip(sub["image"], res.landmarks)]
    labels = [f"pose {p}" + ("" if o else " FAILED") for p, o in zip(sub["pose_id"], ok)]
    preview.write_sheet(os.path.join(stage_dir, f"preview_{aligner.mode}.png"), [inputs, list(aligned)], labels)


def run_2d(config, stage_dir: str, inputs) -> dict:
    """2-D registration: 68-landmark Procrustes onto the frontal template."""
    return _run(config, stage_dir, inputs, "2d")


def run_3d(config, stage_dir: str, inputs) -> dict:
    """3-D registration: frontalized, re-rasterized mesh textured from the frame."""
    return _run(config, stage_dir, inputs, "3d")


def write_sheet(config, directory: str, path: str, model_dir: str, split: str = "test") -> str:
    """Rows: input with predicted landmarks, 2-D aligned, 3-D frontalized; one column per pose."""
    a2, a3 = make_aligner(config, "2d", model_dir), make_aligner(config, "3d", model_dir)
    batch, _ = next(_iterate(config, directory, split, 1024))
    idx = preview.one_per_pose(batch["pose_id"])
    sub = {k: v[idx] for k, v in batch.items()}
    out2, _, _, res = a2(sub)
    out3, _, _, _ = a3(sub)
    inputs = [preview.draw_landmarks(im, lm) for im, lm in zip(sub["image"], res.landmarks)]
    preview.write_sheet(path, [inputs, list(out2), list(out3)], [f"pose {p}" for p in sub["pose_id"]])
    return path
