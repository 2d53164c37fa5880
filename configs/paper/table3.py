"""Table 3 (our columns): personal normalisations of the 3D-synthetic estimator (FERA 2017 test, frontal).

Command::

    python launch/reproduce.py --config=configs/paper/table3.py --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/table3.py:cpu --workdir=runs/paper_cpu

Normalisations (paper Sec. 4.5, `jaxau.data.normalize`): none; AU0 (frame minus the subject's neutral
frame); personal mean texture (frame minus the subject's mean registered image). Applied to training
and test frames alike.

Expected cost: after Table 2 in the same workdir only two new estimators: ``:cpu`` ~3 minutes,
paper size ~1 GPU-hour (estimate, not measured); alone, add Table 2's registration and 3D generator
(~11 GPU-hours).

Paper numbers it targets: mean ICC 0.525 (no norm), 0.521 (AU0), **0.570 (mean texture)**.
"""

from configs.paper import base


def get_config(arg=None):
    size, _ = base.parse_arg(arg)
    c = base.base_config(size)
    c.name = "table3"
    base.set_columns(c, {
        "no_norm": base.column("No norm", "synthetic:3d", paper="table3/No norm"),
        "au0": base.column("AU0 norm", "synthetic:3d", overrides="estimator.normalization=au0",
                           paper="table3/AU0 norm"),
        "mean": base.column("Mean norm", "synthetic:3d", overrides="estimator.normalization=mean",
                            paper="table3/Mean norm"),
    })
    c.report.title = f"Table 3: personal normalisations ({size} size)"
    return c
