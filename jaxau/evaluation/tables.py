"""Table-2-style result tables: rows = methods, columns = AUs + mean.

``format_table({'Real (balanced)': {'AU01': 0.31, ...}, 'Synthetic': {...}})`` gives Markdown (default)
or aligned plain text. The mean column is the unweighted mean over the table's AU columns unless a
row supplies its own ``'mean'``; a row missing an AU shows '-' and its computed mean is then left out
('-') rather than averaged over fewer AUs, so means stay comparable across rows.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

MEAN = "mean"


def _cells(results, au_names):
    columns = list(au_names) + ["Mean"]
    values: dict[str, list[float | None]] = {}
    for method, row in results.items():
        vals = [row.get(a) for a in au_names]
        vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
                for v in vals]
        if MEAN in row:
            mean = float(row[MEAN])
        else:
            mean = None if any(v is None for v in vals) or not vals else sum(vals) / len(vals)
        values[method] = vals + [mean]
    return columns, values


def format_table(results: Mapping[str, Mapping[str, float]], au_names: Sequence[str] | None = None,
                 *, fmt: str = "markdown", digits: int = 3, higher_is_better: bool | None = True,
                 title: str | None = None) -> str:
    """Formats {method: {AU: value}} as a table.

    Args:
      results: per method a mapping AU -> value (optionally 'mean').
      au_names: column order; default the AUs of the first row in order (without 'mean').
      fmt: 'markdown' or 'text'.
      digits: decimals.
      higher_is_better: marks the best value per column (Markdown bold, text '*'): True for
        ICC/PCC, False for MAE, None for no marking.
      title: optional caption line above the table.

    Returns:
      The table as a string (ending with a newline).
    """
    if fmt not in ("markdown", "text"):
        raise ValueError(f"fmt={fmt!r}: use 'markdown' or 'text'.")
    if not results:
        raise ValueError("results is empty: pass {method: {AU: value}}.")
    if au_names is None:
        au_names = [k for k in next(iter(results.values())) if k != MEAN]
    columns, values = _cells(results, au_names)
    best = [None] * len(columns)
    if higher_is_better is not None:
        for j in range(len(columns)):
            col = [v[j] for v in values.values() if v[j] is not None]
            if len(col) > 1:
                best[j] = max(col) if higher_is_better else min(col)

    def cell(v, j):
        if v is None:
            return "-"
        s = f"{v:.{digits}f}"
        if best[j] is not None and v == best[j]:
            return f"**{s}**" if fmt == "markdown" else f"{s}*"
        return s

    header = ["Method"] + columns
    rows = [[m] + [cell(v, j) for j, v in enumerate(vals)] for m, vals in values.items()]
    lines = [title] if title else []
    if fmt == "markdown":
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * len(columns)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        fmt_row = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                       for i, c in enumerate(r))
        lines.append(fmt_row(header))
        lines.append("-" * len(fmt_row(header)))
        lines += [fmt_row(r) for r in rows]
    return "\n".join(lines) + "\n"


def rows_from_scores(scores_by_method: Mapping[str, object], metric: str = "icc"
                     ) -> dict[str, dict[str, float]]:
    """{method: AUScores} -> {method: {AU: value, 'mean': value}} for :func:`format_table`.

    Args:
      scores_by_method: values are :class:`jaxau.evaluation.metrics.AUScores`.
      metric: 'icc', 'pcc' or 'mae'.
    """
    if metric not in ("icc", "pcc", "mae"):
        raise ValueError(f"metric={metric!r}: use 'icc', 'pcc' or 'mae'.")
    return {m: s.as_dict()[metric] for m, s in scores_by_method.items()}
