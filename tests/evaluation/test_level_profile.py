"""Level profiles: the gain / noise decomposition of ICC(3,1), subject shares and cross-talk."""

import json

import numpy as np
import pytest

from jaxau.evaluation import bootstrap, level_profile, metrics

AUS = ["AU01", "AU04", "AU12"]


def _frames(seed=0, subjects=10, per=20):
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(subjects), per)
    t = rng.integers(0, 6, size=(subj.size, len(AUS))).astype(float)
    return rng, subj, t


def test_gain_and_noise_give_the_icc_exactly():
    rng, subj, t = _frames()
    p = 0.3 + 0.6 * t + rng.normal(size=t.shape) * 0.8 + 0.2 * t ** 2 / 5
    t[3, 1] = -1  # an unknown label: dropped for that AU only
    rec = level_profile.level_profile(t, p, subj, AUS, num_samples=50)
    icc = metrics.icc(t, p)
    for j, au in enumerate(AUS):
        assert rec["aus"][au]["icc"] == pytest.approx(icc[j], abs=1e-12)
    # The frame with the unknown AU04 label is not counted at any AU04 level.
    assert sum(rec["aus"]["AU04"]["counts"]) == t.shape[0] - 1
    assert sum(rec["aus"]["AU01"]["counts"]) == t.shape[0]


def test_a_line_has_its_slope_as_gain_no_noise_and_its_values_as_level_means():
    _, subj, t = _frames(1)
    p = 2.0 + 0.5 * t
    rec = level_profile.level_profile(t, p, subj, AUS, num_samples=20)
    for au in AUS:
        a = rec["aus"][au]
        assert a["gain"] == pytest.approx(0.5) and a["noise"] == pytest.approx(0.0, abs=1e-7)
        np.testing.assert_allclose(a["mean"], 2.0 + 0.5 * np.arange(6))
        assert a["icc"] == pytest.approx(2 * 0.5 / (1 + 0.25))
        assert a["gain_ci95"] == pytest.approx([0.5, 0.5])


def test_undefined_values_are_none_and_the_record_is_strict_json():
    rng, subj, t = _frames(2)
    t = np.minimum(t, 3)
    t[:, 2] = 0  # AU12 never varies: no gain, noise or cross-talk
    rec = level_profile.level_profile(t, t + 1.0 + 0.1 * rng.normal(size=t.shape), subj, AUS, num_samples=10)
    assert rec["aus"]["AU01"]["counts"][4:] == [0, 0] and rec["aus"]["AU01"]["mean"][4:] == [None, None]
    np.testing.assert_allclose(rec["aus"]["AU01"]["mean"][:4], [1, 2, 3, 4], atol=0.05)
    au12 = rec["aus"]["AU12"]
    assert au12["gain"] is None and au12["icc"] is None and au12["gain_ci95"] == [None, None]
    assert all(x is None for row in rec["cross_talk"] for x in row)  # a constant column: rank-deficient
    assert level_profile.largest_cross_talk(rec, "AU01") is None
    json.dumps(rec, allow_nan=False)


def test_noise_between_subjects_separates_a_face_constant_from_frame_scatter():
    rng, subj, t = _frames(3)
    offsets = rng.normal(size=(10, 1)) * 0.7
    by_face = t + offsets[subj]
    e = rng.normal(size=t.shape)
    for s in range(10):  # frame scatter whose mean is 0 for every subject and uncorrelated with t
        m = subj == s
        for j in range(t.shape[1]):
            tc = t[m, j] - t[m, j].mean()
            e[m, j] -= e[m, j].mean() + (tc @ e[m, j]) / max(tc @ tc, 1e-12) * tc
    scattered = t + e
    face = level_profile.level_profile(t, by_face, subj, AUS, num_samples=10)
    scatter = level_profile.level_profile(t, scattered, subj, AUS, num_samples=10)
    for au in AUS:
        assert face["aus"][au]["noise_between_subjects"] > 0.97
        assert scatter["aus"][au]["noise_between_subjects"] < 0.03


def test_subject_share_against_a_brute_force_anova():
    rng, subj, t = _frames(4, subjects=6, per=9)
    p = t * 0.4 + rng.normal(size=t.shape) + rng.normal(size=(6, 1))[subj]
    share = level_profile.subject_share(t, p, np.ones_like(t, bool), subj)
    for j in range(t.shape[1]):
        slope, intercept = np.polyfit(t[:, j], p[:, j], 1)
        resid = p[:, j] - (intercept + slope * t[:, j])
        between = sum((subj == s).sum() * resid[subj == s].mean() ** 2 for s in range(6))
        assert share[j] == pytest.approx(between / (resid ** 2).sum())


def test_cross_talk_recovers_another_aus_influence():
    rng, subj, t = _frames(5)
    p = t.copy()
    p[:, 0] += 0.3 * t[:, 1]  # the AU01 head also rises with AU04
    rec = level_profile.level_profile(t, p, subj, AUS, num_samples=10)
    talk = np.asarray(rec["cross_talk"])
    np.testing.assert_allclose(talk, [[1, 0.3, 0], [0, 1, 0], [0, 0, 1]], atol=1e-9)
    assert level_profile.largest_cross_talk(rec, "AU01") == ("AU04", pytest.approx(0.3))
    assert level_profile.largest_cross_talk(rec, "AU12")[1] == pytest.approx(0.0, abs=1e-9)
    # Frames with an unknown label are left out of the regression; too few frames give NaN.
    assert np.isnan(level_profile.cross_talk(t[:3], p[:3], np.ones((3, 3), bool))).all()


def test_seeds_average_their_gains_and_the_interval_is_the_brute_force_percentile():
    rng, subj, t = _frames(6, subjects=8, per=15)
    seeds = np.stack([0.5 * t + rng.normal(size=t.shape) * 0.6, 0.8 * t + rng.normal(size=t.shape) * 0.6])
    rec = level_profile.level_profile(t, seeds, subj, AUS, num_samples=40, seed=2)
    one = [level_profile.level_profile(t, s, subj, AUS, num_samples=40, seed=2) for s in seeds]
    for au in AUS:
        assert rec["aus"][au]["gain"] == pytest.approx(np.mean([o["aus"][au]["gain"] for o in one]))
        np.testing.assert_allclose(rec["aus"][au]["mean"], np.mean([o["aus"][au]["mean"] for o in one], 0))
    assert rec["seeds"] == 2
    # One seed's gain interval against gains of explicitly duplicated frames.
    boot = bootstrap.SubjectBootstrap(subj, 40, 2)
    gains = []
    for w in boot.weights:
        idx = np.repeat(np.arange(t.shape[0]), w.astype(int))
        tt, pp = t[idx, 0], seeds[0][idx, 0]
        gains.append(np.cov(tt, pp, bias=True)[0, 1] / tt.var())
    assert one[0]["aus"]["AU01"]["gain_ci95"] == pytest.approx(bootstrap.percentile_interval(np.asarray(gains), 0.95))
    # Two identical seeds are one seed.
    same = level_profile.level_profile(t, np.stack([seeds[0], seeds[0]]), subj, AUS, num_samples=40, seed=2)
    assert same["aus"]["AU04"]["gain_ci95"] == pytest.approx(one[0]["aus"]["AU04"]["gain_ci95"])


def test_shape_errors_name_what_is_wrong():
    _, subj, t = _frames(7)
    with pytest.raises(ValueError, match="y_pred shape"):
        level_profile.level_profile(t, t[:, :2], subj, AUS)
    with pytest.raises(ValueError, match="y_pred shape"):  # seeds are checked against the labels too
        level_profile.level_profile(t, np.stack([t, t])[:, :-1], subj, AUS)
    with pytest.raises(ValueError, match="AU names"):
        level_profile.level_profile(t, t, subj, AUS[:2])
    with pytest.raises(ValueError, match="subjects has"):
        level_profile.level_profile(t, t, subj[:-1], AUS)


def test_profile_from_predictions_selects_poses():
    _, subj, t = _frames(8)
    poses = np.tile([0, 4], t.shape[0] // 2)
    p = np.where(poses[:, None] == 4, t, t[::-1])
    pred = {"y_true": t, "y_pred": p, "subject": subj.astype(str), "au_names": AUS, "pose_id": poses}
    rec = level_profile.profile_from_predictions(pred, poses=[4], num_samples=10)
    assert rec["aus"]["AU12"]["gain"] == pytest.approx(1.0) and rec["aus"]["AU12"]["noise"] == pytest.approx(0.0, abs=1e-7)
    assert sum(rec["aus"]["AU12"]["counts"]) == int((poses == 4).sum())
