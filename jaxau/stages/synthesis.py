"""Stages ``synthesis`` (semantic resampling with the trained generator) and ``oracle`` (the same plan
rendered exactly by SynthFACS).

Roles of ``synthesis``: ``generator``; ``sources`` (a registration stage: its ``train.frames`` frames in
the views ``data.train_poses`` of the sources' domain are re-animated); optional ``targets`` (a
registration stage whose ``train.frames`` labels give the target AU vectors, for cross-domain synthesis:
paper Sec. 4.7 re-animates MultiPIE faces with FERA's label distribution; default the sources;
``config.synthesis.targets`` may name any frame set, a store or an .npz, instead); optional
``registration`` (the network the sources were registered with) and ``reader`` (a real-frame
estimator of the same registration) for the fidelity measurement. Writes ``synthetic.frames`` (the
balanced synthetic frame set ``estimator`` stages train on), ``plan.npz``, ``chunks/`` (resumable),
``synthesis.json`` (counts, skipped cells, images/s and, for SynthFACS sources with
``synthesis.fidelity_per_cell > 0``, the generator's ``fidelity`` against oracle renders:
`jaxau.synthesis.fidelity`), ``fidelity.png`` (source | generated | oracle rows) and
``preview_synthesis.png``.

``oracle``: roles ``sources``, optional ``targets`` and ``registration`` as above; the plan of the
synthesis stage with the same settings, each entry rendered with the target expression and registered
like the sources (`jaxau.synthesis.oracle`). Writes ``synthetic.frames`` in the synthetic set's format,
``oracle.json`` and ``preview_synthesis.png``. ``config.oracle`` degrades the renders to isolate one
shortcoming of a generator at a time (`run_oracle`): only the labelled AUs changed, a share of each
change drawn.

``regenerate``: roles ``set`` (an oracle stage), ``generator``, and the oracle stage's ``sources``,
optional ``targets`` and ``registration``; every image of the oracle set drawn again by the generator
with its own target labels, ``G(oracle | target)``: exact expressions carrying whatever the generator
adds to an image (its texture, its artefacts, its reading of the expression already there). Writes
``synthetic.frames``, ``regenerate.json`` (with ``edit``: the set scored against the exact oracle like
a degraded oracle) and ``preview_synthesis.png`` (`run_regenerate`).

``config.synthesis.source_domain`` (set by the experiment graph) names the sources' domain
(`jaxau.stages.graph.domain_config`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
import types

import numpy as np

from jaxau import hosts, io_utils, validate
from jaxau.data import frames as frames_lib
from jaxau.stages import frames as frames_stage
from jaxau.synthesis import synthesize
from jaxau.stages import graph
from jaxau.synthesis import calibrate as calibrate_lib, fidelity as fidelity_lib, oracle, plan as plan_lib
from jaxau.train import estimator
from jaxau.train import generator as gen_train
from jaxau.train.generator import write_png

# oracle.strength's upper end: above 1 a change is exaggerated (clipped to the FACS range), and at
# twice the change most level-C-and-up targets already saturate at E.
ORACLE_MAX_STRENGTH = 2.0
# 'all': the target frame's 18 simulated AUs; 'labelled': only the set's AU columns (what a generator
# is told), the source keeping its other AUs.
ORACLE_EXPRESSION_AUS = ("all", "labelled")


def check(config) -> None:
    """Checks the ``synthesis`` section of a synthesis stage, raising `jaxau.validate.ConfigError`."""
    check_oracle(config)
    validate.divisible_batch(config, "synthesis.batch_size")
    validate.positive_int(config, "synthesis.chunk_size")
    if "edit_scale" in config.synthesis:
        validate.positive_float(config, "synthesis.edit_scale")
    if "draw" in config.synthesis:
        validate.one_of(config, "synthesis.draw", synthesize.DRAWS)
    if bool(config.synthesis.get("calibrate_edit_scale", False)):
        if float(config.synthesis.get("edit_scale", 1.0)) != 1.0:
            raise validate.ConfigError(
                f"synthesis.edit_scale={config.synthesis.edit_scale} and synthesis.calibrate_edit_scale=True: "
                "the calibration chooses the scale; set one of them.")
        validate.positive_int(config, "synthesis.calibration_per_cell")
        if float(config.synthesis.edit_scale_max) < 1.0:
            raise validate.ConfigError(f"synthesis.edit_scale_max={config.synthesis.edit_scale_max}: the "
                                       "calibration grid runs from 0.5 to it and must hold 1; use >= 1.")


def plan_kind(config) -> str:
    """Which resampling plan a synthesis or oracle set draws (`jaxau.synthesis.plan.PLANS`;
    ``synthesis.plan``, 'semantic' where a config predates it)."""
    return str(config.synthesis.get("plan", "semantic"))


def draw_mode(config) -> str:
    """How the generator's images are drawn into a set (`jaxau.synthesis.synthesize.DRAWS`;
    ``synthesis.draw``, 'image' where a config predates it)."""
    return str(config.synthesis.get("draw", "image"))


def check_oracle(config) -> None:
    """Checks the ``synthesis`` fields an oracle stage reads (and its ``oracle`` section, if any)."""
    validate.positive_int(config, "synthesis.per_level")
    if "plan" in config.synthesis:
        validate.one_of(config, "synthesis.plan", plan_lib.PLANS)
    if "fidelity_per_cell" in config.synthesis:
        validate.positive_int(config, "synthesis.fidelity_per_cell", allow_zero=True)
    if config.get("oracle") is not None:
        strength = validate.positive_float(config, "oracle.strength")
        if strength > ORACLE_MAX_STRENGTH:
            raise validate.ConfigError(
                f"oracle.strength={strength}: the share of each expression change drawn runs over (0, "
                f"{ORACLE_MAX_STRENGTH}] (1 = the target expression); use e.g. 0.4 for a faint edit.")
        validate.one_of(config, "oracle.expression_aus", ORACLE_EXPRESSION_AUS)
        validate.one_of(config, "oracle.direction", oracle.DIRECTIONS)
        if "blur" in config.oracle:
            validate.positive_float(config, "oracle.blur", allow_zero=True)



def source_config(config):
    """The config of the sources' domain (its ``data`` section; the rest is ``config``'s)."""

    return graph.domain_config(config, str(config.synthesis.source_domain))


def load_sets(config, inputs) -> tuple[frames_lib.FrameSet, frames_lib.FrameSet | None]:
    """``(sources, targets or None)``: training frames in each domain's ``data.train_poses`` views."""

    scfg = source_config(config)
    sources = frames_lib.select_poses(frames_lib.load(frames_stage.split_path(inputs["sources"], "train")),
                                      scfg.data.get("train_poses", ""), "synthesis sources")
    targets_path = str(config.synthesis.targets)
    if inputs.get("targets"):
        targets_path = frames_stage.split_path(inputs["targets"], "train")
    targets = None
    if targets_path:
        targets = frames_lib.load(targets_path)
        if inputs.get("targets"):
            targets = frames_lib.select_poses(targets, config.data.get("train_poses", ""), "synthesis targets")
    return sources, targets


def _oracle_parts(config, inputs, targets):
    """``(renderer, target RequestIndex)`` or a reason string why oracle renders are impossible."""

    scfg = source_config(config)
    if oracle.synthfacs_config(scfg.data.name) is None:
        return f"sources ({scfg.data.name}) are not SynthFACS frames"
    target_index = None
    if targets is not None:
        if not inputs.get("targets"):
            return "targets come from a frame-set file, whose render requests are unknown"
        tcfg = oracle.synthfacs_config(config.data.name)
        if tcfg is None:
            return f"targets ({config.data.name}) are not SynthFACS frames"
        target_index = oracle.RequestIndex(tcfg)
    mode = frames_stage.registration_mode(inputs["sources"])
    renderer = oracle.OracleRenderer(scfg, mode, inputs.get("registration"))
    return renderer, target_index


def calibrate_edit_scale(config, inputs, reader: estimator.Predictor, trained, sources, plan) -> dict:
    """The edit scale chosen by the real-frame reader (`jaxau.synthesis.calibrate`) and its record.

    ``reader`` is the ``reader`` role's estimator; its labelled real frames are the validation split
    of its own domain's frames (the ``targets`` stage for cross-domain synthesis, else the sources'),
    in the views ``data.train_poses`` it was trained on; ``trained`` is the loaded generator,
    ``sources`` / ``plan`` the synthesis plan's (`jaxau.synthesis.synthesize.make_plan`), whose first
    ``synthesis.calibration_per_cell`` entries of every (AU, level) cell are drawn at every scale.
    Without label variation in those frames the record says so (``skipped``) and the scale is 1.
    """

    aus = list(trained.au_names)
    missing = [a for a in aus if a not in reader.au_names]
    if missing:
        raise ValueError(f"the reader {inputs['reader']} does not estimate {missing}, which the generator draws.")

    def read(images):
        return reader.intensities_of(np.asarray(images), aus)

    frames_dir = inputs.get("targets") or inputs["sources"]
    real = frames_lib.select_poses(frames_lib.load(frames_stage.split_path(frames_dir, "validation")),
                                   config.data.get("train_poses", ""), "edit-scale calibration frames")
    real = frames_lib.with_aus(real, aus, missing="unknown")
    rows = fidelity_lib.sample_entries(plan, int(config.synthesis.calibration_per_cell))
    batch = int(config.synthesis.batch_size)
    try:
        record = calibrate_lib.calibrate(
            lambda images, labels, scales: synthesize.generate_scaled(
                trained.generator, trained.params, images, labels, scales, batch, draw=draw_mode(config),
                source_labels=np.asarray(sources["au_intensity"])[plan.source_index[rows]]),
            read, np.asarray(real["image"]), real["au_intensity"],
            np.asarray(sources["image"][plan.source_index[rows]]), plan.target_labels[rows],
            calibrate_lib.grid(float(config.synthesis.edit_scale_max)), aus)
    except calibrate_lib.NothingToCalibrate as e:
        # Found after the generator trained: the set is still made, at the generator's own scale,
        # and the record and the report say why.
        logging.warning("synthesis: edit-scale calibration skipped (%s in %s); drawing at edit scale 1.", e,
                        frames_dir)
        record = {"edit_scale": 1.0, "skipped": f"{e} ({frames_dir}); drawn at edit scale 1"}
    record["reader"] = inputs["reader"]
    return record


def run(config, stage_dir: str, inputs) -> dict:

    sources, targets = load_sets(config, inputs)
    # One reader for the calibration and the fidelity.
    reader = estimator.Predictor(inputs["reader"]) if inputs.get("reader") else None
    calibrate = None
    if bool(config.synthesis.get("calibrate_edit_scale", False)):
        if reader is None:
            raise ValueError("synthesis.calibrate_edit_scale needs the 'reader' role (a real-frame estimator of "
                             "the same registration); the experiment graph wires it, a hand-made stage must too.")
        calibrate = functools.partial(calibrate_edit_scale, config, inputs, reader)
    fidelity = None
    per_cell = int(config.synthesis.fidelity_per_cell)
    if per_cell > 0:
        parts = _oracle_parts(config, inputs, targets)
        if isinstance(parts, str):
            reason = parts

            def fidelity(sources_, plan, generate):
                return {"skipped": f"no oracle renders: {reason}"}
        else:
            renderer, target_index = parts
            read = reader.intensities if reader is not None else None
            critic = gen_train.critic_reader(inputs["generator"])

            def fidelity(sources_, plan, generate):
                rec = fidelity_lib.measure(renderer, generate, sources_, plan, list(sources_["au_names"]),
                                           per_cell=per_cell, targets=targets, target_index=target_index,
                                           read=read, critic=critic, out_dir=stage_dir)
                rec["reader"] = inputs.get("reader")
                return rec
    record = synthesize.synthesize_set(
        inputs["generator"], sources, stage_dir, per_level=int(config.synthesis.per_level),
        targets=targets, seed=int(config.seed), batch_size=int(config.synthesis.batch_size),
        chunk_size=int(config.synthesis.chunk_size), fidelity=fidelity,
        edit_scale=float(config.synthesis.get("edit_scale", 1.0)), calibrate=calibrate, draw=draw_mode(config),
        plan_kind=plan_kind(config))
    out = {k: record[k] for k in ("num_images", "per_level", "skipped_cells", "images_per_second", "edit_scale",
                                  "draw")}
    fid = record.get("fidelity") or {}
    out.update({k: fid[k] for k in ("l1_generated", "l1_copy_source", "edit_cosine", "edit_cosine_ceiling",
                                    "edit_cosine_labelled", "reader_icc_generated", "reader_icc_oracle",
                                    "reader_icc_labelled", "critic_icc_generated", "critic_icc_oracle")
                if k in fid})
    return out


def oracle_settings(config) -> tuple[float, str, str]:
    """``(strength, expression_aus, direction)`` of an oracle stage (``config.oracle``; the schema
    requires the section of every oracle stage)."""
    o = config.oracle
    return float(o.strength), str(o.expression_aus), str(o.direction)


def oracle_blur(config) -> float:
    """``oracle.blur``: the Gaussian sigma in pixels an oracle set's images are blurred by (0: none,
    also where a config predates the setting)."""
    return float(config.oracle.get("blur", 0.0))


def is_exact_oracle(config) -> bool:
    """Whether an oracle stage renders the plan exactly: every change in full (the direction then
    scales nothing), all simulated AUs, no blur. Any other set is a degraded oracle."""
    strength, expression_aus, _ = oracle_settings(config)
    return strength == 1.0 and expression_aus == "all" and oracle_blur(config) == 0.0


def run_oracle(config, stage_dir: str, inputs) -> dict:
    """Stage ``oracle``: the synthesis plan rendered exactly (module docstring).

    ``config.oracle`` may make the set a degraded oracle that isolates one way a generator falls short:
    ``expression_aus='labelled'`` changes only the set's AU columns (a perfect generator told only
    those), ``strength`` < 1 draws that share of each expression change (a generator whose edits are
    faint) while every image keeps its target's labels, as a generated image does; ``direction``
    scales only the AUs the target raises (``'up'``) or lowers (``'down'``: the source's own
    expression left partly in place); ``blur`` > 0 blurs every registered image by a Gaussian of that
    sigma in pixels (`jaxau.synthesis.oracle.gaussian_blur`: a generator that softens what it
    redraws). Such a set's ``oracle.json`` holds ``edit``: its images scored against the exact oracle
    like a generator's (`jaxau.synthesis.fidelity.image_metrics` on the fidelity sample:
    ``edit_gain`` comparable with the generator's).
    """
    t0 = time.perf_counter()
    strength, expression_aus, direction = oracle_settings(config)
    aus = frames_stage.aus(config)
    parts = _oracle_plan(config, inputs, aus)
    if isinstance(parts, str):
        raise ValueError(f"oracle set impossible: {parts}; 'oracle:<reg>' columns need SynthFACS sources and targets.")
    renderer, sources, target_frames, target_index, plan = parts
    io_utils.savez(os.path.join(stage_dir, "plan.npz"), **plan.arrays())
    take = list(aus) if expression_aus == "labelled" else None
    rendered = renderer.oracle(sources, plan.source_index, target_frames, plan.target_index, target_index,
                               expression_aus=take, strength=strength, direction=direction)
    blur = oracle_blur(config)
    if blur > 0:
        rendered = dataclasses.replace(rendered, image=oracle.gaussian_blur(rendered.image, blur))
    idx = plan.source_index
    edit = None
    if not is_exact_oracle(config):
        edit = _degraded_edit(renderer, sources, target_frames, target_index, plan, rendered, aus,
                              int(config.synthesis.get("fidelity_per_cell", 0)))
    frames = {"image": rendered.image, "au_intensity": plan.target_labels.astype(np.int32),
              "subject": np.asarray(sources["subject"])[idx], "sequence": np.full(len(plan), "oracle"),
              "frame": np.arange(len(plan), dtype=np.int32),
              "pose_id": np.asarray(sources["pose_id"])[idx].astype(np.int32),
              "au_names": np.asarray([str(a) for a in aus]), "source_index": idx.astype(np.int32),
              "target_au": plan.au.astype(np.int32), "target_level": plan.level.astype(np.int32)}
    ok = rendered.ok
    frames = frames_lib.select(frames, ok) if not ok.all() else frames
    frames_lib.validate(frames, f"oracle set in {stage_dir}")
    frames_lib.save(os.path.join(stage_dir, "synthetic.frames"), frames)
    if ok.all():  # The contact sheet indexes the set by plan row.
        write_png(os.path.join(stage_dir, "preview_synthesis.png"), synthesize.contact_sheet(sources, frames, plan))
    record = {"num_images": int(len(frames["image"])), "per_level": int(config.synthesis.per_level),
              "registration_failed": int((~ok).sum()), "au_names": list(aus),
              "skipped_cells": [[aus[k], int(lvl)] for k, lvl in plan.skipped],
              "plan_fingerprint": plan.fingerprint(), "plan": plan_kind(config), "strength": strength,
              "expression_aus": expression_aus, "direction": direction, "blur": blur,
              "seconds": time.perf_counter() - t0}
    if edit is not None:
        record["edit"] = edit
    io_utils.write_json(os.path.join(stage_dir, "oracle.json"), record)
    out = {k: record[k] for k in ("num_images", "per_level", "registration_failed", "skipped_cells")}
    if edit is not None:
        out.update({f"edit_{k}": edit[k] for k in ("gain", "cosine", "gain_added", "gain_removed")})
    return out


def _oracle_plan(config, inputs, aus):
    """``(renderer, sources, target frames, target RequestIndex, plan)`` of an oracle set over ``aus``
    (the synthesis stage's plan for the same inputs and settings), or why it cannot be rendered."""
    sources, targets = load_sets(config, inputs)
    parts = _oracle_parts(config, inputs, targets)
    if isinstance(parts, str):
        return parts
    renderer, target_index = parts
    sources, plan = synthesize.make_plan(sources, targets, aus, per_level=int(config.synthesis.per_level),
                                         seed=int(config.seed), kind=plan_kind(config))
    return renderer, sources, sources if targets is None else targets, target_index, plan


def _degraded_edit(renderer, sources, targets, target_index, plan, rendered, aus, per_cell: int) -> dict:
    """A degraded oracle set's images scored against the exact oracle on the fidelity sample."""
    rows = fidelity_lib.sample_entries(plan, max(per_cell, 1))
    exact = renderer.oracle(sources, plan.source_index[rows], targets, plan.target_index[rows], target_index)
    keep = np.flatnonzero(exact.ok & rendered.ok[rows])
    rows = rows[keep]
    src = sources["image"][plan.source_index[rows]]
    m = fidelity_lib.image_metrics(src, rendered.image[rows], exact.image[keep], exact.face[keep], plan.au[rows],
                                   list(aus))
    halves = fidelity_lib.direction_gains(renderer, sources, plan.source_index[rows], targets,
                                          plan.target_index[rows], list(aus), {"set": rendered.image[rows]},
                                          target_index)
    return {"entries": int(len(rows)), "gain": m["edit_gain"], "cosine": m["edit_cosine"],
            "l1": m["l1_generated"], "l1_copy_source": m["l1_copy_source"],
            "cosine_by_au": m["edit_cosine_by_au"], "gain_added": halves["set_gain_added"],
            "gain_removed": halves["set_gain_removed"], "entries_added": halves["entries_added"],
            "entries_removed": halves["entries_removed"]}


def run_regenerate(config, stage_dir: str, inputs) -> dict:
    """Stage ``regenerate``: an oracle set drawn again by the generator (module docstring).

    Each image ``x`` of the ``set`` role's oracle set with target labels ``y`` becomes
    ``x + k (G(x | y) - x)`` at ``k = synthesis.edit_scale`` (the calibration, a synthesis-stage
    choice, is not rerun here). The image already shows ``y``, so a generator that adds nothing
    returns it unchanged; its column beside the oracle's measures what the generator's hand costs a
    training set apart from the edits it draws. Labels, sources and plan cells are the oracle set's.
    Always the generator's image, whatever ``synthesis.draw`` (in 'edit' draw the redraw with the
    image's own labels is the image itself).
    """
    t0 = time.perf_counter()
    trained = gen_train.load_generator(inputs["generator"])
    aus = list(trained.au_names)
    oracle_set = frames_lib.load(os.path.join(inputs["set"], "synthetic.frames"))
    with open(os.path.join(inputs["set"], "oracle.json")) as f:
        oracle_record = json.load(f)
    set_aus = [str(a) for a in oracle_set["au_names"]]
    if set_aus != aus:
        raise ValueError(f"the oracle set in {inputs['set']} is labelled {set_aus}, the generator in "
                         f"{inputs['generator']} draws {aus}: train both on the same data.aus.")
    size = trained.image_size
    if tuple(oracle_set["image"].shape[1:3]) != (size, size):
        raise ValueError(f"the oracle set's images are {tuple(oracle_set['image'].shape[1:3])}, the generator in "
                         f"{inputs['generator']} draws {size}x{size}: use frames of data.image_size {size}.")
    # Checked before anything is generated: the sample the edit is scored on is the oracle's plan.
    edit_inputs = _edit_inputs(config, inputs, oracle_set, oracle_record)
    n = len(oracle_set["image"])
    identity = np.arange(n, dtype=np.int64)
    plan = plan_lib.SynthesisPlan(
        source_index=identity, target_index=identity, target_labels=np.asarray(oracle_set["au_intensity"], np.int32),
        au=np.asarray(oracle_set["target_au"]), level=np.asarray(oracle_set["target_level"]),
        per_level=int(config.synthesis.per_level), skipped=())
    edit_scale = float(config.synthesis.get("edit_scale", 1.0))
    frames = synthesize.synthesize(trained.generator, trained.params, oracle_set, plan, stage_dir, au_names=aus,
                                   batch_size=int(config.synthesis.batch_size),
                                   chunk_size=int(config.synthesis.chunk_size), edit_scale=edit_scale)
    record = {"num_images": int(n), "per_level": int(config.synthesis.per_level), "au_names": aus,
              "generator_step": int(trained.step), "edit_scale": edit_scale, "oracle": inputs["set"],
              "plan_fingerprint": oracle_record["plan_fingerprint"], "generator_pass": True,
              **{k: oracle_record[k] for k in ("strength", "expression_aus", "direction", "skipped_cells")}}
    if not hosts.active().leader:  # Multi-host: process 0 writes the set and its records.
        return {"num_images": int(n)}
    # The identity plan already carries the oracle set's subjects and poses; its provenance adds the
    # real source rows and that these are oracle images redrawn.
    frames.update({"source_index": np.asarray(oracle_set["source_index"]), "sequence": np.full(n, "regenerated")})
    frames_lib.validate(frames, f"regenerated set in {stage_dir}")
    frames_lib.save(os.path.join(stage_dir, "synthetic.frames"), frames)
    record["l1_change"] = _mean_change(oracle_set["image"], frames["image"])
    if isinstance(edit_inputs, str):
        record["edit_skipped"] = edit_inputs
    else:
        renderer, sources, target_frames, target_index, oracle_plan, per_cell = edit_inputs
        rendered = types.SimpleNamespace(image=frames["image"], ok=np.ones(n, bool))
        record["edit"] = _degraded_edit(renderer, sources, target_frames, target_index, oracle_plan, rendered,
                                        aus, per_cell)
    record["seconds"] = time.perf_counter() - t0
    # Per plan cell an (oracle, redrawn) pair: the identity plan's sources are the oracle images.
    write_png(os.path.join(stage_dir, "preview_synthesis.png"), synthesize.contact_sheet(oracle_set, frames, plan))
    io_utils.write_json(os.path.join(stage_dir, "regenerate.json"), record)
    out = {k: record[k] for k in ("num_images", "l1_change")}
    if "edit" in record:
        out.update({f"edit_{k}": record["edit"][k] for k in ("gain", "cosine", "l1")})
    return out


def _mean_change(before, after, sample: int = 1024, batch: int = 128) -> float:
    """Mean ``|after - before|`` in [0, 1] units over up to ``sample`` evenly spaced images (whole
    frames), read ``batch`` images at a time: how much the generator changes images that need no change."""
    n = len(before)
    if not n:
        return 0.0
    rows = np.linspace(0, n - 1, min(n, sample)).astype(np.int64)
    total = 0.0
    for lo in range(0, len(rows), batch):
        r = rows[lo:lo + batch]
        total += float(np.abs(np.asarray(after[r], np.int16) - np.asarray(before[r], np.int16)).sum())
    return total / (len(rows) * np.prod(before.shape[1:]) * 255.0)


def _edit_inputs(config, inputs, oracle_set, oracle_record):
    """What `_degraded_edit` needs to score the regenerated set against the exact oracle on the
    fidelity sample: ``(renderer, sources, targets, target_index, plan, per_cell)``, or why it cannot
    be scored (no fidelity sample, the oracle set dropped plan rows, no render requests).

    Raises:
      ValueError: the oracle set was planned from other sources or settings than these inputs'.
    """
    per_cell = int(config.synthesis.get("fidelity_per_cell", 0))
    if per_cell <= 0:
        return "synthesis.fidelity_per_cell is 0"
    if int(oracle_record.get("registration_failed", 0)):
        return f"the oracle set lacks {oracle_record['registration_failed']} plan rows (registration failed)"
    parts = _oracle_plan(config, inputs, [str(a) for a in oracle_set["au_names"]])
    if isinstance(parts, str):
        return parts
    plan = parts[-1]
    if plan.fingerprint() != oracle_record["plan_fingerprint"] or len(plan) != len(oracle_set["image"]):
        raise ValueError(f"the oracle set in {inputs['set']} was planned from other sources or settings than "
                         "this stage's: wire the regenerate stage to its oracle stage's inputs.")
    return parts + (per_cell,)
