"""GANimation + idiosyncratic loss on frontal SynthFACS ``fera`` frames (until registered sets exist).

Commands::

    python launch/train_generator.py --config=configs/generator/synthfacs.py --workdir=runs/gen
    python launch/synthesize.py --config=configs/generator/synthfacs.py --workdir=runs/synth \\
        --config.synthesis.generator_dir=runs/gen

Table S4 variants: ``--config.generator.lambda_ids=0`` (no idiosyncratic loss),
``--config.generator.attention=False`` (StarGAN-style generator, no attention mask),
``--config.generator.lambda_mask=0.1 --config.generator.lambda_tv=1e-5`` (official GANimation mask
terms). Training on registered frames: ``--config.generator.frames=<register_3d stage>/train.npz``.

Expected runtime: ~10 minutes on a 2-core CPU at these settings (64x64, widths 16, 600 iterations);
the result is a weak generator (a few epochs of a tiny model). Paper-sized on one GPU:
``--config.generator.image_size=128 --config.generator.g_width=64 --config.generator.d_width=64
--config.generator.g_blocks=6 --config.generator.batch_size=24 --config.generator.num_steps=150000``.

What it should reproduce: sweeps in ``<workdir>/grids`` that move the swept AU (brows for AU01/AU04,
mouth corners for AU12), and a lower Fréchet distance (estimator features) with the idiosyncratic
loss than without (BUILD_NOTES.md).
"""

import ml_collections

from configs.paper import base


def get_config() -> ml_collections.ConfigDict:
    c = base.base_config("cpu")
    c.name = "generator_synthfacs"
    c.data.name = "synthfacs/fera_demo"
    c.data.train_split = "train"
    c.data.train_poses = "4"        # Raw frames: frontal only (SynthFACS fera: pose id 4).

    # The paper's GANimation recipe at 64 px (every other field: base.py's CPU value).
    c.generator.frames = ""         # A frame set .npz (e.g. registered frames); '' = c.data via TFDS.
    c.generator.max_frames = 0      # 0 = all training frames.
    c.generator.d_width = 16
    c.generator.batch_size = 8
    c.generator.num_steps = 600
    c.generator.n_critic = 5
    c.generator.learning_rate = 1e-4
    c.generator.d_learning_rate = 0.0  # = learning_rate.
    c.generator.critic_warmup = 0
    c.generator.critic_warmup_loss = "full"
    c.generator.attention_offset = 0.0
    c.generator.lambda_ids = 1.0
    c.generator.partners = "subject"
    c.generator.au_conditioning = "input"
    # 'absolute' (GANimation: G sees the target AUs) or 'relative' (target minus source AUs).
    c.generator.conditioning = "absolute"
    c.generator.upsample = "transpose"
    c.generator.eval_every = 0
    c.generator.log_every = 20
    c.generator.grid_every = 200
    c.generator.grid_sources = 3

    c.synthesis.generator_dir = ""  # A trained generator run directory (launch/synthesize.py).
    c.synthesis.sources = ""        # Source frame set .npz; '' = c.data's training split.
    c.synthesis.targets = ""        # Target-label frame set .npz (cross-domain); '' = the sources.
    c.synthesis.per_level = 20
    c.synthesis.batch_size = 32
    c.synthesis.chunk_size = 256
    c.synthesis.fidelity_per_cell = 0  # Oracle fidelity is the pipeline's (stages/synthesis.py).
    # The edit-scale calibration reads with the pipeline's real estimator; here the scale is fixed.
    c.synthesis.calibrate_edit_scale = False
    # 'semantic' (the paper's balanced plan) or 'natural' (as many pairings, unbalanced; PLANS).
    c.synthesis.plan = "semantic"
    return c
