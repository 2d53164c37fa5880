"""The report's statistics: ICC intervals per column and the paired comparisons the paper makes.

Every column's scores are re-read from its ``eval/predictions.csv`` and resampled by test subject
(`jaxau.evaluation.bootstrap`): mean and per-AU ICC with a 95% interval; a column with several
estimator seeds also has its seeds redrawn in every resample, so its interval and verdicts cover
another training draw of its estimators (the subject-only interval is shown beside it). Pairs of columns the paper
compares are tested on the test frames both scored, on the same resamples; each gets a plain-words
verdict. The pairs are derived from the columns' training specs (``<kind>:<registration>``):

* ``synthetic:R`` vs ``real:R``: does synthetic training beat real (the paper's first claim)?
* ``oracle:R`` vs ``real:R``: does semantic resampling help with a perfect generator?
* ``synthetic:R`` vs ``oracle:R``: how much does the generator lose against exact renders?
* ``<kind>:3d`` vs ``<kind>:2d``: does 3D registration beat 2D (the second claim), overall and per pose?

``config.experiment.compare`` (``'idA>idB, idC>idD'``) replaces the derived pairs.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from jaxau.evaluation import bootstrap, predictions_csv

NUM_SAMPLES = 1000

_QUESTIONS = {
    ("synthetic", "real"): "synthetic > real",
    ("oracle", "real"): "oracle-synthetic > real",
    ("synthetic", "oracle"): "synthetic > oracle-synthetic",
}


def _kind_reg(train: str) -> tuple[str, str] | None:
    kind, sep, reg = str(train).partition(":")
    return (kind.strip(), reg.strip()) if sep and "+" not in train and "," not in train else None


def pairs(columns: Sequence[Any], compare: str = "") -> list[tuple[str, str, str]]:
    """``[(id_a, id_b, question)]``: the comparisons to make (see the module docstring)."""
    ids = {c.id: c for c in columns}
    if compare:
        out = []
        for item in filter(None, (s.strip() for s in compare.split(","))):
            a, sep, b = item.partition(">")
            a, b = a.strip(), b.strip()
            if not sep or a not in ids or b not in ids:
                raise ValueError(f"config.experiment.compare item {item!r}: write 'idA>idB' with column ids "
                                 f"from {sorted(ids)}.")
            out.append((a, b, f"{ids[a].label} > {ids[b].label}"))
        return out
    plain = [c for c in columns if not c.overrides and not c.test and _kind_reg(c.train)]
    spec = {_kind_reg(c.train): c for c in plain}
    out = []
    for (ka, kb), question in _QUESTIONS.items():
        for reg in ("2d", "3d", "none"):
            if (ka, reg) in spec and (kb, reg) in spec:
                out.append((spec[ka, reg].id, spec[kb, reg].id, f"{question} ({reg.upper()} registration)"))
    for kind in ("real", "synthetic", "oracle"):
        if (kind, "3d") in spec and (kind, "2d") in spec:
            out.append((spec[kind, "3d"].id, spec[kind, "2d"].id, f"3D > 2D registration ({kind} training)"))
    return out


def load_seeds(paths: str | Sequence[str]) -> dict:
    """One column's predictions over its estimator seeds: ``y_pred`` ``[N, K]`` (one file) or
    ``[S, N, K]``, the other fields from the first file.

    Each seed's rows are matched to the first file's by (subject, sequence, frame).

    Raises:
      ValueError: the files do not hold the same test frames, AUs and labels.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    first = predictions_csv.read_predictions_csv(paths[0])
    if len(paths) == 1:
        return first
    keys = bootstrap.frame_keys(first)
    preds = [np.asarray(first["y_pred"], np.float64)]
    for path in paths[1:]:
        other = predictions_csv.read_predictions_csv(path)
        index = {k: i for i, k in enumerate(bootstrap.frame_keys(other))}
        if list(other["au_names"]) != list(first["au_names"]) or set(index) != set(keys):
            raise ValueError(f"{path} does not score the same frames and AUs as {paths[0]}: seeds of one "
                             "column must share their test set.")
        rows = np.asarray([index[k] for k in keys])
        if not np.array_equal(np.asarray(other["y_true"])[rows], np.asarray(first["y_true"])):
            raise ValueError(f"{path} and {paths[0]} label the same frames differently.")
        preds.append(np.asarray(other["y_pred"], np.float64)[rows])
    return {**first, "y_pred": np.stack(preds)}


def load_columns(predictions: Mapping[str, Any]) -> dict:
    """Column id -> :func:`load_seeds` record, from the path(s) of each column's ``predictions.csv``
    (missing files skipped, columns with none left out); an already loaded record passes through,
    so a caller can read every file once and hand the records to several sections."""
    loaded = {}
    for cid, p in predictions.items():
        if isinstance(p, Mapping):
            loaded[cid] = p
            continue
        paths = [q for q in ([p] if isinstance(p, str) else p) if q and os.path.exists(q)]
        if paths:
            loaded[cid] = load_seeds(paths)
    return loaded


def compute(columns: Sequence[Any], predictions: Mapping[str, str | Sequence[str]], poses: Sequence[int] | None,
            compare: str = "", num_samples: int = NUM_SAMPLES, seed: int = 0,
            reference_poses: Sequence[int] | None = None) -> dict:
    """Intervals per column and paired comparisons.

    Args:
      columns: the experiment's columns (``id``, ``label``, ``train``, ``test``, ``overrides``).
      predictions: column id -> path of its ``predictions.csv``, or the paths of its seeds' (columns
        without one are skipped), or its loaded predictions (:func:`load_columns`). Several seeds: the ICC in each resample is the mean of the seeds'
        ICCs (the seed-averaged estimator), and each record lists the seeds' means and their spread.
      poses: the headline test poses (None: all).
      compare: ``config.experiment.compare``.
      reference_poses: the view the estimators were trained on (``estimator.train_poses``; None: all
        views, no drops). With it, each column whose test frames span other views gets its drop
        from the reference view to each of them, and every pair of such columns the difference of
        their drops (``bootstrap.pose_drops`` / ``drop_differences``; Fig. 5's question).

    Returns:
      ``{'columns': {label: column_interval record + 'poses'}, 'comparisons': [{question, a, b,
      difference, ci95, verdict, num_frames, num_subjects, poses, by_pose}], 'num_samples'}``, and
      with ``reference_poses`` ``'drops'`` ({label: {reference, by_pose}}) and ``'drop_comparisons'``
      ([{a, b, by_pose: {pose: {difference, ci95, verdict}}}]).
    """
    loaded = load_columns(predictions)
    labels = {c.id: c.label for c in columns}
    out: dict[str, Any] = {"columns": {}, "comparisons": [], "num_samples": num_samples,
                           "method": "percentile bootstrap over test subjects (and, for a column with several "
                                     "estimator seeds, over its seeds)"}
    for cid, pred in loaded.items():
        use = poses if poses is not None and "pose_id" in pred else None
        try:
            rec = bootstrap.column_from_predictions(pred, poses=use, num_samples=num_samples, seed=seed)
        except ValueError as e:
            out["columns"][labels.get(cid, cid)] = {"error": str(e)}
            continue
        rec["poses"] = list(use) if use is not None else "all"
        out["columns"][labels.get(cid, cid)] = rec
    for a, b, question in pairs(columns, compare):
        if a not in loaded or b not in loaded:
            continue
        entry = {"question": question, "a": labels[a], "b": labels[b]}
        both_posed = "pose_id" in loaded[a] and "pose_id" in loaded[b]
        try:
            entry.update(bootstrap.compare_predictions(loaded[a], loaded[b], poses=poses if both_posed else None,
                                                       num_samples=num_samples, seed=seed))
            entry["poses"] = list(poses) if both_posed and poses is not None else "all"
            if both_posed:
                entry["by_pose"] = {}
                for p in sorted(set(np.asarray(loaded[a]["pose_id"]).tolist())):
                    try:
                        r = bootstrap.compare_predictions(loaded[a], loaded[b], poses=[p],
                                                          num_samples=num_samples, seed=seed)
                    except ValueError:
                        continue
                    entry["by_pose"][str(p)] = {k: r[k] for k in ("difference", "ci95", "verdict")}
        except ValueError as e:
            entry["error"] = str(e)
        out["comparisons"].append(entry)
    if reference_poses:
        drops = {}
        for cid, pred in loaded.items():
            if "pose_id" not in pred or set(np.asarray(pred["pose_id"]).tolist()) <= set(reference_poses):
                continue
            try:
                drops[cid] = bootstrap.pose_drops(pred, reference_poses, num_samples=num_samples, seed=seed)
            except ValueError:
                continue
        out["drops"] = {labels.get(c, c): {k: d[k] for k in ("reference", "reference_poses", "by_pose")}
                        for c, d in drops.items()}
        out["drop_comparisons"] = []
        ids = list(drops)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                try:
                    by_pose = bootstrap.drop_differences(drops[a], drops[b])
                except ValueError:
                    continue
                out["drop_comparisons"].append({"a": labels.get(a, a), "b": labels.get(b, b), "by_pose": by_pose})
    return out


def _ci(ci: Sequence[float], sign: str = "+") -> str:
    return f"[{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"


def markdown(stats: Mapping[str, Any]) -> list[str]:
    """The report's "Statistics" section."""
    md = ["## Statistics", "",
          f"Mean ICC(3,1) over AUs with 95% intervals from a {stats['method']} "
          f"({stats['num_samples']} resamples; a subject's frames are drawn together).", "",
          "| column | mean ICC | 95% interval | subjects | frames | poses | seeds (spread) |",
          "|---|---:|---|---:|---:|---|---|"]
    for label, rec in stats["columns"].items():
        if "error" in rec:
            md.append(f"| {label} | - | {rec['error']} | | | | |")
            continue
        poses = rec["poses"] if isinstance(rec["poses"], str) else ",".join(map(str, rec["poses"]))
        seeds = int(rec.get("seeds", 1))
        spread = (f"{seeds} (" + ", ".join(f"{v:.3f}" for v in rec["icc_per_seed"]) +
                  f"; sd {rec['seed_spread']:.3f}; subjects alone {_ci(rec['ci95_subjects'], '')}; "
                  f"agreement {rec['seed_agreement']:.2f}; averaged "
                  f"{rec['averaged_icc']:.3f} {_ci(rec['averaged_ci95'], '')})"
                  ) if seeds > 1 else "1"
        md.append(f"| {label} | {rec['icc']:.3f} | {_ci(rec['ci95'], '')} | "
                  f"{rec['num_subjects']} | {rec['num_frames']} | {poses} | {spread} |")
    md.append("")
    if any(int(r.get("seeds", 1)) > 1 for r in stats["columns"].values()):
        md += ["Several seeds: each is an estimator trained with another seed on the same training set "
               "(registration and generator shared); the mean ICC is the seed-averaged ICC, and its "
               "interval redraws the seeds (with replacement, their deviations scaled by sqrt(S/(S-1)) so "
               "that the seed mean's variance is the unbiased one) as well as the test subjects: it covers "
               "another training draw of the column's estimators. *Subjects alone*: the interval with "
               "these estimators taken as fixed. The spread is the standard deviation of the seeds' mean "
               "ICCs. *Agreement*: the "
               "Pearson correlation of two seeds' predictions, averaged over seed pairs and AUs (1: the "
               "seeds predict alike; low: each draw's estimator is much its own). *Averaged*: the mean "
               "ICC of the seeds' averaged predictions (an ensemble of the column's estimators) with its "
               "interval; the comparisons below use the seed-averaged ICC, not this.", ""]
    elif stats["columns"]:
        # A small estimator's seed moves its mean ICC by a few hundredths: a verdict on one draw per
        # column can flip with the next draw, and the subject bootstrap cannot see that.
        md += ["One estimator per column: the intervals cover the draw of test subjects, not the "
               "estimator's own training draw (its seed), so a verdict resolved here can change with "
               "another seed; `--config.experiment.seeds=N` trains N estimators per column and "
               "averages them.", ""]
    if stats["comparisons"]:
        seeded = any(int(r.get("seeds", 1)) > 1 for r in stats["columns"].values())
        md += ["Paired comparisons (same test frames, same resamples): the difference of mean ICC A - B, "
               "its 95% interval, and the verdict: *yes* when the whole interval is above 0, *no* when it "
               "is below 0, *not resolved* when it contains 0." + (
                   " With several seeds the interval redraws both columns' seeds too (columns with as many "
                   "seeds are paired seed by seed); the subject-only interval follows it." if seeded else ""), "",
               "| question | A - B | 95% interval | verdict | per pose (A - B, verdict) |", "|---|---:|---|---|---|"]
        for c in stats["comparisons"]:
            if "error" in c:
                md.append(f"| {c['question']} | - | {c['error']} | | |")
                continue
            per = "; ".join(f"pose {p}: {v['difference']:+.3f} ({v['verdict']})"
                            for p, v in c.get("by_pose", {}).items())
            alone = c.get("ci95_subjects")
            alone = f" (subjects alone {_ci(alone)})" if alone is not None and alone != c["ci95"] else ""
            md.append(f"| {c['question']} | {c['difference']:+.3f} | {_ci(c['ci95'])}{alone} | "
                      f"**{c['verdict']}** | {per} |")
        md.append("")
    if stats.get("drops"):
        ref = next(iter(stats["drops"].values()))["reference_poses"]
        md += [f"Away from the reference view (pose {','.join(map(str, ref))}, `estimator.train_poses`: the view "
               "the real columns train on and the synthetic sets re-animate): each column's mean ICC there minus "
               "its mean ICC at each other view (the drop; *yes*: a resolved loss), both on the same subject "
               "resamples and seed draws (paper Fig. 5).", "",
               "| column | reference view | per view: ICC, drop [95% interval], verdict |", "|---|---:|---|"]
        for label, d in stats["drops"].items():
            per = "; ".join(f"pose {p}: {v['icc']:.3f}, {v['drop']:+.3f} {_ci(v['ci95'])} "
                            f"{v['verdict']}" for p, v in d["by_pose"].items())
            md.append(f"| {label} | {d['reference']:.3f} | {per} |")
        md.append("")
        if stats.get("drop_comparisons"):
            md += ["Drops compared (drop A - drop B on the same resamples; *yes*: A loses more at that view).", "",
                   "| A | B | per view: drop A - drop B [95% interval], verdict |", "|---|---|---|"]
            for c in stats["drop_comparisons"]:
                per = "; ".join(f"pose {p}: {v['difference']:+.3f} {_ci(v['ci95'])} "
                                f"{v['verdict']}" for p, v in c["by_pose"].items())
                md.append(f"| {c['a']} | {c['b']} | {per} |")
            md.append("")
    return md
