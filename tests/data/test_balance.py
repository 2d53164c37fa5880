import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.data import balance


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    # Skewed like real AU data: mostly absent, few high levels; AU 1 never reaches level 5; some -1.
    y = rng.choice(6, size=(500, 3), p=[0.8, 0.08, 0.05, 0.04, 0.02, 0.01])
    y[:, 1] = np.minimum(y[:, 1], 4)
    y[rng.random((500, 3)) < 0.05] = -1
    return y


def test_exactly_n_per_au_and_level(labels):
    with pytest.warns(UserWarning, match=r"1 \(AU, level\) cell"):
        plan = balance.balance_plan(labels, 40, seed=3)
    assert plan.skipped == ((1, 5),)
    assert plan.indices.shape == (3, 6, 40)
    np.testing.assert_array_equal(plan.indices[1, 5], -1)
    for k in range(3):
        for level in range(6):
            if (k, level) in plan.skipped:
                continue
            idx = plan.indices[k, level]
            assert len(idx) == 40 and np.all(labels[idx, k] == level)
            c = plan.counts[k, level]
            assert c == np.sum(labels[:, k] == level)
            uses = np.bincount(idx, minlength=len(labels))[labels[:, k] == level]
            if c >= 40:  # undersampled: distinct frames
                assert uses.max() == 1
            else:  # oversampled as evenly as possible: every frame floor(N/c) or +1 times
                assert uses.min() == 40 // c and uses.max() <= 40 // c + 1
    assert len(plan.flat_indices) == 17 * 40
    np.testing.assert_array_equal(labels[plan.flat_indices, plan.flat_target_au], plan.flat_target_level)
    for k in range(3):
        for level in range(6):
            n = np.sum((plan.flat_target_au == k) & (plan.flat_target_level == level))
            assert n == (0 if (k, level) in plan.skipped else 40)


def test_seeded_and_cells_independent(labels):
    with pytest.warns(UserWarning):
        a = balance.balance_plan(labels, 40, seed=3)
        b = balance.balance_plan(labels, 40, seed=3)
        c = balance.balance_plan(labels, 40, seed=4)
        only_au0 = balance.balance_plan(labels[:, :1], 40, seed=3)
    np.testing.assert_array_equal(a.flat_indices, b.flat_indices)
    assert not np.array_equal(a.indices, c.indices)
    np.testing.assert_array_equal(only_au0.indices[0], a.indices[0])


def test_bad_labels():
    with pytest.raises(ValueError, match="outside 0..5"):
        balance.balance_plan(np.array([[0], [7]]), 2)
    with pytest.raises(ValueError, match=r"\[num_frames, K\]"):
        balance.balance_plan(np.array([0, 1]), 2)


def test_level_weights_by_hand_and_their_pool():
    # AU 0: levels 0,0,0,3 (counts 3 / 1); AU 1: 0,1,-1,1 (counts 1 / 2 over the known three).
    y = np.array([[0, 0], [0, 1], [0, -1], [3, 1]])
    w = balance.level_weights(y)
    raw = np.array([(1 / 3 + 1) / 2, (1 / 3 + 1 / 2) / 2, 1 / 3, (1 + 1 / 2) / 2])
    np.testing.assert_allclose(w, raw / raw.sum())
    # A single AU: its levels exactly equally likely; unknown-only frames never drawn.
    one = np.array([[0]] * 9 + [[4]] + [[-1]] * 2)
    w1 = balance.level_weights(one)
    assert w1[:9].sum() == pytest.approx(0.5) and w1[9] == pytest.approx(0.5) and (w1[10:] == 0).all()
    np.testing.assert_allclose(balance.level_weights(np.full((4, 2), -1)), 0.25)
    # The pool: N entries, each frame floor(N w) or ceil(N w) times, seeded.
    labels = np.random.default_rng(1).choice(6, size=(200, 3), p=[0.85, 0.05, 0.04, 0.03, 0.02, 0.01])
    w = balance.level_weights(labels)
    pool = balance.weighted_pool(labels, seed=5)
    counts = np.bincount(pool, minlength=200)
    assert len(pool) == 200 and (counts >= np.floor(200 * w) - 1e-9).all() and (counts <= np.ceil(200 * w)).all()
    np.testing.assert_array_equal(pool, balance.weighted_pool(labels, seed=5))
    # Frames without a known label are never drawn, wherever they stand.
    unknown = labels.copy()
    unknown[[0, 57, 199]] = -1
    for seed in range(20):
        assert not np.isin(balance.weighted_pool(unknown, seed), [0, 57, 199]).any()
    # Three independent AUs: level 0 of each goes from ~85 % of the frames to ~60 % of the pool (a
    # frame rare for one AU is mostly common for the others: the mean over AUs is a compromise).
    for k in range(3):
        assert np.mean(labels[:, k] == 0) > 0.8 and np.mean(labels[pool, k] == 0) < 0.68


def test_shift_flip_numpy_and_jax_agree():
    img = np.arange(4 * 5 * 2).reshape(4, 5, 2).astype(np.float32)
    shifted = balance.shift_image(img, 1, -2)
    # Hand check: row 0 repeats the edge row, column j takes source column min(j + 2, 4).
    np.testing.assert_array_equal(shifted[0], img[0][[2, 3, 4, 4, 4]])
    np.testing.assert_array_equal(shifted[2], img[1][[2, 3, 4, 4, 4]])
    np.testing.assert_array_equal(balance.shift_image(img, 0, 0), img)
    flip = jnp.array([True, False])
    shifts = jnp.array([[1, -2], [-1, 3]])
    batch = jnp.stack([img, img])
    out = balance._flip_shift_batch(batch, flip, shifts)
    np.testing.assert_array_equal(out[0], balance.shift_image(img[:, ::-1], 1, -2))
    np.testing.assert_array_equal(out[1], balance.shift_image(img, -1, 3))
    rand = jax.jit(lambda k, x: balance.augment_batch(k, x, max_shift=2))(jax.random.key(0), batch)
    assert rand.shape == batch.shape
    rng = np.random.default_rng(0)
    flipped = balance.random_flip_and_shift(img, rng, flip_prob=1.0)
    np.testing.assert_array_equal(flipped, img[:, ::-1])
