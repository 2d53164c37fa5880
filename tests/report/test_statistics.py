import dataclasses

import numpy as np
import pytest

from jaxau.evaluation import bootstrap, metrics, predictions_csv
from jaxau.report import statistics


@dataclasses.dataclass
class Col:
    id: str
    label: str
    train: str
    test: str = ""
    overrides: str = ""


COLUMNS = [Col("real_2d", "Real 2D", "real:2d"), Col("real_3d", "Real 3D", "real:3d"),
           Col("synthetic_3d", "Synthetic 3D", "synthetic:3d"), Col("oracle_3d", "Oracle 3D", "oracle:3d"),
           Col("s3_idio", "Synthetic 3D, idio off", "synthetic:3d", overrides="generator.lambda_idt=0")]


def test_pairs_follow_the_papers_questions():
    got = {(a, b) for a, b, _ in statistics.pairs(COLUMNS)}
    assert got == {("synthetic_3d", "real_3d"), ("oracle_3d", "real_3d"), ("synthetic_3d", "oracle_3d"),
                   ("real_3d", "real_2d")}
    assert statistics.pairs(COLUMNS, "s3_idio>synthetic_3d") == [
        ("s3_idio", "synthetic_3d", "Synthetic 3D, idio off > Synthetic 3D")]
    with pytest.raises(ValueError, match="idA>idB"):
        statistics.pairs(COLUMNS, "real_3d>nope")


def _write(path, t, p, subj, poses):
    predictions_csv.write_predictions_csv(path, subject=[f"s{s}" for s in subj], sequence=[f"q{s}" for s in subj],
                                          frame=np.arange(len(subj)), y_true=t, y_pred=p, au_names=["AU06", "AU12"],
                                          pose_id=poses)
    return str(path)


def _frames(seed, views, noise):
    """8 subjects x 12 frames over three views: rng, subjects, views, labels, good predictions."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(8), 12)
    t = rng.integers(0, 6, size=(len(subj), 2))
    return rng, subj, np.tile(views, 32), t, t + rng.normal(size=t.shape) * noise


def test_compute_and_markdown(tmp_path):
    rng, subj, poses, t, good = _frames(0, [0, 1, 2], 0.5)
    bad = rng.normal(size=t.shape)
    paths = {"real_3d": _write(tmp_path / "r3.csv", t, bad, subj, poses),
             "real_2d": _write(tmp_path / "r2.csv", t, bad + 0.01 * rng.normal(size=t.shape), subj, poses),
             "synthetic_3d": _write(tmp_path / "s3.csv", t, good, subj, poses)}
    stats = statistics.compute(COLUMNS, paths, [0], num_samples=300)
    m = poses == 0
    s3 = stats["columns"]["Synthetic 3D"]
    assert s3["icc"] == pytest.approx(metrics.icc(t[m], good[m]).mean()) and s3["poses"] == [0]
    assert s3["ci95"][0] < s3["icc"] < s3["ci95"][1]
    by_q = {c["question"]: c for c in stats["comparisons"]}
    syn = by_q["synthetic > real (3D registration)"]
    assert syn["verdict"] == "yes" and syn["num_frames"] == int(m.sum())
    assert set(syn["by_pose"]) == {"0", "1", "2"}
    want = bootstrap.paired_difference(t[poses == 1], good[poses == 1], bad[poses == 1], subj[poses == 1],
                                       num_samples=300)
    assert syn["by_pose"]["1"]["difference"] == pytest.approx(want["difference"])
    assert by_q["3D > 2D registration (real training)"]["verdict"] == "not resolved"
    text = "\n".join(statistics.markdown(stats))
    assert "| synthetic > real (3D registration) |" in text and "**yes**" in text and "**not resolved**" in text
    # One seed per column: the report says the intervals do not cover the estimator's own draw.
    assert "One estimator per column" in text and "Several seeds" not in text
    assert "subjects alone" not in text and "redraws both columns' seeds" not in text
    # Two seeds per column: intervals and verdicts redraw them, the subject-only interval beside each.
    seeded = {"real_3d": [paths["real_3d"], _write(tmp_path / "r3b.csv", t, bad + 0.3 * rng.normal(size=t.shape),
                                                   subj, poses)],
              "synthetic_3d": [paths["synthetic_3d"], _write(tmp_path / "s3b.csv", t, good + 0.3 * rng.normal(
                  size=t.shape), subj, poses)]}
    stats2 = statistics.compute(COLUMNS, seeded, [0], num_samples=300)
    text2 = "\n".join(statistics.markdown(stats2))
    s3 = stats2["columns"]["Synthetic 3D"]
    assert f"subjects alone [{s3['ci95_subjects'][0]:.3f}, {s3['ci95_subjects'][1]:.3f}]" in text2
    syn = {c["question"]: c for c in stats2["comparisons"]}["synthetic > real (3D registration)"]
    assert syn["ci95"] != syn["ci95_subjects"]
    assert f"(subjects alone [{syn['ci95_subjects'][0]:+.3f}, {syn['ci95_subjects'][1]:+.3f}])" in text2
    assert "redraws both columns' seeds" in text2


def test_drops_from_the_training_view_and_their_comparisons(tmp_path):
    rng, subj, poses, t, good = _frames(1, [3, 4, 5], 0.3)
    # Real 2D is good at its training view 4 only; synthetic 3D about as good at every view.
    lost = np.where((poses == 4)[:, None], good, rng.normal(size=t.shape) * 3)
    paths = {"real_2d": _write(tmp_path / "r2.csv", t, lost, subj, poses),
             "synthetic_3d": _write(tmp_path / "s3.csv", t, good, subj, poses)}
    stats = statistics.compute(COLUMNS, paths, None, num_samples=200, reference_poses=[4])
    r2, s3 = stats["drops"]["Real 2D"], stats["drops"]["Synthetic 3D"]
    assert set(r2["by_pose"]) == {"3", "5"} and r2["reference"] == pytest.approx(
        metrics.icc(t[poses == 4], lost[poses == 4]).mean())
    assert r2["by_pose"]["5"]["verdict"] == "yes" and r2["by_pose"]["5"]["drop"] > 0.5
    assert abs(s3["by_pose"]["5"]["drop"]) < 0.05
    (cmp,) = stats["drop_comparisons"]
    assert (cmp["a"], cmp["b"]) == ("Real 2D", "Synthetic 3D") and cmp["by_pose"]["3"]["verdict"] == "yes"
    text = "\n".join(statistics.markdown(stats))
    assert "| Real 2D | Synthetic 3D | pose 3: " in text and "Away from the reference view (pose 4" in text
    # Without a reference view (every view trained) there is no drop section.
    assert "drops" not in statistics.compute(COLUMNS, paths, None, num_samples=50)
