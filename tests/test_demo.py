"""The main job end to end at its smallest settings: every stage runs, the report has every section,
and a second run reuses every stage (no training at all)."""

import os

import pytest

from jaxau import pipeline
from jaxau.report import experiment
from jaxau.stages import PIPELINE


def tiny_demo_config(data_dir):
    import configs.demo as demo

    c = demo.get_config()
    c.data.name = "synthfacs/fera_small"   # The cached tiny build (tests/stages/tiny_synthfacs.py).
    c.data.data_dir = data_dir
    c.data.image_size = 32
    c.registration.num_steps = 4
    c.registration.checkpoint_every = 4
    c.registration.log_every = 2
    c.align.batch_size = 16
    c.align.chunk_size = 32
    c.generator.image_size = 32
    c.generator.d_layers = 4
    c.generator.num_steps = 2
    c.generator.checkpoint_every = 2
    c.generator.log_every = 1
    c.synthesis.per_level = 2
    c.estimator.width = 1 / 16
    c.estimator.batch_size = 8
    c.estimator.num_steps = 4
    c.estimator.per_level = 4
    c.estimator.log_every = 2
    c.estimator.checkpoint_every = 4
    return c


@pytest.fixture(scope="module")
def demo_run(request, tmp_path_factory):
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = tiny_demo_config(data_dir)
    root = str(tmp_path_factory.mktemp("demo"))
    results = pipeline.run_pipeline(PIPELINE, config, root)
    summary = experiment.write_report(root, config, results)
    return config, root, results, summary


def test_every_stage_runs_and_the_report_is_complete(demo_run):
    _, root, results, summary = demo_run
    assert {r.name: r.status for r in results} == {s.name: "done" for s in PIPELINE}
    md = open(os.path.join(root, "report.md")).read()
    for section in ("## Stages", "## ICC(3,1) per AU", "### MAE per AU", "### Mean ICC per head pose",
                    "Label distributions", "Learning curves", "preview_generator", "preview_3d"):
        assert section in md, section
    assert set(summary["icc"]) == {"Real, no registration", "Real, 2D registration", "Real, 3D registration",
                                   "Synthetic, 3D registration"}
    assert "## Not built yet" not in md


def test_second_run_reuses_every_stage(demo_run):
    config, root, first, _ = demo_run
    again = pipeline.run_pipeline(PIPELINE, config, root)
    assert [r.status for r in again] == ["cached"] * len(PIPELINE)
    assert [r.directory for r in again] == [r.directory for r in first]
