"""Table S5: cross-domain testing on UNBC-McMaster Pain (synthetic training set -> real UNBC).

Columns: FERA -> UNBC and MultiPIE -> UNBC (the FERA-trained generator; sources from FERA or
MultiPIE; tested on the whole of UNBC on the FERA AUs it codes: 4, 6, 10, 12).

Command (UNBC has no SynthFACS counterpart: this experiment needs your copy of UNBC Pain)::

    python launch/reproduce.py --config=configs/paper/table_s5.py --workdir=runs/paper \\
        --config.domains.unbc.manual_dir=/data/UNBC-McMaster

Without it the ``data`` stage of the UNBC domain stops with an error naming the missing directory
and what to download; every other stage still runs and is reused later.

Expected cost: after Table 4 in the same workdir, UNBC registration (~48k frames) ~0.5 h and two
estimators ~1 h on one GPU (estimate, not measured).

Paper numbers it targets: mean ICC 0.266 (FERA -> UNBC), 0.247 (MultiPIE -> UNBC).
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table_s5"
    c.experiment.columns = {
        "fera_unbc": base.column("FERA->UNBC", "synthetic:3d", test="3d@unbc/all", paper="s5/FERA->UNBC"),
        "multipie_unbc": base.column("MultiPIE->UNBC", "synthetic:3d@multipie", test="3d@unbc/all",
                                     paper="s5/MultiPIE->UNBC"),
    }
    c.report.title = f"Table S5: cross-domain ICC on UNBC Pain ({size} size)"
    return c
