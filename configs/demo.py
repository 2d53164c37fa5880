"""The main job: the whole pipeline on SynthFACS, sized for a 2-core CPU.

Command (the README's first command runs exactly this)::

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo

Expected runtime: ~10 min in a fresh workdir on a quiet 2-core Zen 5 EPYC (554 s of stages at
2187a34, 2026-12-05, peak RSS 3.5 GB; 10 min 06 s with the README's venv and install), an
estimated ~16-17 min on a 2-core AVX-512 AMD EPYC of the Zen 4 class (596 s at f03d368 with three
columns and a generator half as long; not measured since), 18-24 min on a 2-core Intel Xeon
with AMX (1,010-1,357 s of stages, 2026-12-06; that box's speed drifts within hours; its table in
BUILD_NOTES.md "Main job"). Stages (2187a34, Zen 5): SynthFACS
``fera_demo_large`` build 62 s (4,176 images), registration 1,500 steps 69-101 s, 2D / 3D
registration of every frame 10 / 22 s, oracle renders of the plan 36 s, generator 197 s (500 critic
warm-up iterations on the AU loss, then 340 GAN iterations at batch 32, each a critic and a G
update; critic width 32), synthesis with the edit-scale calibration and fidelity 18 s, the four
estimators (width 1/8, 600 steps of batch 32; the real ones on the 720 frontal training frames)
30-41 s each, scoring ~1 s each. Stages already finished in the same workdir are reused, so a re-run
takes seconds. Outputs: ``workdir/demo/report.md`` and ``report.html`` with a Table-2-style ICC
table, per-pose ICC, 95 % subject-bootstrap intervals, paired verdicts and drops from the frontal
view, the registration network's NME and the frontalisation oracle, the generator's fidelity
against SynthFACS oracle renders (read by the reference reader and by the generator's own critic)
and the synthetic set's edit scale, label distributions, learning curves and contact sheets.

What it produced (frontal test ICC(3,1), 480 frames of 30 held-out subjects, mean over 7 AUs, one
estimator per column; fresh clone of 2187a34 on the Zen 5 box, 2026-12-05): real / 2D 0.138 [0.100,
0.181], real / 3D 0.181 [0.140, 0.223] (occluded surface filled from its mirror image,
``align3d.fill``), both trained on the frontal view as the paper's are (``estimator.train_poses``);
synthetic / 3D 0.243 [0.194, 0.296] (2,220 generated images, 60 per AU and level, every head trained on
the image's target vector, the generator's edits drawn 1.5x as chosen by the real-3D reader on the 192
frontal validation frames: ``synthesis.calibrate_edit_scale``); oracle-synthetic / 3D 0.266 [0.232,
0.297] (the same plan rendered exactly). Per pose -40 / 0 / +40: 2D 0.054 / 0.138 / 0.092, 3D 0.086 /
0.181 / 0.129, synthetic 0.159 / 0.243 / 0.155, oracle 0.127 / 0.266 / 0.195. Verdicts of this one draw:
synthetic > real (3D) yes (+0.063 [+0.001, +0.122]); oracle > real (3D) yes (+0.085); synthetic > oracle
not resolved (-0.022); 3D > 2D yes (+0.042 [+0.007, +0.080]; -40: yes). **With
``--config.experiment.seeds=5``** (sixteen more estimators, ~9.5 min; each column is then the mean of
five estimators, so one training draw's luck weighs a fifth): real 2D 0.181 [0.141, 0.217], real 3D
0.198 [0.157, 0.233], synthetic 3D 0.209 [0.168, 0.252] (seeds 0.243 / 0.238 / 0.185 / 0.185 / 0.194),
oracle 0.279 [0.235, 0.320]; synthetic > real +0.011 [-0.037, +0.058] not resolved frontally, **yes at
-40 and +40** (+0.076 / +0.045); oracle > real **yes** at every pose (+0.081 [+0.053, +0.110]);
synthetic > oracle **no** (-0.070: the generator's gap); 3D > 2D +0.017 [-0.001, +0.039], not resolved
at any pose. The single draw's "synthetic > real" and "3D > 2D" do not survive five seeds
(BUILD_NOTES.md "Main job"). Generator fidelity (74 plan entries, at the chosen scale): L1 to the oracle
0.00994 against 0.01031 for copying the source; edit cosine 0.434 where a perfect generator of these 7
AUs would score 0.736; edit gain 0.398 (a perfect generator 0.660); the real-3D reader's ICC on
generated images 0.141 against 0.139 on the oracle renders; critic ICC 0.280 on the validation frames
([0.205, 0.344] over its 12 subjects; 0.318 [0.300, 0.335] on 500 held-out subjects,
``benchmarks/critic_heldout.py``), 0.581 on the oracle renders and 0.503 on the generated images. It
does NOT reproduce the paper's numbers: 720 frontal training frames, VGG16-BN width 1/8 from scratch for
600 steps is far from the paper's ImageNet-initialised VGG16 at 224 px. Results repeat bit for bit on
one CPU type, not across types (real 3D 0.173 on the Zen 5 box, 0.097 on the Zen 4 one with the same
code and the old 10-subject test split; BUILD_NOTES.md "Main job"). The paper's experiments are
``configs/paper/*.py`` (``:cpu`` runs them at these sizes; the same workdir shares every stage they have
in common).
"""

from configs.paper import base


def get_config() -> "ml_collections.ConfigDict":
    c = base.base_config("cpu")
    c.name = "demo"
    # Table 2's question at demo size, in 15 minutes on a 2-core CPU: real 2D / 3D, synthetic 3D and
    # the oracle-synthetic 3D column (the same plan rendered exactly by SynthFACS: a perfect
    # generator), which tells a weak generator (synthetic below oracle) from a resampling that does not
    # help (oracle below real). The generator's fidelity is scored against the same oracle renders
    # (synthesis stage). The unregistered baseline of jaxau.stages.graph.DEFAULT_COLUMNS is left to
    # configs/paper/table2.py:cpu (the same workdir reuses every shared stage).
    base.set_columns(c, {
        "real_2d": base.column("Real, 2D registration", "real:2d"),
        "real_3d": base.column("Real, 3D registration", "real:3d"),
        "synthetic_3d": base.column("Synthetic, 3D registration", "synthetic:3d"),
        "oracle_3d": base.column("Oracle synthetic, 3D registration", "oracle:3d"),
    })
    c.report.title = "jaxau demo on SynthFACS (fera_demo_large)"
    return c
