"""Generating a synthetic frame set from a resampling plan: jit-compiled, sharded, resumable by chunks.

The plan (`jaxau.synthesis.plan`) is cut into chunks of ``chunk_size`` entries. Each chunk is generated
in fixed-size batches (one compilation; the last batch is padded) split over the local devices, and
written atomically to ``<out_dir>/chunks/<key>/chunk_<5-digit index>.npz`` (its images raw in
``chunk_<index>.image.npy``: `jaxau.data.frame_store.save_chunk`), where the key hashes the
plan's fingerprint, the chunk size, the generator's parameters and how its images are drawn (edit
scale, `DRAWS`). A re-run skips finished chunks of
its own key, so a killed synthesis resumes where it stopped, and a re-run with another plan or
another generator never reuses them. With several
processes (`jaxau.hosts`), process ``p`` generates the chunks ``c`` with ``c % P == p``, waits for the
others' and process 0 writes the set and records. Generation is deterministic
(the generator has no noise and instance norm is per sample, so padding does not change results).

The result is a frame set whose ``au_intensity`` are the *target* labels, ``subject`` / ``pose_id`` the
source frame's, ``sequence`` ``'synthetic'`` and ``frame`` the plan index; it also carries
``source_index``, ``target_au`` and ``target_level`` (the plan cell of each image). Its ``image`` is
lazy (`jaxau.data.frame_store.chunk_images`: the chunks' image files) and is saved as a frame store
(``synthetic.frames``) that links those files in, so the stage's memory does not grow with the set
and process 0 copies no images.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import logging
import os
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import hosts, io_utils
from jaxau.data import frame_store, frames as frames_lib
from jaxau.synthesis import plan as plan_lib
from jaxau.synthesis.plan import SynthesisPlan
from jaxau.train import generator as gen_train, parallel
from jaxau.train.gan_losses import MAX_INTENSITY
from jaxau.train.generator import write_png


def _apply(generator, params, images_uint8, labels, source_labels):
    """``(source, G(source | labels / 5))`` in [-1, 1] from uint8 images and integer levels (-1: 0);
    ``source_labels`` are the sources' own levels (read by a relative-conditioned generator)."""
    images = images_uint8.astype(jnp.float32) / 127.5 - 1.0

    def unit(levels):
        return jnp.where(levels >= 0, levels, 0).astype(jnp.float32) / MAX_INTENSITY

    return images, generator.apply({"params": params}, images, unit(labels), unit(source_labels)).image


# How a generated image is drawn into a set: 'image' is the generator's image G(x | y_t) (the
# paper); 'edit' adds the generator's edit to the source, x + G(x | y_t) - G(x | y_x), so whatever
# G redraws the same way under both labels (its hand: texture, blur, colour) cancels and only the
# change the target labels make is drawn.
DRAWS = ("image", "edit")


def _drawn(generator, params, images_uint8, labels, source_labels, edit_scale: float, draw: str):
    """The drawn images in [-1, 1]: ``x + k (G(x | y_t) - base)`` with base ``x`` ('image') or
    ``G(x | y_x)`` ('edit'); at k = 1 in 'image' draw exactly the generator's image."""
    images, fake = _apply(generator, params, images_uint8, labels, source_labels)
    if draw == "edit":
        base = _apply(generator, params, images_uint8, source_labels, source_labels)[1]
        return images + edit_scale * (fake - base)
    if edit_scale != 1.0:
        fake = images + edit_scale * (fake - images)
    return fake


def _check_draw(draw: str, source_labels, generator=None) -> None:
    if draw not in DRAWS:
        raise ValueError(f"draw={draw!r}: use one of {DRAWS}.")
    if draw == "edit" and source_labels is None:
        raise ValueError("draw='edit' needs the source images' own AU levels (source_labels).")
    if getattr(generator, "conditioning", "absolute") == "relative" and source_labels is None:
        raise ValueError("a generator with relative conditioning (generator.conditioning='relative') draws "
                         "target minus source AUs: pass the source images' own AU levels (source_labels).")


@functools.lru_cache(maxsize=8)
def _generate_fn(generator, edit_scale: float = 1.0, draw: str = "image"):
    @jax.jit
    def generate(params, images_uint8, labels, source_labels):
        fake = _drawn(generator, params, images_uint8, labels, source_labels, edit_scale, draw)
        # uint8 on the device: a quarter of the bytes to bring back.
        return jnp.clip(jnp.round((fake + 1.0) * 127.5), 0, 255).astype(jnp.uint8)

    return generate


def generate_images(generator, params, images: np.ndarray, labels: np.ndarray, batch_size: int = 32,
                    edit_scale: float = 1.0, draw: str = "image",
                    source_labels: np.ndarray | None = None) -> np.ndarray:
    """``G(images | labels / 5)`` as uint8, in fixed-size batches (one compilation; the last padded).

    ``edit_scale`` k draws ``src + k (G - src)`` (clipped): the generator's edit made k times larger
    (1: the generator's own image). ``draw='edit'`` draws ``src + k (G(src | labels) - G(src |
    source_labels))`` instead (`DRAWS`); ``source_labels`` are the images' own levels (-1: 0).
    """
    _check_draw(draw, source_labels, generator)
    return _in_batches(_generate_fn(generator, float(edit_scale), draw), params, images, labels, batch_size,
                       np.uint8, source_labels)


def _in_batches(fn, params, images: np.ndarray, labels: np.ndarray, batch_size: int, dtype,
                source_labels: np.ndarray | None = None) -> np.ndarray:
    """``fn(params, images, labels, source_labels)`` over fixed-size batches (the last zero-padded),
    concatenated; ``source_labels`` default to ``labels`` (for functions that do not read them)."""
    labels = np.asarray(labels, np.int32)
    own = labels if source_labels is None else np.asarray(source_labels, np.int32)
    out = []
    for lo in range(0, len(images), batch_size):
        src, lab, slab = images[lo:lo + batch_size], labels[lo:lo + batch_size], own[lo:lo + batch_size]
        n = len(src)
        if n < batch_size:
            src = np.concatenate([src, np.zeros((batch_size - n,) + src.shape[1:], src.dtype)])
            lab = np.concatenate([lab, np.zeros((batch_size - n, lab.shape[1]), lab.dtype)])
            slab = np.concatenate([slab, np.zeros((batch_size - n, slab.shape[1]), slab.dtype)])
        out.append(np.asarray(fn(params, src, lab, slab))[:n])
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[1:], dtype)


@functools.lru_cache(maxsize=8)
def _generate_float_fn(generator, draw: str = "image"):
    return jax.jit(lambda params, images_uint8, labels, source_labels: _drawn(
        generator, params, images_uint8, labels, source_labels, 1.0, draw))


def generate_scaled(generator, params, images: np.ndarray, labels: np.ndarray, scales: Sequence[float],
                    batch_size: int = 32, draw: str = "image", source_labels: np.ndarray | None = None) -> dict:
    """``{k: src + k (G - src)}`` as uint8 for every ``k`` of ``scales``, the generator run once
    (``draw='edit'``: ``src + k (G(src | labels) - G(src | source_labels))``, run twice).

    The scaling is done in float32 numpy on the generator's [-1, 1] output (`generate_images` does it
    on the device, so the two may differ by one grey level where XLA fuses the arithmetic): for
    choosing a scale, not for drawing the set.
    """
    _check_draw(draw, source_labels, generator)
    fake = _in_batches(_generate_float_fn(generator, draw), params, images, labels, batch_size, np.float32,
                       source_labels)
    source = np.asarray(images, np.float32) / np.float32(127.5) - np.float32(1.0)
    out = {}
    for k in scales:
        drawn = source + np.float32(k) * (fake - source)
        out[k] = np.clip(np.round((drawn + np.float32(1.0)) * np.float32(127.5)), 0, 255).astype(np.uint8)
    return out


def params_fingerprint(params: Any) -> str:
    """A content hash of a parameter tree (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        arr = np.asarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}|{arr.shape}|{arr.dtype}|".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


def chunk_directory(out_dir: str, plan: SynthesisPlan, chunk_size: int, params: Any, edit_scale: float = 1.0,
                    draw: str = "image") -> str:
    """``<out_dir>/chunks/<key>``: finished chunks are reused only by a rerun with the same plan,
    chunk size, generator parameters, edit scale and draw (a rerun with anything else starts its own
    directory)."""
    record = {"plan": plan.fingerprint(), "chunk_size": int(chunk_size), "generator": params_fingerprint(params)}
    # (Each absent at its default: the keys of sets made before the setting existed hold.)
    if edit_scale != 1.0:
        record["edit_scale"] = float(edit_scale)
    if draw != "image":
        record["draw"] = draw
    directory = os.path.join(out_dir, "chunks", io_utils.settings_key(record))
    os.makedirs(directory, exist_ok=True)
    if jax.process_index() == 0 and not os.path.exists(os.path.join(directory, "key.json")):
        io_utils.write_json(os.path.join(directory, "key.json"), record)
    return directory


def _chunk_path(chunk_dir: str, c: int) -> str:
    return os.path.join(chunk_dir, f"chunk_{c:05d}.npz")


def synthesize(generator: Any, params: Any, sources: frames_lib.FrameSet, plan: SynthesisPlan,
               out_dir: str, *, au_names, batch_size: int = 64, chunk_size: int = 1024,
               log_every_chunks: int = 1, share: hosts.Share | None = None,
               edit_scale: float = 1.0, draw: str = "image") -> frames_lib.FrameSet:
    """Generates every plan entry (resuming from finished chunks) and returns the synthetic set.

    Args:
      generator: the `jaxau.models.ganimation.Generator` module.
      params: its parameters.
      sources: the source frame set (images at the generator's size; the plan's source rows).
      plan: the resampling plan; its label columns are ``au_names``.
      out_dir: where ``chunks/`` go.
      au_names: the AU names of the plan's label columns (the generator's conditioning order).
      batch_size: images per jitted call; a multiple of the local device count.
      chunk_size: plan entries per resumable chunk; a multiple of ``batch_size`` keeps batches full.
      log_every_chunks: progress line period.
      share: this process's share of a multi-host run (default `jaxau.hosts.active`): it generates
        chunks ``index``, ``index + count``, ... and waits for the others'.
      edit_scale: each image is ``src + edit_scale (G - src)`` (`generate_images`).
      draw: 'image' or 'edit' (`DRAWS`; 'edit' reads the sources' own ``au_intensity``).

    Returns:
      The synthetic frame set (see the module docstring); not yet saved.
    """
    share = hosts.active() if share is None else share
    frames_lib.validate(sources, "synthesis sources")
    n_local = jax.local_device_count()
    if batch_size <= 0 or batch_size % n_local:
        raise ValueError(f"synthesis batch_size={batch_size} must be a positive multiple of the "
                         f"{n_local} local devices.")
    if chunk_size <= 0:
        raise ValueError(f"synthesis chunk_size={chunk_size} must be positive.")
    if plan.target_labels.shape[1] != len(au_names):
        raise ValueError(f"plan has {plan.target_labels.shape[1]} AU columns, au_names {len(au_names)}.")
    if len(plan) and plan.source_index.max() >= len(sources["image"]):
        raise ValueError("plan.source_index points past the source frame set: build the plan from these sources.")
    _check_draw(draw, sources["au_intensity"], generator)
    chunk_dir = chunk_directory(out_dir, plan, chunk_size, params, edit_scale, draw)

    mesh = parallel.make_mesh(jax.local_devices())
    # A mesh of this process's devices only (processes work on disjoint chunks), so plain device_put.
    p_rep = jax.device_put(params, parallel.replicated(mesh))
    split = parallel.batch_sharded(mesh)
    generate = _generate_fn(generator, float(edit_scale), draw)
    num_chunks = -(-len(plan) // chunk_size)
    mine = share.mine(num_chunks)
    todo = [c for c in mine if not os.path.exists(_chunk_path(chunk_dir, c))]
    if len(todo) < len(mine):
        logging.info("synthesis: %d of %d chunks already finished in %s; resuming.", len(mine) - len(todo),
                     len(mine), chunk_dir)
    t0, done = time.perf_counter(), 0
    images = sources["image"]
    own = np.asarray(sources["au_intensity"], np.int32)
    for i, c in enumerate(todo):
        lo, hi = c * chunk_size, min((c + 1) * chunk_size, len(plan))
        out = []
        for b in range(lo, hi, batch_size):
            e = min(b + batch_size, hi)
            src = images[plan.source_index[b:e]]
            lab = plan.target_labels[b:e]
            slab = own[plan.source_index[b:e]]
            pad = batch_size - (e - b)
            if pad:
                src = np.concatenate([src, np.zeros((pad,) + src.shape[1:], src.dtype)])
                lab = np.concatenate([lab, np.zeros((pad, lab.shape[1]), lab.dtype)])
                slab = np.concatenate([slab, np.zeros((pad, slab.shape[1]), slab.dtype)])
            src, lab, slab = jax.device_put((src, lab, slab), split)
            out.append(np.asarray(generate(p_rep, src, lab, slab))[:e - b])
        frame_store.save_chunk(_chunk_path(chunk_dir, c), np.concatenate(out))
        done += hi - lo
        if (i + 1) % log_every_chunks == 0 or i + 1 == len(todo):
            rate = done / max(time.perf_counter() - t0, 1e-9)
            left = sum(min((k + 1) * chunk_size, len(plan)) - k * chunk_size for k in todo[i + 1:])
            logging.info("synthesis: chunk %d/%d, %d images, %.1f images/s, ETA %.0f s", c + 1, num_chunks,
                         done, rate, left / rate)
    share.wait_for([_chunk_path(chunk_dir, c) for c in range(num_chunks)], out_dir, "synthesis chunks")
    return assemble(sources, plan, chunk_dir, au_names, chunk_size)


def assemble(sources: frames_lib.FrameSet, plan: SynthesisPlan, chunk_dir: str, au_names,
             chunk_size: int) -> frames_lib.FrameSet:
    """The synthetic frame set from the finished chunks in ``chunk_dir`` (all must exist)."""
    num_chunks = -(-len(plan) // chunk_size)
    missing = [c for c in range(num_chunks) if not os.path.exists(_chunk_path(chunk_dir, c))]
    if missing:
        raise FileNotFoundError(f"synthesis chunks {missing[:5]}... missing in {chunk_dir}: run synthesize.")
    # The images stay in their chunks' files (the saved set links them in), so assembling a
    # paper-size set neither holds nor copies it.
    image = frame_store.chunk_images([_chunk_path(chunk_dir, c) for c in range(num_chunks)],
                                     row_shape=tuple(sources["image"].shape[1:]))
    idx = plan.source_index
    frames = {"image": image, "au_intensity": plan.target_labels.astype(np.int32),
              "subject": np.asarray(sources["subject"])[idx], "sequence": np.full(len(plan), "synthetic"),
              "frame": np.arange(len(plan), dtype=np.int32),
              "pose_id": np.asarray(sources["pose_id"])[idx].astype(np.int32),
              "au_names": np.asarray([str(a) for a in au_names]), "source_index": idx.astype(np.int32),
              "target_au": plan.au.astype(np.int32), "target_level": plan.level.astype(np.int32)}
    frames_lib.validate(frames, f"synthetic set from {chunk_dir}")
    return frames


def chunk_files(out_dir: str) -> list[str]:
    """Every finished chunk file under ``<out_dir>/chunks`` (all keys)."""
    return sorted(glob.glob(os.path.join(out_dir, "chunks", "*", "chunk_*.npz")))


def contact_sheet(sources: frames_lib.FrameSet, synthetic: frames_lib.FrameSet, plan: SynthesisPlan) -> np.ndarray:
    """uint8 sheet: one row per AU, per level a (source, synthetic) pair from that plan cell."""
    h, w = synthetic["image"].shape[1:3] if len(synthetic["image"]) else sources["image"].shape[1:3]
    k_count = plan.target_labels.shape[1]
    levels = int(plan.level.max()) + 1 if len(plan) else 1
    sheet = np.zeros((k_count * h, levels * 2 * w, 3), np.uint8)
    for k in range(k_count):
        for level in range(levels):
            hit = np.flatnonzero((plan.au == k) & (plan.level == level))
            if len(hit):
                i = hit[0]
                src = sources["image"][plan.source_index[i]]
                sheet[k * h:(k + 1) * h, 2 * level * w:(2 * level + 1) * w] = src
                sheet[k * h:(k + 1) * h, (2 * level + 1) * w:(2 * level + 2) * w] = synthetic["image"][i]
    return sheet


def make_plan(sources: frames_lib.FrameSet, targets: frames_lib.FrameSet | None, aus, *, per_level: int,
              seed: int, kind: str = "semantic") -> tuple[frames_lib.FrameSet, SynthesisPlan]:
    """The resampling plan of ``sources`` (AU columns ``aus``) with ``targets``' label vectors.

    ``kind``: 'semantic' (the paper's balanced plan) or 'natural' (`jaxau.synthesis.plan.PLANS`).
    Returns ``(sources with the AU columns, plan)``; the synthesis and the oracle set share it.
    """

    # Cross-domain sources may not code every AU (MultiPIE has no AU14): unknown there, not an error.
    sources = frames_lib.with_aus(sources, aus, missing="error" if targets is None else "unknown")
    target_labels = None if targets is None else frames_lib.with_aus(targets, aus)["au_intensity"]
    plan = plan_lib.build(kind, sources["au_intensity"], target_labels, per_level=per_level, seed=seed)
    if plan.skipped:
        logging.warning("synthesis: %d (AU, level) cells have no candidates and are skipped: %s",
                        len(plan.skipped), [(aus[k], lvl) for k, lvl in plan.skipped])
    return sources, plan


def synthesize_set(generator_dir: str, sources: frames_lib.FrameSet, out_dir: str, *, per_level: int,
                   targets: frames_lib.FrameSet | None = None, seed: int = 0, batch_size: int = 32,
                   chunk_size: int = 256, fidelity=None, edit_scale: float = 1.0, calibrate=None,
                   draw: str = "image", plan_kind: str = "semantic") -> dict:
    """Plan + synthesis + files: the whole semantic resampling step (stage and launcher share it).

    Args:
      generator_dir: a trained generator's model directory.
      sources: frame set of source identities (at the generator's size).
      out_dir: writes ``synthetic.frames`` (a frame store), ``plan.npz``, ``chunks/``, ``synthesis.json`` and
        ``preview_synthesis.png`` here.
      per_level: N per AU per level.
      targets: frame set whose label vectors are the targets (default: ``sources``); another
        dataset's for cross-domain synthesis (MultiPIE identities, FERA expressions).
      seed: plan seed.
      batch_size, chunk_size: see `synthesize`.
      fidelity: optional ``fidelity(sources, plan, generate) -> dict`` (`jaxau.synthesis.fidelity`),
        ``generate(uint8 images, target levels, the images' own levels) -> uint8 images``; its record
        goes under ``fidelity``.
      edit_scale: the generator's edits drawn this many times larger, in the set and in the
        fidelity's generated images (`generate_images`).
      calibrate: optional ``calibrate(trained generator, sources, plan) -> dict`` choosing the edit
        scale instead (`jaxau.stages.synthesis.calibrate_edit_scale`): its ``edit_scale`` replaces
        ``edit_scale`` and its record goes under ``edit_scale_calibration``.
      draw: 'image' (the generator's images) or 'edit' (the source plus the generator's edit:
        `DRAWS`), in the set, the calibration's and the fidelity's images.
      plan_kind: 'semantic' or 'natural' (`make_plan`).

    Returns:
      The record written to ``synthesis.json`` (in a multi-host run, by process 0 only; the others
      return theirs without ``fidelity``).
    """

    trained = gen_train.load_generator(generator_dir)
    aus = list(trained.au_names)
    if sources["image"].shape[1:3] != (trained.image_size, trained.image_size):
        raise ValueError(f"source images are {sources['image'].shape[1:3]}, the generator in {generator_dir} "
                         f"was trained at {trained.image_size}: use frames of that size.")
    sources, plan = make_plan(sources, targets, aus, per_level=per_level, seed=seed, kind=plan_kind)
    calibration = None
    if calibrate is not None:  # (every process chooses the same scale: the choice is deterministic)
        calibration = calibrate(trained, sources, plan)
        edit_scale = calibration["edit_scale"]
    leader = hosts.active().leader
    if leader:
        io_utils.savez(os.path.join(out_dir, "plan.npz"), **plan.arrays())
    t0 = time.perf_counter()
    before = set(chunk_files(out_dir))
    synthetic = synthesize(trained.generator, trained.params, sources, plan, out_dir, au_names=aus,
                           batch_size=batch_size, chunk_size=chunk_size, edit_scale=edit_scale, draw=draw)
    elapsed = time.perf_counter() - t0
    # This process's new chunks (in a multi-host run the others' appear here too).
    mine = set(hosts.active().mine(-(-len(plan) // chunk_size)))
    new = [c for c in (int(os.path.basename(f)[6:11]) for f in set(chunk_files(out_dir)) - before) if c in mine]
    generated = len(new)
    new_images = sum(min((c + 1) * chunk_size, len(plan)) - c * chunk_size for c in new)
    record = {"num_images": int(len(plan)), "per_level": int(per_level), "au_names": aus,
              "skipped_cells": [[aus[k], int(lvl)] for k, lvl in plan.skipped],
              "generator_step": int(trained.step), "cross_domain": targets is not None,
              "seconds": elapsed, "chunks_generated": int(generated),
              "images_per_second": (new_images / elapsed) if generated else None,
              "plan_fingerprint": plan.fingerprint(), "edit_scale": float(edit_scale), "draw": draw,
              "plan": plan_kind}
    if calibration is not None:
        record["edit_scale_calibration"] = calibration
    if not leader:  # Multi-host: every chunk is done; process 0 writes the set and its records.
        return record
    frames_lib.save(os.path.join(out_dir, "synthetic.frames"), synthetic)
    write_png(os.path.join(out_dir, "preview_synthesis.png"), contact_sheet(sources, synthetic, plan))
    if fidelity is not None:
        t1 = time.perf_counter()
        record["fidelity"] = fidelity(sources, plan, lambda images, labels, own: generate_images(
            trained.generator, trained.params, images, labels, batch_size, edit_scale, draw, own))
        record["fidelity"]["seconds"] = time.perf_counter() - t1
    io_utils.write_json(os.path.join(out_dir, "synthesis.json"), record)
    return record
