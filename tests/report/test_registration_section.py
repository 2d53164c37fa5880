"""The report's registration section: the network's NME per pose beside its mean-shape baseline, and
the frontalisation oracle of both alignments per pose."""

import json
import types

from jaxau.report import experiment


def test_section_lists_nme_and_oracle_per_pose(tmp_path):
    reg = tmp_path / "registration-abc"
    reg.mkdir()
    metrics = {"steps": 1500, "train_frames": 2160, "num_frames": 480}
    for key, val in (("landmark_nme", 0.04), ("baseline_landmark_nme", 0.138), ("oracle_landmark_nme", 0.008),
                     ("dense_nme", 0.052), ("baseline_dense_nme", 0.133)):
        metrics[key] = val
        metrics[f"{key}_by_pose"] = {"3": val + 0.001, "4": val - 0.001}
    (reg / "metrics.json").write_text(json.dumps(metrics))
    results = [types.SimpleNamespace(name="registration-abc", stage="registration", directory=str(reg))]
    for mode, err in (("2d", 0.0791), ("3d", 0.0412)):
        d = tmp_path / f"register_{mode}-x"
        d.mkdir()
        per = {"landmark_error": err, "landmark_error_exact": 0.01, "photometric_mae": 20.0,
               "photometric_mae_exact": 21.0, "coverage": 0.9}
        if mode == "3d":  # the 2D file is one written before the regional errors: no such rows
            per |= {"photometric_mae_mouth": 7.5, "photometric_mae_mouth_exact": 4.25}
        (d / "oracle.json").write_text(json.dumps({"all": per, "poses": {"3": per, "4": per}, "frames": 2}))
        results.append(types.SimpleNamespace(name=d.name, stage=f"register_{mode}", directory=str(d)))
    md = "\n".join(experiment._registration_section(results))
    assert "## Registration and alignment" in md and "1500 steps" in md
    assert "| landmarks, network | 0.0400 | 0.0410 | 0.0390 |" in md
    assert "| landmarks, mean shape | 0.1380 |" in md
    assert "| 2D | landmark_error | 0.0791 | 0.0791 | 0.0791 |" in md
    assert "| 3D | landmark_error | 0.0412 |" in md
    assert "| 3D | photometric_mae_mouth | 7.5000 | 7.5000 | 7.5000 |" in md
    assert "| 3D | photometric_mae_mouth_exact | 4.2500 |" in md
    assert "| 2D | photometric_mae_mouth" not in md and "photometric_mae_nose" not in md
    # Nothing registered: no section.
    assert experiment._registration_section([]) == []
