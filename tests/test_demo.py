"""The main job end to end at its smallest settings: every stage runs, the report has every section,
a second run reuses every stage (no training at all), and a paper experiment sharing the workdir
trains only what it does not share with the demo."""

import os

import numpy as np
import pytest

from jaxau.data import frames as frames_lib
from jaxau.stages import runner as pipeline
from jaxau.report import experiment
from jaxau.stages import STAGES, graph


def tiny(c, data_dir):
    """A demo-sized config (``configs/demo.py`` or a paper config at ``:cpu``) at test size."""
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
    c.generator.critic_warmup = 1  # one expression-only critic step, then one D+G step
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


def tiny_demo_config(data_dir):
    """The demo at test size (its four columns, the oracle column included)."""
    import configs.demo as demo

    c = tiny(demo.get_config(), data_dir)
    assert c.experiment.columns.oracle_3d.train == "oracle:3d"
    return c


@pytest.fixture(scope="module")
def demo_run(request, tmp_path_factory):
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config = tiny_demo_config(data_dir)
    root = str(tmp_path_factory.mktemp("demo"))
    planned = graph.plan(config, STAGES)
    results = pipeline.run_graph(planned.nodes, root)
    summary = experiment.write_report(root, config, results, planned)
    return config, root, results, summary


def test_every_stage_runs_and_the_report_is_complete(demo_run):
    _, root, results, summary = demo_run
    assert [r.status for r in results] == ["done"] * len(results)
    assert sorted(r.stage for r in results) == sorted(
        ["data", "registration", "register_2d", "register_3d", "generator", "synthesis", "oracle"]
        + ["estimator", "score"] * 4)
    md = open(os.path.join(root, "report.md")).read()
    for section in ("## Stages", "## ICC(3,1) per AU", "### MAE per AU", "### Mean ICC per head pose",
                    "Label distributions", "Learning curves", "preview_generator", "preview_3d",
                    "## Generator fidelity (SynthFACS oracle renders)", "fidelity.png", "Oracle >= real"):
        assert section in md, section
    assert set(summary["icc"]) == {"Real, 2D registration", "Real, 3D registration",
                                   "Synthetic, 3D registration", "Oracle synthetic, 3D registration"}
    fid = summary["fidelity"]["Synthetic, 3D registration"]
    assert fid["entries"] > 0 and np.isfinite(fid["edit_cosine"]) and np.isfinite(fid["reader_icc_oracle"])
    # The generator's critic reads the same sample (its AU head, next to the reader).
    assert all(np.isfinite(fid[f"critic_icc_{k}"]) for k in ("oracle", "generated", "source"))
    n_val = fid["critic_val_frames"]
    assert n_val > 0 and all(0 <= n <= n_val for n in fid["critic_val_positives"].values())
    assert "Critic ICC support (Synthetic, 3D registration)" in md
    assert "## Not built yet" not in md


def test_second_run_reuses_every_stage(demo_run):
    config, root, first, _ = demo_run
    again = pipeline.run_graph(graph.plan(config, STAGES).nodes, root)
    assert [r.status for r in again] == ["cached"] * len(first)
    assert [r.directory for r in again] == [r.directory for r in first]


def test_a_paper_experiment_in_the_same_workdir_trains_only_what_is_new(demo_run):
    """Table 3 after the demo: registration, generator, synthesis and the no-norm estimator are the
    demo's; only the AU0 and mean-texture estimators train."""
    from configs.paper import table3

    _, root, first, _ = demo_run
    config = tiny(table3.get_config("cpu"), demo_run[0].data.data_dir)
    planned = graph.plan(config, STAGES)
    results = pipeline.run_graph(planned.nodes, root)
    ran = sorted(r.stage for r in results if r.status == "done")
    assert ran == ["estimator", "estimator", "score", "score"], [(r.name, r.status) for r in results]
    assert all(r.status == "cached" for r in results if r.stage not in ("estimator", "score"))
    no_norm = {r.name: r for r in results}[planned.outputs["no_norm"]]
    assert no_norm.status == "cached" and no_norm.directory in {r.directory for r in first}
    summary = experiment.write_report(root, config, results, planned)
    assert set(summary["icc"]) == {"No norm", "AU0 norm", "Mean norm"}
    assert "paper: Mean norm" in open(os.path.join(root, "reports", "table3", "report.md")).read()
    assert "paper: Mean norm" not in open(os.path.join(root, "reports", "demo", "report.md")).read()


def test_a_trained_model_is_scored_on_another_test_set_without_retraining(demo_run, tmp_path):
    """Cross-domain scoring (Table 4 / S2): every split of a test set, only the AUs it labels."""
    import json

    from jaxau.stages import estimator as estimator_stage

    config, _, results, _ = demo_run
    by_stage = {}
    for r in results:
        by_stage.setdefault(r.stage, []).append(r)
    model = by_stage["estimator"][-1].directory
    (test_dir,) = [r.directory for r in by_stage["register_3d"]]
    c = graph._copy(config)
    c.eval = {"splits": "train,validation,test", "poses": "", "aus": "AU12,AU06,AU99"}
    summary = estimator_stage.run_score(c, str(tmp_path), {"model": model, "test": test_dir})
    rec = json.load(open(tmp_path / "eval" / "metrics.json"))
    assert list(rec["icc"]) == ["AU06", "AU12", "mean"]  # The model's order; AU99 is not predicted.
    n = sum(len(frames_lib.load(f"{test_dir}/{s}.frames")["image"]) for s in ("train", "validation", "test"))
    assert rec["num_frames"] == summary["test_frames"] == n


def test_the_generator_benchmark_scores_every_seed_of_the_synthetic_column(demo_run, tmp_path, monkeypatch):
    """`benchmarks/generator_fidelity.py --column experiment.seeds=2`: both estimator seeds train on
    one generator's set and are compared with the workdir's two real 3D seeds. (The tiny set has one
    test subject, too few for a subject bootstrap: the statistics see what they are handed, and
    answer with the mean ICC of the seeds.)"""
    import shutil

    from benchmarks import generator_fidelity
    from jaxau.evaluation import bootstrap, metrics

    def seeds_icc(pred):
        y = np.asarray(pred["y_pred"])
        y = y[None] if y.ndim == 2 else y
        return float(np.mean([np.nanmean(metrics.icc(np.asarray(pred["y_true"]), s)) for s in y]))

    handed = []
    monkeypatch.setattr(bootstrap, "column_from_predictions", lambda pred, poses=None: (
        handed.append(np.shape(pred["y_pred"])) or {"icc": seeds_icc(pred), "ci95": [0.0, 0.0]}))
    monkeypatch.setattr(bootstrap, "compare_predictions", lambda a, b, poses=None: (
        handed.append((np.shape(a["y_pred"]), np.shape(b["y_pred"])))
        or {"difference": seeds_icc(a) - seeds_icc(b), "ci95": [0.0, 0.0], "verdict": "not resolved"}))

    config, root, _, _ = demo_run
    seeded = graph.apply_overrides(config, "experiment.seeds=2", "test")
    planned = graph.plan(seeded, STAGES)
    pipeline.run_graph(planned.nodes, root, only=planned.targets(["real_3d"]))
    syn = next(n for n in planned.nodes if n.stage.name == "synthesis")
    gen_dir = str(tmp_path / "generator")
    shutil.copytree(os.path.join(root, "stages", syn.deps["generator"]), gen_dir)
    result = generator_fidelity.synthetic_column(planned, syn, root, gen_dir)
    assert sorted(result["seconds"]) == ["estimator", "estimator_s1", "score", "score_s1", "synthesis"]
    assert len(result["seeds"]) == 2 and all(np.isfinite(result["seeds"]))
    assert set(result["icc"]) == set(result["minus_real_3d"]) and "all" in result["icc"]
    assert all(np.isfinite(v["icc"]) for v in result["icc"].values())
    # The column's statistics get both seeds' predictions, the comparison both real 3D seeds too.
    assert handed[0][0] == 2 and any(isinstance(h[0], tuple) and h[0][0] == 2 and h[1][0] == 2 for h in handed
                                     if isinstance(h[0], tuple))
    # A second call reuses every finished node; other settings in the same directory are refused.
    assert generator_fidelity.synthetic_column(planned, syn, root, gen_dir)["seconds"] == {}
    other = graph.plan(graph.apply_overrides(seeded, "synthesis.calibrate_edit_scale=False; synthesis.edit_scale=2.0",
                                             "test"), STAGES)
    other_syn = next(n for n in other.nodes if n.stage.name == "synthesis")
    with pytest.raises(generator_fidelity.StaleColumn, match="another --out"):
        generator_fidelity.synthetic_column(other, other_syn, root, gen_dir)


def test_the_calibrated_edit_scale_draws_the_set_at_the_scale_the_reader_chose(demo_run, tmp_path):
    """``synthesis.calibrate_edit_scale``: the synthesis stage reads the demo's validation frames and
    the generator's images with the real 3D column's model, records the choice, and draws the set
    (and the fidelity sample) at that scale."""
    import json

    from jaxau.data import frame_store
    from jaxau.stages import synthesis as synthesis_stage
    from jaxau.synthesis import synthesize
    from jaxau.train import generator as gen_train

    config, root, _, _ = demo_run
    planned = graph.plan(graph.apply_overrides(config, "synthesis.calibrate_edit_scale=True", "test"), STAGES)
    syn = next(n for n in planned.nodes if n.stage.name == "synthesis")
    assert syn.deps["reader"] == next(n for n in planned.nodes if n.name == planned.outputs["real_3d"]).deps["model"]
    inputs = {role: os.path.join(root, "stages", dep) for role, dep in syn.deps.items()}
    # The tiny set has one frontal validation frame: nothing to calibrate against; the set is drawn
    # at scale 1 and the record says why.
    assert syn.stage.load()(syn.config, str(tmp_path / "skipped"), inputs)["edit_scale"] == 1.0
    skipped = json.load(open(tmp_path / "skipped" / "synthesis.json"))["edit_scale_calibration"]
    assert skipped["skipped"].startswith("no AU label varies in the 1 real validation frames")
    # A sources stage whose validation split holds more frames (its training frames stand in).
    sources = tmp_path / "register_3d"
    sources.mkdir()
    train = os.path.join(inputs["sources"], "train" + frame_store.SUFFIX)
    os.symlink(train, sources / ("train" + frame_store.SUFFIX))
    os.symlink(train, sources / ("validation" + frame_store.SUFFIX))
    inputs["sources"] = str(sources)
    out = tmp_path / "synthesis"
    out.mkdir()
    summary = syn.stage.load()(syn.config, str(out), inputs)
    tmp_path = out
    rec = json.load(open(tmp_path / "synthesis.json"))
    cal = rec["edit_scale_calibration"]
    assert summary["edit_scale"] == rec["edit_scale"] == cal["edit_scale"] and cal["edit_scale"] in cal["grid"]
    assert cal["reader"] == inputs["reader"] and cal["real_frames"] > 0 and len(cal["mismatch"]) == len(cal["grid"])
    assert cal["mismatch"][cal["grid"].index(cal["best_scale"])] == min(cal["mismatch"])
    # The set is the generator's images at the chosen scale.
    trained = gen_train.load_generator(inputs["generator"])
    with np.load(tmp_path / "plan.npz") as f:
        src, tgt = f["source_index"][:8], f["target_labels"][:8]
    sources, _ = synthesis_stage.load_sets(syn.config, inputs)   # the training frames in train_poses views
    want = synthesize.generate_images(trained.generator, trained.params, np.asarray(sources["image"][src]), tgt,
                                      edit_scale=cal["edit_scale"])
    got = frames_lib.load(str(tmp_path / "synthetic.frames"))["image"][:8]
    assert np.abs(want.astype(int) - np.asarray(got).astype(int)).max() <= 1


def test_cross_read_scores_each_reader_on_held_out_real_generated_and_oracle_images(demo_run):
    """`benchmarks/cross_read.py`: new subjects' frames, the synthesis stage's generator drawing a
    plan over them and the plan's exact renders, each read by an estimator and by the critic; the
    record's ICCs are the readers' own read-outs of those images."""
    from benchmarks import cross_read
    from jaxau.evaluation import metrics
    from jaxau.synthesis import synthesize
    from jaxau.train import estimator, generator as gen_train

    config, root, _, _ = demo_run
    planned = graph.plan(config, STAGES)
    syn = next(n for n in planned.nodes if n.stage.name == "synthesis")
    syn_dir = os.path.join(root, "stages", syn.name)
    reader_dir = os.path.join(root, "stages", syn.deps["reader"])
    record, sets = cross_read.measure(syn.config, syn_dir, {"real3d": reader_dir}, subjects=2, per_level=1)
    assert set(record["readers"]) == {"real3d", "critic"}
    images, levels, subjects = sets["real"]
    assert len(images) == record["real_frames"] > 0 and len(set(subjects)) == 2
    plan = cross_read.held_out_plan(levels, 1, 0)
    assert record["plan_entries"] == len(plan) > 0 and record["oracle_failed"] == 0
    gen_images, gen_levels, gen_subjects = sets["generated"]
    np.testing.assert_array_equal(gen_levels, plan.target_labels)
    np.testing.assert_array_equal(sets["oracle"][1], plan.target_labels)
    np.testing.assert_array_equal(gen_subjects, subjects[plan.source_index])
    # G's images are the generator's drawing of the held-out sources; the oracle's are other images.
    trained = gen_train.load_generator(os.path.join(root, "stages", syn.deps["generator"]))
    want = synthesize.generate_images(trained.generator, trained.params, images[plan.source_index],
                                      plan.target_labels, edit_scale=record["edit_scale"])
    np.testing.assert_array_equal(gen_images, want)
    assert not np.array_equal(sets["oracle"][0], gen_images)
    # Each ICC is the reader's read-out scored against the set's levels.
    predictor = estimator.Predictor(reader_dir)
    cols = [predictor.au_names.index(a) for a in record["au_names"]]
    for name in ("real", "generated", "oracle"):
        im, lv, _ = sets[name]
        per_au = metrics.icc(lv, predictor.intensities(im)[:, cols])
        got = record["readers"]["real3d"][name]
        assert got["icc"] == pytest.approx(np.nanmean(per_au), abs=1e-4)
        assert [got["per_au"][a] for a in record["au_names"]] == pytest.approx(per_au, abs=1e-3, nan_ok=True)
