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

from jaxau import au


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "registration_synthfacs"
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.name = "synthfacs/fera_small"
    c.data.manual_dir = ""
    c.data.data_dir = ""            # '' = <workdir>/../tfds (shared by runs under the same parent).
    c.data.aus = ",".join(au.FERA2017_AUS)
    c.data.image_size = 64          # Registered output size (register.py).

    c.registration = ml_collections.ConfigDict()
    c.registration.image_size = 64
    c.registration.base_width = 4
    c.registration.batch_size = 8
    c.registration.num_steps = 600
    c.registration.learning_rate = 1e-3
    c.registration.schedule = "cosine"
    c.registration.bn_momentum = 0.9     # PRNet: 0.999 (long runs).
    c.registration.rotation_deg = 10.0
    c.registration.jitter_shift = 0.1
    c.registration.jitter_scale = "0.9,1.1"
    c.registration.color_jitter = 0.2
    c.registration.checkpoint_every = 200
    c.registration.log_every = 50
    c.registration.max_train_frames = 0  # 0 = every training frame.

    # register.py: which model, which alignment, how.
    c.model_dir = ""                # A registration run directory.
    c.mode = "3d"                   # '2d' (landmark Procrustes) or '3d' (frontalization).
    c.splits = "train,validation,test"
    c.align = ml_collections.ConfigDict()
    c.align.batch_size = 16
    c.align.chunk_size = 256
    c.align.boxes = "auto"          # auto | ground_truth | cascade | /path/to/boxes.csv (key,x0,y0,x1,y1)
    c.align.max_fit_error = 0.15
    c.align.face_scale = 0.8        # Landmark box side / output side, 2D and 3D alike.
    c.align.oracle_frames = 240     # Test frames of the frontalisation oracle (SynthFACS only).
    c.align2d = ml_collections.ConfigDict()
    c.align2d.pose = ""             # '' = frontal; 'yaw,pitch[,roll]' degrees renders that pose.
    c.align3d = ml_collections.ConfigDict()
    c.align3d.occluded_black = True
    c.align3d.pose = ""
    return c
