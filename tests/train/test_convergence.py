"""jaxau.train.convergence: every kept checkpoint is scored (the curve's last point is the trained
model's ICC, computed here with a numpy ICC(3,1)), a named step is restored or refused with the kept
steps, unlearned heads and column summaries on hand-built curves."""

import numpy as np
import pytest

from jaxau.train import convergence, estimator
from tests.train.test_estimator import make_frames

AUS = np.asarray(["AU01", "AU12"])  # make_frames' AUs
CFG = {"width": 1 / 16, "image_size": 32, "batch_size": 16, "num_steps": 60, "learning_rate": 3e-3,
       "dropout": 0.0, "freeze": "", "pretrained": "", "readout": "expected", "flip": False,
       "checkpoint_every": 20, "log_every": 10, "eval_every": 0}


def numpy_icc31(y, p):
    """ICC(3,1) from the two-way ANOVA mean squares (Shrout & Fleiss), written out independently,
    over the frames whose level is known (as the library drops -1 labels)."""
    known = y >= 0
    x = np.stack([y[known], p[known]], axis=1).astype(np.float64)
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, mse = ss_rows / (n - 1), ss_err / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("est"))
    estimator.train(CFG, workdir, make_frames(), seed=0)
    return workdir


def test_every_kept_checkpoint_is_scored_and_the_last_is_the_trained_model(trained):
    val = make_frames(48, seed=1)
    curve = convergence.learning_curve(trained, val)
    assert curve.steps == (20, 40, 60) and curve.au_names == tuple(AUS)
    assert curve.icc.shape == curve.spread.shape == (3, 2)
    latest = estimator.Predictor(trained).intensities(val["image"])
    for k in range(2):
        assert curve.icc[-1, k] == pytest.approx(numpy_icc31(val["au_intensity"][:, k], latest[:, k]), abs=1e-6)
        assert curve.spread[-1, k] == pytest.approx(latest[:, k].std(), abs=1e-6)
    early = estimator.Predictor(trained, step=20)
    assert early.step == 20
    np.testing.assert_allclose(curve.icc[0], [numpy_icc31(val["au_intensity"][:, k], p)
                                              for k, p in enumerate(early.intensities(val["image"]).T)], atol=1e-6)
    assert not np.allclose(early.intensities(val["image"]), latest)  # really an older model
    assert curve.mean[-1] > 0.3 and curve.rise == pytest.approx(curve.mean[-1] - curve.mean[-2])


def test_a_step_that_was_not_kept_is_refused_naming_the_kept_ones(trained):
    with pytest.raises(FileNotFoundError, match=r"at step 30: the kept steps are \[20, 40, 60\]"):
        estimator.Predictor(trained, step=30)


def _curve(name, final, steps=(1, 2), aus=("AU01", "AU04"), spread=None):
    final = np.asarray(final, float)
    icc = np.stack([final / 2, final])
    sd = np.full_like(icc, 0.4) if spread is None else np.stack([spread, spread])
    return convergence.Curve(name, tuple(steps), tuple(aus), icc, sd)


def test_unlearned_heads_are_one_seeds_heads_far_below_the_seeds_median():
    curves = [_curve("a", [0.50, 0.10]), _curve("b", [0.60, 0.12]),
              _curve("c", [0.10, 0.01], spread=np.array([0.1, 0.4]))]
    heads = convergence.unlearned_heads(curves)
    # AU01: seed c reads 0.10 against a median of 0.50; AU04's median 0.10 is under the floor.
    assert [(h["seed"], h["au"], h["model_dir"]) for h in heads] == [(2, "AU01", "c")]
    assert heads[0]["median_icc"] == pytest.approx(0.50) and heads[0]["spread"] == pytest.approx(0.1)
    assert heads[0]["median_spread"] == pytest.approx(0.4)
    assert convergence.unlearned_heads(curves, floor=0.05) != heads  # AU04's seed c then counts too
    assert convergence.unlearned_heads(curves[:1]) == []
    with pytest.raises(ValueError, match="same AUs"):
        convergence.unlearned_heads([curves[0], _curve("d", [0.5, 0.1], aus=("AU04", "AU01"))])


def test_column_summary_averages_the_seeds_and_names_rising_aus():
    curves = [_curve("a", [0.50, 0.02]), _curve("b", [0.30, 0.04])]
    s = convergence.column_summary(curves)
    assert s["steps"] == [1, 2] and s["seeds"] == 2
    assert s["icc_mean"] == pytest.approx([0.215 / 2, 0.215], abs=1e-4)
    assert s["icc_mean_per_seed"] == [pytest.approx([0.13, 0.26]), pytest.approx([0.085, 0.17])]
    assert s["rise"] == pytest.approx((0.13 + 0.085) / 2, abs=1e-4)
    assert s["rising_aus"] == ["AU01"]  # the seed means gained 0.2 (AU01) and 0.015 (AU04)
    assert convergence.column_summary(curves, rising=0.01)["rising_aus"] == ["AU01", "AU04"]
    assert s["final_per_au"] == {"AU01": 0.4, "AU04": 0.03}
    with pytest.raises(ValueError, match="kept different steps"):
        convergence.column_summary([curves[0], _curve("c", [0.5, 0.1], steps=(1, 3))])
