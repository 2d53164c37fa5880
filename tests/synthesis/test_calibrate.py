"""Edit-scale calibration (`jaxau.synthesis.calibrate`): slopes against numpy's least squares, and the
scale chosen in a world whose reader, real frames and generator are linear, so the answer is known."""

import numpy as np
import pytest

from jaxau.synthesis import calibrate


def test_grid_runs_from_a_half_to_the_maximum_in_quarters_and_holds_one():
    np.testing.assert_allclose(calibrate.grid(2.0), [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert 1.0 in calibrate.grid(1.0).tolist() and calibrate.grid(3.0)[-1] == 3.0
    with pytest.raises(ValueError, match="must contain 1"):
        calibrate.grid(0.75)
    with pytest.raises(ValueError, match="0.6:2.0:0.25 must contain 1"):
        calibrate.grid(2.0, minimum=0.6)


def test_slopes_are_least_squares_per_au_without_unknown_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=(50, 3))
    labels[:7, 1] = -1          # unknown: left out of AU 1 only
    labels[:, 2] = 2            # no variance: no slope, weight 0
    pred = rng.normal(size=(50, 3)) + labels * np.array([0.7, -0.2, 1.0])
    slopes, var = calibrate.au_slopes(pred, labels)
    assert slopes[0] == pytest.approx(np.polyfit(labels[:, 0], pred[:, 0], 1)[0])
    assert slopes[1] == pytest.approx(np.polyfit(labels[7:, 1], pred[7:, 1], 1)[0])
    assert var[1] == pytest.approx(labels[7:, 1].var())
    assert np.isnan(slopes[2]) and var[2] == 0
    assert calibrate.weighted_slope(np.array([1.0, 3.0, np.nan]), np.array([1.0, 3.0, 5.0])) == pytest.approx(2.5)
    assert np.isnan(calibrate.weighted_slope(np.array([np.nan, 1.0]), np.array([2.0, 0.0])))


def _world(draw_fraction, real_noise=0.0, noise_seed=2):
    """AU a's intensity is the brightness of image row a (20 + 8 per level); the reader reads it back
    exactly (slope 1 on real frames); the generator draws ``draw_fraction[a]`` of each target's edit."""
    rng = np.random.default_rng(1)
    k_aus = len(draw_fraction)

    def render(levels):
        img = np.full((len(levels), k_aus, 4, 3), 20.0)
        img += 8.0 * levels[:, :, None, None]
        return img

    def read(images):
        return (np.asarray(images, np.float64).mean(axis=(2, 3)) - 20.0) / 8.0

    def generate(src, targets, scales):
        edit = 8.0 * targets * np.asarray(draw_fraction)
        return {k: np.clip(np.round(src.astype(np.float64) + k * edit[:, :, None, None]), 0, 255).astype(np.uint8)
                for k in scales}

    real_labels = rng.integers(0, 6, size=(80, k_aus))
    real_labels[:, -1] = 0       # the last AU never varies in the real frames
    targets = rng.integers(0, 6, size=(60, k_aus))
    sources = render(np.zeros((60, k_aus))).astype(np.uint8)
    real = render(real_labels) + real_noise * np.random.default_rng(noise_seed).normal(size=(80, k_aus, 1, 1))
    return generate, read, np.clip(np.round(real), 0, 255).astype(np.uint8), real_labels, sources, targets


@pytest.mark.parametrize("fractions, want", [((0.5, 0.5, 4.0), 2.0), ((2.0, 2.0, 0.1), 0.5),
                                             ((1.0, 1.0, 0.0), 1.0), ((0.4, 0.4, 1.0), 2.5)])
def test_the_scale_matches_the_readers_response_to_real_frames(fractions, want):
    generate, read, real, real_labels, sources, targets = _world(fractions)
    rec = calibrate.calibrate(generate, read, real, real_labels, sources, targets, calibrate.grid(3.0),
                              ["AU01", "AU02", "AU04"])
    # The last AU has no variance in the real frames: weight 0, whatever the generator draws for it.
    # The others' real slope is 1 and their generated slope k * fraction.
    assert rec["au_weights"]["AU04"] == 0 and rec["slope_real"] == pytest.approx(1.0)
    assert rec["edit_scale"] == want, rec
    at_one = rec["slope_generated"][rec["grid"].index(1.0)]
    w = np.array([rec["au_weights"]["AU01"], rec["au_weights"]["AU02"]])
    assert at_one == pytest.approx((w * np.array(fractions[:2])).sum() / w.sum(), abs=0.02)
    assert rec["sample"] == 60 and rec["real_frames"] == 80
    assert rec["best_scale"] == want and rec["mismatch"][rec["grid"].index(want)] == min(rec["mismatch"])


def test_a_noisy_validation_set_chooses_the_smallest_scale_within_one_standard_error():
    """Real frames read with noise (sd 3 levels): the slopes' mismatch has a standard error, and a
    smaller edit than the best one is chosen when it is within it (the curve is flat near its minimum)."""
    generate, read, real, real_labels, sources, targets = _world((0.5, 0.5, 0.5), real_noise=24.0)
    rec = calibrate.calibrate(generate, read, real, real_labels, sources, targets, calibrate.grid(3.0),
                              ["AU01", "AU02", "AU04"], resamples=300, seed=3)
    curve, grid, se = np.array(rec["mismatch"]), rec["grid"], rec["mismatch_se"]
    best, chosen = grid.index(rec["best_scale"]), grid.index(rec["edit_scale"])
    assert se > 0 and curve[best] == curve.min()
    assert chosen < best and curve[chosen] <= curve[best] + se
    assert (curve[:chosen] > curve[best] + se).all()   # the smallest such scale
    # The same frames read without noise: no standard error to speak of, the best scale is chosen.
    clean = calibrate.calibrate(*_world((0.5, 0.5, 0.5))[:2], *_world((0.5, 0.5, 0.5))[2:],
                                calibrate.grid(3.0), ["AU01", "AU02", "AU04"])
    assert clean["mismatch_se"] < 1e-3 and clean["edit_scale"] == clean["best_scale"] == 2.0


def test_real_frames_without_label_variance_are_refused():
    generate, read, real, real_labels, sources, targets = _world((0.5, 0.5, 0.5))
    with pytest.raises(calibrate.NothingToCalibrate, match="no AU label varies in the 80 real validation frames"):
        calibrate.calibrate(generate, read, real, np.zeros_like(real_labels), sources, targets,
                            calibrate.grid(2.0), ["AU01", "AU02", "AU04"])
