"""The experiment report: ``report.md`` and a self-contained ``report.html`` in the run's root.

Rebuilt after every pipeline run from whatever has finished: stage outcomes and timings, the
Table-2-style ICC table (one row per trained estimator, with the paper's numbers beside ours when the
config gives them), per-pose ICC, label distributions before and after resampling, learning curves
and every preview image the stages wrote (``preview*.png``, ``contact_sheet*.png``).
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

from jaxau import io_utils

# Row labels of Table 2 (paper) for our estimator stages.
METHOD_NAMES = {
    "estimator_real_raw": "Real, no registration",
    "estimator_real_2d": "Real, 2D registration",
    "estimator_real_3d": "Real, 3D registration",
    "estimator_synthetic_3d": "Synthetic, 3D registration",
}


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _plot_curves(results, out_png: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxau.train.metrics import read_jsonl

    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for r in results:
        if not r.directory:
            continue
        for path in sorted(glob.glob(os.path.join(r.directory, "*_metrics.jsonl"))):
            rows = [x for x in read_jsonl(path) if isinstance(x.get("loss"), (int, float))]
            if len(rows) > 1:
                label = f"{r.name}/{os.path.basename(path).replace('_metrics.jsonl', '')}"
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


def write_report(root: str, config: Any, results: Sequence[Any]) -> dict:
    """Writes ``report.md``, ``report.html`` and ``results.json`` under ``root``; returns the results dict."""
    from jaxau.evaluation import tables

    fig_dir = os.path.join(root, "report_files")
    os.makedirs(fig_dir, exist_ok=True)
    title = config.get("report", {}).get("title", config.get("name", "jaxau experiment"))
    md: list[str] = [f"# {title}", ""]
    images: list[tuple[str, str]] = []
    summary: dict[str, Any] = {"name": config.get("name"), "stages": {}, "icc": {}, "mae": {}, "by_pose": {}}

    md += ["## Stages", "", "| stage | status | seconds | note |", "|---|---|---:|---|"]
    for r in results:
        md.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {r.message} |")
        summary["stages"][r.name] = {"status": r.status, "seconds": r.seconds, "summary": dict(r.summary)}
    total = sum(r.seconds for r in results if r.status == "done")
    md += ["", f"Time spent in stages run now: {total:.0f} s.", ""]

    au_names: list[str] = []
    for r in results:
        metrics_path = os.path.join(r.directory or "", "eval", "metrics.json")
        if r.directory and os.path.exists(metrics_path):
            rec = _load_json(metrics_path)
            name = METHOD_NAMES.get(r.name, r.name)
            summary["icc"][name] = rec["icc"]
            summary["mae"][name] = rec["mae"]
            summary["by_pose"][name] = {p: v["icc"]["mean"] for p, v in rec["by_pose"].items()}
            au_names = au_names or [a for a in rec["icc"] if a != "mean"]
    paper = dict(config.get("report", {}).get("paper", {}) or {})
    md += ["## ICC(3,1) per AU (Table 2 style)", ""]
    if summary["icc"]:
        rows = dict(summary["icc"])
        rows.update({f"paper: {k}": v for k, v in paper.items()})
        md += [tables.format_table(rows, au_names), "",
               "Poses: " + str(config.data.get("test_poses", "all")) + ". Unknown labels dropped.", "",
               "### MAE per AU", "", tables.format_table(summary["mae"], au_names, higher_is_better=False), ""]
        poses = sorted({p for v in summary["by_pose"].values() for p in v}, key=lambda p: int(p))
        md += ["### Mean ICC per head pose", "", "| method | " + " | ".join(f"pose {p}" for p in poses) + " |",
               "|---|" + "---:|" * len(poses)]
        for name, per in summary["by_pose"].items():
            md.append(f"| {name} | " + " | ".join(f"{per[p]:.3f}" if p in per else "" for p in poses) + " |")
        md.append("")
    else:
        md += ["No estimator has finished yet.", ""]

    # Label distributions: the dataset, and after each balancing.
    panels, level_aus = {}, []
    for r in results:
        if r.name == "data" and r.directory and os.path.exists(os.path.join(r.directory, "label_stats.json")):
            stats = _load_json(os.path.join(r.directory, "label_stats.json"))
            wanted = [a for a in str(config.data.aus).replace(",", " ").split() if a in stats["au_names"]]
            idx = [stats["au_names"].index(a) for a in wanted]
            if "train" in stats["splits"]:
                panels["dataset train split"] = np.asarray(stats["splits"]["train"]["level_counts"])[idx]
                level_aus = wanted
        bal = os.path.join(r.directory or "", "balance.json")
        if r.directory and os.path.exists(bal):
            b = _load_json(bal)
            panels[f"after resampling ({r.name}, {b['per_level']} per level)"] = np.asarray(b["after"])
            level_aus = level_aus or b["au_names"]
    if panels and level_aus:
        path = os.path.join(fig_dir, "label_distributions.png")
        _plot_levels(level_aus, panels, path)
        images.append(("Label distributions (frames per AU and level, log scale)", path))
    curves = os.path.join(fig_dir, "learning_curves.png")
    if _plot_curves(results, curves):
        images.append(("Learning curves", curves))
    for r in results:
        if r.directory:
            for p in sorted(glob.glob(os.path.join(r.directory, "preview*.png")) +
                            glob.glob(os.path.join(r.directory, "contact_sheet*.png"))):
                images.append((f"{r.name}: {os.path.basename(p)}", p))

    md += ["## Figures", ""]
    for caption, path in images:
        md += [f"### {caption}", "", f"![{caption}]({os.path.relpath(path, root)})", ""]
    not_built = [r.name for r in results if r.status in ("not built", "blocked")]
    if not_built:
        md += ["## Not built yet", "", "These stages have no implementation yet, or depend on one that "
               "has none: " + ", ".join(not_built) + ".", ""]
    text = "\n".join(md)
    io_utils.write_text(os.path.join(root, "report.md"), text)
    io_utils.write_text(os.path.join(root, "report.html"), _to_html(text, root))
    io_utils.write_json(os.path.join(root, "results.json"), summary)
    return summary


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
