"""The experiment report renders every section from finished stage artifacts."""

import json
import os

import ml_collections
import numpy as np

from jaxau import io_utils
from jaxau.pipeline import StageResult
from jaxau.report import experiment

AUS = ["AU01", "AU12"]


def _metrics(icc):
    per = {"icc": dict(zip(AUS, icc)) | {"mean": float(np.mean(icc))},
           "mae": dict(zip(AUS, [0.5, 0.4])) | {"mean": 0.45}, "pcc": dict(zip(AUS, icc)) | {"mean": 0.0}}
    return {**per, "by_pose": {"0": per, "4": per}}


def test_report_has_every_section(tmp_path):
    root = tmp_path
    data_dir = root / "stages" / "data-x"
    est_dir = root / "stages" / "estimator_real_raw-y"
    io_utils.write_json(str(data_dir / "label_stats.json"), {
        "au_names": ["AU01", "AU04", "AU12"],
        "splits": {"train": {"num_examples": 10, "level_counts": [[8, 1, 1, 0, 0, 0]] * 3}}})
    io_utils.write_json(str(est_dir / "eval" / "metrics.json"), _metrics([0.25, 0.75]))
    io_utils.write_json(str(est_dir / "balance.json"), {"au_names": AUS, "per_level": 5,
                                                        "after": [[5] * 6, [5] * 6], "before": [], "skipped": []})
    with open(est_dir / "estimator_metrics.jsonl", "w") as f:
        for s, loss in ((10, 2.0), (20, 1.0), (30, 0.5)):
            f.write(json.dumps({"step": s, "loss": loss}) + "\n")
    results = [StageResult("data", "done", str(data_dir), 3.0, {}),
               StageResult("estimator_real_raw", "cached", str(est_dir), 12.0, {}),
               StageResult("generator", "not built", None, 0.0, {}, "jaxau.stages.generator:run is not built yet")]
    config = ml_collections.ConfigDict({"name": "t", "data": {"aus": "AU01,AU12", "test_poses": "0"},
                                        "report": {"title": "Test report",
                                                   "paper": {"Synthetic, 3D": {"AU01": 0.4, "AU12": 0.8}}}})
    summary = experiment.write_report(str(root), config, results)
    md = (root / "report.md").read_text()
    for section in ("# Test report", "## Stages", "## ICC(3,1) per AU", "### MAE per AU",
                    "### Mean ICC per head pose", "## Figures", "Label distributions", "Learning curves",
                    "## Not built yet"):
        assert section in md, section
    assert "| Real, no registration | 0.250 | 0.750 | 0.500 |" in md
    assert "| paper: Synthetic, 3D | **0.400** | **0.800** | **0.600** |" in md
    html = (root / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<table>" in html
    assert summary["icc"]["Real, no registration"]["mean"] == 0.5
    assert os.path.exists(root / "results.json")
