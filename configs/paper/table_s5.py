"""Table S5: cross-domain testing on UNBC-McMaster Pain (synthetic training set -> real UNBC).

Columns: FERA -> UNBC and MultiPIE -> UNBC (the FERA-trained generator; sources from FERA or
MultiPIE; tested on the whole of UNBC on the FERA AUs it codes: 4, 6, 10, 12).

Command (SynthFACS's ``unbc`` domain by default: pain episodes, UNBC's AUs but AU43; your copy of
UNBC Pain with ``--config.domains.unbc.name=unbc_pain --config.domains.unbc.manual_dir=/data/UNBC``)::

    python launch/reproduce.py --config=configs/paper/table_s5.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table_s5.py:cpu --workdir=runs/paper_cpu

Expected cost: ``:cpu`` ~2 minutes after Table 4 (the ``unbc_small`` build and its registration; the
models are Table 4's); paper size after Table 4: the ``unbc`` build and registration (40,000 frames)
~0.5 h on one GPU (estimate, not measured), no training.

Paper numbers it targets: mean ICC 0.266 (FERA -> UNBC), 0.247 (MultiPIE -> UNBC).
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table_s5"
    base.set_columns(c, {
        "fera_unbc": base.column("FERA->UNBC", "synthetic:3d", test="3d@unbc/all", paper="s5/FERA->UNBC"),
        "multipie_unbc": base.column("MultiPIE->UNBC", "synthetic:3d@multipie", test="3d@unbc/all",
                                     paper="s5/MultiPIE->UNBC"),
    })
    c.report.title = f"Table S5: cross-domain ICC on UNBC Pain ({size} size)"
    return c
