import numpy as np
import pytest

from jaxau.evaluation import bootstrap, metrics


def _data(seed=0, subjects=6, per=15, k=3, noise=1.0):
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(subjects), per)
    t = rng.integers(0, 6, size=(subj.size, k)).astype(float)
    t[rng.random(t.shape) < 0.05] = -1  # unknown labels are dropped per AU
    p = np.where(t < 0, 0, t) + noise * rng.normal(size=t.shape) + rng.normal(size=(subjects, 1))[subj]
    return t, p, subj


def test_weighted_icc_equals_icc_of_duplicated_frames():
    t, p, subj = _data()
    tt, pp, valid, _ = metrics.prepare(t, p, "drop")
    rng = np.random.default_rng(1)
    w = rng.integers(0, 4, size=(5, t.shape[0])).astype(float)
    got = bootstrap.weighted_icc(tt, pp, valid, w)
    for b in range(5):
        rep = np.repeat(np.arange(t.shape[0]), w[b].astype(int))
        np.testing.assert_allclose(got[b], metrics.icc(t[rep], p[rep]), atol=1e-12)


def test_point_estimate_matches_metrics_and_pingouin():
    pg = pytest.importorskip("pingouin")
    import pandas as pd
    t, p, subj = _data(k=2)
    res = bootstrap.column_interval(t, p, subj, ["AU01", "AU02"], num_samples=50)
    want = metrics.icc(t, p)
    assert res["icc"] == pytest.approx(want.mean(), abs=1e-12)
    ok = t[:, 0] >= 0
    n = int(ok.sum())
    df = pd.DataFrame({"target": np.tile(np.arange(n), 2), "rater": np.repeat(["t", "p"], n),
                       "score": np.concatenate([t[ok, 0], p[ok, 0]])})
    rows = pg.intraclass_corr(df, "target", "rater", "score").set_index("Type")["ICC"]
    ref = float(rows["ICC(C,1)"] if "ICC(C,1)" in rows.index else rows["ICC3"])  # pingouin 0.7 / older
    assert res["per_au"]["AU01"]["icc"] == pytest.approx(ref, abs=1e-9)
    assert res["num_subjects"] == 6 and res["num_frames"] == t.shape[0]


def test_interval_equals_brute_force_subject_resampling():
    t, p, subj = _data(seed=3)
    res = bootstrap.column_interval(t, p, subj, ["a", "b", "c"], num_samples=200, seed=7)
    # The same draws, done the slow way: concatenate the drawn subjects' frames and score them.
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 6, size=(200, 6))
    means = []
    for row in draws:
        idx = np.concatenate([np.flatnonzero(subj == s) for s in row])
        means.append(metrics.icc(t[idx], p[idx]).mean())
    lo, hi = np.quantile(means, [0.025, 0.975])
    assert res["ci95"] == pytest.approx([lo, hi], abs=1e-10)
    assert lo < res["icc"] < hi


def test_weights_resample_whole_subjects():
    subj = np.array(["b", "a", "b", "c", "a", "c", "c"])
    boot = bootstrap.SubjectBootstrap(subj, num_samples=100, seed=0)
    for row in boot.weights:
        for s in "abc":
            assert len(set(row[subj == s])) == 1
        # Each resample draws as many subjects as there are.
        assert sum(row[subj == s][0] for s in "abc") == 3


def test_seeds_average_and_spread():
    t, p, subj = _data()
    one = bootstrap.column_interval(t, p, subj, ["a", "b", "c"], num_samples=100)
    two = bootstrap.column_interval(t, np.stack([p, p]), subj, ["a", "b", "c"], num_samples=100)
    assert two["icc"] == pytest.approx(one["icc"]) and two["ci95"] == pytest.approx(one["ci95"])
    assert two["seeds"] == 2 and two["seed_spread"] == 0.0
    q = p + np.random.default_rng(5).normal(size=p.shape)
    mixed = bootstrap.column_interval(t, np.stack([p, q]), subj, ["a", "b", "c"], num_samples=100)
    per_seed = [metrics.icc(t, x).mean() for x in (p, q)]
    assert mixed["icc_per_seed"] == pytest.approx(per_seed)
    assert mixed["seed_spread"] == pytest.approx(np.std(per_seed, ddof=1))


def test_seed_agreement_and_averaged_predictions_against_numpy_and_metrics():
    t, p, subj = _data(seed=4, noise=0.5)
    t = t.copy()
    t[:5, 1] = -1  # unknown labels: those frames do not count for that AU
    rng = np.random.default_rng(9)
    seeds = np.stack([p + rng.normal(size=p.shape) * s for s in (0.5, 1.0, 2.0)])
    rec = bootstrap.column_interval(t, seeds, subj, ["a", "b", "c"], num_samples=150, seed=2)
    # Agreement by brute force: np.corrcoef per AU over the known frames, every seed pair.
    want = np.mean([np.mean([np.corrcoef(seeds[i, t[:, k] >= 0, k], seeds[j, t[:, k] >= 0, k])[0, 1]
                             for i in range(3) for j in range(i + 1, 3)]) for k in range(3)])
    assert rec["seed_agreement"] == pytest.approx(want, abs=1e-12)
    # The averaged predictions' ICC is the ICC of the mean prediction (metrics.icc drops unknowns);
    # its interval is one column's interval for that prediction on the same resamples.
    assert rec["averaged_icc"] == pytest.approx(metrics.icc(t, seeds.mean(0)).mean(), abs=1e-12)
    single = bootstrap.column_interval(t, seeds.mean(0), subj, ["a", "b", "c"], num_samples=150, seed=2)
    assert rec["averaged_ci95"] == pytest.approx(single["ci95"], abs=1e-12)
    assert "seed_agreement" not in single and "averaged_icc" not in single
    # Identical seeds agree exactly and average to themselves; a constant seed is left out of its pairs.
    same = bootstrap.column_interval(t, np.stack([p, p]), subj, ["a", "b", "c"], num_samples=50)
    assert same["seed_agreement"] == pytest.approx(1.0) and same["averaged_icc"] == pytest.approx(same["icc"])
    flat = np.stack([p, p, np.zeros_like(p)])
    assert bootstrap.column_interval(t, flat, subj, ["a", "b", "c"], num_samples=50)["seed_agreement"] == (
        pytest.approx(1.0))
    # Independent noise: the seeds agree less and their average reads better than the seeds' mean ICC.
    noisy = np.stack([p + rng.normal(size=p.shape) * 3 for _ in range(4)])
    far = bootstrap.column_interval(t, noisy, subj, ["a", "b", "c"], num_samples=50)
    assert far["seed_agreement"] < rec["seed_agreement"] and far["averaged_icc"] > far["icc"]


def test_paired_difference_verdicts():
    t, p, subj = _data(noise=0.3)
    rng = np.random.default_rng(2)
    noise = rng.normal(size=p.shape) * 3
    better = bootstrap.paired_difference(t, p, noise, subj, num_samples=300)
    assert better["verdict"] == "yes" and better["ci95"][0] > 0
    assert better["difference"] == pytest.approx(metrics.icc(t, p).mean() - metrics.icc(t, noise).mean())
    worse = bootstrap.paired_difference(t, noise, p, subj, num_samples=300)
    assert worse["verdict"] == "no"
    same = bootstrap.paired_difference(t, p, p, subj, num_samples=50)
    assert same["difference"] == 0.0 and same["verdict"] == "not resolved"


def test_verdict_boundaries():
    assert bootstrap.verdict([0.01, 0.2]) == "yes"
    assert bootstrap.verdict([-0.3, -0.01]) == "no"
    assert bootstrap.verdict([-0.1, 0.1]) == "not resolved"
    assert bootstrap.verdict([0.0, 0.1]) == "not resolved"


def test_bad_input_messages():
    t, p, subj = _data()
    with pytest.raises(ValueError, match="at least 2 test subjects"):
        bootstrap.column_interval(t, p, np.zeros(t.shape[0]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="entries for"):
        bootstrap.column_interval(t, p, subj[:-1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="au_names"):
        bootstrap.column_interval(t, p, subj, ["a", "b"])


def _pred_dict(t, p, subj, poses, names=("a", "b", "c")):
    n = len(subj)
    return {"subject": [f"s{s}" for s in subj], "sequence": [f"q{s}" for s in subj], "frame": np.arange(n),
            "pose_id": np.asarray(poses), "au_names": tuple(names), "y_true": t.astype(np.int64), "y_pred": p}


def test_compare_predictions_matches_frames_by_key_and_pose():
    t, p, subj = _data(noise=0.3)
    poses = np.arange(len(subj)) % 3
    rng = np.random.default_rng(4)
    q = rng.normal(size=p.shape) * 3
    a = _pred_dict(t, p, subj, poses)
    perm = rng.permutation(len(subj))  # B lists the same frames in another order, one AU fewer.
    b = _pred_dict(t[perm][:, [2, 0]], q[perm][:, [2, 0]], subj[perm], poses[perm], names=("c", "a"))
    b["frame"] = np.arange(len(subj))[perm]
    got = bootstrap.compare_predictions(a, b, poses=[0], num_samples=200)
    m = poses == 0
    want = bootstrap.paired_difference(t[m][:, [0, 2]], p[m][:, [0, 2]], q[m][:, [0, 2]], subj[m], num_samples=200)
    assert got["aus"] == ["a", "c"] and got["num_frames"] == int(m.sum())
    assert got["difference"] == pytest.approx(want["difference"]) and got["ci95"] == pytest.approx(want["ci95"])
    col = bootstrap.column_from_predictions(a, poses=[0], num_samples=200)
    assert col["icc"] == pytest.approx(metrics.icc(t[m], p[m]).mean())
    b["y_true"] = b["y_true"] + 1
    with pytest.raises(ValueError, match="labels differ"):
        bootstrap.compare_predictions(a, b)


def test_pose_drops_equal_brute_force_subject_resampling():
    # Pose 0 predicted well, pose 1 with noise, pose 2 not at all: the drops from pose 0 grow.
    t, _, subj = _data(seed=5, per=18)
    poses = np.arange(len(subj)) % 3
    rng = np.random.default_rng(1)
    clean = np.where(t < 0, 0, t).astype(float)
    p = clean + np.where(poses == 0, 0.3, np.where(poses == 1, 1.5, 8.0))[:, None] * rng.normal(size=t.shape)
    rec = bootstrap.pose_drops(_pred_dict(t, p, subj, poses), [0], num_samples=200, seed=3)
    ref, side = (metrics.icc(t[poses == k], p[poses == k]).mean() for k in (0, 2))
    assert rec["reference"] == pytest.approx(ref) and rec["by_pose"]["2"]["drop"] == pytest.approx(ref - side)
    assert rec["by_pose"]["1"]["verdict"] == rec["by_pose"]["2"]["verdict"] == "yes"
    assert rec["by_pose"]["1"]["drop"] < rec["by_pose"]["2"]["drop"]
    # The same draws the slow way: a drawn subject brings all of its frames at every view.
    draws = np.random.default_rng(3).integers(0, 6, size=(200, 6))
    drops = []
    for row in draws:
        idx = np.concatenate([np.flatnonzero(subj == s) for s in row])
        r, q = idx[poses[idx] == 0], idx[poses[idx] == 2]
        drops.append(metrics.icc(t[r], p[r]).mean() - metrics.icc(t[q], p[q]).mean())
    assert rec["by_pose"]["2"]["ci95"] == pytest.approx(np.quantile(drops, [0.025, 0.975]).tolist(), abs=1e-10)
    with pytest.raises(ValueError, match="reference views"):
        bootstrap.pose_drops(_pred_dict(t, p, subj, poses), [7], num_samples=10)


def test_drop_differences_pair_the_resamples_of_two_columns():
    t, p, subj = _data(seed=6, per=18, noise=0.3)
    poses = np.arange(len(subj)) % 2
    rng = np.random.default_rng(2)
    # B keeps its pose-1 predictions as good as pose 0's; A loses them.
    worse = np.where((poses == 1)[:, None], rng.normal(size=p.shape) * 5, p)
    a = bootstrap.pose_drops(_pred_dict(t, worse, subj, poses), [0], num_samples=200)
    b = bootstrap.pose_drops(_pred_dict(t, p, subj, poses), [0], num_samples=200)
    same = bootstrap.drop_differences(b, b)["1"]
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0] and same["verdict"] == "not resolved"
    got = bootstrap.drop_differences(a, b)["1"]
    assert got["difference"] == pytest.approx(a["by_pose"]["1"]["drop"] - b["by_pose"]["1"]["drop"])
    assert got["verdict"] == "yes"
    other = bootstrap.pose_drops(_pred_dict(t, p, subj + 10, poses), [0], num_samples=200)
    with pytest.raises(ValueError, match="different test subjects"):
        bootstrap.drop_differences(a, other)


def _slow_two_stage(t, preds, subj, num_samples, seed, poses=None):
    """Per resample, the slow way: the drawn subjects' frames concatenated and scored per seed, then
    the seeds redrawn (`bootstrap.seed_draws`) with their deviation from the seed mean scaled by
    sqrt(S / (S - 1)). Returns (seed-redrawn values, subject-only values)."""
    ids = np.unique(subj)
    draws = np.random.default_rng(seed).integers(0, ids.size, size=(num_samples, ids.size))
    s = len(preds)
    seeds = bootstrap.seed_draws(s, num_samples, seed)
    redrawn, alone = [], []
    for b, row in enumerate(draws):
        idx = np.concatenate([np.flatnonzero(subj == ids[i]) for i in row])
        per_seed = np.array([metrics.icc(t[idx], q[idx]).mean() for q in preds])
        alone.append(per_seed.mean())
        redrawn.append(per_seed.mean() + np.sqrt(s / (s - 1)) * (per_seed[seeds[b]].mean() - per_seed.mean()))
    return np.array(redrawn), np.array(alone)


def test_seed_redrawn_interval_equals_a_slow_two_stage_loop():
    t, p, subj = _data(seed=8, noise=0.7)
    rng = np.random.default_rng(9)
    preds = np.stack([p + rng.normal(size=p.shape) * s for s in (0.3, 1.0, 1.5)])
    res = bootstrap.column_interval(t, preds, subj, ["a", "b", "c"], num_samples=120, seed=5)
    redrawn, alone = _slow_two_stage(t, preds, subj, 120, 5)
    assert res["ci95"] == pytest.approx(list(np.quantile(redrawn, [0.025, 0.975])), abs=1e-10)
    assert res["ci95_subjects"] == pytest.approx(list(np.quantile(alone, [0.025, 0.975])), abs=1e-10)
    # Seeds of different quality: redrawing them widens the interval.
    assert res["ci95"][1] - res["ci95"][0] > res["ci95_subjects"][1] - res["ci95_subjects"][0]
    # One seed, or identical seeds: nothing to redraw.
    one = bootstrap.column_interval(t, p, subj, ["a", "b", "c"], num_samples=120, seed=5)
    same = bootstrap.column_interval(t, np.stack([p, p, p]), subj, ["a", "b", "c"], num_samples=120, seed=5)
    assert one["ci95"] == one["ci95_subjects"]
    assert same["ci95"] == pytest.approx(same["ci95_subjects"], abs=1e-12)
    assert same["ci95"] == pytest.approx(one["ci95"], abs=1e-12)


def test_seed_redraw_gives_the_unbiased_variance_of_the_seed_mean():
    # Per-seed values = a shared resample effect + a fixed seed offset: the redrawn seed mean must vary
    # around the shared part with the unbiased s^2 / S, at S = 2 too (plain resampling gives half of it).
    rng = np.random.default_rng(0)
    base = rng.normal(size=20000)
    for offsets in ([0.0, 0.1], [0.0, 0.05, 0.2], [0.1, -0.1, 0.0, 0.3, 0.2]):
        per_seed = base[None] + np.asarray(offsets)[:, None]
        got = bootstrap.seed_resampled(per_seed, seed=3) - base
        want = np.var(offsets, ddof=1) / len(offsets)
        assert np.var(got) == pytest.approx(want, rel=0.06)
        assert np.mean(got) == pytest.approx(np.mean(offsets), abs=0.05 * np.sqrt(want) + 1e-3)
    np.testing.assert_array_equal(bootstrap.seed_resampled(base[None], seed=3), base)


def test_seed_redrawn_paired_differences_and_drops():
    t, p, subj = _data(seed=10, per=18, noise=0.5)
    rng = np.random.default_rng(11)
    a = np.stack([p + rng.normal(size=p.shape) * s for s in (0.2, 1.2)])
    b = np.stack([p + rng.normal(size=p.shape) * s for s in (0.8, 0.9)])
    # A column against itself: the same subject and seed draws, exactly 0.
    self_diff = bootstrap.paired_difference(t, a, a, subj, num_samples=100, seed=4)
    assert self_diff["ci95"] == [0.0, 0.0]
    # Against the slow loop: both columns' seeds redrawn with the same indices (equal seed counts).
    got = bootstrap.paired_difference(t, a, b, subj, num_samples=100, seed=4)
    ra, sa = _slow_two_stage(t, a, subj, 100, 4)
    rb, sb = _slow_two_stage(t, b, subj, 100, 4)
    assert got["ci95"] == pytest.approx(list(np.quantile(ra - rb, [0.025, 0.975])), abs=1e-10)
    assert got["ci95_subjects"] == pytest.approx(list(np.quantile(sa - sb, [0.025, 0.975])), abs=1e-10)
    # Drops: one seed draw per resample for both views (a seed's drop is one estimator's).
    poses = np.tile([0, 0, 1], t.shape[0] // 3)
    rec = bootstrap.pose_drops(_pred_dict(t, a, subj, poses), [0], num_samples=100, seed=4)
    ids = np.unique(subj)
    draws = np.random.default_rng(4).integers(0, ids.size, size=(100, ids.size))
    seeds = bootstrap.seed_draws(2, 100, 4)
    want = []
    for k, row in enumerate(draws):
        idx = np.concatenate([np.flatnonzero(subj == ids[i]) for i in row])
        ref, side = idx[poses[idx] == 0], idx[poses[idx] == 1]
        d = np.array([metrics.icc(t[ref], q[ref]).mean() - metrics.icc(t[side], q[side]).mean() for q in a])
        want.append(d.mean() + np.sqrt(2) * (d[seeds[k]].mean() - d.mean()))
    assert rec["by_pose"]["1"]["ci95"] == pytest.approx(list(np.quantile(want, [0.025, 0.975])), abs=1e-10)
