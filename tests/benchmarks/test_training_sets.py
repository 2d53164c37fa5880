"""benchmarks/training_sets.py: the reader's view of a training set (ICC, read-out per level, slope)
on hand-built read-outs; bad arguments are refused in one line before any work."""

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "training_sets.py")
_spec = importlib.util.spec_from_file_location("training_sets", _PATH)
training_sets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(training_sets)


def test_level_slope_is_the_least_squares_slope():
    assert training_sets.level_slope([1.0, 1.5, 2.0, 2.5], [0, 1, 2, 3]) == pytest.approx(0.5)
    assert training_sets.level_slope([0.0, 1.0, 0.0, 1.0], [0, 0, 1, 1]) == pytest.approx(0.0)
    assert np.isnan(training_sets.level_slope([1.0, 2.0], [3, 3]))
    # np.polyfit as an independent reference.
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 6, 50)
    readout = 0.3 * levels + rng.normal(0, 0.2, 50)
    assert training_sets.level_slope(readout, levels) == pytest.approx(np.polyfit(levels, readout, 1)[0])


def test_read_out_of_a_set_a_reader_sees_exactly_and_at_half_strength():
    labels = np.array([[0, 1], [1, 0], [2, 3], [3, 0], [4, 5], [5, 2]])
    target_au = np.array([0, 0, 1, 0, 1, 0])
    target_level = labels[np.arange(6), target_au]
    exact = training_sets.read_out(labels.astype(float), labels, target_au, target_level, ["AU01", "AU12"])
    assert exact["icc"] == pytest.approx(1.0) and exact["slope"] == pytest.approx(1.0)
    assert exact["by_level"] == {0: 0.0, 1: 1.0, 3: 3.0, 5: 5.0}
    half = training_sets.read_out(labels / 2.0, labels, target_au, target_level, ["AU01", "AU12"])
    # ICC(3,1) is 2 s_xy / (s_x^2 + s_y^2): half the scale gives 2 * 0.5 / 1.25 = 0.8.
    assert half["icc"] == pytest.approx(0.8) and half["slope"] == pytest.approx(0.5)
    assert set(half["icc_by_au"]) == {"AU01", "AU12"}


def test_laplacian_energy_and_texture_against_hand_built_images():
    # A vertical stripe pattern 0, 100, 0, 100 ...: the 4-neighbour Laplacian is +-200 at every pixel.
    stripes = np.zeros((1, 6, 6, 3))
    stripes[:, :, 1::2] = 100.0
    face = np.ones((1, 6, 6), bool)
    assert training_sets.laplacian_energy(stripes, face) == pytest.approx([200.0 ** 2])
    # A flat image has none; a face with no full neighbourhood gives NaN.
    assert training_sets.laplacian_energy(np.full((1, 6, 6, 3), 50.0), face) == pytest.approx([0.0])
    assert np.isnan(training_sets.laplacian_energy(stripes, np.zeros((1, 6, 6), bool))[0])
    # Against a set blurred by a 1-2-1 column filter (amplitude 100 -> 0, every pixel 50 + ...):
    exact = np.full((2, 6, 6, 3), 50.0)
    exact[:, :, 1::2] += 100.0
    blurred = exact.copy()
    blurred[:, :, 1:-1] = 0.25 * exact[:, :, :-2] + 0.5 * exact[:, :, 1:-1] + 0.25 * exact[:, :, 2:]
    t = training_sets.texture_vs_exact(blurred, exact)
    assert t["sharpness"] < 0.05 and set(t["change_by_band"]) == {"upper", "middle", "lower"}
    assert training_sets.texture_vs_exact(exact, exact) == {"sharpness": 1.0, "change_by_band": {
        "upper": 0.0, "middle": 0.0, "lower": 0.0}}
    # A change in the bottom third only, by 12 grey levels: that band alone.
    moved = exact.copy()
    moved[:, 4:] += 12.0
    change = training_sets.texture_vs_exact(moved, exact)["change_by_band"]
    assert change == {"upper": 0.0, "middle": 0.0, "lower": pytest.approx(12.0)}


@pytest.mark.parametrize("extra, message", [
    (["--config=configs/paper/no_such.py:cpu"], "no such file"),
    (["--config=configs/paper/synthetic_gap.py:cpu", "--reader=synthetic_3d"], "not a real column"),
    (["--config=configs/paper/synthetic_gap.py:cpu"], "has not finished"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [f"--workdir={tmp_path}"] + [a.replace("configs/", os.path.join(repo, "configs") + "/") for a in extra]
    assert training_sets.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
