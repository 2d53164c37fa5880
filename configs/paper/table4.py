"""Table 4: cross-domain synthesis and testing (synthetic training set -> real test set).

Columns: MultiPIE -> FERA (the FERA-trained generator re-animates MultiPIE faces with FERA's label
distribution; tested on FERA test, frontal), FERA -> DISFA and MultiPIE -> DISFA (tested on the whole
of DISFA, on the FERA AUs DISFA codes: 1, 4, 6, 12, 17). All frames 3D-registered.

Command::

    python launch/reproduce.py --config=configs/paper/table4.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table4.py:cpu --workdir=runs/paper_cpu
    # real data: --config.data.name=fera2017 --config.data.manual_dir=... \\
    #            --config.domains.disfa.name=disfa --config.domains.disfa.manual_dir=... \\
    #            --config.domains.multipie.name=multipie --config.domains.multipie.manual_dir=...

Expected cost: ``:cpu`` ~5 minutes after Table 2 (two more SynthFACS builds and registrations); paper size, after
Table 2 in the same workdir: SynthFACS ``multipie`` and ``disfa`` builds + registration ~2 h, two
syntheses and three estimators ~2 h (estimate, not measured).

Paper numbers it targets: mean ICC 0.479 (MultiPIE -> FERA), 0.482 (FERA -> DISFA), 0.494
(MultiPIE -> DISFA).
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table4"
    base.set_columns(c, {
        "multipie_fera": base.column("MultiPIE->FERA", "synthetic:3d@multipie", paper="table4/MultiPIE->FERA"),
        "fera_disfa": base.column("FERA->DISFA", "synthetic:3d", test="3d@disfa/all",
                                  paper="table4/FERA->DISFA"),
        "multipie_disfa": base.column("MultiPIE->DISFA", "synthetic:3d@multipie", test="3d@disfa/all",
                                      paper="table4/MultiPIE->DISFA"),
    })
    c.report.title = f"Table 4: cross-domain ICC ({size} size)"
    return c
