"""Which images teach which reader: estimators crossed with image sets on held-out SynthFACS subjects.

An estimator trained on a generator's set can fail on real frames for two reasons the test ICC
cannot tell apart: the set's expression signal is too weak or inconsistent to learn at all, or it is
learnable but is not the face's expression (a cue of the generator's own that real frames do not
carry). This script renders the frontal frames of ``--subjects`` SynthFACS validation subjects that no
stage has seen (as `benchmarks/critic_heldout.py`), registers them exactly as the experiment's frames
were, plans a semantic-resampling set over them as the synthesis stage plans its own (sources without
the target AU, ``--per_level`` entries per AU level), and draws every entry twice: by the synthesis
stage's generator (at that stage's edit scale and draw) and exactly (the oracle render). Each reader
(estimator stage directories, and the generator's own critic) then reads three image sets:

* ``real``: the held-out frames themselves, against their own levels (a test split of new subjects);
* ``generated``: G's images of the held-out plan, against the target levels;
* ``oracle``: the exact renders of the same plan, against the same target levels.

Per reader and set: ICC(3,1) per AU and its mean over AUs with a 95 % bootstrap interval over the
held-out subjects, and per AU the read-out's gain (least-squares slope of the reading on the level).
An estimator trained on G's set that reads an AU on ``generated`` and not on ``oracle`` / ``real`` has
learned a cue of G's own; one that reads it on none never found it in the set. Usage::

    python benchmarks/cross_read.py --config=configs/paper/personal_norm.py:medium \\
        --synthesis=/work/gapm/stages/synthesis-<key> \\
        --readers=real=/work/gapm/stages/estimator-<a>,synthetic=/work/gapm/stages/estimator-<b> \\
        --subjects=60 --per_level=20 --out=/work/cross_read.json

``--config`` is the experiment whose synthetic 3D column's registration settings render the frames.
Prints and writes one JSON record.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SETS = ("real", "generated", "oracle")


def parse_readers(spec: str) -> dict[str, str]:
    """``name=dir,name=dir`` -> ``{name: dir}`` (ValueError naming the bad item)."""
    readers = {}
    for item in [s for s in spec.split(",") if s]:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--readers item {item!r}: write name=<estimator stage directory>.")
        if name in readers or name == "critic":
            raise ValueError(f"--readers: the name {name!r} is used twice (or is the critic's).")
        readers[name] = path
    return readers


def gains(levels: np.ndarray, readings: np.ndarray) -> np.ndarray:
    """Per column, the least-squares slope of ``readings`` on ``levels`` (NaN without level variance)."""
    out = np.full(levels.shape[1], np.nan)
    for k in range(levels.shape[1]):
        x, y = levels[:, k].astype(np.float64), readings[:, k].astype(np.float64)
        keep = x >= 0
        x, y = x[keep], y[keep]
        if len(x) > 1 and x.var() > 0:
            out[k] = float(((x - x.mean()) * (y - y.mean())).mean() / x.var())
    return out


def score(readings: np.ndarray, levels: np.ndarray, subjects: np.ndarray, aus) -> dict:
    """ICC (mean and per AU, subject-bootstrap interval) and per-AU gain of one reader on one set."""
    from benchmarks.critic_heldout import interval

    c = interval(levels, readings, subjects, aus)
    g = gains(levels, readings)
    return {"icc": round(c["icc"], 4), "ci95": [round(v, 4) for v in c["ci95"]],
            "per_au": {a: round(v["icc"], 3) for a, v in c["per_au"].items()},
            "gain": {str(a): round(float(v), 3) for a, v in zip(aus, g)},
            "frames": c["num_frames"], "subjects": c["num_subjects"]}


def held_out_plan(levels: np.ndarray, per_level: int, seed: int):
    """The semantic plan over the held-out frames (sources and targets both held out)."""
    from jaxau.synthesis import plan as plan_lib

    return plan_lib.build("semantic", levels, None, per_level=per_level, seed=seed)


class Refused(ValueError):
    """Inputs that cannot be measured (one line for the user)."""


def measure(config, synthesis_dir: str, readers: dict[str, str], *, subjects: int, first: int = -1,
            per_level: int = 20, seed: int = 0) -> tuple[dict, dict]:
    """The cross-read record (module docstring) and the image sets it read.

    Args:
      config: the experiment config of the synthesis stage's column (its ``data`` / ``align`` settings
        register the renders).
      synthesis_dir: a finished synthesis stage (its generator, sources' registration, edit scale, draw).
      readers: ``{name: estimator stage directory}``; the generator's critic is added as ``critic``.
      subjects: held-out validation subjects rendered (their frames in ``data.train_poses`` views).
      first: the first one's index (-1: just past the domain's validation split).
      per_level, seed: the held-out plan's entries per AU level and seed.

    Returns:
      ``(record, sets)``: ``sets[name] = (uint8 images, levels [N, K], subject per image)`` for
      ``real``, ``generated`` and ``oracle``.
    """
    from benchmarks.critic_heldout import heldout_requests
    from jaxau.data import resolve
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.synthesis import oracle as oracle_lib, synthesize
    from jaxau.train import estimator, generator as gen_train

    with open(os.path.join(synthesis_dir, "DONE.json"), encoding="utf-8") as f:
        inputs = json.load(f).get("inputs")
    if not isinstance(inputs, dict) or not {"generator", "sources"} <= set(inputs):
        raise Refused(f"{synthesis_dir}/DONE.json names no generator and sources inputs: pass a synthesis stage "
                      "written by the pipeline or by benchmarks/generator_fidelity.py --column.")
    with open(os.path.join(synthesis_dir, "synthesis.json"), encoding="utf-8") as f:
        synthesis = json.load(f)
    parts = synthesis_stage._oracle_parts(config, inputs, None)
    if isinstance(parts, str):
        raise Refused(f"no held-out renders: {parts}.")
    renderer, _ = parts
    scfg = renderer.synth
    trained = gen_train.load_generator(inputs["generator"])
    aus = list(trained.au_names)
    predictors = {name: estimator.Predictor(path) for name, path in readers.items()}
    for name, p in predictors.items():
        missing = [a for a in aus if a not in p.au_names]
        if missing:
            raise Refused(f"--readers {name}: the estimator in {readers[name]} does not read {missing}.")
    take = [list(scfg.aus).index(str(a)) for a in aus]
    poses = set(resolve.poses(config.data.get("train_poses", "")) or [int(p[0]) for p in scfg.poses])
    first = int(scfg.subjects["validation"]) if first < 0 else int(first)

    t0 = time.time()
    requests = heldout_requests(scfg, first, subjects, poses)
    real = renderer.render(requests)
    ok = np.flatnonzero(real.ok)
    requests = [requests[i] for i in ok]
    real_images = real.image[ok]
    levels = np.stack([r["labels"] for r in requests])[:, take].astype(np.int32)
    names = np.array([r["subject"].name for r in requests])
    plan = held_out_plan(levels, per_level, seed)
    src, tgt = plan.source_index, plan.target_index
    exact = renderer.render([oracle_lib.with_expression(requests[s], requests[t], scfg.aus)
                             for s, t in zip(src, tgt)])
    render_seconds = time.time() - t0
    edit_scale = float(synthesis.get("edit_scale", 1.0))
    draw = str(synthesis.get("draw", "image"))
    generated = synthesize.generate_images(trained.generator, trained.params, real_images[src], plan.target_labels,
                                           edit_scale=edit_scale, draw=draw, source_labels=levels[src])
    keep = np.flatnonzero(exact.ok)
    sets = {"real": (real_images, levels, names),
            "generated": (generated[keep], plan.target_labels[keep], names[src][keep]),
            "oracle": (exact.image[keep], plan.target_labels[keep], names[src][keep])}

    record = {"synthesis": synthesis_dir, "generator": inputs["generator"], "edit_scale": edit_scale, "draw": draw,
              "au_names": aus, "heldout_first_index": first, "heldout_subjects": int(subjects),
              "real_frames": int(len(ok)), "plan_entries": int(len(plan)),
              "oracle_failed": int(len(plan) - len(keep)),
              "skipped_cells": [[aus[k], int(lvl)] for k, lvl in plan.skipped],
              "render_register_seconds": round(render_seconds, 1), "readers": {}}
    reads = {name: functools.partial(p.intensities_of, aus=aus) for name, p in predictors.items()}
    reads["critic"] = gen_train.critic_reader(inputs["generator"])
    for name, read in reads.items():
        record["readers"][name] = {"directory": readers.get(name, inputs["generator"]),
                                   **{s: score(np.asarray(read(images), np.float64), lv, subj, aus)
                                      for s, (images, lv, subj) in sets.items()}}
    return record, sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "demo.py"),
                        help="path[:arg] of the experiment (its synthetic_3d column's registration settings)")
    parser.add_argument("--synthesis", required=True, help="a finished synthesis stage directory")
    parser.add_argument("--readers", required=True, help="name=<estimator stage directory>,...")
    parser.add_argument("--subjects", type=int, default=60, help="held-out validation subjects to render")
    parser.add_argument("--first", type=int, default=-1,
                        help="first held-out subject index (default: just past the domain's validation split)")
    parser.add_argument("--per_level", type=int, default=20, help="plan entries per AU per level")
    parser.add_argument("--seed", type=int, default=0, help="plan seed")
    parser.add_argument("--out", default="", help="JSON file for the record")
    parser.add_argument("overrides", nargs="*", help="section.field=value applied to the experiment's config")
    args = parser.parse_args(argv)

    try:
        readers = parse_readers(args.readers)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for name, path in readers.items():
        if not os.path.exists(os.path.join(path, "estimator.json")):
            print(f"--readers {name}={path}: no estimator.json there; pass finished estimator stage directories.",
                  file=sys.stderr)
            return 2
    done = os.path.join(args.synthesis, "DONE.json")
    if not os.path.exists(done) or not os.path.exists(os.path.join(args.synthesis, "synthesis.json")):
        print(f"--synthesis={args.synthesis}: not a finished synthesis stage (no DONE.json / synthesis.json).",
              file=sys.stderr)
        return 2
    if args.subjects < 2 or args.per_level < 1:
        print(f"--subjects={args.subjects} / --per_level={args.per_level}: need at least 2 subjects and 1 "
              "entry per level.", file=sys.stderr)
        return 2

    from benchmarks.generator_fidelity import plan_synthetic_3d
    from jaxau import io_utils

    planned_or_refusal = plan_synthetic_3d(args.config, args.overrides)
    if isinstance(planned_or_refusal, str):
        print(planned_or_refusal, file=sys.stderr)
        return 2
    _, _, syn = planned_or_refusal
    try:
        record, _ = measure(syn.config, args.synthesis, readers, subjects=args.subjects, first=args.first,
                            per_level=args.per_level, seed=args.seed)
    except Refused as e:
        print(e, file=sys.stderr)
        return 2
    text = json.dumps(record, default=float)
    print(text, flush=True)
    if args.out:
        io_utils.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    from jaxau import platform

    platform.configure_xla()
    sys.exit(main())
