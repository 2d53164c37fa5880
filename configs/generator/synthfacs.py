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

from jaxau import au


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "generator_synthfacs"
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.name = "synthfacs/fera_demo"
    c.data.manual_dir = ""
    c.data.data_dir = ""            # '' = <workdir>/../tfds (shared by runs under the same parent).
    c.data.aus = ",".join(au.FERA2017_AUS)
    c.data.train_split = "train"
    c.data.train_poses = "4"        # Raw frames: frontal only (SynthFACS fera: pose id 4).

    c.generator = ml_collections.ConfigDict()
    c.generator.frames = ""         # A frame set .npz (e.g. registered frames); '' = c.data via TFDS.
    c.generator.max_frames = 0      # 0 = all training frames.
    c.generator.image_size = 64
    c.generator.g_width = 16
    c.generator.g_blocks = 3
    c.generator.d_width = 16
    c.generator.d_layers = 5
    c.generator.attention = True
    c.generator.batch_size = 8
    c.generator.num_steps = 600
    c.generator.decay_steps = -1    # -1: linear decay over the last third.
    c.generator.n_critic = 5
    c.generator.learning_rate = 1e-4
    c.generator.lambda_ids = 1.0
    c.generator.lambda_mask = 0.0
    # The replicate's choices; the demo's CPU deviations (configs/paper/base.py, BUILD_NOTES "Generator
    # fidelity") are --config.generator.partners=sequence --config.generator.au_conditioning=film
    # --config.generator.upsample=resize --config.generator.critic_warmup=100 --config.generator.n_critic=2.
    c.generator.partners = "subject"
    c.generator.au_conditioning = "input"
    c.generator.upsample = "transpose"
    c.generator.critic_warmup = 0
    c.generator.lambda_tv = 0.0
    c.generator.checkpoint_every = 200
    c.generator.log_every = 20
    c.generator.grid_every = 200
    c.generator.grid_sources = 3

    c.synthesis = ml_collections.ConfigDict()
    c.synthesis.generator_dir = ""  # A trained generator run directory (launch/synthesize.py).
    c.synthesis.sources = ""        # Source frame set .npz; '' = c.data's training split.
    c.synthesis.targets = ""        # Target-label frame set .npz (cross-domain); '' = the sources.
    c.synthesis.per_level = 20
    c.synthesis.batch_size = 32
    c.synthesis.chunk_size = 256
    return c
