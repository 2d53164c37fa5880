"""Real training frames drawn level-weighted: is the oracle set's 3D-over-2D gain its intensities? (not in the paper)

Command (``:medium``, in Table 2's workdir, whose real and oracle columns it shares)::

    python launch/reproduce.py --config=configs/paper/real_levels.py:medium --workdir=runs/medium \
        --config.experiment.seeds=4

With a perfect generator (the oracle set) 3D registration beats 2D at the ±40° views, while real
training frames show no difference (``configs/paper/table2.py``). The real frames' labels are skewed
low (mean level per AU 0.12-0.42 on the frontal training frames) where the balanced oracle set's are
not (0.46-1.11). ``real_levels_2d`` / ``real_levels_3d`` train on the same real frames drawn so that
each AU's levels are about equally likely (``estimator.real_pool='levels'``; every frame still trains
every head; `jaxau.data.balance.weighted_pool`): the frontal training frames' mean levels become
0.46-1.11, the oracle set's, from 1,361 distinct frames of 2,700.

Measured at ``:medium`` (2-core Intel Xeon box, 2026-12-07; four estimator seeds per column, the
level-weighted ones new, 52 min for their eight 3,000-step estimators, ~5.8 min each alone; frontal
ICC(3,1), intervals over test subjects and seeds; BUILD_NOTES.md "Table 2 at :medium"): 2D real
0.513 [0.461, 0.553], 3D real 0.521 [0.466, 0.569], **2D level-weighted 0.433 [0.380, 0.478], 3D
level-weighted 0.439 [0.384, 0.488]**, 2D oracle 0.607, 3D oracle 0.630. Level-weighting costs each
registration 0.08 (-0.080 [-0.116, -0.045] 2D, -0.081 [-0.116, -0.043] 3D, resolved at every pose)
and leaves 3D - 2D where it was: +0.006 [-0.026, +0.041] frontally, +0.010 / +0.029 at -40 / +40
(n.r.; natural draw +0.007, +0.016 / +0.017; oracle set +0.023, +0.057 / +0.077, resolved at ±40).
The oracle set's intensities are not why it shows 3D over 2D where real frames do not: with the
same mean levels per AU, the oracle set beats the level-weighted real frames by 0.19 (3D) / 0.17 (2D),
resolved at every pose.

``oracle_natural_2d`` / ``oracle_natural_3d`` render as many exact face-expression pairings as the
oracle set, unbalanced (``synthesis.plan='natural'``: sources and target vectors drawn uniformly,
`jaxau.synthesis.plan.natural_plan`): the real frames' intensity distribution on 6,300 new images.
Against the real columns they measure what new pairings add; against the oracle columns what the
balancing adds. Measured at ``:medium`` for 3D (``--stages=real_3d,oracle_3d,oracle_natural_3d
--config.experiment.seeds=2``, same box, 2026-12-07, 16 min alone: the render 170 s, two
estimators): **0.563 [0.507, 0.622]**; oracle - natural plan +0.076 [+0.008, +0.140] (resolved),
natural plan - real +0.029 [-0.039, +0.107] (n.r.): the balancing is most of the oracle set's gain,
and it needs new images: drawn from the real frames by repetition it costs 0.08. In 2D
(``oracle_natural_2d``, 16 min): 0.569, +0.057 over real 2D (resolved); 3D - 2D on the natural plan
-0.006 frontally, +0.061 / +0.060 at -40 / +40 (the second resolved), as on the balanced oracle set.

At the real set's size (``configs.paper.base.real_size_per_level``: 17 plan entries per cell at
``:cpu``, 64 at ``:medium``): ``oracle_shuffled_2d`` / ``oracle_shuffled_3d`` are the natural plan at
that size, whose draws take each training frame's face once and each frame's expression once: the
real frames with only their pairings shuffled, rendered exactly; ``oracle_small_2d`` /
``oracle_small_3d`` the balanced plan at that size: the resampling's gain at an equal count.
Measured at ``:medium`` (same box, 2026-12-07; ``--stages=...,oracle_shuffled_3d,oracle_shuffled_2d``
four seeds, 37 + 37 min beside other runs; ``oracle_small_*`` four seeds, renders 116-150 s,
eight estimators 6-12 min): re-paired 3D **0.556**, 2D **0.538** (+0.036 over real 3D, resolved;
+0.025 in 2D, n.r.; 3D - 2D +0.018 frontally, +0.016 / +0.024 at -40 / +40, n.r., as on the real
frames); balanced at the real set's size (2,624 images)
3D **0.595 [0.536, 0.658]**, 2D **0.590**: **+0.074 [+0.032, +0.129] / +0.077 [+0.033, +0.128] over
real, resolved** (3D at every pose), the full plan's 6,150 images add +0.035 (3D, resolved) /
+0.017 (2D, n.r.), and **3D - 2D +0.005 frontally, +0.055 / +0.060 at -40 / +40, both resolved**.
At ``:cpu`` (``--stages=real_3d,oracle_3d,oracle_small_3d,oracle_shuffled_3d
--config.experiment.seeds=5`` in a demo workdir, 13 min beside a ``:medium`` run): re-paired 0.215
(+0.024 over real 3D's 0.191, n.r.), balanced at the real set's size (629 images) **0.323, +0.132
[+0.077, +0.189] over real (resolved at every pose)** and above the 2,220-image oracle set's 0.267
(-0.056, n.r.; the 600-step estimators see the larger set 9 times, the smaller 30). The semantic
resampling beats the real frames at an equal count, and it, not the count nor the exact renders,
brings 3D's gain off the frontal view.

Expected cost: in Table 2's ``:medium`` workdir only the eight level-weighted estimators run (~50
min alone on that box); from scratch, Table 2's data, registration, real columns and oracle renders
first (~1 h 30 min). Not in the paper: its real columns are balanced per AU by the per-AU plan
(``estimator.per_level``), which at CPU size from scratch does not learn (section "Estimator that
learns on SynthFACS").
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "real_levels"
    levels = "estimator.real_pool=levels"
    natural = "synthesis.plan=natural"
    real_size = f"synthesis.per_level={base.real_size_per_level(c)}"
    shuffled = f"synthesis.plan=natural; {real_size}"
    base.set_columns(c, {
        "real_2d": base.column("2D Real", "real:2d"),
        "real_3d": base.column("3D Real", "real:3d"),
        "real_levels_2d": base.column("2D Real, level-weighted", "real:2d", overrides=levels),
        "real_levels_3d": base.column("3D Real, level-weighted", "real:3d", overrides=levels),
        "oracle_2d": base.column("2D Oracle synthetic", "oracle:2d"),
        "oracle_3d": base.column("3D Oracle synthetic", "oracle:3d"),
        # The same number of exactly rendered face-expression pairings, unbalanced.
        "oracle_natural_2d": base.column("2D Oracle, natural plan", "oracle:2d", overrides=natural),
        "oracle_natural_3d": base.column("3D Oracle, natural plan", "oracle:3d", overrides=natural),
        # The natural plan at the real set's size (7 x 6 x 64 = 2,688 of its 2,700 frontal training
        # frames): each frame's face and each frame's expression once (the draws' permutations come
        # first), re-paired at random: the real frames with only their pairings shuffled.
        "oracle_shuffled_2d": base.column("2D Oracle, real frames re-paired", "oracle:2d", overrides=shuffled),
        "oracle_shuffled_3d": base.column("3D Oracle, real frames re-paired", "oracle:3d", overrides=shuffled),
        # The balanced oracle plan at the real set's size: the resampling's gain at an equal count.
        "oracle_small_2d": base.column("2D Oracle synthetic, the real set's size", "oracle:2d",
                                       overrides=real_size),
        "oracle_small_3d": base.column("3D Oracle synthetic, the real set's size", "oracle:3d",
                                       overrides=real_size),
    })
    c.experiment.compare = ("real_levels_3d>real_levels_2d, real_3d>real_2d, oracle_3d>oracle_2d, "
                            "real_levels_2d>real_2d, real_levels_3d>real_3d, oracle_3d>real_levels_3d, "
                            "oracle_2d>real_levels_2d, oracle_3d>oracle_natural_3d, oracle_natural_3d>real_3d, "
                            "oracle_2d>oracle_natural_2d, oracle_natural_2d>real_2d, "
                            "oracle_natural_3d>oracle_natural_2d, oracle_shuffled_3d>real_3d, "
                            "oracle_shuffled_2d>real_2d, oracle_natural_3d>oracle_shuffled_3d, "
                            "oracle_natural_2d>oracle_shuffled_2d, oracle_shuffled_3d>oracle_shuffled_2d, "
                            "oracle_small_3d>real_3d, oracle_small_2d>real_2d, oracle_3d>oracle_small_3d, "
                            "oracle_2d>oracle_small_2d, oracle_small_3d>oracle_shuffled_3d, "
                            "oracle_small_2d>oracle_shuffled_2d, oracle_small_3d>oracle_small_2d")
    c.report.title = f"Real frames drawn level-weighted, the oracle plan unbalanced: 3D vs 2D ({size} size)"
    return c
