"""The report's read-out-by-level section from predictions files."""

import dataclasses

import numpy as np
import pytest

from jaxau.evaluation import metrics, predictions_csv
from jaxau.report import level_profile


@dataclasses.dataclass
class Col:
    id: str
    label: str
    train: str = "real:3d"


def _write(path, t, p, subj, poses):
    predictions_csv.write_predictions_csv(path, subject=[f"s{s}" for s in subj], sequence=[f"q{s}" for s in subj],
                                          frame=np.arange(len(subj)), y_true=t, y_pred=p, au_names=["AU01", "AU12"],
                                          pose_id=poses)
    return str(path)


def test_section_rows_figure_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    subj = np.repeat(np.arange(6), 10)
    poses = np.tile([0, 4], 30)
    t = rng.integers(0, 6, size=(60, 2)).astype(float)
    faint = 0.3 * t + 0.1 * rng.normal(size=t.shape)
    paths = {"real": _write(tmp_path / "r.csv", t, t + 0.0, subj, poses),
             "faint": [_write(tmp_path / "f0.csv", t, faint, subj, poses),
                       _write(tmp_path / "f1.csv", t, faint + 0.05, subj, poses)],
             "gone": str(tmp_path / "missing.csv")}
    cols = [Col("real", "Real 3D"), Col("faint", "Faint 3D"), Col("gone", "Not run")]
    profiles = level_profile.compute(cols, paths, [4], num_samples=30)
    assert set(profiles) == {"Real 3D", "Faint 3D"}
    assert profiles["Faint 3D"]["seeds"] == 2 and profiles["Faint 3D"]["poses"] == [4]
    m = poses == 4
    # The second seed is the first shifted (same gain and noise): the exact ICC of either.
    assert profiles["Faint 3D"]["aus"]["AU12"]["icc"] == pytest.approx(metrics.icc(t[m], faint[m])[1])
    md = "\n".join(level_profile.markdown(profiles))
    assert "## Read-out by true level" in md and "ICC(3,1) = 2 g / (1 + g^2 + s^2 / var_t)" in md
    row = next(line for line in md.splitlines() if line.startswith("| AU12 | Real 3D |"))
    assert "| 1.00 [1.00, 1.00] | 0.00 [0.00, 0.00] |" in row and "| 1.000 |" in row
    assert md.index("| AU01 | Real 3D |") < md.index("| AU01 | Faint 3D |") < md.index("| AU12 | Real 3D |")
    assert level_profile.plot(profiles, str(tmp_path / "lp.png")) and (tmp_path / "lp.png").stat().st_size > 1000
    # An AU with one true level only, and a read-out exactly on its line (no noise to split).
    flat = t.copy()
    flat[:, 0] = 2
    rec = level_profile.compute([Col("flat", "Flat")], {"flat": _write(tmp_path / "flat.csv", flat, flat, subj, poses)},
                                None, num_samples=10)
    lines = "\n".join(level_profile.markdown(rec))
    assert "| AU01 | Flat | (one true level only: no gain or noise) |" in lines
    assert "| 1.00 [1.00, 1.00] | 0.00 [0.00, 0.00] | - |" in lines
    assert level_profile.plot(rec, str(tmp_path / "flat.png"))
    # A column whose frames cannot be profiled (one test subject) is named with the reason.
    one = _write(tmp_path / "one.csv", t[:10], t[:10], np.zeros(10, int), poses[:10])
    bad = level_profile.compute([Col("one", "One subject")], {"one": one}, None, num_samples=10)
    assert "at least 2 test subjects" in bad["One subject"]["error"]
    assert level_profile.markdown(bad) == [] and not level_profile.plot(bad, str(tmp_path / "x.png"))
    mixed = "\n".join(level_profile.markdown({**profiles, **bad}))
    assert "One subject: not profiled (a subject bootstrap needs at least 2 test subjects" in mixed
