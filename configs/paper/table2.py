"""Table 2: synthetic vs real training expressions under 2D vs 3D registration (FERA 2017 test, frontal).

Command (one GPU, paper sizes; CPU demo sizes with ``:cpu``; the size that answers the question on
a 2-core CPU with ``:medium``)::

    python launch/reproduce.py --config=configs/paper/table2.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table2.py:cpu --workdir=runs/paper_cpu
    python launch/reproduce.py --config=configs/paper/table2.py:medium --workdir=runs/medium

``:medium`` (``fera_medium``: 90/15/30 subjects, 900 frontal test frames; width-1/4 estimators,
1,500 steps, two seeds; registration 3,000 steps; generators 500 + 1,000 iterations; 150 images per
AU and level). Measured 2026-12-03 with one seed (``--config.experiment.seeds=1``) and four columns
(``--stages=oracle_3d,real_2d,real_3d,synthetic_3d``), on the 2-core AMD box under load 5-11 from
parallel jobs: 6,610 s of stages (data 1,261, registration 1,021, generator 1,395 s); a quiet full
run (five columns, two seeds) is estimated at ~2.5 h and has not been timed. Frontal ICC(3,1), 95%
subject-bootstrap intervals: 3D oracle synthetic 0.502 [0.450, 0.554], 2D real 0.362 [0.313,
0.397], 3D real 0.271 [0.232, 0.303], 3D synthetic 0.165 [0.116, 0.212]; synthetic > real (3D):
**no**, -0.106 [-0.156, -0.065]; oracle > real (3D): yes, +0.231; 3D > 2D (real): **no**, -0.091
[-0.112, -0.063], at every pose (BUILD_NOTES.md "Table 2 at :medium"). With both seeds (three
columns so far): oracle 3D 0.528 [0.476, 0.579], real 2D 0.381 [0.334, 0.418], real 3D 0.324
[0.281, 0.357]; 3D > 2D no (-0.057 [-0.077, -0.036]); oracle > real 3D yes (+0.204).

Expected cost: ``:cpu`` ~20 minutes on the quiet 2-core AMD box (estimate: the demo's stages,
~14 min measured, plus the oracle renders and estimator ~2.5 min and a 2-D generator, synthesis and
estimator ~3.5 min; in the demo's workdir only the new stages run). Not run end to end on main; the
demo's four-column run with the oracle column measured real 2D 0.140, real 3D 0.066, synthetic 3D
0.010, oracle 3D 0.178 (frontal ICC, BUILD_NOTES.md "Main job"). Paper
size on one GPU: roughly 16 GPU-hours (estimate, not measured — no GPU was available: SynthFACS
``fera`` build ~2 h, registration network ~3 h, two generators ~5 h each, four estimators ~0.5 h
each). Later experiments in the same workdir reuse all of it.

Paper numbers it targets: mean ICC 0.506 (2D real), 0.494 (2D synthetic), 0.489 (3D real) and
**0.525 (3D synthetic, the best)**; per AU in `jaxau.report.paper.TABLES['table2']`. On SynthFACS the
claim to check is the ordering (3D synthetic >= the others), not the values. The extra column
"3D Oracle synthetic" (``oracle:3d``) trains on the same resampling plan rendered exactly by SynthFACS
(only possible on SynthFACS): its gap to "3D Synthetic" is the generator's fidelity.
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table2"
    c.experiment.columns = {
        "real_2d": base.column("2D Real", "real:2d", paper="table2/2D Real"),
        "synthetic_2d": base.column("2D Synthetic", "synthetic:2d", paper="table2/2D Synthetic"),
        "real_3d": base.column("3D Real", "real:3d", paper="table2/3D Real"),
        "synthetic_3d": base.column("3D Synthetic", "synthetic:3d", paper="table2/3D Synthetic"),
        # Not in the paper: the same resampling plan rendered exactly by SynthFACS (a perfect
        # generator). Oracle >= real shows that resampling helps; synthetic vs oracle is the
        # generator's fidelity.
        "oracle_3d": base.column("3D Oracle synthetic", "oracle:3d"),
    }
    c.report.title = f"Table 2: synthetic vs real expressions, 2D vs 3D registration ({size} size)"
    return c
