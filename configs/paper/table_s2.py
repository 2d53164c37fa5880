"""Table S2: single vs combined training sets tested on the whole of DISFA (see table_s1.py).

Command::

    python launch/reproduce.py --config=configs/paper/table_s2.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table_s2.py:cpu --workdir=runs/paper_cpu

Expected cost: after Tables 4 and S1 in the same workdir nothing trains: S1's six estimators are
scored on DISFA (the score stage is separate from training): ``:cpu`` ~1 minute, paper size ~0.2
GPU-hours (estimate, not measured).

Paper numbers it targets: mean ICC 0.495 / 0.482 / 0.493 / 0.494 / **0.527** / 0.495.
"""

from configs.paper import base, table_s1


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    return table_s1.get_config(f"{size},disfa")
