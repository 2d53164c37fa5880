"""Table S3 (and Sec. 4.4): the idiosyncratic loss off (lambda_ids = 0) and on (lambda_ids = 1).

Both columns train GANimation on 3D-registered FERA frames, synthesize the balanced set and train
VGG16 on it; tested on FERA test, frontal. (The paper's image-quality claim, FID 5.94 without vs
4.88 with, is measured on the two synthetic sets with `jaxau.evaluation.frechet`; not part of this
table.)

Command::

    python launch/reproduce.py --config=configs/paper/table_s3.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table_s3.py:cpu --workdir=runs/paper_cpu

Expected cost: after Table 2 one new generator, synthesis and estimator: ``:cpu`` ~3 minutes, paper
size ~6 GPU-hours (estimate, not measured).

Paper numbers it targets: mean ICC 0.525 without, 0.523 with (no ICC gain; image quality improves).
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table_s3"
    base.set_columns(c, {
        "without_ids": base.column("Without idiosyncratic loss", "synthetic:3d",
                                   overrides="generator.lambda_ids=0.0", paper="s3/Without idiosyncratic loss"),
        # The baseline generator: lambda_ids 1 at paper size, 1,000 at CPU and :medium size (configs/paper/base.py).
        "with_ids": base.column("With idiosyncratic loss", "synthetic:3d", paper="s3/With idiosyncratic loss"),
    })
    c.report.title = f"Table S3: idiosyncratic loss off / on ({size} size)"
    return c
