"""Generator training on a tiny SynthFACS set: same-subject pairing, losses move, exact resume, grids."""

import os

import jax
import numpy as np
import pytest

from jaxau.data import balance
from jaxau.train import generator as gen_train
from jaxau.train import metrics as metrics_lib

CFG = dict(image_size=16, g_width=4, g_blocks=0, d_width=4, d_layers=3, batch_size=8, num_steps=6,
           n_critic=2, log_every=1, checkpoint_every=2, grid_every=3, grid_sources=2)


@pytest.fixture(scope="module")
def frames(request):
    from jaxau.data import frames as frames_lib
    from tests.stages import tiny_synthfacs

    data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    return frames_lib.load_tfds("synthfacs/fera_small", "train", data_dir=data_dir, image_size=16)


@pytest.fixture(scope="module")
def straight_run(frames, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("gen_straight"))
    result = gen_train.train(CFG, workdir, frames, seed=3)
    return workdir, jax.device_get(result.state)


def test_partners_are_other_frames_of_the_same_subject_and_deterministic(frames):
    src = gen_train.PairedSource(frames, 8, seed=1)
    for step in range(5):
        b = src.batch(step)
        idx = src.sampler(step)
        np.testing.assert_array_equal(b["image"], gen_train.to_unit(frames["image"][idx]))
        # Recover each partner from its image (frames are distinct renders) and check the pairing.
        flat = frames["image"].reshape(len(frames["image"]), -1).astype(np.int16)
        tgt = gen_train.to_uint8(b["target_image"]).reshape(8, -1).astype(np.int16)
        partner = np.array([np.argmin(np.abs(flat - t).sum(1)) for t in tgt])
        assert np.all(partner != idx)
        assert np.all(frames["subject"][partner] == frames["subject"][idx])
        noise = b["target_aus"] - np.asarray(frames["au_intensity"][partner], np.float32) / 5
        assert np.all(np.abs(noise) <= 0.1) and np.std(noise) > 0.01
        np.testing.assert_array_equal(b["target_image_mask"], 1.0)
    # Pure function of (seed, step), and two processes' shares make up the single-process batch.
    again = gen_train.PairedSource(frames, 8, seed=1).batch(3)
    halves = [gen_train.PairedSource(frames, 8, seed=1, process_index=p, process_count=2).batch(3)
              for p in range(2)]
    for k, v in src.batch(3).items():
        np.testing.assert_array_equal(v, again[k])
        np.testing.assert_array_equal(v, np.concatenate([h[k] for h in halves]))


def test_single_frame_subject_gets_masked_partner(frames):
    from jaxau.data import frames as frames_lib

    keep = np.ones(len(frames["image"]), bool)
    lone = frames["subject"][0]
    keep[np.flatnonzero(frames["subject"] == lone)[1:]] = False
    sub = frames_lib.select(frames, keep)
    src = gen_train.PairedSource(sub, 8, seed=0)
    masks = []
    for step in range(20):
        idx = src.sampler(step)
        m = src.batch(step)["target_image_mask"]
        np.testing.assert_array_equal(m, (sub["subject"][idx] != lone).astype(np.float32))
        masks.append(m)
    assert np.min(np.concatenate(masks)) == 0.0


def test_a_few_steps_move_d_and_g_losses_and_write_grids(straight_run, frames):
    workdir, state = straight_run
    rows = metrics_lib.read_jsonl(os.path.join(workdir, "generator_metrics.jsonl"))
    assert [r["step"] for r in rows] == list(range(1, 7))
    d_losses = [r["d_loss"] for r in rows]
    assert len(set(np.round(d_losses, 7))) == 6            # D updates every step
    g_losses = [r["g_loss"] for r in rows]                    # G updates at iterations 0, 2, 4
    assert g_losses[0] == g_losses[1] and g_losses[2] == g_losses[3] and g_losses[4] == g_losses[5]
    assert len({g_losses[0], g_losses[2], g_losses[4]}) == 3
    assert all(np.isfinite(r[k]) for r in rows for k in ("g_ids", "g_idt", "g_exp", "d_gp"))
    assert int(state.step) == 6 and int(state.d.step) == 6 and int(state.g.step) == 3
    fresh = gen_train.init_state(gen_train.settings(CFG), len(frames["au_names"]), 3)
    for a, b in ((fresh.g.params, state.g.params), (fresh.d.params, state.d.params)):
        diffs = jax.tree.leaves(jax.tree.map(lambda x, y: float(np.max(np.abs(x - y))), a, b))
        assert min(diffs) > 0
    import cv2

    for step in (3, 6):
        img = cv2.imread(os.path.join(workdir, "grids", f"step_{step:07d}_faces.png"))
        k = len(frames["au_names"])
        assert img.shape == (2 * k * 16, 7 * 16, 3)
        assert os.path.exists(os.path.join(workdir, "grids", f"step_{step:07d}_attention.png"))


def test_interrupted_and_resumed_run_is_bit_identical(straight_run, frames, tmp_path):
    _, reference = straight_run
    workdir = str(tmp_path / "gen_resumed")

    def crash(step, state):
        if step == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        gen_train.train(CFG, workdir, frames, seed=3, hooks=(crash,))
    result = gen_train.train(CFG, workdir, frames, seed=3)
    assert result.start_step == 2 and result.step == 6
    resumed = jax.device_get(result.state)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(a, b)


def test_load_generator_and_sweep_grid_match_direct_generation(straight_run, frames):
    workdir, state = straight_run
    trained = gen_train.load_generator(workdir)
    assert trained.step == 6 and trained.au_names == tuple(str(a) for a in frames["au_names"])
    for a, b in zip(jax.tree.leaves(trained.params), jax.tree.leaves(state.g.params)):
        np.testing.assert_array_equal(a, b)
    src = frames["image"][:1]
    aus = np.asarray(frames["au_intensity"][:1], np.float32) / 5
    faces, att = gen_train.sweep_grids(trained.generator, trained.params, src, aus)
    k = aus.shape[1]
    np.testing.assert_array_equal(faces[:16, :16], src[0])                 # first column: the source
    cond = aus.copy()
    cond[0, 1] = 3 / 5                                                     # AU row 1, level 3
    out = trained.generator.apply({"params": trained.params}, gen_train.to_unit(src), cond)
    tile = faces[16:32, 4 * 16:5 * 16]
    np.testing.assert_allclose(tile.astype(int), gen_train.to_uint8(np.asarray(out.image))[0].astype(int), atol=1)
    assert att.shape == faces.shape == (k * 16, 7 * 16, 3)
    # A relative-AU generator with the same parameters: each tile is G(src | row levels - src levels).
    relative = trained.generator.clone(conditioning="relative")
    faces_rel, _ = gen_train.sweep_grids(relative, trained.params, src, aus)
    out = trained.generator.apply({"params": trained.params}, gen_train.to_unit(src), cond - aus)
    np.testing.assert_allclose(faces_rel[16:32, 4 * 16:5 * 16].astype(int),
                               gen_train.to_uint8(np.asarray(out.image))[0].astype(int), atol=1)


def test_launcher_frames_stream_from_a_store_under_the_workdir(request, tmp_path):
    # launch/train_generator.py without generator.frames: the data split is read through a frame
    # store under <workdir>/frames (lazy), capped by generator.max_frames.
    import os

    from configs.generator import synthfacs
    from jaxau.data import lazy_rows
    from tests.stages import tiny_synthfacs

    config = synthfacs.get_config()
    config.data.name = "synthfacs/fera_small"
    config.data.data_dir = tiny_synthfacs.build(str(request.config.cache.mkdir("jaxau_tiny_synthfacs")))
    config.data.train_poses = ""
    config.generator.frames = ""
    config.generator.image_size = 16
    config.generator.max_frames = 10
    frames = gen_train.load_training_frames(config, str(tmp_path / "run"))
    assert lazy_rows.is_lazy(frames["image"]) and len(frames["image"]) == 10
    assert len(os.listdir(tmp_path / "run" / "frames")) == 1


def test_partner_pairs_enumerate_small_groups_and_cap_large_ones():
    group = np.array([0, 1, 0, 2, 0, 1] + [3] * 40)
    src, dst = gen_train.partner_pairs(group, seed=5, max_partners=4)
    small = {(int(a), int(b)) for a, b in zip(src, dst) if group[a] < 3}
    # Every ordered pair of distinct frames of groups 0 and 1 once; frame 3 alone: never a source.
    assert small == {(0, 2), (0, 4), (2, 0), (2, 4), (4, 0), (4, 2), (1, 5), (5, 1)}
    assert len(small) == np.sum(group[src] < 3) and 3 not in set(src) | set(dst)
    big = group[src] == 3
    assert np.all(group[dst] == group[src]) and np.all(src != dst)
    # The 40-frame group: 4 distinct partners per source, drawn from the seed.
    assert np.array_equal(np.bincount(src[big], minlength=46)[6:], np.full(40, 4))
    assert len({(int(a), int(b)) for a, b in zip(src[big], dst[big])}) == 160
    again = gen_train.partner_pairs(group, seed=5, max_partners=4)
    other = gen_train.partner_pairs(group, seed=6, max_partners=4)
    assert np.array_equal(again[1], dst) and not np.array_equal(other[1], dst)


def test_pair_changes_are_absolute_level_differences_unknown_where_either_is():
    labels = np.array([[0, 3, -1], [4, 1, 2], [2, -1, 0]])
    changes = gen_train.pair_changes(labels, np.array([0, 1, 2]), np.array([1, 2, 0]))
    np.testing.assert_array_equal(changes, [[4, 2, -1], [2, -1, 2], [2, -1, -1]])


def test_pairs_sampling_draws_same_group_pairs_weighted_to_rare_changes(frames):
    # Skewed labels: one subject's first two frames differ in the first AU, no other pair does.
    labels = np.zeros_like(frames["au_intensity"])
    first = np.flatnonzero(frames["subject"] == frames["subject"][0])
    labels[first[0], 0] = 4
    skewed = {**frames, "au_intensity": labels}
    src = gen_train.PairedSource(skewed, 8, seed=2, sampling="pairs")
    sources, partners = src.pairs
    np.testing.assert_array_equal(sources, gen_train.partner_pairs(src.group, 2)[0])
    np.testing.assert_array_equal(src.sampler.pool,
                                  balance.weighted_pool(gen_train.pair_changes(labels, sources, partners), 2))
    changes = gen_train.pair_changes(labels, sources, partners)
    changed = changes[:, 0] > 0
    # Uniform over pairs the changed ones are 1/27. `level_weights` gives each level present in an
    # AU's column the same mass: the first AU's two levels (changed, unchanged) one each, the other
    # K - 1 AUs' single level one each, spread over all pairs.
    k = labels.shape[1]
    expected = (1 + (k - 1) * changed.mean()) / (k + 1)
    assert changed.mean() < 0.04 and abs(changed[src.sampler.pool].mean() - expected) < 2 / len(changed)
    assert changed[src.sampler.pool].mean() > 3 * changed.mean()
    for step in range(4):
        b = src.batch(step)
        pair = src.sampler(step)
        np.testing.assert_array_equal(b["image"], gen_train.to_unit(frames["image"][sources[pair]]))
        np.testing.assert_array_equal(b["target_image"], gen_train.to_unit(frames["image"][partners[pair]]))
        noise = b["target_aus"] - labels[partners[pair]].astype(np.float32) / 5
        assert np.all(np.abs(noise) <= 0.1)
        np.testing.assert_array_equal(b["target_image_mask"], 1.0)
    # Two processes' shares make up the single-process batch.
    halves = [gen_train.PairedSource(skewed, 8, seed=2, sampling="pairs", process_index=p,
                                     process_count=2).batch(3) for p in range(2)]
    for k, v in src.batch(3).items():
        np.testing.assert_array_equal(v, np.concatenate([h[k] for h in halves]))


@pytest.mark.parametrize("sampling", ["frames", "pairs"])
def test_change_shares_count_how_often_a_pair_changes_each_au(frames, sampling):
    # Random levels with unknowns (-1), so every AU changes in some pairs and not in others.
    labels = np.random.default_rng(0).integers(-1, 4, np.shape(frames["au_intensity"]))
    src = gen_train.PairedSource({**frames, "au_intensity": labels}, 8, seed=4, sampling=sampling)
    names = [f"A{k}" for k in range(labels.shape[1])]
    shares = src.change_shares(names)
    # Brute force: every pooled example with each of its group's other frames (uniform partners),
    # or every pooled pair.
    changed, by2, n = np.zeros(labels.shape[1]), np.zeros(labels.shape[1]), 0.0
    for entry in src.sampler.pool:
        if sampling == "pairs":
            others = [src.pairs[1][entry]]
            i = src.pairs[0][entry]
        else:
            i = entry
            others = [j for j in np.flatnonzero(src.group == src.group[i]) if j != i]
        for j in others:
            d = np.abs(labels[j] - labels[i]) * ((labels[i] >= 0) & (labels[j] >= 0))
            changed += (d >= 1) / len(others)
            by2 += (d >= 2) / len(others)
        n += 1
    for k, a in enumerate(names):
        assert shares[a]["changed"] == pytest.approx(changed[k] / n)
        assert shares[a]["changed_by_2"] == pytest.approx(by2[k] / n)
    assert all(0 < v["changed_by_2"] < v["changed"] < 1 for v in shares.values())


def test_pairs_sampling_refuses_frames_that_have_no_partner(frames):
    from jaxau.data import frames as frames_lib

    one_each = np.unique(frames["subject"], return_index=True)[1]
    keep = np.zeros(len(frames["image"]), bool)
    keep[one_each] = True
    with pytest.raises(ValueError, match="sampling='pairs'.*alone in its group"):
        gen_train.PairedSource(frames_lib.select(frames, keep), 2, seed=0, sampling="pairs")


@pytest.mark.parametrize("sampling", ["frames", "balanced", "pairs"])
def test_train_draws_its_batches_with_the_configured_sampling(frames, tmp_path, monkeypatch, sampling):
    made = []
    real = gen_train.PairedSource

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(gen_train, "PairedSource", Recording)
    # Skewed labels (two frames at level C of the first AU), so that balancing changes the pool.
    labels = np.zeros_like(frames["au_intensity"])
    labels[:2, 0] = 3
    skewed = {**frames, "au_intensity": labels}
    gen_train.train({**CFG, "num_steps": 1, "grid_every": 0, "sampling": sampling}, str(tmp_path), skewed)
    (source,) = made
    balanced = balance.weighted_pool(labels, 0)
    assert not np.array_equal(balanced, np.arange(len(labels)))
    expected = {"balanced": balanced, "frames": np.arange(len(labels))}.get(sampling)
    if sampling == "pairs":
        expected = balance.weighted_pool(gen_train.pair_changes(labels, *source.pairs), 0)
        assert len(expected) == len(source.pairs[0]) > len(labels)
    np.testing.assert_array_equal(source.sampler.pool, expected)
