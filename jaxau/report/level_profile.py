"""The report's "Read-out by true level" section: each column's calibration curves, gain and noise.

Built from the same ``predictions.csv`` files as the statistics (`jaxau.evaluation.level_profile`
computes the numbers); the section says *how* a column's ICC falls short, per AU: a read-out too
faint (low gain), too scattered (high noise), or driven by another AU (cross-talk).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from jaxau.evaluation import level_profile
from jaxau.report import statistics


def compute(columns: Sequence[Any], predictions: Mapping[str, Any], poses: Sequence[int] | None,
            num_samples: int = statistics.NUM_SAMPLES, seed: int = 0) -> dict:
    """``{label: level_profile record + 'poses'}`` for every column with predictions (paths or loaded
    records, as `jaxau.report.statistics.compute` takes them; an error string in place of the record
    where its frames cannot be profiled)."""
    labels = {c.id: c.label for c in columns}
    out: dict[str, Any] = {}
    for cid, pred in statistics.load_columns(predictions).items():
        use = poses if poses is not None and "pose_id" in pred else None
        try:
            rec = level_profile.profile_from_predictions(pred, poses=use, num_samples=num_samples, seed=seed)
        except ValueError as e:
            out[labels.get(cid, cid)] = {"error": str(e)}
            continue
        rec["poses"] = list(use) if use is not None else "all"
        out[labels.get(cid, cid)] = rec
    return out


def _ci(ci: Sequence[float | None]) -> str:
    return "-" if None in ci else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"  # None: no noise to split (a read-out on its line)


def markdown(profiles: Mapping[str, Any]) -> list[str]:
    """The section's text: the decomposition, then one row per AU and column."""
    good = {k: v for k, v in profiles.items() if "error" not in v}
    if not good:
        return []
    md = ["## Read-out by true level", "",
          "How each column's estimators read every true intensity level of the test frames (the headline "
          "poses; seed-averaged read-outs). Writing the read-out as a line in the truth plus a rest, "
          "*gain* g is the predicted levels per true level (1: calibrated), *noise* s the standard "
          "deviation of the rest (scatter within a level and a curved profile; *between subjects*: the share "
          "of its variance that is each test face's own constant misreading), and ICC(3,1) = "
          "2 g / (1 + g^2 + s^2 / var_t) exactly: a low ICC from a low gain is a read-out too faint, from "
          "a high noise one too scattered. Gain and noise are one estimator's (averaged over seeds) with "
          "95% intervals over test subjects and seeds. *Cross-talk*: the other AU whose true level moves "
          "this head most with every other AU held fixed (coefficient per level).", "",
          "| AU | column | mean read-out at true level 0 / 1 / 2 / 3 / 4 / 5 (frames) | gain [95%] | "
          "noise [95%] | noise between subjects | sd of truth | ICC | cross-talk |",
          "|---|---|---|---|---|---:|---:|---:|---|"]
    first = next(iter(good.values()))
    for au in first["au_names"]:
        for label, rec in good.items():
            if au not in rec["aus"]:
                continue
            a = rec["aus"][au]
            if a["gain"] is None:
                md.append(f"| {au} | {label} | (one true level only: no gain or noise) | | | | | | |")
                continue
            levels = " / ".join("-" if n == 0 else f"{m:.2f} ({n})" for m, n in zip(a["mean"], a["counts"]))
            other = level_profile.largest_cross_talk(rec, au)
            talk = f"{other[0]} {other[1]:+.2f}" if other else "-"
            md.append(f"| {au} | {label} | {levels} | {a['gain']:.2f} {_ci(a['gain_ci95'])} | "
                      f"{a['noise']:.2f} {_ci(a['noise_ci95'])} | {_share(a['noise_between_subjects'])} | "
                      f"{a['sd_true']:.2f} | {a['icc']:.3f} | {talk} |")
    md.append("")
    for label, rec in profiles.items():
        if "error" in rec:
            md += [f"{label}: not profiled ({rec['error']})", ""]
    return md


def plot(profiles: Mapping[str, Any], out_png: str) -> bool:
    """Calibration curves: one panel per AU, the mean read-out per true level for each column, with
    the identity line. Returns whether anything was drawn."""
    good = {k: v for k, v in profiles.items() if "error" not in v}
    if not good:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aus = next(iter(good.values()))["au_names"]
    cols = min(4, len(aus))
    rows = -(-len(aus) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.7 * rows), squeeze=False)
    levels = np.arange(level_profile.NUM_LEVELS)
    for ax, au in zip(axes.ravel(), aus):
        ax.plot(levels, levels, color="0.7", lw=0.8, ls="--")
        for j, (label, rec) in enumerate(good.items()):
            if au in rec["aus"]:
                means = [np.nan if m is None else m for m in rec["aus"][au]["mean"]]
                ax.plot(levels, means, marker="o", ms=3, color=f"C{j % 10}", label=label)
        ax.set_title(au, fontsize=9), ax.set_xticks(levels)
    for ax in axes.ravel()[len(aus):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("mean read-out"), axes[-1, 0].set_xlabel("true level")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout(), fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return True
