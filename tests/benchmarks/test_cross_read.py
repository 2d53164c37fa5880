"""benchmarks/cross_read.py: the read-out gain is a least-squares slope, the held-out plan takes
sources without the target AU, and bad arguments are refused in one line before any work. (The whole
measurement on a trained pipeline: tests/test_demo.py.)"""

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "cross_read.py")
_spec = importlib.util.spec_from_file_location("cross_read", _PATH)
cross_read = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cross_read)


def test_gain_is_the_least_squares_slope_and_nan_without_level_variance():
    rng = np.random.default_rng(0)
    levels = np.stack([rng.integers(0, 6, 50), np.full(50, 2), rng.integers(0, 6, 50)], 1)
    readings = np.stack([0.5 * levels[:, 0] + 1.0, rng.normal(size=50), rng.normal(size=50)], 1)
    levels[:3, 2] = -1   # unknown labels are left out of the fit
    got = cross_read.gains(levels, readings)
    assert got[0] == pytest.approx(0.5)
    assert np.isnan(got[1])
    known = levels[:, 2] >= 0
    assert got[2] == pytest.approx(np.polyfit(levels[known, 2], readings[known, 2], 1)[0])


def test_held_out_plan_draws_sources_without_the_target_au_and_labels_them_with_the_targets():
    rng = np.random.default_rng(1)
    levels = rng.choice(6, size=(80, 3), p=[0.6, 0.1, 0.1, 0.1, 0.05, 0.05]).astype(np.int32)
    plan = cross_read.held_out_plan(levels, per_level=3, seed=0)
    assert len(plan) > 0
    assert (levels[plan.source_index, plan.au] == 0).all()
    np.testing.assert_array_equal(plan.target_labels, levels[plan.target_index])
    np.testing.assert_array_equal(plan.target_labels[np.arange(len(plan)), plan.au], plan.level)


@pytest.mark.parametrize("spec, message", [
    ("nameonly", "name=<estimator stage directory>"),
    ("a=x,a=y", "used twice"),
    ("critic=x", "used twice"),
])
def test_reader_names_are_checked(spec, message):
    with pytest.raises(ValueError, match=message):
        cross_read.parse_readers(spec)
    assert cross_read.parse_readers("real=/a,synthetic=/b") == {"real": "/a", "synthetic": "/b"}


@pytest.mark.parametrize("extra, message", [
    (["--readers=r=MISSING", "--synthesis=SYN"], "no estimator.json"),
    (["--readers=r=EST", "--synthesis=MISSING"], "not a finished synthesis stage"),
    (["--readers=r=EST", "--synthesis=SYN", "--subjects=1"], "at least 2 subjects"),
    (["--readers=r=EST", "--synthesis=SYN", "--config=configs/paper/tabel2.py:medium"], "no such file"),
    (["--readers=bad", "--synthesis=SYN"], "name=<estimator stage directory>"),
    (["--readers=r=EST", "--synthesis=SYN"], "names no generator and sources inputs"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    est, syn = tmp_path / "est", tmp_path / "syn"
    est.mkdir()
    syn.mkdir()
    (est / "estimator.json").write_text("{}")
    (syn / "DONE.json").write_text("{}")
    (syn / "synthesis.json").write_text("{}")
    argv = [a.replace("MISSING", str(tmp_path / "none")).replace("EST", str(est)).replace("SYN", str(syn))
            for a in extra]
    assert cross_read.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
