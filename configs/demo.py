"""The main job: the whole pipeline on SynthFACS, sized for a 2-core CPU.

Command (the README's first command runs exactly this)::

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo

Expected runtime: ~4-5 minutes on a quiet 2-core CPU with no GPU (measured 2026-11-24 from a fresh
clone, venv and install included: 4 min 37 s; SynthFACS ``fera_demo`` build 34 s, registration 72 s,
both registrations 17 s, generator 28 s, synthesis 2 s, four estimators 14-22 s each); stages already finished in the same workdir are reused,
so a re-run takes seconds. Outputs: ``workdir/demo/report.md`` and ``report.html`` with a Table-2-style
ICC table (no / 2D / 3D registration x real / synthetic training), per-pose ICC, label distributions
before and after resampling, learning curves, registration / alignment / synthesis contact sheets and
per-stage timings.

What it shows: the whole pipeline running end to end, cached and resumable. It does NOT reproduce the
paper's numbers or their ordering: at this size (480 training frames, networks trained from scratch for
a few hundred steps on 2 cores) the estimators are close to constant predictors (mean ICC ~0, see
BUILD_NOTES.md "Main job"). The paper's experiments are ``configs/paper/*.py`` (``:cpu`` runs them at
these sizes; the same workdir shares every stage they have in common).
"""

from configs.paper import base


def get_config() -> "ml_collections.ConfigDict":
    c = base.base_config("cpu")
    c.name = "demo"
    # Columns: the experiment section is left empty, so the report shows the main job's four
    # (real unregistered / 2D / 3D, synthetic 3D; jaxau.stages.graph.DEFAULT_COLUMNS).
    c.report.title = "jaxau demo on SynthFACS (fera_demo)"
    return c
