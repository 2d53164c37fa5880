"""The main job: the whole pipeline on SynthFACS, sized for a 2-core CPU.

Command (the README's first command runs exactly this)::

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo

Expected runtime: ~4-5 minutes on a quiet 2-core CPU with no GPU (measured 2026-11-24 from a fresh
clone, venv and install included: 4 min 37 s; SynthFACS ``fera_demo`` build 34 s, registration 72 s,
both registrations 17 s, generator 28 s, synthesis 2 s, four estimators 14-22 s each); stages already finished in the same workdir are reused,
so a re-run takes seconds. Outputs: ``workdir/demo/report.md`` and ``report.html`` with a Table-2-style
ICC table (no / 2D / 3D registration x real / synthetic training), per-pose ICC, label distributions
before and after resampling, learning curves, registration / alignment / synthesis contact sheets and
per-stage timings.

What it shows: the whole pipeline running end to end, cached and resumable. It does NOT reproduce the
paper's numbers or their ordering: at this size (480 training frames, networks trained from scratch for
a few hundred steps on 2 cores) the estimators are close to constant predictors (mean ICC ~0, see
BUILD_NOTES.md "Main job"). Paper-sized experiment configs (``configs/paper/``) are not written yet.
"""

import ml_collections

from jaxau.data import au


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "demo"
    c.seed = 0

    # ---- data: which dataset and where TFDS keeps it ('' = <workdir>/tfds).
    c.data = ml_collections.ConfigDict()
    c.data.name = "synthfacs/fera_demo"
    c.data.manual_dir = ""          # Licensed datasets: your copy, built into data_dir on first use.
    c.data.data_dir = ""
    c.data.aus = ",".join(au.FERA2017_AUS)
    c.data.image_size = 64          # Registered-frame size used by the generator and the estimator.
    c.data.test_poses = "4"         # Headline numbers on the frontal view (SynthFACS fera: pose id 4).

    # ---- registration network (PRNet resfcn256 at a reduced size; jaxau/train/registration.py).
    c.registration = ml_collections.ConfigDict()
    c.registration.image_size = 64
    c.registration.base_width = 4
    c.registration.batch_size = 8
    c.registration.num_steps = 600
    c.registration.learning_rate = 3e-3
    c.registration.bn_momentum = 0.9       # PRNet's 0.999 needs far longer runs.
    c.registration.rotation_deg = 5.0      # Light augmentation: a few hundred steps cannot absorb more.
    c.registration.jitter_shift = 0.05
    c.registration.jitter_scale = "0.95,1.05"
    c.registration.color_jitter = 0.1
    c.registration.checkpoint_every = 200
    c.registration.log_every = 50

    # ---- alignment (jaxau/stages/register.py; output size: data.image_size).
    c.align = ml_collections.ConfigDict()
    c.align.batch_size = 32         # Frames registered per jitted call.
    c.align.chunk_size = 256        # Frames per resumable chunk.
    c.align.boxes = "auto"          # Ground-truth landmark boxes when the dataset has them, else cascade.
    c.align.max_fit_error = 0.15    # Registrations further from a similarity of the template fail.
    c.align2d = ml_collections.ConfigDict()
    c.align2d.template_scale = 0.8
    c.align2d.pose = ""             # '' = frontal; 'yaw,pitch[,roll]' degrees.
    c.align3d = ml_collections.ConfigDict()
    c.align3d.occluded_black = True
    c.align3d.pose = ""

    # ---- generator (GANimation with the idiosyncratic loss; jaxau/train/generator.py). ~150 ms per
    # iteration on 2 busy cores + ~30 s of compilation: ~1.5 minutes. A weak generator at this size.
    c.generator = ml_collections.ConfigDict()
    c.generator.image_size = 64     # Must equal data.image_size (it trains on the registered frames).
    c.generator.g_width = 16
    c.generator.g_blocks = 3        # Paper: 6.
    c.generator.d_width = 16
    c.generator.d_layers = 5        # 64 / 2**5 = 2: the paper's 2x2 AU-head kernel at 128 with 6.
    c.generator.batch_size = 8
    c.generator.num_steps = 400     # D iterations; G updates every n_critic-th (80 G updates).
    c.generator.n_critic = 5
    c.generator.lambda_ids = 1.0    # Table S4 variants: 0 disables the idiosyncratic loss;
    c.generator.attention = True    # False: StarGAN-style generator (no attention mask).
    c.generator.checkpoint_every = 200
    c.generator.log_every = 50
    c.generator.grid_every = 0      # Only the final sweep grid (preview_generator.png).
    c.generator.grid_sources = 2

    # ---- semantic resampling (jaxau/synthesis; 12 AUs x 6 levels x per_level images).
    c.synthesis = ml_collections.ConfigDict()
    c.synthesis.per_level = 20      # N images per AU per level (paper: 5,000).
    c.synthesis.batch_size = 32
    c.synthesis.chunk_size = 256    # Resumable unit.
    c.synthesis.targets = ""        # Cross-domain: another frame set's .npz for the target labels.

    # ---- estimator (VGG16 with a 6-way head per AU).
    c.estimator = ml_collections.ConfigDict()
    c.estimator.width = 0.25
    c.estimator.batch_size = 16
    c.estimator.num_steps = 200
    c.estimator.learning_rate = 1e-3
    c.estimator.dropout = 0.2       # Paper: 0.5 (ImageNet-initialised); too strong from scratch here.
    c.estimator.per_level = 40      # Real-data balancing: N frames per AU per level (paper: 5,000).
    c.estimator.freeze = ""         # No ImageNet weights on this machine: train from scratch.
    c.estimator.pretrained = ""
    c.estimator.readout = "argmax"
    c.estimator.normalization = "none"  # Paper Sec. 4.5 / Table 3: 'au0' or 'mean' (personal normalisation).

    c.report = ml_collections.ConfigDict()
    c.report.title = "jaxau demo on SynthFACS (fera_demo)"
    return c
