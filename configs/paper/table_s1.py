"""Tables S1 / S2: single vs combined training sets, tested on FERA 2017 (S1) or on DISFA (S2).

Columns: FERA real, FERA synthetic, FERA real + FERA synthetic, MultiPIE synthetic, FERA real +
MultiPIE synthetic, FERA synthetic + MultiPIE synthetic (every set balanced to N per AU and level,
combined sets are unions: 2N). All 3D-registered. ``:paper,disfa`` / ``:cpu,disfa`` gives Table S2.

Command::

    python launch/reproduce.py --config=configs/paper/table_s1.py --workdir=runs/paper        # S1
    python launch/reproduce.py --config=configs/paper/table_s1.py:paper,disfa --workdir=runs/paper  # S2
    python launch/reproduce.py --config=configs/paper/table_s1.py:cpu --workdir=runs/paper_cpu

Expected cost: after Tables 2 and 4 in the same workdir only the combined estimators are new:
``:cpu`` ~5 minutes, paper size ~2 GPU-hours (estimate, not measured).

Measured at ``:medium`` (``--stages=fera_real,fera_synthetic,fera_real_synthetic
--config.experiment.seeds=2`` in a workdir holding Table 2's ``:medium`` stages: two new estimators,
~16 min; 2-core Intel Xeon box, 2026-12-07, frontal ICC(3,1)): FERA real 0.535, FERA synthetic
0.417, FERA real + FERA synthetic 0.499 [0.452, 0.556]: real + synthetic - real -0.035 [-0.090,
+0.021] (not resolved), real + synthetic - synthetic +0.082 [+0.044, +0.132] (resolved;
BUILD_NOTES.md "Table 2 at :medium").

Paper numbers it targets: S1 mean ICC 0.489 / 0.525 / 0.534 / 0.479 / 0.505 / **0.540**;
S2 0.495 / 0.482 / 0.493 / 0.494 / **0.527** / 0.495.
"""

from configs.paper import base

_COLUMNS = (
    ("fera_real", "FERA real", "real:3d"),
    ("fera_synthetic", "FERA synthetic", "synthetic:3d"),
    ("fera_real_synthetic", "FERA real + FERA synthetic", "real:3d+synthetic:3d"),
    ("multipie_synthetic", "MultiPIE synthetic", "synthetic:3d@multipie"),
    ("fera_real_multipie_synthetic", "FERA real + MultiPIE synthetic", "real:3d+synthetic:3d@multipie"),
    ("fera_multipie_synthetic", "FERA synthetic + MultiPIE synthetic", "synthetic:3d+synthetic:3d@multipie"),
)


def get_config(arg=None):
    size, rest = base.parse_arg(arg)
    on_disfa = rest == ["disfa"]
    if rest and not on_disfa:
        raise ValueError(f"table_s1.py:{arg}: the only option after the size is 'disfa' (Table S2).")
    c = base.base_config(size)
    c.name = "table_s2" if on_disfa else "table_s1"
    table = "s2" if on_disfa else "s1"
    base.set_columns(c, {
        cid: base.column(label, train, test="3d@disfa/all" if on_disfa else "", paper=f"{table}/{label}")
        for cid, label, train in _COLUMNS})
    c.report.title = (f"Table {table.upper()}: single vs combined training sets, tested on "
                      f"{'DISFA' if on_disfa else 'FERA 2017'} ({size} size)")
    return c
