"""Semantic resampling plan: exactly N per AU per level, sources never show the AU, labels are targets."""

import numpy as np
import pytest

from jaxau.synthesis import plan as plan_lib


def labels(n=300, k=4, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.choice(6, size=(n, k), p=[0.6, 0.1, 0.1, 0.1, 0.05, 0.05]).astype(np.int32)
    lab[rng.random((n, k)) < 0.05] = -1          # some unknown labels
    return lab


def test_exactly_n_per_au_and_level_and_sources_lack_the_au():
    lab = labels()
    p = plan_lib.semantic_plan(lab, per_level=25, seed=1)
    assert len(p) == 4 * 6 * 25 and not p.skipped
    counts = np.zeros((4, 6), int)
    np.add.at(counts, (p.au, p.level), 1)
    np.testing.assert_array_equal(counts, 25)
    # No source shows (or has an unknown label for) the AU it is re-rendered with.
    np.testing.assert_array_equal(lab[p.source_index, p.au], 0)
    # The synthetic labels are the target frames' whole vectors, and the target has the AU at the level
    # (level 0: a real frame where the AU is absent).
    np.testing.assert_array_equal(p.target_labels, lab[p.target_index])
    np.testing.assert_array_equal(p.target_labels[np.arange(len(p)), p.au], p.level)


def test_draws_without_replacement_while_candidates_last_then_with():
    lab = np.zeros((10, 1), np.int32)
    lab[:3, 0] = 5                                  # 3 frames at level 5, 7 absent
    p = plan_lib.semantic_plan(lab, per_level=5, seed=0)
    cell = p.level == 5
    assert set(p.target_index[cell][:3]) == {0, 1, 2}   # every candidate before any repeat
    lvl0 = p.level == 0
    assert len(set(p.source_index[lvl0])) == 5 and set(p.source_index) <= set(range(3, 10))
    # A rare cell does not change other cells: cells are seeded independently.
    lab2 = lab.copy()
    lab2[2, 0] = 4
    q = plan_lib.semantic_plan(lab2, per_level=5, seed=0)
    assert (0, 4) in p.skipped and (0, 4) not in q.skipped
    np.testing.assert_array_equal(q.target_index[q.level == 0], p.target_index[p.level == 0])


def test_empty_cells_are_skipped_and_reported():
    lab = np.zeros((20, 2), np.int32)
    lab[:5, 0] = np.arange(1, 6)
    lab[:, 1] = 3                                    # AU 1 never absent: no source for it
    p = plan_lib.semantic_plan(lab, per_level=4, seed=0)
    assert set(p.skipped) == {(1, lvl) for lvl in range(6)}
    assert len(p) == 6 * 4 and set(p.au) == {0}


def test_cross_domain_targets_come_from_the_other_set_and_plan_is_deterministic():
    src, tgt = labels(200, 3, 1), labels(150, 3, 2)
    p = plan_lib.semantic_plan(src, tgt, per_level=10, seed=4)
    assert p.source_index.max() < 200 and p.target_index.max() < 150
    np.testing.assert_array_equal(p.target_labels, tgt[p.target_index])
    np.testing.assert_array_equal(src[p.source_index, p.au], 0)
    again = plan_lib.semantic_plan(src, tgt, per_level=10, seed=4)
    assert again.fingerprint() == p.fingerprint()
    assert plan_lib.semantic_plan(src, tgt, per_level=10, seed=5).fingerprint() != p.fingerprint()


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="same K"):
        plan_lib.semantic_plan(labels(10, 3), labels(10, 4), per_level=2)
    with pytest.raises(ValueError, match="per_level"):
        plan_lib.semantic_plan(labels(10, 3), per_level=0)


def test_a_source_set_that_does_not_code_an_au_offers_every_source_for_it():
    from jaxau.synthesis import plan as plan_lib

    # Source column 1 is unknown everywhere (another domain's faces); column 0 is coded.
    sources = np.array([[0, -1], [2, -1], [0, -1], [1, -1]])
    targets = np.array([[0, 0], [1, 3], [2, 5], [0, 1]])
    p = plan_lib.semantic_plan(sources, targets, per_level=4, seed=0, levels=6)
    for k, allowed in ((0, {0, 2}), (1, {0, 1, 2, 3})):
        used = set(p.source_index[p.au == k].tolist())
        assert used <= allowed and (k == 0 or len(used) > 2)


def test_the_natural_plan_keeps_the_targets_distribution_with_as_many_new_pairings():
    lab = labels(n=2000, seed=3)
    semantic = plan_lib.semantic_plan(lab, per_level=25, seed=1)
    p = plan_lib.build("natural", lab, per_level=25, seed=1)
    assert len(p) == 4 * 6 * 25 == len(semantic) and not p.skipped and p.per_level == 25
    # Labels are the target frames' vectors; each entry is filed under its slot's AU at its target's level.
    np.testing.assert_array_equal(p.target_labels, lab[p.target_index])
    np.testing.assert_array_equal(p.au, np.repeat(np.arange(4), 6 * 25))
    np.testing.assert_array_equal(p.level, lab[p.target_index, p.au])
    # Fewer entries than frames: every target and every source drawn once (a permutation), so the
    # label distribution is a sample of the frames' own, not balanced; sources may show any AU.
    assert len(np.unique(p.target_index)) == len(p) and len(np.unique(p.source_index)) == len(p)
    share_zero = (p.target_labels[:, 0] == 0).mean()
    assert abs(share_zero - (lab[:, 0] == 0).mean()) < 0.06 and share_zero > 0.45
    assert (p.level == 0).mean() > 0.45 and (semantic.level == 0).mean() == 1 / 6
    assert (lab[p.source_index] > 0).any(axis=0).all()
    # More entries than frames: a whole permutation first, then draws with replacement.
    small = plan_lib.natural_plan(lab[:100], per_level=25, seed=1)
    np.testing.assert_array_equal(np.sort(small.target_index[:100]), np.arange(100))
    # Deterministic in the seed; another dataset's targets; a stream of its own.
    again = plan_lib.natural_plan(lab, per_level=25, seed=1)
    assert again.fingerprint() == p.fingerprint() != plan_lib.natural_plan(lab, per_level=25, seed=2).fingerprint()
    cross = plan_lib.natural_plan(lab, labels(n=50, seed=4), per_level=2, seed=0)
    assert cross.target_index.max() < 50 and cross.source_index.max() >= 50
    assert plan_lib.build("semantic", lab, per_level=25, seed=1).fingerprint() == semantic.fingerprint()
    with pytest.raises(ValueError, match="synthesis.plan='balanced'"):
        plan_lib.build("balanced", lab, per_level=25)
    with pytest.raises(ValueError, match="per_level=0"):
        plan_lib.natural_plan(lab, per_level=0)
    with pytest.raises(ValueError, match="same K"):
        plan_lib.natural_plan(lab, lab[:, :2], per_level=1)
