"""The critic's AU head scored on many held-out SynthFACS subjects (issue #13's ``critic_icc`` target).

The demo's validation split has 12 subjects, and its subject-bootstrap interval on ``critic_icc``
(about +-0.07) cannot decide a threshold such as 0.3. SynthFACS can draw any number of new identities:
this script renders the frontal frames of ``--subjects`` validation subjects that no stage has seen
(indices after the domain's own validation subjects; each identity, session and scene is drawn from
(seed, domain, split, index) alone), registers them exactly as the demo's frames were registered (the
workdir's registration network, `jaxau.synthesis.oracle.OracleRenderer`), and scores each trained
critic's AU head on them: ICC(3,1) per AU against the frames' levels, the mean, and its 95 % bootstrap
interval over subjects. The demo's own 12 validation subjects are scored the same way as a check
(their ICC must equal the generator's logged ``critic_icc``)::

    python benchmarks/critic_heldout.py --workdir=/work/demo --subjects=120 \\
        --generators=/work/demo/stages/generator-<key>,/work/gen_seed1 --out=/work/critic_heldout.json

A generator directory is a generator stage directory (or `benchmarks/generator_fidelity.py`'s
``--out``). ``--config=path[:arg]`` takes another experiment than the demo (one with a
``synthetic_3d`` column, e.g. ``configs/paper/table2.py:medium``): its 3-D synthetic column's
generator sources and registration are the ones rendered through. Prints and writes one JSON record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def heldout_requests(scfg, first: int, count: int, poses: set[int]) -> list[dict]:
    """Render requests of validation subjects ``first .. first + count - 1`` in the views ``poses``."""
    from jaxau.face import synth

    requests = []
    for index in range(first, first + count):
        requests += [fr for fr in synth.subject_frames(scfg, "validation", index) if int(fr["pose"][0]) in poses]
    return requests


def interval(levels: np.ndarray, readings: np.ndarray, subjects: np.ndarray, aus) -> dict:
    """`jaxau.evaluation.bootstrap.column_interval` of critic readings ``[N, K]`` (or ``[G, N, K]`` for
    G critics, pooled: the interval then redraws the critics as well as the subjects, ``ci95_subjects``
    the subjects alone) against ``levels``."""
    from jaxau.evaluation import bootstrap

    with warnings.catch_warnings():   # an AU without variance in a resample is dropped there
        warnings.simplefilter("ignore")
        return bootstrap.column_interval(levels, readings, subjects, [str(a) for a in aus])


def score(read, images: np.ndarray, levels: np.ndarray, subjects: np.ndarray, aus) -> tuple[dict, np.ndarray]:
    """``(record, readings)``: ICC of ``read(images)`` against ``levels`` with its subject-bootstrap
    interval, and the readings themselves."""
    readings = np.asarray(read(images), np.float64)
    c = interval(levels, readings, subjects, aus)
    return {"critic_icc": round(c["icc"], 4), "ci95": [round(v, 4) for v in c["ci95"]],
            "per_au": {a: round(v["icc"], 3) for a, v in c["per_au"].items()},
            "subjects": c["num_subjects"], "frames": c["num_frames"]}, readings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "demo.py"),
                        help="path[:arg] of the experiment whose synthetic_3d column's critic is scored")
    parser.add_argument("--workdir", required=True, help="the experiment's workdir with a finished register_3d stage")
    parser.add_argument("--generators", required=True, help="comma-separated generator directories")
    parser.add_argument("--subjects", type=int, default=120, help="held-out validation subjects to render")
    parser.add_argument("--out", default="", help="JSON file for the record")
    parser.add_argument("overrides", nargs="*", help="section.field=value applied to the experiment's config")
    args = parser.parse_args(argv)

    gens = [g for g in args.generators.split(",") if g]
    for g in gens:
        if not os.path.exists(os.path.join(g, "generator.json")):
            print(f"--generators: {g} has no generator.json: pass finished generator stage directories.",
                  file=sys.stderr)
            return 2
    if args.subjects < 2:
        print(f"--subjects={args.subjects}: a bootstrap over subjects needs at least 2.", file=sys.stderr)
        return 2

    from benchmarks.generator_fidelity import plan_synthetic_3d
    from jaxau import io_utils
    from jaxau.data import frames as frames_lib, resolve
    from jaxau.stages import frames as frames_stage
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.train import generator as gen_train

    planned_or_refusal = plan_synthetic_3d(args.config, args.overrides)
    if isinstance(planned_or_refusal, str):
        print(planned_or_refusal, file=sys.stderr)
        return 2
    _, _, syn = planned_or_refusal
    inputs = {role: os.path.join(args.workdir, "stages", name) for role, name in syn.deps.items()
              if role in ("sources", "registration")}
    for role, path in inputs.items():
        if not os.path.exists(os.path.join(path, "DONE.json")):
            print(f"{role} stage {path} has not finished: run the experiment's real_3d column first "
                  f"(launch/reproduce.py --config={args.config} --stages=real_3d).", file=sys.stderr)
            return 2
    parts = synthesis_stage._oracle_parts(syn.config, inputs, None)
    if isinstance(parts, str):
        print(f"no held-out renders: {parts}.", file=sys.stderr)
        return 2
    renderer, _ = parts
    scfg = renderer.synth
    train_poses = syn.config.data.get("train_poses", "")
    poses = set(resolve.poses(train_poses) or [int(p[0]) for p in scfg.poses])
    aus = list(gen_train.load_generator(gens[0]).au_names)
    take = [list(scfg.aus).index(str(a)) for a in aus]

    # The experiment's own validation frames (as the generator stage loads them): the check.
    val = frames_lib.with_aus(frames_lib.select_poses(frames_lib.load(
        frames_stage.split_path(inputs["sources"], "validation")), train_poses, "validation frames"), aus)
    first = int(scfg.subjects["validation"])

    t0 = time.time()
    requests = heldout_requests(scfg, first, args.subjects, poses)
    registered = renderer.render(requests)
    render_seconds = time.time() - t0
    ok = np.asarray(registered.ok, bool)
    images = registered.image[ok]
    levels = np.stack([r["labels"] for r in requests])[:, take][ok].astype(np.float64)
    subjects = np.array([r["subject"].name for r in requests])[ok]

    record = {"workdir": args.workdir, "heldout_first_index": first, "heldout_subjects": args.subjects,
              "heldout_frames": int(ok.sum()), "registration_failed": int((~ok).sum()),
              "poses": sorted(poses), "render_register_seconds": round(render_seconds, 1),
              "heldout_positives": {a: int(n) for a, n in zip(aus, (levels > 0).sum(0))}, "generators": {}}
    pooled = []
    for g in gens:
        read = gen_train.critic_reader(g)
        metrics_path = os.path.join(g, "metrics.json")
        logged = None
        if os.path.exists(metrics_path):
            with open(metrics_path, encoding="utf-8") as f:
                logged = json.load(f).get("critic_icc")
        own, _ = score(read, val["image"], np.asarray(val["au_intensity"], np.float64), np.asarray(val["subject"]),
                       aus)
        held, readings = score(read, images, levels, subjects, aus)
        pooled.append(readings)
        record["generators"][g] = {"logged_critic_icc": logged, "own_validation": own, "heldout": held}
    if len(gens) > 1:
        c = interval(levels, np.stack(pooled), subjects, aus)
        record["heldout_all_generators"] = {"critic_icc": round(c["icc"], 4), "ci95": [round(v, 4) for v in c["ci95"]],
                                            "per_generator": [round(v, 4) for v in c["icc_per_seed"]]}
    text = json.dumps(record, default=float)
    print(text, flush=True)
    if args.out:
        io_utils.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    from jaxau import platform

    # The launchers' XLA flags, before JAX starts: the critic reads as it did in its stage.
    platform.configure_xla()
    sys.exit(main())
