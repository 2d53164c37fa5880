"""The experiment report: ``report.md``, a self-contained ``report.html`` and ``results.json``.

Experiments share a workdir to share stages, so each one's report lives in
``<workdir>/reports/<config.name>/``; ``<workdir>/report.{md,html}`` and ``results.json`` are copies of
the latest run's (the demo's, after the README's main command).

Rebuilt after every pipeline run from whatever has finished: stage outcomes and timings, the
paper-style ICC table (one row per experiment column, the paper's numbers beside ours when the column
names them, `jaxau.report.paper`), per-AU bar charts, per-pose ICC (and the Fig. 5 plot), the Fig. 3
sweep plot for parameter sweeps, the statistics (`jaxau.report.statistics`), each column's read-out by
true level (`jaxau.report.level_profile`), label distributions before and after resampling, learning curves and
every preview image the stages wrote (``preview*.png``, ``contact_sheet*.png``).
"""

from __future__ import annotations

import base64
import glob
import html
import json
import os
import re
from typing import Any, Mapping, Sequence

import numpy as np

from jaxau import au as au_lib, io_utils
from jaxau.align import oracle as oracle_lib
from jaxau.evaluation import tables
from jaxau.report import paper as paper_lib
from jaxau.stages import STAGES, graph
from jaxau.train.metrics import read_jsonl
from jaxau.data import resolve
from jaxau.report import level_profile, statistics


def resampling_caption(record: dict, label: str) -> str:
    """The label-distribution panel's caption for an estimator's ``balance.json`` record."""
    how = "level-weighted" if record.get("pool") == "levels" else f"{record['per_level']} per level"
    return f"after resampling ({label}, {how})"


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _plot_curves(results, out_png: str, labels: Mapping[str, str] | None = None) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for r in results:
        if not r.directory:
            continue
        for path in sorted(glob.glob(os.path.join(r.directory, "*_metrics.jsonl"))):
            rows = [x for x in read_jsonl(path) if isinstance(x.get("loss"), (int, float))]
            if len(rows) > 1:
                what = (labels or {}).get(r.name, r.name)
                label = f"{what}/{os.path.basename(path).replace('_metrics.jsonl', '')}"
                ax.plot([x["step"] for x in rows], [x["loss"] for x in rows], label=label)
                drawn = True
    if drawn:
        ax.set_xlabel("step"), ax.set_ylabel("training loss"), ax.set_yscale("log")
        ax.legend(fontsize=7), fig.tight_layout(), fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return drawn


def _plot_levels(au_names: Sequence[str], panels: Mapping[str, np.ndarray], out_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(au_names)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6, k * 0.9), 2.6 * len(panels)), squeeze=False)
    width = 0.8 / 6
    for ax, (title, counts) in zip(axes[:, 0], panels.items()):
        counts = np.asarray(counts, float)
        for level in range(6):
            ax.bar(np.arange(k) + (level - 2.5) * width, counts[:, level], width, label="0ABCDE"[level])
        ax.set_xticks(np.arange(k), au_names), ax.set_yscale("symlog"), ax.set_title(title, fontsize=9)
    axes[0, 0].legend(ncol=6, fontsize=7)
    fig.tight_layout(), fig.savefig(out_png, dpi=100)
    plt.close(fig)


def _plot_bars(au_names: Sequence[str], ours: Mapping[str, Mapping[str, float]],
               paper: Mapping[str, Mapping[str, float]], out_png: str) -> None:
    """Grouped per-AU ICC bars: ours solid, the paper's hatched in the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(ours)
    k, n = len(au_names) + 1, max(len(names), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6, k * 1.1), 3.6))
    for j, name in enumerate(names):
        x = np.arange(k) + (j - (n - 1) / 2) * width
        vals = [ours[name].get(a, np.nan) for a in au_names] + [ours[name].get("mean", np.nan)]
        colour = f"C{j % 10}"
        ax.bar(x, np.nan_to_num(vals), width * (0.5 if name in paper else 1.0),
               color=colour, label=name, align="edge" if name in paper else "center")
        if name in paper:
            pv = [paper[name].get(a, np.nan) for a in au_names] + [paper[name].get("mean", np.nan)]
            ax.bar(x, np.nan_to_num(pv), -width * 0.5, color="white", edgecolor=colour, hatch="//",
                   align="edge")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.arange(k), list(au_names) + ["Mean"]), ax.set_ylabel("ICC(3,1)")
    ax.set_title("ours (solid) vs paper (hatched, left of each bar)" if paper else "ICC per AU", fontsize=9)
    ax.legend(fontsize=7, ncol=2), fig.tight_layout(), fig.savefig(out_png, dpi=100)
    plt.close(fig)


def _plot_lines(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], xlabel: str,
                out_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, ys in series.items():
        ax.plot(range(len(x_labels)), ys, marker="o", label=name)
    ax.set_xticks(range(len(x_labels)), x_labels), ax.set_xlabel(xlabel), ax.set_ylabel("ICC(3,1)")
    ax.legend(fontsize=7), fig.tight_layout(), fig.savefig(out_png, dpi=100)
    plt.close(fig)


def _sweep_value(overrides: str, param: str):
    return dict(graph.parse_overrides(overrides)).get(param)


FIDELITY_ROWS = (
    ("l1_generated", "L1 to the oracle, generated (face region, [0, 1])"),
    ("l1_copy_source", "L1 to the oracle, unedited source"),
    ("edit_cosine", "edit cosine: (G - src) vs (oracle - src)"),
    ("edit_cosine_ceiling", "edit cosine of the labelled oracle (only G's AU columns changed): a perfect G"),
    ("edit_gain", "edit gain: share of the true edit drawn (projection of G - src on oracle - src)"),
    ("edit_gain_ceiling", "edit gain of the labelled oracle: a perfect G"),
    ("edit_gain_added", "edit gain on the AUs the target raises alone (the expression added)"),
    ("edit_gain_removed", "edit gain on the AUs the target lowers alone (the source's own expression removed)"),
    ("edit_gain_added_ceiling", "the same for the labelled oracle (added): a perfect G"),
    ("edit_gain_removed_ceiling", "the same for the labelled oracle (removed): a perfect G"),
    ("l1_labelled_oracle", "L1 of the labelled oracle to the oracle: a perfect G"),
    ("edit_cosine_labelled", "edit cosine: (G - src) vs (labelled oracle - src)"),
    ("edit_gain_labelled", "edit gain vs the labelled oracle"),
    ("l1_generated_labelled", "L1 to the labelled oracle, generated"),
    ("l1_copy_source_labelled", "L1 to the labelled oracle, unedited source"),
    ("reader_icc_generated", "reader ICC, generated images vs target levels"),
    ("reader_icc_oracle", "reader ICC, oracle images vs target levels"),
    ("reader_icc_labelled", "reader ICC, labelled-oracle images vs target levels"),
    ("reader_icc_source", "reader ICC, unedited sources vs target levels"),
    ("critic_icc", "critic ICC (D's AU head on validation frames, end of training)"),
    ("critic_icc_oracle", "critic ICC, oracle images vs target levels (every (AU, level) cell)"),
    ("critic_icc_generated", "critic ICC, generated images vs target levels"),
    ("critic_icc_source", "critic ICC, unedited sources vs target levels"),
)


def _edit_scale_lines(label: str, record: dict) -> list[str]:
    """Markdown lines on how a synthetic set's images were drawn (synthesis.json: edit scale and
    draw), none for the generator's own images."""
    k = float(record.get("edit_scale", 1.0))
    cal = record.get("edit_scale_calibration")
    edit = record.get("draw", "image") == "edit"
    if edit:
        formula = "src + {k} (G(src | target) - G(src | its own levels))"
        how = " (synthesis.draw = 'edit': the generator's edit on the source, its hand cancelled)"
    else:
        formula, how = "src + {k} (G(src) - src)", ""
    if not cal:
        return [f"Edit scale ({label}): every image is {formula.format(k=f'{k:g}')}{how} (synthesis.edit_scale).",
                ""] if k != 1.0 or edit else []
    if cal.get("skipped"):
        return [f"Edit scale ({label}): {k:g}; the calibration was skipped: {cal['skipped']}.{how}", ""]
    grid = cal["grid"]
    curve = ", ".join(f"{g:g}: {m:.4f}" for g, m in zip(grid, cal["mismatch"]))
    at = lambda v: cal["slope_generated"][grid.index(v)]  # noqa: E731
    ones = f", at 1 {at(1.0):.3f}" if 1.0 in grid else ""
    return [f"Edit scale ({label}): **k = {k:g}**, chosen by the real-frame reader (synthesis.calibrate_edit_scale; "
            f"images drawn as {formula.format(k='k')}{how}). Its slope per intensity level, weighted over AUs by the "
            f"validation labels' variances: {cal['slope_real']:.3f} on {cal['real_frames']} real validation "
            f"frames; on {cal['sample']} generated images {at(k):.3f} at k = {k:g}{ones}. Slope mismatch per k "
            f"({curve}); smallest at k = {cal['best_scale']:g}, standard error {cal['mismatch_se']:.4f}; the "
            "smallest k within one standard error of it is chosen.", ""]


def _fidelity_section(results, graph_nodes, by_node, serves, planned, summary, images) -> list[str]:
    """Markdown of the generator fidelity (synthesis.json ``fidelity``) and the oracle columns' reading."""
    md: list[str] = []
    found = {}
    scale_lines: list[str] = []
    for r in results:
        path = os.path.join(r.directory or "", "synthesis.json")
        if (r.stage or r.name) != "synthesis" or not r.directory or not os.path.exists(path):
            continue
        record = _load_json(path)
        label = "; ".join(c.label for c in planned.columns if c.label in serves.get(r.name, set())) or r.name
        scale_lines += _edit_scale_lines(label, record)
        fid = dict(record.get("fidelity") or {})
        if not fid:
            continue
        gen = graph_nodes[r.name].deps.get("generator") if r.name in graph_nodes else None
        gen_dir = by_node[gen].directory if gen in by_node else None
        gen_metrics = os.path.join(gen_dir or "", "metrics.json")
        if gen_dir and os.path.exists(gen_metrics):
            gm = _load_json(gen_metrics)
            fid["critic_icc"] = gm.get("critic_icc")
            if gm.get("critic_val_positives"):
                fid["critic_val_positives"] = gm["critic_val_positives"]
                fid["critic_val_frames"] = gm.get("critic_val_frames")
            if gm.get("critic_icc_ci95"):
                fid["critic_icc_ci95"] = gm["critic_icc_ci95"]
                fid["critic_val_subjects"] = gm.get("critic_val_subjects")
            if gm.get("pair_changes"):
                fid["pair_changes"] = gm["pair_changes"]
        found[label] = fid
        if os.path.exists(os.path.join(r.directory, "fidelity.png")):
            images.append((f"Generator fidelity ({label}): rows source | generated | oracle, one (AU, level) "
                           "cell per column", os.path.join(r.directory, "fidelity.png")))
    has_oracle = any(c.train.startswith(f"{k}:") or f"+{k}:" in c.train for c in planned.columns
                     for k in graph.RENDERED_KINDS)
    skipped = dict(getattr(planned, "skipped", {}) or {})
    if not (found or has_oracle or skipped):
        return ["## Synthetic edit scale", ""] + scale_lines if scale_lines else md
    md += ["## Generator fidelity (SynthFACS oracle renders)", "",
           "SynthFACS renders any subject in the same scene and pose with any AU vector, so each resampling "
           "plan entry has an exact answer: the source re-rendered with the target expression and registered "
           "like the sources (the *oracle*). On a fixed sample of plan entries: a generator that does not "
           "beat copying its input (L1) has learned nothing; the edit cosine is 1 for the oracle's edit, 0 "
           "for no edit; the edit gain is the share of the true edit drawn (1 for the oracle, 0 for no edit, "
           "0.5 for half of it: edits can point the right way and still be too faint to read); the reader (the real-frame estimator of the same registration) reads generated and "
           "oracle images against the target levels. The oracle changes all 18 simulated AUs; the generator "
           "is told only its AU columns, so the *labelled oracle* (only those AUs changed) is what a perfect "
           "generator would draw, and its scores against the oracle are the ceiling of the first rows. The "
           "generator's critic reads the same images with its AU head: on the oracle images, how well it "
           "knows the expressions G is asked to draw (every (AU, level) cell equally often); on the "
           "generated ones, how well G satisfies it (high there with a low reader says G pleases the critic "
           "with features the reader does not see).", ""]
    summary["fidelity"] = found
    if found:
        labels = list(found)
        md += ["| metric | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
        for key, text in FIDELITY_ROWS:
            vals = [found[lab].get(key) for lab in labels]
            # L1s differ from copying in the third significant digit: five decimals for them.
            fmt = "{:.5f}" if key.startswith("l1_") else "{:.3f}"
            md.append(f"| {text} | " + " | ".join("" if v is None else fmt.format(float(v)) for v in vals) + " |")
        for lab in labels:
            if found[lab].get("skipped"):
                md += ["", f"{lab}: {found[lab]['skipped']}"]
        md.append("")
        for lab in labels:
            pos = found[lab].get("critic_val_positives") or {}
            ci, icc = found[lab].get("critic_icc_ci95"), found[lab].get("critic_icc")
            interval = ""
            if ci and icc is not None:
                interval = (f"; critic ICC {float(icc):.3f} [{ci[0]:.3f}, {ci[1]:.3f}], 95 % bootstrap over "
                            f"{found[lab].get('critic_val_subjects')} validation subjects")
            if pos:
                md += [f"Critic ICC support ({lab}): positive validation frames per AU of "
                       f"{found[lab].get('critic_val_frames')}: " + ", ".join(f"{a} {n}" for a, n in pos.items())
                       + f" (an AU with a few positive frames has a noisy ICC){interval}.", ""]
            by_au = found[lab].get("edit_cosine_by_au") or {}
            if by_au:
                md += [f"Edit cosine per target AU ({lab}): " + ", ".join(f"{a} {v:.2f}" for a, v in by_au.items())
                       + f"; {found[lab].get('entries', 0)} entries.", ""]
            by_au = found[lab].get("edit_cosine_labelled_by_au") or {}
            if by_au:
                md += [f"Edit cosine against the labelled oracle per target AU ({lab}): "
                       + ", ".join(f"{a} {v:.2f}" for a, v in by_au.items()) + ".", ""]
            pairs = found[lab].get("pair_changes") or {}
            if pairs:
                md += [f"Training pairs whose partner changes each AU, by >= 1 level (>= 2) ({lab}): how often "
                       "the paired loss shows the generator that AU's edit: "
                       + ", ".join(f"{a} {100 * v['changed']:.0f} % ({100 * v['changed_by_2']:.0f} %)"
                                   for a, v in pairs.items()) + ".", ""]
    md += scale_lines
    if has_oracle:
        md += ["Oracle columns train on the same resampling plan with every image rendered exactly (a perfect "
               "generator). Oracle >= real: semantic resampling itself helps; the gap between the synthetic "
               "and the oracle column is the generator's fidelity.", ""]
        md += _degraded_oracle_lines(results, serves, planned, found, summary)
    for cid, why in skipped.items():
        md += [f"Column {cid} left out: {why}", ""]
    return md


def _degraded_oracle_lines(results, serves, planned, generators: Mapping[str, Any], summary) -> list[str]:
    """Degraded oracle sets (``config.oracle``: only the labelled AUs, a share of each change) scored
    against the exact oracle like the generators, on the same fidelity sample (oracle.json ``edit``)."""
    rows = []
    for r in results:
        stage = r.stage or r.name
        path = os.path.join(r.directory or "", {"oracle": "oracle.json", "regenerate": "regenerate.json"}.get(stage, ""))
        if stage not in ("oracle", "regenerate") or not r.directory or not os.path.exists(path):
            continue
        record = _load_json(path)
        if "edit" not in record:
            continue
        label = "; ".join(c.label for c in planned.columns if c.label in serves.get(r.name, set())) or r.name
        rows.append((label, record))
    if not rows:
        return []
    summary["degraded_oracles"] = {label: {"strength": rec["strength"], "expression_aus": rec["expression_aus"],
                                           "direction": rec["direction"], "blur": float(rec.get("blur", 0.0)),
                                           "generator_pass": bool(rec.get("generator_pass", False)), **rec["edit"]}
                                   for label, rec in rows}
    md = ["Degraded oracle sets (`config.oracle`): the same plan rendered with only the labelled AUs changed "
          "and / or a share of each expression change, every image keeping its target's labels, scored "
          "against the exact oracle on the generator's fidelity sample (the gain split into the AUs the "
          "target raises, *added*, and those it lowers, the source's own expression *removed*). A set whose "
          "edit gain matches the generator's shows what exact edits that faint teach: its column beside the "
          "synthetic one says whether faintness alone accounts for the generator's column. A set *redrawn by "
          "G* is an oracle set passed through the generator with its own labels: the exact expression in the "
          "generator's hand; a *blurred* set, its renders blurred by a Gaussian (`oracle.blur`): the "
          "generator's loss of texture alone.", "",
          "| set | AUs changed | strength (scaled changes) | edit gain | gain, added AUs | gain, removed AUs | "
          "edit cosine | L1 to the oracle | copying's L1 | entries |",
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def num(v):  # synthesis stages that predate the split have no halves
        return "" if v is None else f"{float(v):.3f}"

    for label, rec in rows:
        e = rec["edit"]
        scaled = f"{float(rec['strength']):g} ({rec['direction']})"
        changed = rec["expression_aus"] + (", redrawn by G" if rec.get("generator_pass") else "") + (
            f", blurred (sigma {float(rec['blur']):g} px)" if rec.get("blur") else "")
        md.append(f"| {label} | {changed} | {scaled} | {e['gain']:.3f} | {e['gain_added']:.3f} | "
                  f"{e['gain_removed']:.3f} | {e['cosine']:.3f} | {e['l1']:.5f} | {e['l1_copy_source']:.5f} | "
                  f"{e['entries']} |")
    for label, fid in generators.items():
        if "edit_gain" in fid:
            md.append(f"| {label} (generated) | told: labelled | | {fid['edit_gain']:.3f} | "
                      f"{num(fid.get('edit_gain_added'))} | {num(fid.get('edit_gain_removed'))} | "
                      f"{fid['edit_cosine']:.3f} | {fid['l1_generated']:.5f} | {fid['l1_copy_source']:.5f} | "
                      f"{fid.get('entries', '')} |")
    return md + [""]


def write_report(root: str, config: Any, results: Sequence[Any], planned: Any = None) -> dict:
    """Writes the experiment's report (see the module docstring); returns the results dict.

    Args:
      root: the experiment's workdir.
      config: the experiment config.
      results: `jaxau.stages.runner.StageResult` of every node run (or found cached).
      planned: the `jaxau.stages.graph.Planned` graph: which node scores which column.
    """
    if planned is None:
        planned = graph.plan(config, _stages())
    out_dir = os.path.join(root, "reports", str(config.get("name") or "experiment"))
    fig_dir = os.path.join(out_dir, "report_files")
    os.makedirs(fig_dir, exist_ok=True)
    title = config.get("report", {}).get("title", config.get("name", "jaxau experiment"))
    md: list[str] = [f"# {title}", ""]
    doc = str(config.get("report", {}).get("description", "") or "")
    if doc:
        md += [doc, ""]
    images: list[tuple[str, str]] = []
    summary: dict[str, Any] = {"name": config.get("name"), "stages": {}, "icc": {}, "mae": {}, "by_pose": {},
                               "paper": {}, "columns": {}}
    by_node = {r.name: r for r in results}
    used_by: dict[str, list[str]] = {}
    graph_nodes = {n.name: n for n in planned.nodes}
    for col in planned.columns:
        out = planned.outputs[col.id]
        used_by.setdefault(out, []).append(col.label)
        model = graph_nodes[out].deps.get("model") if out in graph_nodes else None
        if model and col.label not in used_by.setdefault(model, []):
            used_by[model].append(col.label)  # Learning curves and balancing are the model's.
    # Every node's columns (its dependents' transitive closure), to caption shared previews.
    serves: dict[str, set[str]] = {}

    def mark(name, label):
        if name in graph_nodes and label not in serves.setdefault(name, set()):
            serves[name].add(label)
            for dep in graph_nodes[name].deps.values():
                mark(dep, label)

    for col in planned.columns:
        mark(planned.outputs[col.id], col.label)
    all_labels = {c.label for c in planned.columns}

    md += ["## Stages", "", "| stage | status | seconds | note |", "|---|---|---:|---|"]
    for r in results:
        note = r.message or (("for: " + "; ".join(used_by[r.name])) if r.name in used_by else "")
        md.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {note} |")
        summary["stages"][r.name] = {"status": r.status, "seconds": r.seconds, "summary": dict(r.summary),
                                     "stage": r.stage or r.name}
    total = sum(r.seconds for r in results if r.status == "done")
    md += ["", f"Time spent in stages run now: {total:.0f} s.", ""]

    au_names: list[str] = []
    paper_rows: dict[str, dict] = {}
    for col in planned.columns:
        r = by_node.get(planned.outputs[col.id])
        ref = paper_lib.lookup(col.paper)
        entry = {"label": col.label, "train": col.train, "test": col.test, "overrides": col.overrides,
                 "paper": ref, "status": r.status if r else "not run", "directory": r.directory if r else None}
        if ref:
            paper_rows[col.label] = ref
        rec = _seed_mean_metrics([by_node.get(n) for n in _replicates(planned, col.id)])
        if rec is not None:
            summary["icc"][col.label] = rec["icc"]
            summary["mae"][col.label] = rec["mae"]
            summary["by_pose"][col.label] = {p: v["icc"]["mean"] for p, v in rec["by_pose"].items()}
            entry.update(icc=rec["icc"], mae=rec["mae"], num_frames=rec.get("num_frames"), seeds=rec["seeds"])
            if rec["seeds"] > 1:
                entry.update(directories=rec["directories"], icc_per_seed=rec["icc_per_seed"])
            for a in rec["icc"]:
                if a != "mean" and a not in au_names:
                    au_names.append(a)
        summary["columns"][col.id] = entry
    summary["paper"] = paper_rows
    order = au_lib.parse_aus(config.data.aus)
    au_names.sort(key=lambda a: order.index(a) if a in order else len(order))
    md += ["## ICC(3,1) per AU", ""]
    if summary["icc"]:
        rows: dict[str, Mapping[str, float]] = {}
        for col in planned.columns:
            if col.label in summary["icc"]:
                rows[col.label] = summary["icc"][col.label]
            if col.label in paper_rows:
                rows[f"paper: {col.label}"] = paper_rows[col.label]
        md += [tables.format_table(rows, au_names, higher_is_better=None), "",
               "Ours: this run; paper: the published number for the same column (its mean is over the "
               "paper's AUs). Poses: " + str(config.data.get("test_poses", "") or "all") +
               " (cross-domain columns: the test domain's). Unknown labels dropped; '-' = AU not scored.", "",
               "### MAE per AU", "", tables.format_table(summary["mae"], au_names, higher_is_better=False), ""]
        bars = os.path.join(fig_dir, "icc_per_au.png")
        _plot_bars(au_names, summary["icc"], paper_rows, bars)
        images.insert(0, ("ICC per AU (ours vs paper)", bars))
        poses = sorted({p for v in summary["by_pose"].values() for p in v}, key=lambda p: int(p))
        md += ["### Mean ICC per head pose", "", "| method | " + " | ".join(f"pose {p}" for p in poses) + " |",
               "|---|" + "---:|" * len(poses)]
        for name, per in summary["by_pose"].items():
            md.append(f"| {name} | " + " | ".join(f"{per[p]:.3f}" if p in per else "" for p in poses) + " |")
        md.append("")
        if len(poses) > 1:
            path = os.path.join(fig_dir, "icc_per_pose.png")
            _plot_lines([str(p) for p in poses], {n: [per.get(p, np.nan) for p in poses]
                                                  for n, per in summary["by_pose"].items()}, "pose id", path)
            images.insert(1, ("Mean ICC per head pose (Fig. 5 style)", path))
        sweep = str(config.get("experiment", {}).get("sweep", "") or "")
        if sweep:
            swept = [(col, _sweep_value(col.overrides, sweep)) for col in planned.columns
                     if col.label in summary["icc"]]
            swept = [(c, v) for c, v in swept if v is not None]
            if swept:
                md += [f"### Sweep over {sweep} (Fig. 3 style)", "",
                       "| " + sweep + " | " + " | ".join(au_names) + " | mean |",
                       "|---:|" + "---:|" * (len(au_names) + 1)]
                for c, v in swept:
                    icc = summary["icc"][c.label]
                    md.append(f"| {v} | " + " | ".join(f"{icc.get(a, float('nan')):.3f}" for a in au_names) +
                              f" | {icc['mean']:.3f} |")
                md.append("")
                path = os.path.join(fig_dir, "sweep.png")
                _plot_lines([str(v) for _, v in swept],
                            {a: [summary["icc"][c.label].get(a, np.nan) for c, _ in swept]
                             for a in au_names + ["mean"]}, sweep, path)
                images.insert(1, (f"ICC vs {sweep}", path))
        predictions = {}
        for col in planned.columns:
            paths = [os.path.join(by_node[n].directory, "eval", "predictions.csv")
                     for n in _replicates(planned, col.id) if by_node.get(n) and by_node[n].directory]
            paths = [p for p in paths if os.path.exists(p)]
            if paths:
                predictions[col.id] = paths
        predictions = statistics.load_columns(predictions)  # Read once for the statistics and the profiles.
        stats = statistics.compute(planned.columns, predictions, resolve.poses(config.data.get("test_poses")),
                                   str(config.get("experiment", {}).get("compare", "") or ""),
                                   reference_poses=resolve.poses(config.get("estimator", {}).get("train_poses")))
        summary["statistics"] = stats
        summary["ci95"] = {label: {"mean": rec["ci95"], **{a: v["ci95"] for a, v in rec["per_au"].items()}}
                           for label, rec in stats["columns"].items() if "ci95" in rec}
        md += statistics.markdown(stats)
        profiles = level_profile.compute(planned.columns, predictions, resolve.poses(config.data.get("test_poses")))
        summary["level_profile"] = profiles
        md += level_profile.markdown(profiles)
        path = os.path.join(fig_dir, "level_profile.png")
        if level_profile.plot(profiles, path):
            images.append(("Mean read-out per true level (calibration curves)", path))
    else:
        md += ["No estimator has finished yet.", ""]
        if paper_rows:
            md += ["The paper's numbers for these columns:", "", tables.format_table(paper_rows), ""]

    md += _registration_section(results)
    md += _fidelity_section(results, graph_nodes, by_node, serves, planned, summary, images)

    # Label distributions: every dataset (domain) and every balancing, on the experiment's AUs (an
    # AU a domain does not label shows no bars there).
    level_aus = order
    panels: dict[str, np.ndarray] = {}

    def aligned(names, counts):
        counts = np.asarray(counts, float)
        out = np.zeros((len(level_aus), 6))
        for j, a in enumerate(level_aus):
            if a in names:
                out[j] = counts[list(names).index(a)]
        return out

    for r in results:
        stage = r.stage or r.name
        if stage == "data" and r.directory and os.path.exists(os.path.join(r.directory, "label_stats.json")):
            stats = _load_json(os.path.join(r.directory, "label_stats.json"))
            if "train" in stats["splits"] and set(level_aus) & set(stats["au_names"]):
                name = str(r.summary.get("name", "")) or r.name
                panels[f"dataset train split ({name})"] = aligned(stats["au_names"],
                                                                  stats["splits"]["train"]["level_counts"])
        bal = os.path.join(r.directory or "", "balance.json")
        if r.directory and os.path.exists(bal):
            b = _load_json(bal)
            label = "; ".join(used_by.get(r.name, [r.name]))
            panels[resampling_caption(b, label)] = aligned(b["au_names"], b["after"])
    if panels and level_aus:
        path = os.path.join(fig_dir, "label_distributions.png")
        _plot_levels(level_aus, panels, path)
        images.append(("Label distributions (frames per AU and level, log scale)", path))
    curves = os.path.join(fig_dir, "learning_curves.png")
    if _plot_curves(results, curves, {n: "; ".join(v) for n, v in used_by.items()}):
        images.append(("Learning curves", curves))
    for r in results:
        if r.directory:
            for p in sorted(glob.glob(os.path.join(r.directory, "preview*.png")) +
                            glob.glob(os.path.join(r.directory, "contact_sheet*.png"))):
                cols = serves.get(r.name, set())
                scope = "" if not cols or cols == all_labels else " (" + "; ".join(
                    c.label for c in planned.columns if c.label in cols) + ")"
                images.append((f"{r.stage or r.name}{scope}: {os.path.basename(p)}", p))

    not_built = [r.name for r in results if r.status in ("not built", "blocked")]
    tail = []
    if not_built:
        tail = ["## Not built yet", "", "These stages have no implementation yet, or depend on one that "
                "has none: " + ", ".join(not_built) + ".", ""]
    for base in (out_dir, root):  # The experiment's own report, then the workdir's latest copy.
        figures = ["## Figures", ""]
        for caption, path in images:
            figures += [f"### {caption}", "", f"![{caption}]({os.path.relpath(path, base)})", ""]
        text = "\n".join(md + figures + tail)
        io_utils.write_text(os.path.join(base, "report.md"), text)
        io_utils.write_text(os.path.join(base, "report.html"), _to_html(text, base))
        io_utils.write_json(os.path.join(base, "results.json"), summary)
    return summary


def _replicates(planned, column_id: str) -> list[str]:
    """The score nodes of a column: one per estimator seed (`jaxau.stages.graph.Planned.replicates`)."""
    return list(planned.replicates.get(column_id) or [planned.outputs[column_id]])


def _seed_mean_metrics(results) -> dict | None:
    """The column's ``eval/metrics.json`` averaged over the seeds that finished (None: none has).

    ICC and MAE per AU, their means and the per-pose mean ICC are means over seeds; ``icc_per_seed``
    lists each seed's mean ICC.
    """
    recs, dirs = [], []
    for r in results:
        path = os.path.join(r.directory or "", "eval", "metrics.json") if r is not None and r.directory else ""
        if path and os.path.exists(path):
            recs.append(_load_json(path))
            dirs.append(r.directory)
    if not recs:
        return None
    if len(recs) == 1:
        return {**recs[0], "seeds": 1, "directories": dirs, "icc_per_seed": [recs[0]["icc"]["mean"]]}

    def mean(dicts):
        keys = [k for k in dicts[0] if all(k in d for d in dicts)]
        return {k: float(np.mean([d[k] for d in dicts])) for k in keys}

    poses = [p for p in recs[0]["by_pose"] if all(p in r["by_pose"] for r in recs)]
    return {"icc": mean([r["icc"] for r in recs]), "mae": mean([r["mae"] for r in recs]),
            "by_pose": {p: {"icc": {"mean": float(np.mean([r["by_pose"][p]["icc"]["mean"] for r in recs]))}}
                        for p in poses},
            "num_frames": recs[0].get("num_frames"), "seeds": len(recs), "directories": dirs,
            "icc_per_seed": [r["icc"]["mean"] for r in recs]}


def _registration_section(results) -> list[str]:
    """Markdown: the registration network's held-out NME per pose (with the mean-shape baseline and
    the map-layout floor) and the frontalisation oracle of the 2D / 3D alignments, per pose."""
    md: list[str] = []
    reg = [r for r in results if (r.stage or r.name) == "registration" and r.directory
           and os.path.exists(os.path.join(r.directory, "metrics.json"))]
    oracles = {}
    for r in results:
        stage = r.stage or r.name
        path = os.path.join(r.directory or "", "oracle.json")
        if stage in ("register_2d", "register_3d") and r.directory and os.path.exists(path):
            oracles[stage[-2:].upper()] = _load_json(path)
    if not reg and not oracles:
        return md
    md += ["## Registration and alignment", ""]
    for r in reg:
        m = _load_json(os.path.join(r.directory, "metrics.json"))
        poses = sorted(m.get("landmark_nme_by_pose", {}), key=int)
        md += [f"Registration network ({r.name}: {m.get('steps')} steps, {m.get('train_frames')} training "
               f"frames), held-out test NME (landmark box sqrt(w*h)), {m.get('num_frames')} frames:", "",
               "| | all | " + " | ".join(f"pose {p}" for p in poses) + " |", "|---|---:|" + "---:|" * len(poses)]
        rows = (("landmarks, network", "landmark_nme"), ("landmarks, mean shape", "baseline_landmark_nme"),
                ("landmarks, exact map (floor)", "oracle_landmark_nme"), ("dense, network", "dense_nme"),
                ("dense, mean shape", "baseline_dense_nme"))
        for label, key in rows:
            per = m.get(f"{key}_by_pose", {})
            md.append(f"| {label} | {m.get(key, float('nan')):.4f} | "
                      + " | ".join(f"{per[p]:.4f}" if p in per else "" for p in poses) + " |")
        md.append("")
    if oracles:
        poses = sorted({p for o in oracles.values() for p in o["poses"]}, key=int)
        md += ["Frontalisation oracle (SynthFACS test frames re-rendered at the frontal pose; "
               "`jaxau.align.oracle`): landmark error = mean distance of where each visible true landmark "
               "lands in the output from the true frontal face's (2D-aligned) landmark / landmark-box side; "
               "photometric = mean |RGB| difference (0-255) on the face both show (photometric_mae_<region>: "
               "inside the hull of the brow and eye, nose or mouth landmarks); coverage = share of the "
               "face hull the output shows. 'exact' uses the true mesh / landmarks instead of the network.", "",
               "| alignment | metric | all | " + " | ".join(f"pose {p}" for p in poses) + " |",
               "|---|---|---:|" + "---:|" * len(poses)]
        for mode in sorted(oracles):
            o = oracles[mode]
            regional = [f"photometric_mae_{r}{tag}" for r in oracle_lib.REGIONS for tag in ("", "_exact")]
            for metric in ("landmark_error", "landmark_error_exact", "photometric_mae", "photometric_mae_exact",
                           "coverage", *regional):
                if metric not in o["all"]:  # an oracle.json written before the regional errors
                    continue
                md.append(f"| {mode} | {metric} | {o['all'][metric]:.4f} | " + " | ".join(
                    f"{o['poses'][p][metric]:.4f}" if p in o["poses"] else "" for p in poses) + " |")
        md.append("")
    return md


def _stages():
    return STAGES


def _to_html(markdown: str, root: str) -> str:
    """A small Markdown subset (headings, tables, images, paragraphs) to self-contained HTML."""
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>jaxau report</title><style>"
           "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
           "img{max-width:100%}</style></head><body>"]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            out.append("<table>")
            for j, cells in enumerate(rows):
                tag = "th" if j == 0 else "td"
                out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
            out.append("</table>")
            continue
        m = re.fullmatch(r"(#+) (.*)", line)
        img = re.fullmatch(r"!\[(.*)\]\((.*)\)", line)
        if m:
            level = len(m.group(1))
            out.append(f"<h{level}>{html.escape(m.group(2))}</h{level}>")
        elif img:
            with open(os.path.join(root, img.group(2)), "rb") as f:
                data = base64.b64encode(f.read()).decode()
            out.append(f"<img alt='{html.escape(img.group(1))}' src='data:image/png;base64,{data}'>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out)


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
