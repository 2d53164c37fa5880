"""Table S4: GAN architectures — GANimation, StarGAN (no attention mask), and GANimation's internal
classifier (the critic's AU-regression head D_exp used directly as the estimator).

Command::

    python launch/reproduce.py --config=configs/paper/table_s4.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table_s4.py:cpu --workdir=runs/paper_cpu

Expected cost: after Table 2 one new (StarGAN-style) generator, its synthesis and estimator, and the
critic's scoring: ``:cpu`` ~3 minutes, paper size ~6 GPU-hours (estimate, not measured).

Paper numbers it targets: mean ICC 0.525 (GANimation), 0.523 (StarGAN), 0.454 (internal classifier).
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table_s4"
    base.set_columns(c, {
        "ganimation": base.column("GANimation", "synthetic:3d", paper="s4/GANimation"),
        "stargan": base.column("StarGAN", "synthetic:3d", overrides="generator.attention=False",
                               paper="s4/StarGAN"),
        "internal": base.column("GANimation internal classifier", "internal",
                                paper="s4/GANimation internal classifier"),
    })
    c.report.title = f"Table S4: GAN architectures ({size} size)"
    return c
