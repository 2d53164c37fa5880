"""Registration without the network: real 2D and 3D columns registered by the trained network and
by SynthFACS's true meshes (not in the paper; the diagnostic of issue #14).

Command::

    python launch/reproduce.py --config=configs/paper/exact_registration.py:cpu --workdir=runs/paper_cpu
    python launch/reproduce.py --config=configs/paper/exact_registration.py:medium --workdir=runs/medium
    python launch/reproduce.py --config=configs/paper/exact_registration.py:medium,exact --workdir=runs/medium

The second part ``exact`` keeps only the three exact-mesh columns (2D, 2D masked to the mesh, 3D with
pixel visibility): the methods compared without the registration network, which they do not train.

The exact columns set ``align.registration = 'exact'`` (`jaxau.align.exact`): every frame (training,
validation and test) is aligned with its true mesh and landmarks, so they measure the alignment
*methods* (2-D Procrustes onto the frontal template; 3-D frontalisation) with a perfect registration.
Read: exact 3D vs network 3D is the network's mesh error; exact 3D vs exact 2D is the method's
difference; the paper's claim (3D > 2D, most at +-40 degrees) is a claim about the method, so it
must hold for the exact columns at least.

Expected cost: ``:cpu`` ~55 minutes on the 2-core AMD box under load (measured 2026-12-03, data and
registration reused from a demo run: 1,913 s for the four network / exact 2D and 3D columns, 1,201 s
for the two pixel-visibility columns, 471 s for masked 2D, 674 s for the 2D-context column; eight
estimators of ~4 min and five 3D registrations of ~3.5 min); ``:medium,exact`` 26 min on the 2-core
Zen 5 box (2026-12-05, quiet; six estimators of 2.5-3.5 min), the full ``:medium`` (eight columns,
two seeds) not run (~1.5-2 h there).

Measured at ``:cpu`` (frontal ICC(3,1), one seed; BUILD_NOTES.md "Registration without the
network"): 2D network 0.140, 2D exact 0.179, 2D exact masked to the mesh 0.087; 3D network vertex /
pixel visibility 0.066 / 0.098, 3D exact 0.097 / 0.108, 3D network + 2D context 0.087.
Measured at ``:medium,exact`` with today's defaults (frontal-only training, 3,000-step estimators;
two seeds, 900 test frames; 2026-12-07 Intel box, ~45 min per seed beside other work): 2D exact
0.591, 2D exact masked 0.597, 3D exact (pixel visibility, mirror fill) 0.522; 3D - 2D -0.069
[-0.111, -0.018] frontally (resolved), +0.124 / +0.104 at -40 / +40 degrees (resolved).
Not in the paper: its claim (3D > 2D) is what these columns take apart.
"""

from configs.paper import base

EXACT = "align.registration='exact'"
PIXEL = "align3d.visibility='pixel'"
VERTEX = "align3d.visibility='vertex'"
# The columns that need no registration network (``:<size>,exact``).
EXACT_ONLY = ("real_2d_exact", "real_2d_exact_masked", "real_3d_exact_pixel")


def get_config(arg=None):
    size, rest = base.parse_arg(arg)
    if rest not in ([], ["exact"]):
        raise ValueError(f"exact_registration.py:{arg}: the second part is 'exact' (the exact-mesh columns "
                         "alone) or nothing.")
    c = base.base_config(size)
    c.name = "exact_registration"
    base.set_columns(c, {
        "real_2d": base.column("2D Real (network)", "real:2d"),
        "real_2d_exact": base.column("2D Real (exact meshes)", "real:2d", overrides=EXACT),
        # 2D restricted to the registered mesh's support (black elsewhere, as a 3D output is).
        "real_2d_exact_masked": base.column("2D Real (exact meshes, masked to the mesh)", "real:2d",
                                            overrides=f"{EXACT}; align2d.mask='mesh'"),
        # Which surface is blacked out as self-occluded: per vertex or per output pixel (set explicitly:
        # the default differs between sizes).
        "real_3d": base.column("3D Real (network, vertex visibility)", "real:3d", overrides=VERTEX),
        "real_3d_exact": base.column("3D Real (exact meshes, vertex visibility)", "real:3d",
                                     overrides=f"{EXACT}; {VERTEX}"),
        "real_3d_pixel": base.column("3D Real (network, pixel visibility)", "real:3d", overrides=PIXEL),
        "real_3d_exact_pixel": base.column("3D Real (exact meshes, pixel visibility)", "real:3d",
                                           overrides=f"{EXACT}; {PIXEL}"),
        # The 3D face with the 2D-aligned frame around it (context outside the mesh kept).
        "real_3d_context": base.column("3D Real (network, pixel visibility, 2D context)", "real:3d",
                                       overrides=f"{PIXEL}; align3d.context='2d'"),
    })
    # Paired on the same test frames (each column registers them its own way).
    c.experiment.compare = ("real_3d_exact>real_2d_exact,real_3d>real_2d,real_3d_exact>real_3d,"
                            "real_2d_exact>real_2d,real_3d_pixel>real_3d,real_3d_exact_pixel>real_3d_exact,"
                            "real_3d_pixel>real_2d,real_3d_exact_pixel>real_2d_exact,real_2d_exact_masked>real_2d_exact,"
                            "real_3d_exact_pixel>real_2d_exact_masked,real_3d_context>real_2d,"
                            "real_3d_context>real_3d_pixel")
    c.report.title = f"Registration without the network: network vs exact meshes, 2D vs 3D ({size} size)"
    if rest == ["exact"]:
        c.name = "exact_registration_methods"
        base.set_columns(c, {k: c.experiment.columns[k] for k in EXACT_ONLY})
        c.experiment.compare = ("real_3d_exact_pixel>real_2d_exact,real_2d_exact_masked>real_2d_exact,"
                                "real_3d_exact_pixel>real_2d_exact_masked")
        c.report.title = f"2D vs 3D registration with exact meshes ({size} size)"
    return c
