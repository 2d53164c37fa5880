"""Table 2: synthetic vs real training expressions under 2D vs 3D registration (FERA 2017 test, frontal).

Command (one GPU, paper sizes; CPU demo sizes with ``:cpu``; the size that answers the question on
a 2-core CPU with ``:medium``)::

    python launch/reproduce.py --config=configs/paper/table2.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table2.py:cpu --workdir=runs/paper_cpu
    python launch/reproduce.py --config=configs/paper/table2.py:medium --workdir=runs/medium

``:medium`` (``fera_medium``: 90/15/30 subjects, 900 frontal test frames; width-1/4 estimators,
3,000 steps, two seeds, trained on the frontal view as the paper's (``estimator.train_poses``);
registration 3,000 steps; generators 500 + 3,000 iterations at n_critic 2 (1,500 G updates),
lambda_ids 1,000; 150 images per AU and level). Measured on a 2-core Intel Xeon box, 2026-12-06,
frontal ICC(3,1), two estimator seeds, intervals over test subjects and seeds: 2D real 0.512
[0.459, 0.563], 3D real 0.535 [0.474, 0.597], 3D synthetic (generator seed 0) 0.417 [0.357, 0.468],
3D oracle synthetic 0.639 [0.583, 0.699]: synthetic > real **no** (-0.117 [-0.204, -0.043]);
oracle > real (3D) **yes** (+0.104 [+0.066, +0.162], every pose); 3D > 2D not resolved (+0.022 [-0.042, +0.094]
frontally, +0.042 / +0.015 at -40 / +40 degrees; with ``--config.experiment.seeds=6``, ~3 h of stages
beside other runs: 2D real 0.515 [0.468, 0.554], 3D real 0.521 [0.473, 0.563], +0.007 [-0.020, +0.037]
frontally, +0.030 [-0.022, +0.086] / +0.008 [-0.031, +0.049] at -40 / +40, none resolved). 2D oracle
synthetic 0.607 [0.556, 0.663] (``--stages=oracle_2d`` with ``--config.experiment.seeds=4``: render 9
min, 3,000-step estimators ~5.5 min each alone): 3D > 2D with oracle training **yes** at -40 / +40
(+0.057 [+0.011, +0.103] / +0.077 [+0.027, +0.136]), not resolved frontally (+0.023 [-0.005, +0.047];
3D oracle 0.630 [0.572, 0.687] with four seeds). With the earlier 1,500-step estimators (every
head still learning at their last step) the real columns read 0.423 / 0.419 (six seeds) and the
synthetic 3D column 0.430, level with real; with 1,000-iteration generators as well (2-core Zen 5
EPYC box, 2026-12-05, ~50 min of stages): 3D oracle synthetic 0.567 [0.515, 0.619], 2D real 0.437,
3D real 0.412, 3D synthetic 0.255, 2D synthetic 0.248, oracle > real (3D) **yes** (+0.155)
(BUILD_NOTES.md "Table 2 at :medium", "Estimator convergence"). 2D synthetic with today's budgets
(``--stages=real_2d,synthetic_2d``, same box, 2026-12-07, 51 min beside another run: the 2D
generator 27 min, two estimators ~11 min): 0.387 [0.326, 0.441], -0.125 [-0.199, -0.063] against
real 2D (resolved); synthetic 3D - 2D +0.031 [-0.014, +0.077] frontally, +0.039 / +0.007 at -40 /
+40 (n.r.). Alone on that box the estimator stages take ~5.5-6.5 min each and the generators
~20-25 min.

Expected cost: ``:cpu`` ~13 min from scratch on the quiet 2-core Zen 5 box; in the demo's workdir
only the new stages run (7e1e8e7, 2026-12-05: 228 s, a 2-D generator 180 s, its synthesis and
estimator). Measured there, one estimator seed: 3D oracle
synthetic 0.254, 2D synthetic 0.207 [0.119, 0.303], 3D synthetic 0.207 [0.113, 0.315], 3D real
0.166, 2D real 0.122 [0.066, 0.197]; synthetic > real **yes** in 2D (+0.085 [+0.014, +0.140]),
not resolved in 3D (+0.042); 3D > 2D not resolved for real (+0.044) or synthetic (+0.000)
training (frontal ICC; BUILD_NOTES.md "Paper experiments as stage graphs"). Paper
size on one GPU: roughly 16 GPU-hours (estimate, not measured — no GPU was available: SynthFACS
``fera`` build ~2 h, registration network ~3 h, two generators ~5 h each, four estimators ~0.5 h
each). Later experiments in the same workdir reuse all of it.

Paper numbers it targets: mean ICC 0.506 (2D real), 0.494 (2D synthetic), 0.489 (3D real) and
**0.525 (3D synthetic, the best)**; per AU in `jaxau.report.paper.TABLES['table2']`. On SynthFACS the
claim to check is the ordering (3D synthetic >= the others), not the values. The extra column
"3D Oracle synthetic" (``oracle:3d``) trains on the same resampling plan rendered exactly by SynthFACS
(only possible on SynthFACS): its gap to "3D Synthetic" is the generator's fidelity; "2D Oracle
synthetic" (``oracle:2d``) is the same set registered in 2D: 3D vs 2D registration with a perfect
generator.
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table2"
    base.set_columns(c, {
        "real_2d": base.column("2D Real", "real:2d", paper="table2/2D Real"),
        "synthetic_2d": base.column("2D Synthetic", "synthetic:2d", paper="table2/2D Synthetic"),
        "real_3d": base.column("3D Real", "real:3d", paper="table2/3D Real"),
        "synthetic_3d": base.column("3D Synthetic", "synthetic:3d", paper="table2/3D Synthetic"),
        # Not in the paper: the same resampling plan rendered exactly by SynthFACS (a perfect
        # generator). Oracle >= real shows that resampling helps; synthetic vs oracle is the
        # generator's fidelity.
        "oracle_3d": base.column("3D Oracle synthetic", "oracle:3d"),
        # The same plan registered in 2D: 3D vs 2D registration with a perfect generator.
        "oracle_2d": base.column("2D Oracle synthetic", "oracle:2d"),
    })
    c.report.title = f"Table 2: synthetic vs real expressions, 2D vs 3D registration ({size} size)"
    return c
