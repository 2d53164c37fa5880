"""Trains the demo's generator stage on the demo's 3-D registered frames and prints its fidelity.

Needs a demo workdir whose ``register_3d`` (and, for the reader ICCs, ``real_3d`` estimator) stages
have finished (``launch/reproduce.py --config=configs/demo.py --stages=real_3d``). Overrides are
``section.field=value`` pairs applied to the demo config (e.g. ``generator.num_steps=600``)::

    python benchmarks/generator_fidelity.py --workdir=/tmp/demo --out=/tmp/gen_a \\
        generator.num_steps=600 generator.au_conditioning=input

Prints one JSON line: training seconds, the generator's last metrics (``critic_icc``, losses) and the
fidelity record of `jaxau.synthesis.fidelity.measure` (oracle renders of 4 plan entries per cell),
read by the reference reader and by the generator's own critic (``critic_icc_*``).

``--generator_seed=N`` trains the generator from another seed on the same frames, plan and reader,
for the seed-to-seed spread of every number. Run as a script it sets the launchers' XLA flags
(`jaxau.platform.configure_xla`), so the config's own seed reproduces the stage's generator.

``--column`` also trains and scores the demo's synthetic 3D column on this generator's set (its
synthesis, estimator and score nodes, run under ``<out>/column/`` with everything else taken from the
demo workdir) and compares it with the workdir's real 3D column on the same test frames (subject
bootstrap): what a generator's fidelity is worth to the estimator, per generator seed::

    python benchmarks/generator_fidelity.py --workdir=/tmp/demo --out=/tmp/gen_s1 --generator_seed=1 --column

``--steps=660,1160,2160`` measures a learning curve: one generator trained on in the same directory
(each length resumes from the previous one's checkpoint) at a constant learning rate
(``generator.decay_steps=0`` unless an override sets it), one JSON line per length, all of them in
``<out>/curve.jsonl``::

    python benchmarks/generator_fidelity.py --workdir=/tmp/demo --out=/tmp/curve --steps=660,1160,2160

``--config=path[:arg]`` takes another experiment's config instead of the demo's (one with a
``synthetic_3d`` column, e.g. ``configs/paper/table2.py:medium``): its 3-D synthetic column's
generator, synthesis plan and reader are measured, in a workdir where that experiment's
``real_3d`` column has finished::

    python launch/reproduce.py --config=configs/paper/table2.py:medium --workdir=/tmp/med --stages=real_3d
    python benchmarks/generator_fidelity.py --config=configs/paper/table2.py:medium --workdir=/tmp/med \
        --out=/tmp/med_gen --column
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "demo.py"),
                        help="path[:arg] of the experiment whose synthetic_3d column is measured")
    parser.add_argument("--workdir", required=True, help="the experiment's workdir with finished register_3d / "
                                                         "real_3d stages")
    parser.add_argument("--out", required=True, help="where the generator is trained (reused if finished)")
    parser.add_argument("--per_cell", type=int, default=4)
    parser.add_argument("--generator_seed", type=int, default=None,
                        help="train the generator with this seed instead of the config's (the plan, its "
                             "sources and the reader stay the config's): seed-to-seed spread")
    parser.add_argument("--column", action="store_true",
                        help="also train and score the synthetic 3D column on this generator's set")
    parser.add_argument("--steps", default="", help="comma-separated generator lengths (a learning curve)")
    parser.add_argument("overrides", nargs="*", help="section.field=value")
    args = parser.parse_args(argv)
    if args.steps and args.column:
        # The column's stages live in one directory per generator directory: a curve's lengths
        # would reuse the first length's column.
        print("--column measures one generator: run it without --steps (one --out per length).", file=sys.stderr)
        return 2
    if args.steps:
        overrides = list(args.overrides)
        if not any(o.startswith("generator.decay_steps=") for o in overrides):
            overrides.append("generator.decay_steps=0")
        overrides = [o for o in overrides if not o.startswith("generator.num_steps=")]
        lines = []
        for n in [int(x) for x in args.steps.split(",")]:
            rc = measure(args, overrides + [f"generator.num_steps={n}"], lines)
            if rc:
                return rc
            # Written after every length: a stopped curve keeps its measured points.
            with open(os.path.join(args.out, "curve.jsonl"), "w", encoding="utf-8") as f:
                f.writelines(json.dumps(line, default=float) + "\n" for line in lines)
        return 0
    return measure(args, list(args.overrides), [])


def measure(args, overrides, lines) -> int:
    """Trains (or resumes) the generator with ``overrides`` in ``args.out`` and measures its fidelity."""

    import ml_collections

    from jaxau.stages import generator as generator_stage
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.synthesis import fidelity, synthesize
    from jaxau.train import estimator
    from jaxau.train import generator as gen_train

    planned_or_refusal = plan_synthetic_3d(args.config, overrides)
    if isinstance(planned_or_refusal, str):
        print(planned_or_refusal, file=sys.stderr)
        return 2
    config, planned, syn = planned_or_refusal
    by_name = {n.name: n for n in planned.nodes}
    stage_dir = lambda name: os.path.join(args.workdir, "stages", name)  # noqa: E731
    inputs = {role: stage_dir(name) for role, name in syn.deps.items() if role != "generator"}
    for role, path in inputs.items():
        if not os.path.exists(os.path.join(path, "DONE.json")):
            if role == "reader":
                print(f"reader {path} not finished: no reader ICCs", file=sys.stderr)
                inputs.pop(role)
                break
            print(f"{role} stage {path} has not finished: run the experiment's real_3d column first "
                  f"(launch/reproduce.py --config={args.config} --stages=real_3d).", file=sys.stderr)
            return 2
    gen_node = by_name[syn.deps["generator"]]
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    gen_config = gen_node.config
    if args.generator_seed is not None:
        gen_config = ml_collections.ConfigDict(gen_config.to_dict())
        gen_config.seed = args.generator_seed
    gen_inputs = {role: stage_dir(dep) for role, dep in gen_node.deps.items()}
    summary = generator_stage.run(gen_config, args.out, gen_inputs)
    train_seconds = time.time() - t0

    sources, targets = synthesis_stage.load_sets(syn.config, inputs)
    trained = gen_train.load_generator(args.out)
    sources, plan = synthesize.make_plan(sources, targets, list(trained.au_names),
                                         per_level=int(syn.config.synthesis.per_level), seed=int(config.seed),
                                         kind=synthesis_stage.plan_kind(syn.config))
    renderer, target_index = synthesis_stage._oracle_parts(syn.config, inputs, targets)
    reader = estimator.Predictor(inputs["reader"]) if "reader" in inputs else None
    read = reader.intensities if reader is not None else None
    edit_scale, calibration = float(syn.config.synthesis.get("edit_scale", 1.0)), None
    draw = str(syn.config.synthesis.get("draw", "image"))
    if bool(syn.config.synthesis.get("calibrate_edit_scale", False)):
        if reader is None:
            print("synthesis.calibrate_edit_scale needs the finished reader: run the experiment's real_3d column first.",
                  file=sys.stderr)
            return 2
        calibration = synthesis_stage.calibrate_edit_scale(syn.config, inputs, reader, trained, sources, plan)
        edit_scale = calibration["edit_scale"]
    t1 = time.time()
    record = fidelity.measure(
        renderer, lambda im, lab, own: synthesize.generate_images(
            trained.generator, trained.params, im, lab, edit_scale=edit_scale, draw=draw, source_labels=own),
        sources, plan, list(trained.au_names), per_cell=args.per_cell, targets=targets,
        target_index=target_index, read=read, critic=gen_train.critic_reader(args.out), out_dir=args.out)
    out = {"overrides": overrides, "generator_seed": args.generator_seed, "train_seconds": round(train_seconds, 1),
           "fidelity_seconds": round(time.time() - t1, 1), "generator": summary, "fidelity": record,
           "edit_scale": edit_scale, "draw": draw, "edit_scale_calibration": calibration}
    if args.column:
        try:
            out["column"] = synthetic_column(planned, syn, args.workdir, args.out)
        except StaleColumn as e:
            print(e, file=sys.stderr)
            return 2
    print(json.dumps(out, default=float), flush=True)
    lines.append(out)
    with open(os.path.join(args.out, "fidelity.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, default=float)
    return 0


def plan_synthetic_3d(spec: str, overrides: Sequence[str]):
    """``(config, planned graph, synthesis node of its synthetic_3d column)`` of the experiment
    ``spec`` (``path[:arg]``) with ``section.field=value`` overrides, or the one line refusing it (no
    such file, no synthetic_3d column)."""
    from jaxau import cli
    from jaxau.stages import STAGES, graph

    if not os.path.isfile(spec.partition(":")[0]):
        return f"--config={spec}: no such file; pass a config file such as configs/paper/table2.py:medium."
    config = graph.apply_overrides(cli.load_config(spec), "; ".join(overrides), "command line")
    planned = graph.plan(config, STAGES)
    syn = planned.training_synthesis("synthetic_3d")
    if syn is None:
        return (f"--config={spec} has no synthetic_3d column: pass a config with one (configs/demo.py, "
                "configs/paper/table2.py:medium).")
    return config, planned, syn


class StaleColumn(ValueError):
    """A column directory under ``--out`` was made with other settings."""


def synthetic_column(planned, syn, workdir: str, gen_dir: str) -> dict:
    """Runs the synthetic column's synthesis -> estimator -> score nodes on the generator in
    ``gen_dir`` (under ``<gen_dir>/column``, reused when finished) and compares its predictions with
    the workdir's ``real_3d`` column: per test pose and over all of them, the synthetic column's
    ``icc`` (ICC and 95 % interval) and ``minus_real_3d`` (paired difference, interval, verdict).

    With ``experiment.seeds=N`` among the overrides every one of the column's N estimator seeds
    trains on the same synthetic set (``column/estimator``, ``column/estimator_s<k>``), the ICCs are
    seed-averaged as in the report, and the real 3D column's seeds are read from the workdir (all N
    must have finished there: ``launch/reproduce.py ... --config.experiment.seeds=N``); ``seeds``
    holds each seed's frontal ICC."""
    from jaxau.evaluation import bootstrap
    from jaxau.report import statistics

    by_name = {n.name: n for n in planned.nodes}
    scores = [by_name[n] for n in (planned.replicates.get("synthetic_3d") or [planned.outputs["synthetic_3d"]])]
    here = {syn.deps["generator"]: gen_dir, syn.name: os.path.join(gen_dir, "column", "synthesis")}
    chain = [syn]
    for k, score in enumerate(scores):
        est = by_name[score.deps["model"]]
        suffix = "" if k == 0 else f"_s{k}"
        here[est.name] = os.path.join(gen_dir, "column", "estimator" + suffix)
        here[score.name] = os.path.join(gen_dir, "column", "score" + suffix)
        chain += [est, score]
    seconds = {}
    for node in chain:
        d = here[node.name]
        done = os.path.join(d, "DONE.json")
        if os.path.exists(done):
            with open(done, encoding="utf-8") as f:
                made_by = json.load(f).get("node")
            if made_by != node.name:  # another config's column in this --out: never reuse it
                raise StaleColumn(f"{d} holds node {made_by}, not {node.name} (other settings): pass another "
                                  "--out for these settings.")
            continue
        os.makedirs(d, exist_ok=True)
        inputs = {role: here.get(dep, os.path.join(workdir, "stages", dep)) for role, dep in node.deps.items()}
        t = time.time()
        summary = node.stage.load()(node.config, d, inputs)
        key = os.path.basename(d)
        seconds[key] = round(time.time() - t, 1)
        with open(done, "w", encoding="utf-8") as f:
            # The pipeline runner's record (`jaxau.stages.runner`): its inputs name what made it.
            json.dump({"node": node.name, "summary": summary, "seconds": seconds[key], "inputs": inputs}, f,
                      default=float)
    csv = lambda d: os.path.join(d, "eval", "predictions.csv")  # noqa: E731
    ours = statistics.load_seeds([csv(here[s.name]) for s in scores])
    # Every test pose alone (the report's headline is the frontal one) and all of them together.
    groups = {f"pose {p}": [p] for p in sorted(set(np.asarray(ours.get("pose_id", [])).tolist()))}
    groups["all"] = None
    result = {"seconds": seconds, "icc": {}, "minus_real_3d": {}}
    for name, poses in groups.items():
        col = bootstrap.column_from_predictions(ours, poses=poses)
        result["icc"][name] = {"icc": col["icc"], "ci95": col["ci95"]}
    if len(scores) > 1:  # each seed alone, from the rows load_seeds already aligned
        front = groups["pose 4"] if "pose 4" in groups else None
        result["seeds"] = [bootstrap.column_from_predictions({**ours, "y_pred": seed_pred}, poses=front)["icc"]
                           for seed_pred in ours["y_pred"]]
    real_nodes = planned.replicates.get("real_3d") or [planned.outputs["real_3d"]]
    real_csvs = [csv(os.path.join(workdir, "stages", n)) for n in real_nodes]
    missing = [c for c in real_csvs if not os.path.exists(c)]
    if not missing:
        real = statistics.load_seeds(real_csvs)
        for name, poses in groups.items():
            v = bootstrap.compare_predictions(ours, real, poses=poses)
            result["minus_real_3d"][name] = {f: v[f] for f in ("difference", "ci95", "verdict")}
    else:
        print(f"{', '.join(missing)} missing: no comparison with the real 3D column", file=sys.stderr)
    return result


if __name__ == "__main__":
    from jaxau import platform

    # The launcher's XLA flags, before JAX starts: the generator trains as the stage's does.
    platform.configure_xla()
    sys.exit(main())
