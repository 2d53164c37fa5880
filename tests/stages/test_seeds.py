"""``experiment.seeds``: several estimators per column, and the report's seed statistics."""

import json
import os

import numpy as np
import pytest

from configs import demo
from jaxau.evaluation import bootstrap, metrics, predictions_csv
from jaxau.report import experiment as report, statistics
from jaxau.stages import STAGES, graph, runner
from jaxau.validate import ConfigError


def test_seeds_add_estimators_that_share_the_training_set():
    config = demo.get_config()
    one = graph.plan(config, STAGES)
    config.experiment.seeds = 3
    three = graph.plan(config, STAGES)
    nodes = {n.name: n for n in three.nodes}
    assert set(one.outputs.items()) == set(three.outputs.items())  # seed 0 is the one-seed run's.
    for cid, scores in three.replicates.items():
        assert len(set(scores)) == 3 and scores[0] == three.outputs[cid]
        models = [nodes[nodes[s].deps["model"]] for s in scores]
        assert [int(m.config.seed) for m in models] == [0, 1, 2]
        # Same training-set and test nodes for every seed.
        assert len({tuple(sorted((r, d) for r, d in m.deps.items())) for m in models}) == 1
        assert len({nodes[s].deps["test"] for s in scores}) == 1
    # Two more estimator + score pairs per column, nothing else.
    extra = [n.stage.name for n in three.nodes if n.name not in {m.name for m in one.nodes}]
    assert sorted(extra) == sorted(["estimator", "score"] * 2 * len(three.replicates))


def test_a_column_target_means_every_seed():
    config = demo.get_config()
    config.experiment.seeds = 2
    planned = graph.plan(config, STAGES)
    assert planned.targets(["real_3d", "generator"]) == planned.replicates["real_3d"] + ["generator"]
    assert len(planned.targets(["real_3d"])) == 2


@pytest.mark.parametrize("value", [0, -1])
def test_bad_seed_counts_are_refused(value):
    config = demo.get_config()
    config.experiment.seeds = value
    with pytest.raises(ConfigError, match=r"config\.experiment\.seeds="):
        graph.plan(config, STAGES)


def _predictions(path, t, p, subj, order):
    predictions_csv.write_predictions_csv(path, subject=[f"s{s}" for s in subj[order]],
                                          sequence=[f"q{s}" for s in subj[order]], frame=order,
                                          y_true=t[order], y_pred=p[order], au_names=["AU06", "AU12"],
                                          pose_id=np.zeros(len(order), int))
    return str(path)


def test_load_seeds_matches_rows_by_frame_and_feeds_the_seed_bootstrap(tmp_path):
    rng = np.random.default_rng(1)
    subj = np.repeat(np.arange(6), 10)
    t = rng.integers(0, 6, size=(60, 2))
    preds = [t + rng.normal(size=t.shape) * s for s in (0.5, 1.0, 2.0)]
    n = len(subj)
    paths = [_predictions(tmp_path / f"seed{i}.csv", t, p, subj, rng.permutation(n) if i else np.arange(n))
             for i, p in enumerate(preds)]
    loaded = statistics.load_seeds(paths)
    assert loaded["y_pred"].shape == (3, n, 2)
    np.testing.assert_allclose(loaded["y_pred"], np.stack(preds), rtol=1e-5, atol=1e-5)
    stats = statistics.compute([graph.Column("a", "A", "real:3d")], {"a": paths}, None, num_samples=200)
    rec = stats["columns"]["A"]
    per_seed = [metrics.icc(t, p.astype(np.float32)).mean() for p in loaded["y_pred"]]
    assert rec["seeds"] == 3
    np.testing.assert_allclose(rec["icc_per_seed"], per_seed, atol=1e-6)
    assert rec["icc"] == pytest.approx(np.mean(per_seed), abs=1e-6)
    text = "\n".join(statistics.markdown(stats))
    assert "sd " in text and "Several seeds" in text and "One estimator per column" not in text
    # The seeds' agreement and their averaged predictions' ICC are in the column's row.
    assert f"agreement {rec['seed_agreement']:.2f}; averaged {rec['averaged_icc']:.3f}" in text
    assert rec["averaged_icc"] == pytest.approx(metrics.icc(t, loaded["y_pred"].mean(0)).mean(), abs=1e-9)


def test_load_seeds_refuses_different_test_sets(tmp_path):
    rng = np.random.default_rng(2)
    subj = np.repeat(np.arange(4), 5)
    t = rng.integers(0, 6, size=(20, 2))
    a = _predictions(tmp_path / "a.csv", t, t * 1.0, subj, np.arange(20))
    b = _predictions(tmp_path / "b.csv", t, t * 1.0, subj, np.arange(19))
    with pytest.raises(ValueError, match="same frames"):
        statistics.load_seeds([a, b])


def test_paired_difference_of_seeded_columns_uses_every_seed(tmp_path):
    rng = np.random.default_rng(3)
    subj = np.repeat(np.arange(6), 8)
    t = rng.integers(0, 6, size=(48, 2))
    a = {"y_true": t, "y_pred": np.stack([t + rng.normal(size=t.shape) for _ in range(2)]),
         "subject": subj.astype(str), "sequence": subj.astype(str), "frame": np.arange(48), "au_names": ["AU06", "AU12"]}
    b = {**a, "y_pred": rng.normal(size=t.shape)}
    got = bootstrap.compare_predictions(a, b, num_samples=100)
    want = bootstrap.paired_difference(t, a["y_pred"], b["y_pred"], subj.astype(str), num_samples=100)
    assert got["difference"] == pytest.approx(want["difference"]) and got["ci95"] == pytest.approx(want["ci95"])


def test_report_averages_the_seeds_metrics(tmp_path):
    config = demo.get_config()
    config.experiment.seeds = 2
    planned = graph.plan(config, STAGES)
    nodes = {n.name: n for n in planned.nodes}
    results = []
    for i, name in enumerate(planned.replicates["real_2d"]):
        d = tmp_path / name
        os.makedirs(d / "eval")
        rec = {"icc": {"AU06": 0.2 + i * 0.2, "AU12": 0.4, "mean": 0.3 + i * 0.1},
               "mae": {"AU06": 1.0, "AU12": 0.5 + i, "mean": 0.75 + i / 2},
               "by_pose": {"4": {"icc": {"mean": 0.3 + i * 0.1}}}, "num_frames": 10}
        (d / "eval" / "metrics.json").write_text(json.dumps(rec))
        results.append(runner.StageResult(name=name, status="done", seconds=1.0, directory=str(d), summary={},
                                          stage=nodes[name].stage.name))
    summary = report.write_report(str(tmp_path), config, results, planned)
    label = next(c.label for c in planned.columns if c.id == "real_2d")
    assert summary["icc"][label] == pytest.approx({"AU06": 0.3, "AU12": 0.4, "mean": 0.35})
    assert summary["mae"][label]["AU12"] == pytest.approx(1.0)
    assert summary["columns"]["real_2d"]["seeds"] == 2
    assert summary["columns"]["real_2d"]["icc_per_seed"] == pytest.approx([0.3, 0.4])
