"""PRNet-style registration trained on SynthFACS, then registered (2-D / 3-D) derived datasets.

Commands::

    python launch/train_registration.py --config=configs/registration/synthfacs.py --workdir=runs/reg
    python launch/register.py --config=configs/registration/synthfacs.py --workdir=runs/reg3d \\
        --config.model_dir=runs/reg --config.mode=3d
    python launch/preview_registration.py --config=configs/registration/synthfacs.py --workdir=runs/reg

Expected runtime: ~5 minutes on a 2-core CPU for training at these settings (64x64 input, base width
4, 600 steps) after the ``fera_small`` build (~2 minutes); registering fera_small's 216 frames takes
well under a minute. The paper-sized network (``--config.registration.image_size=256
--config.registration.base_width=16 --config.registration.bn_momentum=0.999``, 100k+ steps on the
full ``synthfacs/fera``) is a GPU/TPU job.

What it should reproduce: landmark NME (normalised by the landmark box, as AFLW2000-3D) below the
mean-shape baseline at every pose of the test split; numbers in BUILD_NOTES.md.
"""

import ml_collections

from configs.paper import base


def get_config() -> ml_collections.ConfigDict:
    c = base.base_config("cpu")
    c.name = "registration_synthfacs"
    c.data.name = "synthfacs/fera_small"
    c.data.image_size = 64          # Registered output size (register.py).

    # Every other registration field: base.py's CPU value (64 px, width 4, batch 8, cosine schedule).
    c.registration.num_steps = 600
    c.registration.learning_rate = 1e-3
    c.registration.rotation_deg = 10.0
    c.registration.jitter_shift = 0.1
    c.registration.jitter_scale = "0.9,1.1"
    c.registration.color_jitter = 0.2

    # register.py: which model, which alignment, how (align / align2d / align3d: base.py's, e.g.
    # 'pixel' sampling and face_scale 0.8).
    c.model_dir = ""                # A registration run directory.
    c.mode = "3d"                   # '2d' (landmark Procrustes) or '3d' (frontalization).
    c.splits = "train,validation,test"
    c.align.batch_size = 16
    c.align.oracle_frames = 240     # Test frames of the frontalisation oracle (SynthFACS only).
    return c
