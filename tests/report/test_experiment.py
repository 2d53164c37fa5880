"""The experiment report renders every section from finished stage artifacts."""

import json
import os

import ml_collections
import numpy as np

from jaxau import io_utils
from jaxau.evaluation import predictions_csv
from jaxau.stages.runner import Node, Stage, StageResult
from jaxau.report import experiment
from jaxau.stages.graph import Column, Planned

AUS = ["AU01", "AU12"]


def _metrics(icc):
    per = {"icc": dict(zip(AUS, icc)) | {"mean": float(np.mean(icc))},
           "mae": dict(zip(AUS, [0.5, 0.4])) | {"mean": 0.45}, "pcc": dict(zip(AUS, icc)) | {"mean": 0.0}}
    return {**per, "by_pose": {"0": per, "4": per}}


def _node(name, stage, deps=None):
    return Node(name, Stage(stage, "", ()), None, deps or {}, name.split("-")[-1])


def _experiment(root, columns, iccs):
    """Finished data / estimator / score directories for ``columns`` with the given ICCs."""
    data_dir = root / "stages" / "data-x"
    io_utils.write_json(str(data_dir / "label_stats.json"), {
        "au_names": ["AU01", "AU04", "AU12"],
        "splits": {"train": {"num_examples": 10, "level_counts": [[8, 1, 1, 0, 0, 0]] * 3}}})
    nodes = [_node("data-x", "data")]
    results = [StageResult("data-x", "done", str(data_dir), 3.0, {}, "", "data")]
    outputs = {}
    for i, (col, icc) in enumerate(zip(columns, iccs)):
        est_dir, score_dir = root / "stages" / f"estimator-e{i}", root / "stages" / f"score-s{i}"
        io_utils.write_json(str(score_dir / "eval" / "metrics.json"), _metrics(icc))
        io_utils.write_json(str(est_dir / "balance.json"), {"au_names": AUS, "per_level": 5,
                                                            "after": [[5] * 6, [5] * 6], "before": [], "skipped": []})
        with open(est_dir / "estimator_metrics.jsonl", "w") as f:
            for s, loss in ((10, 2.0), (20, 1.0), (30, 0.5)):
                f.write(json.dumps({"step": s, "loss": loss}) + "\n")
        nodes += [_node(f"estimator-e{i}", "estimator"), _node(f"score-s{i}", "score", {"model": f"estimator-e{i}"})]
        results += [StageResult(f"estimator-e{i}", "cached", str(est_dir), 12.0, {}, "", "estimator"),
                    StageResult(f"score-s{i}", "done", str(score_dir), 1.0, {}, "", "score")]
        outputs[col.id] = f"score-s{i}"
    return Planned(nodes, list(columns), outputs), results


def _config(**experiment):
    return ml_collections.ConfigDict({"name": "t", "data": {"aus": "AU01,AU12", "test_poses": "0"},
                                      "experiment": {"columns": {}, "sweep": "", **experiment},
                                      "report": {"title": "Test report", "description": "What it shows."}})


def test_report_has_every_section_and_the_papers_numbers(tmp_path):
    cols = [Column("a", "3D Synthetic", "synthetic:3d", paper="table2/3D Synthetic"),
            Column("b", "Real, no registration", "real:raw")]
    planned, results = _experiment(tmp_path, cols, [[0.25, 0.75], [0.1, 0.2]])
    results.append(StageResult("generator-g", "not built", None, 0.0, {}, "jaxau.stages.generator:run is not built yet",
                               "generator"))
    summary = experiment.write_report(str(tmp_path), _config(), results, planned)
    md = (tmp_path / "report.md").read_text()
    for section in ("# Test report", "What it shows.", "## Stages", "## ICC(3,1) per AU", "### MAE per AU",
                    "### Mean ICC per head pose", "## Figures", "ICC per AU (ours vs paper)",
                    "Mean ICC per head pose (Fig. 5 style)", "Label distributions", "Learning curves",
                    "## Not built yet"):
        assert section in md, section
    # Ours, then the paper's row for the same column (its mean is the printed one).
    assert ("| 3D Synthetic | 0.250 | 0.750 | 0.500 |\n| paper: 3D Synthetic | 0.381 | 0.795 | 0.525 |\n"
            "| Real, no registration | 0.100 | 0.200 | 0.150 |") in md
    assert "| estimator-e0 | cached | 12.0 | for: 3D Synthetic |" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "<table>" in html
    assert summary["icc"]["3D Synthetic"]["mean"] == 0.5
    assert summary["columns"]["a"]["paper"]["mean"] == 0.525 and summary["columns"]["b"]["paper"] is None
    assert json.load(open(tmp_path / "results.json"))["columns"]["b"]["icc"]["AU12"] == 0.2
    # The experiment's own copy (experiments sharing a workdir keep theirs), images inlined from it too.
    own = tmp_path / "reports" / "t"
    assert (own / "report.md").read_text().replace("](report_files/", "](reports/t/report_files/") == md
    assert (own / "report.html").read_text().count("data:image/png;base64,") == 4
    assert json.load(open(own / "results.json")) == json.load(open(tmp_path / "results.json"))


def test_sweep_table_and_plot(tmp_path):
    cols = [Column(f"v{v}", f"lambda_exp={v}", "synthetic:3d", overrides=f"generator.lambda_exp={v}")
            for v in (10, 160)]
    planned, results = _experiment(tmp_path, cols, [[0.1, 0.3], [0.2, 0.6]])
    experiment.write_report(str(tmp_path), _config(sweep="generator.lambda_exp"), results, planned)
    md = (tmp_path / "report.md").read_text()
    assert "### Sweep over generator.lambda_exp (Fig. 3 style)" in md
    assert "| 10 | 0.100 | 0.300 | 0.200 |" in md and "| 160 | 0.200 | 0.600 | 0.400 |" in md
    assert os.path.exists(tmp_path / "reports" / "t" / "report_files" / "sweep.png")


def test_nothing_finished_yet_shows_the_papers_numbers(tmp_path):
    cols = [Column("a", "3D Synthetic", "synthetic:3d", paper="table2/3D Synthetic")]
    planned = Planned([_node("score-s0", "score")], cols, {"a": "score-s0"})
    results = [StageResult("score-s0", "blocked", None, 0.0, {}, "needs x", "score")]
    experiment.write_report(str(tmp_path), _config(), results, planned)
    md = (tmp_path / "report.md").read_text()
    assert "No estimator has finished yet." in md and "| 3D Synthetic | 0.381 |" in md


def test_label_distributions_of_domains_with_other_aus(tmp_path):
    """Cross-domain experiments: a test domain labelling other AUs (DISFA) joins the same figure."""
    cols = [Column("a", "FERA->DISFA", "synthetic:3d", test="3d@disfa/all")]
    planned, results = _experiment(tmp_path, cols, [[0.25, 0.75]])
    disfa = tmp_path / "stages" / "data-d"
    io_utils.write_json(str(disfa / "label_stats.json"), {
        "au_names": ["AU12", "AU02"], "splits": {"train": {"num_examples": 4, "level_counts": [[2, 2, 0, 0, 0, 0]] * 2}}})
    results.append(StageResult("data-d", "done", str(disfa), 1.0, {"name": "synthfacs/disfa_small"}, "", "data"))
    experiment.write_report(str(tmp_path), _config(), results, planned)
    assert "Label distributions" in (tmp_path / "report.md").read_text()
    assert os.path.exists(tmp_path / "reports" / "t" / "report_files" / "label_distributions.png")


def test_resampling_captions_name_the_plan_or_the_level_weighted_pool():
    assert experiment.resampling_caption({"per_level": 5}, "2D Real") == "after resampling (2D Real, 5 per level)"
    assert (experiment.resampling_caption({"per_level": 0, "pool": "levels"}, "3D Real")
            == "after resampling (3D Real, level-weighted)")


def test_statistics_and_read_out_by_level_from_the_score_stages_predictions(tmp_path):
    cols = [Column("a", "3D Real", "real:3d"), Column("b", "3D Synthetic", "synthetic:3d")]
    planned, results = _experiment(tmp_path, cols, [[0.5, 0.6], [0.2, 0.3]])
    rng = np.random.default_rng(0)
    subj = np.repeat(np.arange(5), 8)
    t = rng.integers(0, 6, size=(40, 2)).astype(float)
    for i, scale in enumerate((1.0, 0.2)):
        predictions_csv.write_predictions_csv(
            str(tmp_path / "stages" / f"score-s{i}" / "eval" / "predictions.csv"), subject=[f"s{s}" for s in subj],
            sequence=[f"q{s}" for s in subj], frame=np.arange(40), y_true=t, y_pred=scale * t + rng.normal(size=t.shape),
            au_names=AUS, pose_id=np.zeros(40, int))
    summary = experiment.write_report(str(tmp_path), _config(), results, planned)
    md = (tmp_path / "report.md").read_text()
    assert "## Statistics" in md and "## Read-out by true level" in md and "calibration curves" in md
    assert md.index("## Statistics") < md.index("## Read-out by true level")
    assert summary["level_profile"]["3D Synthetic"]["aus"]["AU12"]["gain"] < 0.5 < (
        summary["level_profile"]["3D Real"]["aus"]["AU12"]["gain"])
    assert os.path.exists(tmp_path / "reports" / "t" / "report_files" / "level_profile.png")
