"""The main job: the whole pipeline on SynthFACS, sized for a 2-core CPU.

Command (the README's first command runs exactly this)::

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo

Expected runtime: <= 15 minutes on a 2-core CPU with no GPU (stages already finished in the same
workdir are reused, so a re-run takes seconds). Outputs: ``workdir/demo/report.md`` and
``report.html`` with a Table-2-style ICC table (2D/3D registration x real/synthetic training),
synthesized contact sheets, learning curves, label distributions and per-stage timings.

What it should reproduce: the paper's Table 2 ordering on SynthFACS's FERA-like domain — 3D
registration >= 2D, synthetic (balanced) training >= real training in mean ICC — at a small scale.
The absolute ICCs are not the paper's (different data, tiny models, minutes of CPU training).
"""

import ml_collections

from jaxau.data import au


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "demo"
    c.seed = 0

    # ---- data: which dataset and where TFDS keeps it ('' = <workdir>/tfds).
    c.data = ml_collections.ConfigDict()
    c.data.name = "synthfacs/fera_small"
    c.data.manual_dir = ""          # Licensed datasets: your copy, built into data_dir on first use.
    c.data.data_dir = ""
    c.data.aus = ",".join(au.FERA2017_AUS)
    c.data.image_size = 64          # Registered-frame size used by the generator and the estimator.
    c.data.test_poses = "0"         # Headline numbers on these pose ids (frontal), per pose as well.

    # ---- registration network (PRNet resfcn256 at a reduced size).
    c.registration = ml_collections.ConfigDict()
    c.registration.image_size = 64
    c.registration.base_width = 4
    c.registration.batch_size = 8
    c.registration.num_steps = 150
    c.registration.learning_rate = 1e-3

    # ---- alignment.
    c.align = ml_collections.ConfigDict()
    c.align.batch_size = 32         # Frames registered per jitted call (output size: data.image_size).
    c.align2d = ml_collections.ConfigDict()
    c.align2d.template_scale = 0.8
    c.align3d = ml_collections.ConfigDict()
    c.align3d.occluded_black = True

    # ---- generator (GANimation with the idiosyncratic loss).
    c.generator = ml_collections.ConfigDict()
    c.generator.image_size = 64
    c.generator.g_width = 16
    c.generator.d_width = 16
    c.generator.batch_size = 8
    c.generator.num_steps = 150
    c.generator.n_critic = 5
    c.generator.lambda_ids = 1.0

    # ---- semantic resampling.
    c.synthesis = ml_collections.ConfigDict()
    c.synthesis.per_level = 20      # N images per AU per level (paper: 5,000).

    # ---- estimator (VGG16 with a 6-way head per AU).
    c.estimator = ml_collections.ConfigDict()
    c.estimator.width = 0.25
    c.estimator.batch_size = 16
    c.estimator.num_steps = 200
    c.estimator.learning_rate = 3e-4
    c.estimator.per_level = 40      # Real-data balancing: N frames per AU per level (paper: 5,000).
    c.estimator.freeze = ""         # No ImageNet weights on this machine: train from scratch.
    c.estimator.pretrained = ""
    c.estimator.readout = "argmax"

    c.report = ml_collections.ConfigDict()
    c.report.title = "jaxau demo on SynthFACS (fera_small)"
    return c
