import warnings

import numpy as np
import pytest

from jaxau.evaluation import metrics


def anova_icc31(x, y):
    """Shrout & Fleiss ICC(3,1) from the two-way ANOVA mean squares (metrics.md §1), k = 2 raters."""
    Y = np.stack([x, y], axis=1).astype(np.float64)
    n, k = Y.shape
    m = Y.mean()
    ssr = k * ((Y.mean(1) - m) ** 2).sum()
    ssc = n * ((Y.mean(0) - m) ** 2).sum()
    sst = ((Y - m) ** 2).sum()
    sse = sst - ssr - ssc
    msr, mse = ssr / (n - 1), sse / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse)


@pytest.mark.parametrize("truth, pred, want_icc, want_r, want_mae", [
    ([0, 1, 2, 3], [0, 1, 2, 3], 1.0, 1.0, 0.0),
    ([1, 2, 3, 4], [2, 3, 4, 5], 1.0, 1.0, 1.0),
    ([0, 1, 2, 3], [0, 2, 4, 6], 0.8, 1.0, 1.5),
    ([0, 1, 2, 3, 4], [1, 1, 3, 2, 5], 45 / 53, 0.850420, 0.8),
])
def test_hand_computed_cases(truth, pred, want_icc, want_r, want_mae):
    assert metrics.icc(truth, pred) == pytest.approx(want_icc, abs=1e-12)
    assert metrics.pcc(truth, pred) == pytest.approx(want_r, abs=1e-6)
    assert metrics.mae(truth, pred) == pytest.approx(want_mae, abs=1e-12)
    assert metrics.icc(truth, pred) == pytest.approx(anova_icc31(np.array(truth), np.array(pred)))


def test_matches_pingouin_anova_and_scipy():
    pg = pytest.importorskip("pingouin")
    import pandas as pd
    from scipy import stats

    rng = np.random.default_rng(0)
    t = rng.integers(0, 6, size=(200, 3))
    p = np.clip(t + rng.normal(0, 1.2, size=t.shape) * [0.5, 1.0, 2.0] + [0.0, 0.3, -0.5], 0, 5)
    ours = metrics.icc(t, p)
    assert ours.shape == (3,)
    for k in range(3):
        df = pd.DataFrame({"frame": np.tile(np.arange(200), 2), "rater": np.repeat(["gt", "pred"], 200),
                           "y": np.concatenate([t[:, k], p[:, k]])})
        table = pg.intraclass_corr(df, targets="frame", raters="rater", ratings="y")
        # pingouin 0.7.0 labels ICC(3,1) 'ICC(C,1)' (McGraw & Wong naming); older releases 'ICC3'.
        rows = table.set_index("Type")["ICC"]
        ref = float(rows["ICC(C,1)"] if "ICC(C,1)" in rows.index else rows["ICC3"])
        assert ours[k] == pytest.approx(ref, abs=1e-10)
        assert ours[k] == pytest.approx(anova_icc31(t[:, k], p[:, k]), abs=1e-12)
        assert metrics.pcc(t, p)[k] == pytest.approx(stats.pearsonr(t[:, k], p[:, k])[0], abs=1e-12)
    np.testing.assert_allclose(metrics.mae(t, p), np.abs(t - p).mean(0), atol=1e-12)


def test_unknown_labels_drop_and_as_zero():
    t = np.array([[0, -1], [1, 2], [2, -1], [3, 0], [-1, 1]])
    p = np.array([[0, 4], [1, 2], [2, 4], [3, 0], [5, 1.5]], dtype=float)
    drop = metrics.icc(t, p)
    assert drop[0] == pytest.approx(1.0)  # frames 0..3 agree exactly
    assert drop[1] == pytest.approx(anova_icc31(np.array([2, 0, 1]), np.array([2, 0, 1.5])))
    as_zero = metrics.icc(t, p, unknown="as_zero")
    assert as_zero[0] == pytest.approx(anova_icc31(np.array([0, 1, 2, 3, 0]), p[:, 0]))
    assert metrics.mae(t, p, unknown="drop")[1] == pytest.approx(0.5 / 3)
    scores = metrics.evaluate(t, p, ["AU01", "AU04"])
    assert scores.unknown == "drop"
    np.testing.assert_array_equal(scores.num_frames, [4, 3])
    assert scores.mean["icc"] == pytest.approx(drop.mean())
    with pytest.raises(ValueError, match="'drop' or 'as_zero'"):
        metrics.icc(t, p, unknown="zero")


def test_constant_series_no_nan_and_warn():
    t = np.zeros((6, 2))
    p = np.stack([np.zeros(6), np.arange(6.0)], 1)
    with pytest.warns(metrics.UndefinedMetricWarning, match=r"column\(s\) \[0\]"):
        v = metrics.icc(t, p)
    # Column 0: both constant -> defined value 0.0; column 1: truth constant, prediction varies ->
    # ICC is a proper 0 (2*cov / (0 + var_p)) with no warning needed.
    np.testing.assert_array_equal(v, [0.0, 0.0])
    with pytest.warns(metrics.UndefinedMetricWarning, match=r"\[0, 1\]"):
        r = metrics.pcc(t, p)
    np.testing.assert_array_equal(r, [0.0, 0.0])
    with pytest.warns(metrics.UndefinedMetricWarning):
        assert metrics.icc([2, 2, 2], [2, 2, 2], constant_value=1.0) == 1.0
    # Perfect agreement on a non-constant series needs no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.icc([0, 5, 0, 0], [0, 5, 0, 0]) == pytest.approx(1.0)
    with pytest.warns(metrics.UndefinedMetricWarning):
        assert np.isnan(metrics.mae([-1, -1], [1, 2]))


def test_by_group_and_bad_input():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 6, size=(40, 2))
    p = t + rng.normal(size=t.shape)
    poses = np.repeat([0, 1, 2, 3], 10)
    by_pose = metrics.evaluate_by_group(t, p, poses, ["AU01", "AU12"])
    assert list(by_pose) == [0, 1, 2, 3]
    np.testing.assert_allclose(by_pose[2].icc, metrics.icc(t[20:30], p[20:30]))
    with pytest.raises(ValueError, match="shape"):
        metrics.icc(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        metrics.icc([0, 1], [0, np.nan])
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        metrics.evaluate(t[:, :1], p[:, :1], ["AU01", "AU12"])
