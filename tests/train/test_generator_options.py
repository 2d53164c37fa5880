"""Generator options: same-sequence partners, critic warm-up dispatch, FiLM AU conditioning, resize-conv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import ganimation
from jaxau.train import generator as gen_train


def _frames(subjects, sequences):
    n = len(subjects)
    return {"image": np.zeros((n, 8, 8, 3), np.uint8), "au_intensity": np.arange(n)[:, None].repeat(2, 1) % 6,
            "subject": np.asarray(subjects), "sequence": np.asarray(sequences), "frame": np.arange(n, dtype=np.int32),
            "pose_id": np.zeros(n, np.int32), "au_names": np.asarray(["AU01", "AU12"])}


def test_sequence_partners_stay_in_the_sequence_and_fall_back_to_the_subject():
    f = _frames(["a", "a", "a", "a", "b", "b"], ["s0", "s0", "s1", "s1", "t0", "t1"])
    groups = gen_train.partner_groups(f, "sequence")
    assert groups[0] == groups[1] != groups[2] == groups[3]
    # b's sequences hold one frame each: partners from the subject.
    assert groups[4] == groups[5] == "subject:b"
    assert len(set(gen_train.partner_groups(f, "subject"))) == 2
    with pytest.raises(ValueError, match="partners='scene'"):
        gen_train.partner_groups(f, "scene")
    src = gen_train.PairedSource(f, 6, seed=0, partners="sequence")
    for step in range(20):
        idx = src.sampler.global_indices(step)
        partner, paired = src.partners(idx, np.random.default_rng(step).random(len(idx)))
        assert paired.all() and (partner != idx).all()
        same_seq = f["sequence"][partner] == f["sequence"][idx]
        np.testing.assert_array_equal(same_seq, idx < 4)
        np.testing.assert_array_equal(f["subject"][partner], f["subject"][idx])


def test_flip_mirrors_a_source_with_its_partner_and_leaves_unflipped_batches_as_they_were():
    f = _frames(["a"] * 4 + ["b"] * 4, ["s0"] * 4 + ["t0"] * 4)
    # Each image distinct and asymmetric: its column index written into every pixel, plus its row.
    f["image"] = (np.arange(8)[:, None, None, None] * 20 + np.arange(8)[None, None, :, None]
                  + np.zeros((8, 8, 8, 3), np.int64)).astype(np.uint8)
    plain = gen_train.PairedSource(f, 8, seed=3, partners="sequence")
    flipped = gen_train.PairedSource(f, 8, seed=3, partners="sequence", flip=True)
    mirrored_count = 0
    for step in range(6):
        a, b = plain.batch(step), flipped.batch(step)
        for k in ("aus", "target_aus", "aus_valid", "target_image_mask"):
            np.testing.assert_array_equal(a[k], b[k])   # Labels and partners do not depend on flip.
        same = np.all(a["image"] == b["image"], axis=(1, 2, 3))
        mirror = np.all(a["image"][:, :, ::-1] == b["image"], axis=(1, 2, 3))
        assert (same ^ mirror).all()                      # Each example is either kept or mirrored ...
        np.testing.assert_array_equal(mirror, np.all(a["target_image"][:, :, ::-1] == b["target_image"],
                                                     axis=(1, 2, 3)))  # ... together with its partner.
        mirrored_count += mirror.sum()
    assert 12 <= mirrored_count <= 36                     # About half of 48.
    # Process shards see the same mirror decisions as the global batch.
    halves = [gen_train.PairedSource(f, 8, seed=3, partners="sequence", flip=True, process_index=p,
                                     process_count=2).batch(4)["image"] for p in range(2)]
    np.testing.assert_array_equal(np.concatenate(halves), flipped.batch(4)["image"])


def test_own_partners_target_the_frame_itself_without_noise_and_leave_other_examples_as_they_were():
    f = _frames(["a"] * 4 + ["b"] * 4, ["s0"] * 4 + ["t0"] * 4)
    f["image"] = (np.arange(8)[:, None, None, None] * 20 + np.zeros((8, 8, 8, 3), np.int64)).astype(np.uint8)
    plain = gen_train.PairedSource(f, 8, seed=3, partners="sequence")
    own = gen_train.PairedSource(f, 8, seed=3, partners="sequence", own_fraction=0.25)
    own_count = 0
    for step in range(8):
        a, b = plain.batch(step), own.batch(step)
        np.testing.assert_array_equal(a["image"], b["image"])          # the same sources
        itself = np.all(b["target_image"] == b["image"], axis=(1, 2, 3))
        # Own examples: target = own labels exactly (no noise), mask 1.
        np.testing.assert_array_equal(b["target_aus"][itself], b["aus"][itself])
        assert (b["target_image_mask"] == 1).all()
        # The others: partner, noise and mask as without the option.
        for k in ("target_aus", "target_image", "target_image_mask"):
            np.testing.assert_array_equal(a[k][~itself], b[k][~itself])
        assert not np.all(a["target_image"] == a["image"], axis=(1, 2, 3)).any()
        own_count += itself.sum()
    assert 4 <= own_count <= 28                           # About a quarter of 64.
    # Process shards make the same own draws as the global batch.
    halves = [gen_train.PairedSource(f, 8, seed=3, partners="sequence", own_fraction=0.25, process_index=p,
                                     process_count=2).batch(5) for p in range(2)]
    for k in ("target_aus", "target_image"):
        np.testing.assert_array_equal(np.concatenate([h[k] for h in halves]), own.batch(5)[k])
    with pytest.raises(ValueError, match="own_fraction=1.5"):
        gen_train.PairedSource(f, 8, seed=3, own_fraction=1.5)
    s = gen_train.settings({"own_fraction": 0.25, "lambda_ids": 0.0})
    with pytest.raises(ValueError, match="lambda_ids=0 turns that L1 off"):
        gen_train.check_settings(s)
    gen_train.check_settings({**s, "lambda_ids": 1.0})
    with pytest.raises(ValueError, match="own_fraction=-0.1"):
        gen_train.check_settings({**s, "lambda_ids": 1.0, "own_fraction": -0.1})


def test_balanced_sampling_draws_rare_levels_and_leaves_frame_sampling_as_it_was():
    subjects = ["a"] * 10 + ["b"] * 10
    f = _frames(subjects, subjects)
    f["au_intensity"] = np.zeros((20, 2), np.int64)
    f["au_intensity"][[3, 15], 0] = 4           # AU01 at level D in 2 of 20 frames
    f["au_intensity"][[7], 1] = 2               # AU12 at level B in 1
    plain = gen_train.PairedSource(f, 4, seed=2, partners="sequence")
    frames = gen_train.PairedSource(f, 4, seed=2, partners="sequence", sampling="frames")
    balanced = gen_train.PairedSource(f, 4, seed=2, partners="sequence", sampling="balanced")
    np.testing.assert_array_equal(plain.sampler.pool, np.arange(20))
    for step in range(10):
        for k, v in plain.batch(step).items():
            np.testing.assert_array_equal(v, frames.batch(step)[k])
    drawn = np.concatenate([balanced.sampler.global_indices(s) for s in range(50)])
    rare = np.isin(drawn, [3, 7, 15]).mean()
    assert rare > 0.4                  # 3 of 20 frames (15 %) drawn about half the time.
    with pytest.raises(ValueError, match="sampling='levels'"):
        gen_train.PairedSource(f, 4, seed=2, sampling="levels")


def test_critic_warmup_delays_the_first_generator_update():
    calls = []
    d_only = lambda s, b, r: (s, {"d": 0}) if not calls.append("D") else None  # noqa: E731
    d_and_g = lambda s, b, r: (s, {"g_loss": 0}) if not calls.append("G") else None  # noqa: E731
    state = type("S", (), {"step": jnp.asarray(0)})()
    dispatch = gen_train.StepDispatcher(d_only, d_and_g, n_critic=2, critic_warmup=3)
    for _ in range(8):
        dispatch(state, None, None)
    assert "".join(calls) == "DDDGDGDG"
    # An expression-only warm-up step replaces the D-only step during the warm-up, and only then.
    calls.clear()
    warm = lambda s, b, r: (s, {"d_exp": 0}) if not calls.append("E") else None  # noqa: E731
    dispatch = gen_train.StepDispatcher(d_only, d_and_g, n_critic=2, critic_warmup=3, warmup_step=warm)
    for _ in range(8):
        dispatch(state, None, None)
    assert "".join(calls) == "EEEGDGDG"


def test_attention_offset_starts_the_generator_near_its_source():
    images = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3), minval=-1, maxval=1)
    aus = jnp.asarray([[0.0, 0.0], [1.0, 1.0]])
    errors, logits = {}, {}
    for offset in (0.0, 3.0):
        g = ganimation.Generator(conv_dim=4, num_blocks=1, attention_offset=offset)
        params = ganimation.init_params(g, jax.random.key(1), images, aus)
        out = g.apply({"params": params}, images, aus)
        logits[offset] = np.log(np.asarray(out.attention, np.float64)) - np.log1p(-np.asarray(out.attention, np.float64))
        errors[offset] = float(jnp.mean(jnp.abs(out.image - images)))
    # The same parameters (the offset is a constant, not a weight): A = sigmoid(logit + offset).
    np.testing.assert_allclose(logits[3.0] - logits[0.0], 3.0, atol=1e-3)
    assert errors[3.0] < 0.2 * errors[0.0]
    assert "attention_offset" in gen_train.STATE_KEYS


@pytest.mark.parametrize("conditioning,upsample", [("film", "resize"), ("input", "resize"), ("film", "transpose")])
def test_generator_variants_keep_shapes_and_film_starts_as_identity(conditioning, upsample):
    g = ganimation.Generator(conv_dim=4, num_blocks=1, au_conditioning=conditioning, upsample=upsample)
    images = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3), minval=-1, maxval=1)
    aus = jnp.asarray([[0.0, 0.0], [1.0, 1.0]])
    params = ganimation.init_params(g, jax.random.key(1), images, aus)
    out = g.apply({"params": params}, images, aus)
    assert out.image.shape == (2, 16, 16, 3) and out.attention.shape == (2, 16, 16, 1)
    films = [v for k, v in jax.tree_util.tree_flatten_with_path(params)[0] if "FiLM" in jax.tree_util.keystr(k)]
    assert bool(films) == (conditioning == "film") and all(float(jnp.abs(v).max()) == 0 for v in films)
    if conditioning == "film":
        # A FiLM layer with weights carries the AUs into the interior, which input tiling alone cannot
        # (instance norm removes a spatially constant channel away from the zero-padded border).
        params = jax.tree_util.tree_map_with_path(
            lambda k, v: v + 0.5 if "FiLM" in jax.tree_util.keystr(k) and "kernel" in jax.tree_util.keystr(k) else v,
            params)
        same = jnp.repeat(images[:1], 2, 0)
        out = g.apply({"params": params}, same, aus)
        assert float(jnp.abs(out.image[0, 6:10, 6:10] - out.image[1, 6:10, 6:10]).max()) > 1e-3
    with pytest.raises(ValueError, match="au_conditioning"):
        ganimation.Generator(conv_dim=4, num_blocks=1, au_conditioning="x").init(jax.random.key(0), images, aus)


def test_frozen_critic_holds_the_warm_up_critic_through_training_and_resume(tmp_path):
    """With lambda_exp_frozen the checkpointed state carries the critic as it stood after the last warm-up
    step; later steps leave it there (while the critic moves on), and a run resumed from a
    checkpoint taken after the warm-up ends with the same frozen critic."""
    from tests.stages import tiny_synthfacs
    from jaxau.data import frames as frames_lib

    data_dir = tiny_synthfacs.build(str(tmp_path / "data"))
    frames = frames_lib.load_tfds("synthfacs/fera_small", "train", data_dir=data_dir, image_size=16)
    cfg = dict(image_size=16, g_width=4, g_blocks=0, d_width=4, d_layers=3, batch_size=8, num_steps=5,
               n_critic=1, log_every=1, checkpoint_every=3, critic_warmup=2, critic_warmup_loss="expression",
               lambda_exp_frozen=40.0)
    seen = {}

    def record(step, state):
        seen[step] = jax.device_get(state.d.params)

    straight = jax.device_get(gen_train.train(cfg, str(tmp_path / "a"), frames, seed=1, hooks=(record,)).state)

    def diff(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    assert diff(straight.frozen_critic, seen[2]) == 0.0 and diff(straight.d.params, seen[2]) > 0.0

    def crash(step, state):
        if step == 4:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        gen_train.train(cfg, str(tmp_path / "b"), frames, seed=1, hooks=(crash,))
    resumed = gen_train.train(cfg, str(tmp_path / "b"), frames, seed=1)
    assert resumed.start_step == 3
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed.state))):
        np.testing.assert_array_equal(a, b)


def _exact(f, seed):
    """Exact partners for ``f`` whose every render is distinct: pair i's image is filled with i + 1."""
    src, par = gen_train.oracle_pairs(f, seed)
    images = (np.arange(len(src))[:, None, None, None] + 1 + np.zeros((len(src), 8, 8, 3), np.int64)).astype(np.uint8)
    ok = np.arange(len(src)) % 5 != 0        # some renders rejected by registration
    return gen_train.ExactPartners(src, par, images, ok)


@pytest.mark.parametrize("sampling", ["frames", "pairs"])
def test_oracle_partners_take_the_exact_render_of_each_same_sequence_pair(sampling):
    # Two 3-frame sequences of a, a frame alone in its sequence with a subject mate (b), and c alone.
    f = _frames(["a"] * 6 + ["b", "b", "c"], ["s0"] * 3 + ["s1"] * 3 + ["t0", "t1", "u0"])
    f["image"] = (200 + np.arange(9)[:, None, None, None] + np.zeros((9, 8, 8, 3), np.int64)).astype(np.uint8)
    exact = _exact(f, seed=1)
    src, par = exact.sources, exact.partners
    # Every ordered pair of distinct frames of a group (sequence, else subject); none for c.
    groups = gen_train.partner_groups(f, "sequence")
    expected = {(i, j) for i in range(9) for j in range(9) if i != j and groups[i] == groups[j]}
    assert set(zip(src.tolist(), par.tolist())) == expected and len(src) == len(expected) == 14
    render_of = {(int(s), int(p)): k for k, (s, p) in enumerate(zip(src, par))}
    with pytest.raises(ValueError, match="partners='oracle'"):
        gen_train.PairedSource(f, 6, seed=1, partners="oracle")
    with pytest.raises(ValueError, match="partners='oracle'"):
        gen_train.PairedSource(f, 6, seed=1, partners="sequence", exact=exact)
    alone = _frames(["a", "b"], ["s0", "t0"])
    with pytest.raises(ValueError, match="no pair to render"):
        gen_train.PairedSource(alone, 2, seed=1, partners="oracle", exact=_exact(alone, seed=1))
    # Handed in any order: the source sorts them.
    shuffled = np.random.default_rng(0).permutation(len(src))
    exact_shuffled = gen_train.ExactPartners(*(np.asarray(getattr(exact, k))[shuffled]
                                               for k in ("sources", "partners", "image", "ok")))
    source = gen_train.PairedSource(f, 6, seed=1, partners="oracle", exact=exact_shuffled, sampling=sampling)
    seen = set()
    for step in range(30):
        b = source.batch(step)
        rows = (np.rint((b["image"][:, 0, 0, 0] + 1) * 127.5) - 200).astype(int)
        for i, row in enumerate(rows):
            value = int(np.rint((b["target_image"][i, 0, 0, 0] + 1) * 127.5))
            if row == 8:                        # c has no pair: any partner, masked out
                assert b["target_image_mask"][i] == 0
                continue
            k = value - 1                        # the render the example was given
            assert (int(src[k]), int(par[k])) in render_of and src[k] == row
            seen.add(k)
            partner = par[k]
            assert abs(b["target_aus"][i] - f["au_intensity"][partner] / 5).max() <= 0.1 + 1e-6
            assert b["target_image_mask"][i] == float(exact.ok[k])
    if sampling == "frames":
        assert seen == set(range(len(src)))      # every render used
    else:   # the pool's pair ids index the rendered pairs (sorted by source)
        order = np.lexsort((par, src))
        np.testing.assert_array_equal(source.pairs[0], src[order])
        np.testing.assert_array_equal(source.pairs[1], par[order])
        assert seen == set(order[np.unique(source.sampler.pool)].tolist())


def test_oracle_partners_mirror_with_their_source_and_own_pairs_target_the_frame_itself():
    f = _frames(["a"] * 4 + ["b"] * 4, ["s0"] * 4 + ["t0"] * 4)
    f["image"] = (np.arange(8)[:, None, None, None] * 20 + np.arange(8)[None, None, :, None]
                  + np.zeros((8, 8, 8, 3), np.int64)).astype(np.uint8)
    exact = _exact(f, seed=3)
    # Asymmetric renders, so that a mirrored one is told apart.
    exact = gen_train.ExactPartners(exact.sources, exact.partners,
                                    (exact.image + np.arange(8)[None, None, :, None]).astype(np.uint8), exact.ok)
    plain = gen_train.PairedSource(f, 8, seed=3, partners="oracle", exact=exact)
    flipped = gen_train.PairedSource(f, 8, seed=3, partners="oracle", exact=exact, flip=True)
    own = gen_train.PairedSource(f, 8, seed=3, partners="oracle", exact=exact, own_fraction=0.5)
    own_count = 0
    for step in range(6):
        a, b, c = plain.batch(step), flipped.batch(step), own.batch(step)
        mirror = np.all(a["image"][:, :, ::-1] == b["image"], axis=(1, 2, 3))
        np.testing.assert_array_equal(mirror, np.all(a["target_image"][:, :, ::-1] == b["target_image"],
                                                     axis=(1, 2, 3)))
        itself = np.all(c["target_image"] == c["image"], axis=(1, 2, 3))
        np.testing.assert_array_equal(c["target_aus"][itself], c["aus"][itself])
        assert (c["target_image_mask"][itself] == 1).all()
        np.testing.assert_array_equal(c["target_image"][~itself], a["target_image"][~itself])
        own_count += itself.sum()
    assert 8 <= own_count <= 40


def test_change_shares_of_oracle_partners_count_their_rendered_pairs():
    f = _frames(["a"] * 4 + ["b"] * 3, ["s0"] * 4 + ["t0"] * 3)
    f["au_intensity"] = np.random.default_rng(1).integers(0, 4, (7, 2))
    exact = _exact(f, seed=0)
    shares = gen_train.PairedSource(f, 7, seed=0, partners="oracle", exact=exact).change_shares(["AU01", "AU12"])
    # Sequences of <= 33 frames render every ordered pair: the shares of same-sequence partners.
    assert shares == gen_train.PairedSource(f, 7, seed=0, partners="sequence").change_shares(["AU01", "AU12"])
    # And those of the settings `pair_change_shares` reads (no renders needed).
    assert shares == gen_train.pair_change_shares({"partners": "oracle", "batch_size": 7}, f, 0)
