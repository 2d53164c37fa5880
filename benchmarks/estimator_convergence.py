"""How far each column's estimators got: validation ICC at every kept checkpoint, per seed and AU.

Reads a finished experiment's workdir (``results.json`` of `launch/reproduce.py`), finds each
column's estimators (one per seed) through its score stages, and scores every checkpoint each
estimator kept on that estimator's own validation frames, loaded as its stage loaded them (never the
test split). Prints, per column, the seed-mean validation ICC at each kept step, the last rise, the
AUs still rising and the heads one seed did not learn (`jaxau.train.convergence`)::

    python benchmarks/estimator_convergence.py --workdir=/work/med --columns=real_2d,real_3d \\
        --out=/work/med_convergence.json

Estimators outside a workdir's columns (e.g. `benchmarks/generator_fidelity.py --column`'s) are
read with ``--estimators=DIR[,DIR...] --validation=REGISTER_STAGE_DIR`` as one column.
``--poses=4`` keeps the validation frames of those views only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def workdir_columns(workdir: str, wanted: list[str]) -> dict[str, list[str]] | str:
    """``{column label: [estimator directories, one per seed]}`` of a workdir, or a one-line refusal."""
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
        return (f"{path} not found: --workdir must be a finished launch/reproduce.py workdir "
                f"(or pass --estimators=DIR,... --validation=DIR).")
    columns = _read_json(path).get("columns", {})
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        return f"--columns: {unknown} not in {path} (its columns: {sorted(columns)})."
    out = {}
    for name, column in columns.items():
        if wanted and name not in wanted:
            continue
        scores = column.get("directories") or ([column["directory"]] if column.get("directory") else [])
        models = []
        for score_dir in scores:
            done = os.path.join(score_dir, "DONE.json")
            if os.path.exists(done):
                models.append(_read_json(done)["inputs"]["model"])
        if models:
            out[column.get("label") or name] = models
    if not out:
        return f"{path}: no column with a finished score stage{' among ' + ','.join(wanted) if wanted else ''}."
    return out


def validation_dir(model_dir: str, override: str) -> str | None:
    """The frame stage whose validation split ``model_dir``'s estimator stage validated on (None:
    its DONE.json names none)."""
    if override:
        return override
    done = os.path.join(model_dir, "DONE.json")
    inputs = _read_json(done).get("inputs", {}) if os.path.exists(done) else {}
    return inputs.get("validation")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="", help="a finished launch/reproduce.py workdir")
    parser.add_argument("--columns", default="", help="comma-separated column names (default: all)")
    parser.add_argument("--estimators", default="", help="comma-separated estimator directories (one column)")
    parser.add_argument("--validation", default="", help="frame stage with the validation split (--estimators)")
    parser.add_argument("--poses", default="", help="validation views kept, e.g. 4 (default: all)")
    parser.add_argument("--out", default="", help="JSON file for the record")
    args = parser.parse_args(argv)

    if bool(args.workdir) == bool(args.estimators):
        print("pass either --workdir (a finished experiment) or --estimators with --validation.", file=sys.stderr)
        return 2
    if args.estimators:
        if not args.validation:
            print("--estimators needs --validation=DIR: the frame stage whose validation split scores them.",
                  file=sys.stderr)
            return 2
        columns = {"estimators": [d for d in args.estimators.split(",") if d]}
    else:
        columns = workdir_columns(args.workdir, [c for c in args.columns.split(",") if c])
        if isinstance(columns, str):
            print(columns, file=sys.stderr)
            return 2
    stages = {}  # estimator directory -> the frame stage with its validation split
    for dirs in columns.values():
        for d in dirs:
            if not os.path.exists(os.path.join(d, "estimator.json")):
                print(f"{d} has no estimator.json: pass estimator stage directories.", file=sys.stderr)
                return 2
            stages[d] = validation_dir(d, args.validation)
            if stages[d] is None:
                print(f"{d}: its DONE.json names no validation input: pass --validation=DIR.", file=sys.stderr)
                return 2
            if not os.path.exists(os.path.join(stages[d], "validation.frames")):
                print(f"{'--validation: ' if args.validation else ''}{stages[d]} has no validation.frames: pass "
                      "a register_2d/register_3d (or frames) stage directory.", file=sys.stderr)
                return 2

    from jaxau import io_utils
    from jaxau.data import frames as frames_lib
    from jaxau.stages import frames as frames_stage
    from jaxau.train import convergence

    cache: dict = {}

    def validation(model_dir: str):
        stage = stages[model_dir]
        kind = _read_json(os.path.join(model_dir, "estimator.json"))["config"].get("normalization", "none")
        if (stage, kind) not in cache:
            frames = frames_lib.load(frames_stage.split_path(stage, "validation"))
            frames = frames_lib.select_poses(frames, args.poses, "validation frames", field="--poses")
            cache[stage, kind] = frames_lib.normalized(frames, kind)
        return cache[stage, kind]

    record = {"workdir": args.workdir, "poses": args.poses or "all", "columns": {}}
    for label, dirs in columns.items():
        curves = [convergence.learning_curve(d, validation(d)) for d in dirs]
        summary = convergence.column_summary(curves)
        summary["estimators"] = dirs
        record["columns"][label] = summary
        steps = " / ".join(f"{s}: {v:.3f}" for s, v in zip(summary["steps"], summary["icc_mean"]))
        print(f"{label} ({summary['seeds']} seeds): validation ICC {steps}; last rise {summary['rise']:+.3f}; "
              f"rising {','.join(summary['rising_aus']) or 'none'}", flush=True)
        for head in summary["unlearned"]:
            print(f"  seed {head['seed']} {head['au']} not learnt: ICC {head['icc']:.3f} (seeds' median "
                  f"{head['median_icc']:.3f}), read-out sd {head['spread']:.2f} ({head['median_spread']:.2f})",
                  flush=True)
    if args.out:
        io_utils.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    from jaxau import platform

    platform.configure_xla()  # The launchers' XLA flags: the estimators read as in their stages.
    sys.exit(main())
