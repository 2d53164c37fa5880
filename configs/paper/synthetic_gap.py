"""The synthetic-oracle gap split into its parts (not in the paper): why generated sets teach less.

Command (CPU sizes; ``:medium`` for Table 2's size)::

    python launch/reproduce.py --config=configs/paper/synthetic_gap.py:cpu --workdir=runs/gap \
        --config.experiment.seeds=5

The oracle-synthetic column (the synthesis plan rendered exactly by SynthFACS) beats the real
frames while the generated set does not (BUILD_NOTES.md "Main job", "Table 2 at :medium"). Each
column here trains on the same plan, the same sources and the same target labels, rendered with one
of a generator's possible shortcomings:

* ``oracle_3d``: the exact oracle, all 18 simulated AUs set to the target frame's;
* ``labelled_3d``: only the set's AU columns changed (``oracle.expression_aus='labelled'``): a
  perfect generator, which is told only those; the gap to ``oracle_3d`` is what the untold AUs
  (the target frames' other facial actions) teach;
* ``faint_3d``: the labelled oracle drawn at ``oracle.strength`` 0.4 of each expression change,
  labelled with the full target: a generator whose edits point the right way and are faint (its
  edit gain against the exact oracle, 0.266, matches the demo generator's 0.262; ``oracle.json``'s
  ``edit`` measures each set the way the synthesis stage measures the generator);
* ``faint70_3d``: the same at 0.7 of each change (the curve between ``faint_3d`` and ``labelled_3d``);
* ``faint_added_3d`` / ``faint_removed_3d``: the same, with only the AUs the target raises drawn
  faintly (``oracle.direction='up'``: the expression added at 0.4, the source's own removed fully)
  or only those it lowers (``'down'``: the target drawn fully, 0.6 of the source's own expression
  left in place under the target's labels);
* ``synthetic_3d``: the generator's images; the synthesis stage's fidelity record says which half
  of the change it draws (``edit_gain_added`` / ``edit_gain_removed``);
* ``synthetic_k15_3d`` / ``synthetic_k2_3d``: the generator's edits drawn 1.5 / 2 times larger
  (``synthesis.edit_scale``; the demo's calibration chooses k itself): the generator's own lever on
  the strength the faint oracles isolate;
* ``regenerated_3d``: the exact oracle set drawn again by the generator with each image's own
  labels (``regenerated:3d``, G at ``synthesis.edit_scale``): the exact expression in the generator's
  hand, its texture and artefacts and its reading of an expression already there; the gap to
  ``oracle_3d`` is what the generator's hand costs a set apart from the edits it draws, the gap
  from it to ``synthetic_3d`` what its edits cost;
* ``blurred_3d``: the exact oracle blurred by a Gaussian of ``BLUR_SIGMA`` pixels (``oracle.blur``),
  more texture lost than in the generator's redraw: whether blur alone is what the generator's
  hand costs;
* ``synthetic_edit_3d``: the generator's edit added to the source, ``x + G(x | y_t) - G(x | y_x)``
  (``synthesis.draw='edit'``): G's hand where it redraws the same under both labels cancels, and
  the source's own expression stays as far as G's edit does not remove it;
* ``synthetic_own_3d`` / ``regenerated_own_3d`` / ``synthetic_own_k2_3d``: a second generator
  trained with ``OWN_FRACTION`` of each batch partnered with itself (``generator.own_fraction``:
  ``G(x | y_x)`` held to ``x``): its set, the exact oracle redrawn by it, and its edits drawn twice
  as large;
* ``synthetic_rel_3d`` / ``regenerated_rel_3d``: a generator conditioned on the change ``y_t - y_x``
  instead of the target ``y_t`` (``generator.conditioning='relative'``, Ling et al. 2020's relative
  AUs): told how much of each AU to add or remove, it need not judge from the face how much is
  already there; its set, the exact oracle redrawn by it (a zero change for every image), and its
  edits drawn 1.5 times larger (``synthetic_rel_k15_3d``);
* ``synthetic_pairs_3d`` / ``synthetic_rel_pairs_3d``: GANimation's and the relative-AU generator
  trained on change-balanced pairs (``generator.sampling='pairs'``): each (source, same-sequence
  partner) pair drawn so that every AU's change levels are about equally likely, so the paired
  loss shows a rare AU's edit (AU01, AU04, AU17) with its exact answer 2-3x as often;
* ``synthetic_exact_pairs_3d``: GANimation's generator whose idiosyncratic L1 (its strongest signal,
  lambda_ids 1,000) targets the exact render of each same-sequence pair instead of the partner frame
  (``generator.partners='oracle'``: the source's own scene, pose and head showing the partner's
  labelled AUs): a generator shown the exact answer to every edit it trains on, so that what its
  architecture and budget can draw is told apart from what its losses teach it;
* ``synthetic_small_3d``: the generator's set with as many plan entries as there are real training
  frames (``configs.paper.base.real_size_per_level``): whether the set's size, not its images,
  limits it (at demo size the exact oracle plan scores higher at that size: ``real_levels.py``).

``benchmarks/training_sets.py`` reads every one of these sets with the real 3D column's model: how
strongly each shows its labels to an estimator trained on real frames.

The report's paired comparisons walk down that ladder on the same test frames.

Measured at ``:cpu`` with ``--config.experiment.seeds=5`` (2-core Intel Xeon box, 2026-12-06, frontal
ICC(3,1), 30 test subjects; ~75 min of stages in four runs; BUILD_NOTES.md "Generator fidelity"):
exact oracle 0.267, labelled 0.248 (+0.019 n.r.), removed half at 0.4 0.225 (n.r.), 0.7 strength 0.131
(-0.117 resolved), added half at 0.4 0.028 and 0.4 strength 0.014 (-0.220 / -0.234 resolved); the
generator 0.180 at edit scale 1, 0.214 at 1.5, 0.205 at 2; real 3D 0.191; the exact oracle redrawn
by the generator 0.289 (-0.022 against the oracle, n.r.; +0.109 over the generator's own set,
resolved). The strength of the expression drawn in is what a synthetic set must get right; the
generator's edits read at 0.64x the exact oracle's strength (``benchmarks/training_sets.py``), 0.91x
at edit scale 1.5, and its hand on a face that already shows the expression costs nothing. Adding
``--stages=synthetic_rel_3d,regenerated_rel_3d`` there (same box, 2026-12-07, 20 min): the
relative-AU generator's set 0.117 (-0.062 against the generator's, resolved) and the exact oracle
redrawn by it 0.203 (-0.064 against the exact oracle, resolved, although it changes the renders a
quarter as much as the generator does): at this size its fainter hand loses what the generator's
habit of pushing every expression further gains; at ``:medium`` the other way round (below).
``--stages=real_3d,oracle_3d,synthetic_3d,synthetic_small_3d`` (same box, 2026-12-07, 7 min): the
generator's set at the real set's size (629 images, 17 per cell) 0.196, +0.016 over its 2,220-image
set (n.r.) and +0.005 over real 3D (n.r.): unlike the exact oracle's, its set is not held back by
its size.
``--stages=real_3d,synthetic_3d,synthetic_pairs_3d`` from a fresh workdir (same box, 2026-12-07, 41
min, the last 13 beside a CI run): GANimation's generator on change-balanced pairs 0.201, +0.022 over
its set on uniform partners and +0.010 over real 3D (neither resolved; one generator, five estimator
seeds).

Expected cost at ``:cpu`` with five seeds: ~50 min of stages from scratch on that box (the demo's
data, registration, generator and synthesis ~11 min, six oracle renders ~1 min each, 50 estimators
~40 s each); in a demo workdir (``seeds=5``) only the new syntheses, renders and estimators run,
~35 min.

At ``:medium`` three columns were run (``--stages=real_3d,synthetic_k15_3d,synthetic_3d``, two
seeds, same box, ~2 h of stages from scratch): real 3D 0.535, the generator 0.417 at edit scale 1
and 0.385 at 1.5 (-0.032 [-0.065, -0.001], resolved), although at 1.5 its set reads to the real
3D reader exactly as strongly as real frames (slope 1.00x, from 0.81x): there the edits' strength is
not what the synthetic set lacks. With ``--stages=real_3d,oracle_3d,labelled_3d,regenerated_3d,synthetic_3d``
(same box, ~13 min of renders per oracle set and ~9 min per 3,000-step estimator alone): exact oracle
0.639, labelled 0.633 (+0.006 n.r.), **redrawn by the generator 0.515** (-0.124 resolved, although
it reads to the real 3D reader as strongly as the exact set), the generator's own 0.417 (-0.098
resolved below the redrawn set): at ``:medium`` the generator's hand costs more than its edits.
Adding ``--stages=blurred_3d`` and ``--stages=synthetic_edit_3d`` there (same box, 2026-12-06, two
seeds; the render ~11 min, the edit-drawn synthesis 75 s): the blurred oracle 0.640 (exact - blurred
-0.001, n.r.: blur is not the hand's cost), the generator's edit on the source 0.416 (edit - image
draw -0.001, n.r.; at ``:cpu``, five seeds, 0.124 and -0.056 [-0.093, -0.016], resolved worse); the
redrawn set differs in the levels the real reader sees (levels 2-3 a third of a level-step higher).
``--stages=synthetic_own_3d,regenerated_own_3d`` there (same box, 2026-12-07, two seeds, 43 min
alone: a generator 17 min, four estimators ~6 min each): the exact oracle redrawn by the
own-partner generator 0.600 (+0.085 over G's redraw, resolved; -0.039 against the exact oracle,
n.r.), its own set 0.329 (-0.089 against G's, resolved: its edits read at 0.42x the exact oracle's
strength, AU01 / AU04 not at all); ``--stages=synthetic_own_k2_3d`` (13 min): its edits drawn twice
as large 0.316 (-0.012 against scale 1, n.r.): the held-back edits do not come back with scale.
``--stages=synthetic_rel_3d,regenerated_rel_3d`` there (same box, 2026-12-07, two seeds, 45 min: a
generator 20 min, four estimators 5-6 min): the exact oracle redrawn by the relative-AU generator
0.622 (+0.107 over G's redraw, resolved; -0.017 against the exact oracle, n.r.: the hand is gone),
its own set 0.472 (+0.054 against G's, n.r.; subjects alone [+0.031, +0.080]; -0.063 against real
3D, resolved, where G's is -0.117): told the change, the generator keeps its edits and loses its
hand; a second relative-AU generator seed (``benchmarks/generator_fidelity.py --generator_seed=1
--column generator.conditioning=relative``) scores 0.441, so the set's gain is +0.02-0.05 per
generator, within the seed spread. ``--stages=synthetic_rel_k15_3d`` (13 min): its edits drawn 1.5x
larger 0.448 (-0.023, n.r.): with the hand gone, strength is still not what the set lacks.
``--stages=faint_removed_3d`` (16 min): 0.645 (labelled - it -0.012, n.r.; +0.067 at -40,
resolved): the source's own expression left in place costs nothing frontally at this size either.
``--stages=real_3d,synthetic_rel_pairs_3d`` from a fresh workdir (same box type, 2026-12-07, 70 min
alone: data 5.5 min, registration 4.4, register_3d 2.2, the generator 20.6, six estimators ~8-9.6
min each; real 3D reproduced to the last digit, 0.535): the relative-AU generator on change-balanced
pairs 0.455 (-0.017 against the relative G's 0.472, within its seed spread; -0.079 against real 3D,
resolved), AU01 0.041: its edits are larger and more exact (gain 0.346 vs 0.308) and the real reader
reads its AU01 images better (0.29 vs 0.20), yet an estimator still does not learn AU01 from them.
``--stages=real_3d,synthetic_3d,synthetic_aug_3d`` there (same box, 2026-12-07, 1.3.0 frames, two
seeds; the generator 38 min and one estimator beside a CI run, synthesis 129 s, the second estimator
10 min alone): a critic that sees every image shifted by up to 2 px 0.315 [0.277, 0.353] (0.316 /
0.314), **-0.102 [-0.151, -0.046] against GANimation's critic, resolved** (every pose): the critic
no longer reads G's images above the exact renders (0.445 vs 0.495), and neither it nor G keeps the
brows (the critic reads the exact renders' AU01 / AU04 at 0.15 / 0.27, G's at 0.01 / 0.01; the
column's AU01 / AU04 -0.04 / -0.04): a brow raise is a few pixels of vertical position, which the
shift makes ambiguous.
``--stages=real_3d,synthetic_exact_pairs_3d`` there (same box, 2026-12-08, 1.3.0 frames, two seeds,
~1 h 55 min beside a CI run: 10,800 exact pair renders 11 min, the generator ~60 min, two estimators
~17 min each): GANimation's generator on exact paired targets 0.376 [0.312, 0.443] (0.387 / 0.365),
-0.041 [-0.101, +0.016] against GANimation's partner frames (n.r.; -0.068 at -40, resolved worse):
shown the exact answer to every edit it trains on, the generator no longer draws for its critic
(critic on its images 0.561 against the exact renders' 0.685) and draws fainter edits (gain 0.221
against 0.284, reader 0.52x the oracle's against 0.71x).
"""

from configs.paper import base

# The share of each labelled expression change the faint oracles draw (the demo generator's edit
# gain against the exact oracle, 0.26, is what 0.4 draws); a second, stronger one maps the curve.
FAINT_STRENGTH = 0.4
HALF_STRENGTH = 0.7
# Gaussian sigma (pixels) of the blurred oracle: its renders lose more texture than the generator's
# redraw does (sharpness, the face's mean squared Laplacian against the exact renders', 0.84 at
# :medium and :cpu; the redrawn oracle's 0.91 / 0.92: benchmarks/training_sets.py).
BLUR_SIGMA = 0.4
# The share of the own-partner generator's batches partnered with themselves (generator.own_fraction).
OWN_FRACTION = 0.25


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "synthetic_gap"
    base.set_columns(c, {
        "real_3d": base.column("3D Real", "real:3d"),
        "synthetic_3d": base.column("3D Synthetic", "synthetic:3d"),
        # The generator's own lever on the drawn strength: every edit k times larger (src + k (G - src)).
        "synthetic_k15_3d": base.column("3D Synthetic, edit scale 1.5", "synthetic:3d",
                                        overrides="synthesis.calibrate_edit_scale=False; synthesis.edit_scale=1.5"),
        "synthetic_k2_3d": base.column("3D Synthetic, edit scale 2", "synthetic:3d",
                                       overrides="synthesis.calibrate_edit_scale=False; synthesis.edit_scale=2.0"),
        "faint_3d": base.column(f"3D Oracle, labelled AUs at {FAINT_STRENGTH:g} strength", "oracle:3d",
                                overrides=f"oracle.expression_aus=labelled; oracle.strength={FAINT_STRENGTH}"),
        "faint70_3d": base.column(f"3D Oracle, labelled AUs at {HALF_STRENGTH:g} strength", "oracle:3d",
                                  overrides=f"oracle.expression_aus=labelled; oracle.strength={HALF_STRENGTH}"),
        "faint_added_3d": base.column(f"3D Oracle, labelled AUs, added at {FAINT_STRENGTH:g}", "oracle:3d",
                                      overrides=f"oracle.expression_aus=labelled; oracle.strength={FAINT_STRENGTH}; "
                                                "oracle.direction=up"),
        "faint_removed_3d": base.column(f"3D Oracle, labelled AUs, removed at {FAINT_STRENGTH:g}", "oracle:3d",
                                        overrides=f"oracle.expression_aus=labelled; oracle.strength={FAINT_STRENGTH}; "
                                                  "oracle.direction=down"),
        "labelled_3d": base.column("3D Oracle, labelled AUs", "oracle:3d",
                                   overrides="oracle.expression_aus=labelled"),
        "oracle_3d": base.column("3D Oracle synthetic", "oracle:3d"),
        "regenerated_3d": base.column("3D Oracle redrawn by the generator", "regenerated:3d"),
        "blurred_3d": base.column(f"3D Oracle blurred (sigma {BLUR_SIGMA:g} px)", "oracle:3d",
                                  overrides=f"oracle.blur={BLUR_SIGMA}"),
        # The generator's edit on the source instead of its image: x + G(x | y_t) - G(x | y_x).
        "synthetic_edit_3d": base.column("3D Synthetic, the generator's edit on the source", "synthetic:3d",
                                         overrides="synthesis.draw=edit"),
        # A generator trained with a share of its batches partnered with themselves (G(x | y_x) held
        # to x): its images, the exact oracle redrawn by it, and its edits drawn twice as large.
        "synthetic_own_3d": base.column(f"3D Synthetic, own partners {OWN_FRACTION:g}", "synthetic:3d",
                                        overrides=f"generator.own_fraction={OWN_FRACTION}"),
        "regenerated_own_3d": base.column("3D Oracle redrawn by the own-partner generator", "regenerated:3d",
                                          overrides=f"generator.own_fraction={OWN_FRACTION}"),
        "synthetic_own_k2_3d": base.column(f"3D Synthetic, own partners {OWN_FRACTION:g}, edit scale 2",
                                           "synthetic:3d",
                                           overrides=f"generator.own_fraction={OWN_FRACTION}; "
                                                     "synthesis.calibrate_edit_scale=False; synthesis.edit_scale=2.0"),
        # GANimation's generator whose idiosyncratic L1 targets exact renders of each same-sequence pair
        # (the source's own scene showing the partner's AUs; generator.partners='oracle').
        "synthetic_exact_pairs_3d": base.column("3D Synthetic, exact paired targets", "synthetic:3d",
                                                overrides="generator.partners=oracle"),
        # A generator told the change to draw (target minus source AUs) instead of the target.
        "synthetic_rel_3d": base.column("3D Synthetic, relative AUs", "synthetic:3d",
                                        overrides="generator.conditioning=relative"),
        "regenerated_rel_3d": base.column("3D Oracle redrawn by the relative-AU generator", "regenerated:3d",
                                          overrides="generator.conditioning=relative"),
        "synthetic_rel_k15_3d": base.column("3D Synthetic, relative AUs, edit scale 1.5", "synthetic:3d",
                                            overrides="generator.conditioning=relative; "
                                                      "synthesis.calibrate_edit_scale=False; synthesis.edit_scale=1.5"),
        # Generators (GANimation's and the relative-AU one) trained on same-sequence pairs drawn
        # so that every AU's change levels are about equally likely (generator.sampling=pairs): a
        # rare AU's edit (AU01, AU04, AU17: 7-8 % of frames) meets its exact target more often.
        "synthetic_pairs_3d": base.column("3D Synthetic, change-balanced pairs", "synthetic:3d",
                                          overrides="generator.sampling=pairs"),
        "synthetic_rel_pairs_3d": base.column("3D Synthetic, relative AUs, change-balanced pairs", "synthetic:3d",
                                              overrides="generator.conditioning=relative; generator.sampling=pairs"),
        # GANimation's generator whose critic sees every image (real and generated, and G's image in
        # G's losses) translated by up to 2 px (DiffAugment's translation): a critic that cannot
        # memorise pixel positions is harder to satisfy with a cue of the generator's own.
        "synthetic_aug_3d": base.column("3D Synthetic, critic inputs shifted by up to 2 px", "synthetic:3d",
                                        overrides="generator.d_augment_shift=2"),
        # The generator's set at the real training set's size (as many plan entries as real frames):
        # at an equal count the balanced oracle beats the larger one at demo size (real_levels.py).
        "synthetic_small_3d": base.column("3D Synthetic, the real set's size", "synthetic:3d",
                                          overrides=f"synthesis.per_level={base.real_size_per_level(c)}"),
    })
    c.experiment.compare = ("oracle_3d>real_3d, synthetic_3d>real_3d, oracle_3d>labelled_3d, "
                            "labelled_3d>faint_3d, faint_3d>synthetic_3d, labelled_3d>faint_added_3d, "
                            "labelled_3d>faint_removed_3d, faint_added_3d>faint_removed_3d, "
                            "synthetic_3d>faint_added_3d, labelled_3d>faint70_3d, faint70_3d>synthetic_3d, "
                            "synthetic_k15_3d>synthetic_3d, synthetic_k2_3d>synthetic_3d, "
                            "labelled_3d>synthetic_k2_3d, synthetic_k15_3d>real_3d, oracle_3d>regenerated_3d, "
                            "regenerated_3d>synthetic_3d, regenerated_3d>real_3d, synthetic_edit_3d>synthetic_3d, "
                            "oracle_3d>synthetic_edit_3d, synthetic_edit_3d>real_3d, oracle_3d>blurred_3d, "
                            "blurred_3d>regenerated_3d, regenerated_own_3d>regenerated_3d, "
                            "oracle_3d>regenerated_own_3d, synthetic_own_3d>synthetic_3d, "
                            "regenerated_own_3d>synthetic_own_3d, synthetic_own_k2_3d>synthetic_own_3d, "
                            "synthetic_own_k2_3d>synthetic_3d, synthetic_own_k2_3d>real_3d, "
                            "synthetic_rel_3d>synthetic_3d, regenerated_rel_3d>regenerated_3d, "
                            "oracle_3d>regenerated_rel_3d, regenerated_rel_3d>synthetic_rel_3d, "
                            "synthetic_rel_3d>real_3d, synthetic_rel_k15_3d>synthetic_rel_3d, "
                            "synthetic_rel_k15_3d>real_3d, synthetic_small_3d>synthetic_3d, "
                            "synthetic_small_3d>real_3d, oracle_3d>synthetic_small_3d, "
                            "synthetic_pairs_3d>synthetic_3d, synthetic_pairs_3d>real_3d, "
                            "synthetic_rel_pairs_3d>synthetic_rel_3d, synthetic_rel_pairs_3d>real_3d, "
                            "oracle_3d>synthetic_rel_pairs_3d, synthetic_aug_3d>synthetic_3d, "
                            "synthetic_aug_3d>real_3d, synthetic_exact_pairs_3d>synthetic_3d, "
                            "synthetic_exact_pairs_3d>real_3d, oracle_3d>synthetic_exact_pairs_3d")
    c.report.title = f"The synthetic-oracle gap, step by step ({size} size)"
    return c
