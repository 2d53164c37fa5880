"""What a fixed reader sees in each generated training set of an experiment.

Every column that trains on a generated set (``synthetic:<reg>``, ``oracle:<reg>`` and ``regenerated:<reg>`` columns, exact or
degraded by ``config.oracle``) is read by one reference reader, the first-seed estimator of a real
column of the same registration (``--reader``, default ``real_3d``). Per set: the reader's ICC(3,1)
against the set's own labels (mean over AUs), the mean read-out of each plan cell's own AU per target
level, and its least-squares slope on the level; the reader's slope on its real validation frames'
labels is printed beside it, and where the experiment has an exact oracle column (the same plan
rendered exactly, ``config.oracle`` at its defaults) each slope is also given as a share of that
set's: the strength of a perfect generator's edits as this reader sees them. Image
metrics such as the edit gain weigh every pixel of a change alike; this measures the change the way an
estimator trained on real frames reads it. Where the set shares the exact oracle's plan (same plan
fingerprint), its images are also compared with the exact renders row by row: the sharpness ratio
(the mean squared Laplacian over the face, set / exact, median over images; below 1: blurrier) and
the mean absolute change in grey levels over the face in the registered image's upper (brows, eyes),
middle (nose, cheeks) and lower (mouth, chin) thirds: where a generator's hand falls::

    python benchmarks/training_sets.py --config=configs/paper/synthetic_gap.py:cpu --workdir=runs/gap \\
        --out=runs/gap/training_sets.json

Prints a markdown table and writes one JSON record (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def level_slope(readout: np.ndarray, levels: np.ndarray) -> float:
    """Least-squares slope of a read-out on integer levels (NaN when the levels do not vary)."""
    levels = np.asarray(levels, np.float64)
    readout = np.asarray(readout, np.float64)
    if levels.size < 2 or np.ptp(levels) == 0:
        return float("nan")
    lc = levels - levels.mean()
    return float((lc * (readout - readout.mean())).sum() / (lc * lc).sum())


def read_out(pred: np.ndarray, labels: np.ndarray, target_au: np.ndarray, target_level: np.ndarray,
             au_names: list[str]) -> dict:
    """The reader's view of one training set.

    Args:
      pred: ``[N, K]`` read-out intensities (``au_names`` order).
      labels: ``[N, K]`` the set's labels.
      target_au: ``[N]`` the AU column each image's plan cell balances.
      target_level: ``[N]`` that cell's level.
      au_names: the K AU names.

    Returns:
      ``icc`` (mean ICC(3,1) over AUs vs ``labels``), ``icc_by_au``, ``by_level`` (level -> mean
      read-out of the cell's own AU) and ``slope`` (of that read-out on the level).
    """
    from jaxau.evaluation import metrics

    own = pred[np.arange(len(pred)), target_au]
    per_au = {a: float(v) for a, v in zip(au_names, np.atleast_1d(metrics.icc(labels, pred)))}
    return {"icc": float(np.mean(list(per_au.values()))), "icc_by_au": per_au,
            "by_level": {int(v): float(own[target_level == v].mean()) for v in np.unique(target_level)},
            "slope": level_slope(own, target_level)}


def laplacian_energy(images: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per image, the mean squared 4-neighbour Laplacian of the grey image over the pixels whose
    whole neighbourhood lies in ``face`` (``[N, H, W]`` bool); NaN where there are none."""
    g = np.asarray(images, np.float64).mean(-1)
    lap = 4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1] - g[:, 1:-1, :-2] - g[:, 1:-1, 2:]
    inside = (face[:, 1:-1, 1:-1] & face[:, :-2, 1:-1] & face[:, 2:, 1:-1] & face[:, 1:-1, :-2]
              & face[:, 1:-1, 2:])
    count = inside.sum((1, 2))
    return np.where(count > 0, (lap * lap * inside).sum((1, 2)) / np.maximum(count, 1), np.nan)


BANDS = ("upper", "middle", "lower")


def texture_vs_exact(images: np.ndarray, exact: np.ndarray, threshold: float = 10.0) -> dict:
    """How a set's images differ from the exact renders of the same plan rows.

    The face is where the exact render's grey level exceeds ``threshold`` (registered frames are black
    outside the face). Returns ``sharpness`` (median over images of `laplacian_energy` set / exact)
    and ``change_by_band``: the mean absolute difference in grey levels over face pixels of each third
    of the image's rows (`BANDS`).
    """
    images = np.asarray(images, np.float64)
    exact = np.asarray(exact, np.float64)
    face = exact.mean(-1) > threshold
    ratio = laplacian_energy(images, face) / laplacian_energy(exact, face)
    diff = np.abs(images - exact).mean(-1)
    rows = np.array_split(np.arange(images.shape[1]), len(BANDS))
    change = {b: float(diff[:, r][face[:, r]].mean()) if face[:, r].any() else float("nan")
              for b, r in zip(BANDS, rows)}
    return {"sharpness": float(np.nanmedian(ratio)), "change_by_band": change}


def _plan_fingerprint(directory: str) -> str | None:
    for name in ("synthesis.json", "oracle.json", "regenerate.json"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f).get("plan_fingerprint")
    return None


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="path[:arg] of the experiment")
    parser.add_argument("--workdir", required=True, help="the experiment's workdir")
    parser.add_argument("--reader", default="real_3d", help="id of the real column whose first-seed model reads")
    parser.add_argument("--out", default="", help="JSON file for the record")
    parser.add_argument("--texture_sample", type=int, default=600,
                        help="plan rows compared with the exact oracle's renders (evenly spaced)")
    args = parser.parse_args(argv)

    path = args.config.split(":", 1)[0]
    if not os.path.exists(path):
        return _fail(f"--config={args.config}: no such file {path}.")
    from jaxau import cli, io_utils
    from jaxau.data import frames as frames_lib
    from jaxau.stages import STAGES, frames as frames_stage, graph, synthesis as synthesis_stage
    from jaxau.train import estimator

    planned = graph.plan(cli.load_config(args.config), STAGES)
    by_name = {n.name: n for n in planned.nodes}
    stages = os.path.join(args.workdir, "stages")

    def done(name: str) -> bool:
        return os.path.exists(os.path.join(stages, name, "DONE.json"))

    reader_score = planned.outputs.get(args.reader)
    column = next((c for c in planned.columns if c.id == args.reader), None)
    if reader_score is None or column is None or not column.train.startswith("real:"):
        return _fail(f"--reader={args.reader}: not a real column of {args.config} (its columns: "
                     f"{', '.join(c.id for c in planned.columns)}).")
    reader_node = by_name[by_name[reader_score].deps["model"]]
    if not done(reader_node.name):
        return _fail(f"--reader={args.reader}: its estimator {os.path.join(stages, reader_node.name)} has not "
                     f"finished: run launch/reproduce.py --config={args.config} --stages={args.reader} first.")
    sets = []
    for col in planned.columns:
        score = planned.outputs.get(col.id)
        model = by_name[by_name[score].deps["model"]] if score else None
        for role, dep in sorted((model.deps if model else {}).items()):
            node = by_name[dep]
            if role.startswith("train_set") and node.stage.name in ("synthesis", "oracle", "regenerate") and done(dep):
                sets.append((col, node))
    if not sets:
        return _fail(f"no finished synthesis, oracle or regenerated set in {stages} for the columns of {args.config}.")

    reader = estimator.Predictor(os.path.join(stages, reader_node.name))
    # The reference: the reader's slope on its own real validation frames' labels.
    val = frames_lib.load(frames_stage.split_path(os.path.join(stages, reader_node.deps["validation"]), "validation"))
    val = frames_lib.select_poses(val, reader_node.config.estimator.get("train_poses", ""), "reader validation frames")
    aus = [str(a) for a in val["au_names"] if str(a) in reader.au_names]
    val = frames_lib.with_aus(val, aus)
    vpred = reader.intensities_of(np.asarray(val["image"]), aus)
    vlab = np.asarray(val["au_intensity"])
    slope_real = float(np.nanmean([level_slope(vpred[vlab[:, k] >= 0, k], vlab[vlab[:, k] >= 0, k])
                                   for k in range(len(aus))]))
    record = {"config": args.config, "workdir": args.workdir, "reader": reader_node.name,
              "slope_real": slope_real, "real_frames": int(len(vlab)), "sets": {}}
    lines = [f"Reader: {args.reader} ({reader_node.name}); its slope on {len(vlab)} real validation frames "
             f"{slope_real:.3f}.", "",
             "| column | set | images | reader ICC vs labels | slope | x exact oracle | "
             "own-AU read-out by level 0..5 | sharpness vs exact | change upper / middle / lower |",
             "|---|---|---:|---:|---:|---:|---|---:|---|"]
    images = {}
    for col, node in sets:
        fs = frames_lib.load(os.path.join(stages, node.name, "synthetic.frames"))
        names = [str(a) for a in fs["au_names"]]
        missing = [a for a in names if a not in reader.au_names]
        if missing:
            return _fail(f"--reader={args.reader} does not estimate {missing}, which {node.name} is labelled with.")
        pred = reader.intensities_of(np.asarray(fs["image"]), names)
        rec = read_out(pred, np.asarray(fs["au_intensity"]), np.asarray(fs["target_au"]),
                       np.asarray(fs["target_level"]), names)
        rec.update({"set": node.name, "images": int(len(pred)), "slope_vs_real": rec["slope"] / slope_real,
                    "exact_oracle": node.stage.name == "oracle" and synthesis_stage.is_exact_oracle(node.config)})
        record["sets"][col.id] = rec
        images[col.id] = fs["image"]
    exact_id = next((c for c, r in record["sets"].items() if r["exact_oracle"]), None)
    exact = record["sets"][exact_id]["slope"] if exact_id else None
    exact_plan = _plan_fingerprint(os.path.join(stages, record["sets"][exact_id]["set"])) if exact_id else None
    for col, _ in sets:
        rec = record["sets"][col.id]
        if exact:
            rec["slope_vs_exact_oracle"] = rec["slope"] / exact
        if exact_plan and _plan_fingerprint(os.path.join(stages, rec["set"])) == exact_plan:
            n = len(images[col.id])
            rows = np.unique(np.linspace(0, n - 1, min(n, args.texture_sample)).astype(np.int64))
            rec["texture_vs_exact"] = texture_vs_exact(np.asarray(images[col.id][rows]),
                                                       np.asarray(images[exact_id][rows]))
            t = rec["texture_vs_exact"]
            texture = (f"{t['sharpness']:.3f} | " + " / ".join(f"{t['change_by_band'][b]:.2f}" for b in BANDS))
        else:
            texture = " | "
        levels = ", ".join(f"{v:.2f}" for v in rec["by_level"].values())
        share = f"{rec['slope_vs_exact_oracle']:.2f}" if exact else ""
        lines.append(f"| {col.label} | {rec['set']} | {rec['images']} | {rec['icc']:.3f} | {rec['slope']:.3f} | "
                     f"{share} | {levels} | {texture} |")
    print("\n".join(lines))
    if args.out:
        io_utils.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
