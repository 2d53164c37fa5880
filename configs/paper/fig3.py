"""Fig. 3: influence of the generator's loss weights on ICC (one weight swept, the others at the
paper's baseline lambda_adv = 1, lambda_exp = 160, lambda_idt = 10).

Command (the second part of the argument picks the weight: lambda_exp (default), lambda_adv,
lambda_idt)::

    python launch/reproduce.py --config=configs/paper/fig3.py:paper,lambda_exp --workdir=runs/paper
    python launch/reproduce.py --config=configs/paper/fig3.py:cpu,lambda_adv --workdir=runs/paper_cpu

Each value trains its own generator, synthesis and estimator (3D registration, FERA test, frontal);
the value equal to the baseline reuses Table 2's. The report tabulates and plots ICC per AU against
the weight.

Expected cost: ``:cpu`` ~3 minutes per value; paper size ~6 GPU-hours per value (estimate).

Paper: Fig. 3 is a plot without printed numbers; its conclusions: lambda_idt hardly matters, and
lambda_exp and lambda_adv have a global optimum at the baseline values (mean 0.525 there).
"""

from configs.paper import base

SWEEPS = {
    "lambda_exp": (10.0, 40.0, 160.0, 640.0),
    "lambda_adv": (0.1, 0.3, 1.0, 3.0),
    "lambda_idt": (1.0, 10.0, 100.0),
}


def get_config(arg=None):
    size, rest = base.parse_arg(arg)
    param = rest[0] if rest else "lambda_exp"
    if param not in SWEEPS:
        raise ValueError(f"fig3.py:{arg}: sweep one of {sorted(SWEEPS)}.")
    c = base.base_config(size)
    c.name = f"fig3_{param}"
    c.experiment.sweep = f"generator.{param}"
    base.set_columns(c, {
        f"{param}_{v:g}".replace(".", "p"): base.column(f"{param}={v:g}", "synthetic:3d",
                                                         overrides=f"generator.{param}={v}")
        for v in SWEEPS[param]})
    c.report.title = f"Fig. 3: ICC vs generator.{param} ({size} size)"
    return c
