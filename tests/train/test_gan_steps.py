"""GAN step functions under jax.vmap(axis_name='data'): updates, pmean, structure of the D-only step."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models.ganimation import Discriminator, Generator
from jaxau.train import gan_steps
from jaxau.train.gan_losses import LossWeights

S, K, DEV, B = 16, 3, 2, 2
G = Generator(conv_dim=4, num_blocks=1)
D = Discriminator(num_aus=K, image_size=S, conv_dim=4, num_layers=2)


def _batch(seed, dev=DEV, b=B):
    rng = np.random.default_rng(seed)
    f = lambda *shape, lo=0.0: jnp.asarray(rng.uniform(lo, 1, shape), jnp.float32)
    mask = jnp.asarray(rng.uniform(size=(dev, b)) > 0.3, jnp.float32).at[0, 0].set(1.0)
    return {"image": f(dev, b, S, S, 3, lo=-1.0), "aus": f(dev, b, K),
            "target_aus": f(dev, b, K), "target_image": f(dev, b, S, S, 3, lo=-1.0),
            "target_image_mask": mask}


def _replicate(tree, n):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), tree)


def _mapped(fn, weights=LossWeights()):
    step = functools.partial(fn, generator=G, discriminator=D, weights=weights)
    return jax.jit(jax.vmap(step, axis_name="data", in_axes=(0, 0, None)))


@pytest.fixture(scope="module")
def setup():
    cfg = gan_steps.OptimizerConfig(constant_iterations=4, decay_iterations=4, n_critic=2)
    state = gan_steps.create_gan_state(jax.random.key(0), G, D, S, K, cfg)
    return _replicate(state, DEV), _mapped(gan_steps.d_step), _mapped(gan_steps.d_g_step)


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_d_only_step_leaves_generator_unchanged(setup):
    state, d_step, _ = setup
    new, metrics = d_step(state, _batch(0), jax.random.key(1))
    assert _max_diff(new.g.params, state.g.params) == 0.0
    assert _max_diff(new.g.opt_state, state.g.opt_state) == 0.0
    assert _max_diff(new.d.params, state.d.params) > 0.0
    assert int(new.step[0]) == 1 and int(new.d.step[0]) == 1 and int(new.g.step[0]) == 0
    # pmean: replicas stay identical although each device saw different data.
    assert _max_diff(new.d.params, jax.tree.map(lambda x: x[::-1], new.d.params)) == 0.0
    for v in metrics.values():
        assert float(v[0]) == float(v[1]) and np.isfinite(float(v[0]))


def test_training_moves_both_losses_and_stays_finite(setup):
    state, d_step, dg_step = setup
    history = []
    for i in range(4):
        fn = dg_step if gan_steps.trains_generator(i, 2) else d_step
        state, metrics = fn(state, _batch(10 + i), jax.random.key(i))
        history.append({k: float(v[0]) for k, v in metrics.items()})
    assert int(state.g.step[0]) == 2 and int(state.d.step[0]) == 4
    assert history[0]["d_loss"] != history[2]["d_loss"]
    assert history[0]["g_loss"] != history[2]["g_loss"]
    assert {"g_adv", "g_exp", "g_idt", "g_ids", "d_gp", "attention_mean"} <= set(history[2])
    assert all(np.isfinite(v) for h in history for v in h.values())
    leaves = jax.tree.leaves((state.g.params, state.d.params))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)


def test_two_devices_equal_one_device_with_the_whole_batch(setup):
    """pmean of per-device gradients == gradients of the global batch, including the gradient
    penalty (alphas keyed by global sample index) and the idiosyncratic masked mean over an
    uneven mask. Compared on Adam's first moment (0.5 x gradient): the first Adam update is
    ~lr * sign(g), which turns rounding noise on zero-gradient parameters (biases before instance
    norm) into full-size steps."""
    state, _, dg_step = setup
    batch = _batch(3)
    batch["target_image_mask"] = jnp.asarray([[1.0, 1.0], [0.0, 1.0]])
    two, m2 = dg_step(state, batch, jax.random.key(5))
    whole = jax.tree.map(lambda x: x.reshape((1, DEV * B) + x.shape[2:]), batch)
    one, m1 = _mapped(gan_steps.d_g_step)(jax.tree.map(lambda x: x[:1], state), whole,
                                          jax.random.key(5))
    for net in ("d", "g"):
        mu2 = jax.tree.map(lambda x: x[0], getattr(two, net).opt_state[0].mu)
        mu1 = jax.tree.map(lambda x: x[0], getattr(one, net).opt_state[0].mu)
        scale = max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(mu1))
        assert scale > 0 and _max_diff(mu2, mu1) < 1e-4 * scale
    for k in ("g_ids", "g_idt", "d_exp", "d_gp", "g_loss", "d_loss"):
        assert float(m2[k][0]) == pytest.approx(float(m1[k][0]), rel=1e-4)


def test_smoothness_probes_do_not_depend_on_the_device_split(setup):
    """The AU-head penalty's probes are keyed by the global sample index, like the GP's alphas."""
    state, _, _ = setup
    batch = _batch(6)
    step = _mapped(gan_steps.d_step, LossWeights(exp_smooth=1.0))
    _, m2 = step(state, batch, jax.random.key(7))
    whole = jax.tree.map(lambda x: x.reshape((1, DEV * B) + x.shape[2:]), batch)
    _, m1 = step(jax.tree.map(lambda x: x[:1], state), whole, jax.random.key(7))
    assert float(m2["d_exp_smooth"][0]) == pytest.approx(float(m1["d_exp_smooth"][0]), rel=1e-4)


def _count_convs(jaxpr):
    """Convolutions and matmuls (tiny convs run as im2col + dot) in a jaxpr, recursively."""
    n = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
            n += 1
        for p in eqn.params.values():
            if hasattr(p, "jaxpr") and hasattr(p.jaxpr, "eqns"):
                n += _count_convs(p.jaxpr)
            elif hasattr(p, "eqns"):
                n += _count_convs(p)
    return n


def test_d_only_step_builds_no_generator_backward():
    cfg = gan_steps.OptimizerConfig(constant_iterations=4, decay_iterations=4)
    state = gan_steps.create_gan_state(jax.random.key(0), G, D, S, K, cfg)
    batch = jax.tree.map(lambda x: x[0], _batch(0))
    step = functools.partial(gan_steps.d_step, generator=G, discriminator=D, axis_name=None)
    total = _count_convs(jax.make_jaxpr(step)(state, batch, jax.random.key(0)).jaxpr)
    g_fwd = _count_convs(jax.make_jaxpr(lambda p: G.apply({"params": p}, batch["image"],
                                                           batch["aus"]))(state.g.params).jaxpr)
    d_only = _count_convs(jax.make_jaxpr(
        lambda s, f: gan_steps._update_d(s, batch, f, jax.random.key(0), D, LossWeights(), None))(
            state, batch["image"]).jaxpr)
    assert g_fwd > 0 and d_only > 0
    assert total == g_fwd + d_only  # G appears forward only


def test_missing_target_image_is_explained(setup):
    state, _, _ = setup
    batch = jax.tree.map(lambda x: x[0], _batch(0))
    del batch["target_image"]
    single = jax.tree.map(lambda x: x[0], state)
    with pytest.raises(KeyError, match="idiosyncratic"):
        gan_steps.d_g_step(single, batch, jax.random.key(0), generator=G, discriminator=D,
                           axis_name=None)


def test_schedule_constant_then_linear_to_zero():
    sched = gan_steps.lr_schedule(1e-4, 10, 5)
    assert float(sched(0)) == pytest.approx(1e-4) and float(sched(9)) == pytest.approx(1e-4)
    assert float(sched(12)) == pytest.approx(1e-4 * 3 / 5)
    assert float(sched(15)) == pytest.approx(0.0) and float(sched(100)) == pytest.approx(0.0)
    assert gan_steps.trains_generator(0, 5) and not gan_steps.trains_generator(3, 5)


def test_expression_warmup_step_trains_the_au_head_on_real_frames_only():
    cfg = gan_steps.OptimizerConfig(constant_iterations=4, decay_iterations=4)
    state = gan_steps.create_gan_state(jax.random.key(0), G, D, S, K, cfg)
    batch = jax.tree.map(lambda x: x[0], _batch(0))
    step = functools.partial(gan_steps.d_expression_step, generator=G, discriminator=D, axis_name=None)
    new, metrics = step(state, batch, jax.random.key(0))
    assert _max_diff(new.g.params, state.g.params) == 0.0 and int(new.step) == 1
    # No fake image, no adversarial or gradient-penalty term: only the critic and the real frames.
    assert set(metrics) == {"d_exp"}
    _, aus = D.apply({"params": state.d.params}, batch["image"])
    np.testing.assert_allclose(float(metrics["d_exp"]), float(jnp.mean((aus - batch["aus"]) ** 2)), rtol=1e-5)
    # The update is Adam's first step on lambda_exp * MSE: -lr * sign(grad) wherever the grad is non-zero.
    grads = jax.grad(lambda p: jnp.mean((D.apply({"params": p}, batch["image"])[1] - batch["aus"]) ** 2))(
        state.d.params)
    g, old, upd = (jax.tree.leaves(t)[0] for t in (grads, state.d.params, new.d.params))
    nz = np.abs(np.asarray(g)) > 1e-7
    np.testing.assert_allclose(np.asarray(upd - old)[nz], -cfg.lr * np.sign(np.asarray(g))[nz], rtol=1e-3)
    # Its trunk is the critic's: the critic map moves although no adversarial term was trained.
    assert _max_diff(D.apply({"params": new.d.params}, batch["image"])[0],
                     D.apply({"params": state.d.params}, batch["image"])[0]) > 0


def test_au_head_smoothness_enters_both_critic_updates_only_when_weighted(setup):
    state, d_step, _ = setup
    batch, key = _batch(4), jax.random.key(2)
    plain, m0 = d_step(state, batch, key)
    assert "d_exp_smooth" not in m0
    smooth, m1 = _mapped(gan_steps.d_step, LossWeights(exp_smooth=1.0))(state, batch, key)
    assert float(m1["d_exp_smooth"][0]) > 0
    # The same data terms; the total carries the weighted penalty and the update differs.
    for k in ("d_adv", "d_exp", "d_gp"):
        assert float(m1[k][0]) == pytest.approx(float(m0[k][0]), rel=1e-6)
    assert float(m1["d_loss"][0]) == pytest.approx(float(m0["d_loss"][0]) + float(m1["d_exp_smooth"][0]), rel=1e-5)
    assert _max_diff(plain.d.params, smooth.d.params) > 0
    # The expression warm-up adds it on the real frames; with weight 0 the step is the plain one.
    single = jax.tree.map(lambda x: x[0], state)
    one = jax.tree.map(lambda x: x[0], batch)
    warm = functools.partial(gan_steps.d_expression_step, generator=G, discriminator=D, axis_name=None)
    _, w0 = warm(single, one, key)
    _, w1 = warm(single, one, key, weights=LossWeights(exp_smooth=1.0))
    assert set(w0) == {"d_exp"} and set(w1) == {"d_exp", "d_exp_smooth"} and float(w1["d_exp_smooth"]) > 0


def test_critic_expression_factor_weights_only_the_critics_au_term(setup):
    state, d_step, d_g_step = setup
    batch, key = _batch(5), jax.random.key(3)
    w1, w3 = LossWeights(), LossWeights(critic_exp_factor=3.0)
    assert w3.critic_exp == 3.0 * w3.exp and w1.critic_exp == w1.exp
    _, m1 = d_step(state, batch, key)
    _, m3 = _mapped(gan_steps.d_step, w3)(state, batch, key)
    for k in ("d_adv", "d_exp", "d_gp"):
        assert float(m3[k][0]) == pytest.approx(float(m1[k][0]), rel=1e-6)
    extra = 2.0 * w1.exp * float(m1["d_exp"][0])
    assert float(m3["d_loss"][0]) == pytest.approx(float(m1["d_loss"][0]) + extra, rel=1e-5)
    # G's expression weight stays lambda_exp: its total is the unscaled sum of its terms.
    _, g3 = _mapped(gan_steps.d_g_step, w3)(state, batch, key)
    total = (w3.adv * g3["g_adv"] + w3.exp * g3["g_exp"] + w3.idt * g3["g_idt"] + w3.ids * g3["g_ids"])
    np.testing.assert_allclose(np.asarray(g3["g_loss"]), np.asarray(total), rtol=1e-5)
    # The config field reaches the weights.
    from jaxau.train import generator as gen_train
    s = gen_train.settings({"critic_exp_factor": 4.0})
    assert gen_train.loss_weights(s).critic_exp == 4.0 * 160.0


def _head_mse_on_fakes(g_params, d_params, batch, target):
    """Mean over devices of the MSE of D's AU head (``d_params``) on G(I|y_t) against ``batch[target]``,
    computed from the networks directly (replicated parameters, one device at a time)."""
    per_device = []
    for dev in range(DEV):
        fake = G.apply({"params": jax.tree.map(lambda x: x[dev], g_params)}, batch["image"][dev],
                       batch["target_aus"][dev]).image
        _, read = D.apply({"params": jax.tree.map(lambda x: x[dev], d_params)}, fake)
        per_device.append(np.mean(np.square(np.asarray(read) - np.asarray(batch[target][dev]))))
    return float(np.mean(per_device))


def test_critic_fake_factor_trains_the_head_to_read_fakes_as_their_sources(setup):
    """d_exp_fake is the MSE of the critic's AU head on G(I|y_t) against the *source* AUs y_s,
    computed here from the networks directly; it adds critic_fake_factor * critic_exp of itself to
    the critic's loss and leaves every other term (and G's loss) as it was."""
    state, _, _ = setup
    batch, key = _batch(7), jax.random.key(4)
    wf = LossWeights(critic_fake_factor=0.5, critic_exp_factor=2.0)
    w0 = LossWeights(critic_exp_factor=2.0)
    new_0, m0 = _mapped(gan_steps.d_step, w0)(state, batch, key)
    new_f, mf = _mapped(gan_steps.d_step, wf)(state, batch, key)
    assert "d_exp_fake" not in m0
    # pmean over the two devices.
    by_hand = _head_mse_on_fakes(state.g.params, state.d.params, batch, "aus")
    assert float(mf["d_exp_fake"][0]) == pytest.approx(by_hand, rel=1e-4)
    for k in ("d_adv", "d_exp", "d_gp"):
        assert float(mf[k][0]) == pytest.approx(float(m0[k][0]), rel=1e-6)
    extra = 0.5 * wf.critic_exp * float(mf["d_exp_fake"][0])
    assert float(mf["d_loss"][0]) == pytest.approx(float(m0["d_loss"][0]) + extra, rel=1e-5)
    assert _max_diff(new_f.d.params, new_0.d.params) > 0.0
    # In the combined step too; G's loss keeps its own terms only.
    _, gf = _mapped(gan_steps.d_g_step, wf)(state, batch, key)
    assert float(gf["d_exp_fake"][0]) == pytest.approx(float(mf["d_exp_fake"][0]), rel=1e-5)
    total = wf.adv * gf["g_adv"] + wf.exp * gf["g_exp"] + wf.idt * gf["g_idt"] + wf.ids * gf["g_ids"]
    np.testing.assert_allclose(np.asarray(gf["g_loss"]), np.asarray(total), rtol=1e-5)
    # The warm-up has no generated images: the term is not there.
    warm = _mapped(gan_steps.d_expression_step, wf)
    _, w = warm(state, batch, key)
    assert set(w) == {"d_exp"}
    from jaxau.train import generator as gen_train
    assert gen_train.loss_weights(gen_train.settings({"critic_fake_exp": 0.25})).critic_fake_factor == 0.25
    assert gen_train.loss_weights(gen_train.settings({})).critic_fake_factor == 0.0


def test_frozen_critic_is_the_warm_up_critic_and_adds_its_reading_to_gs_loss_only():
    """The frozen critic follows the critic through the expression warm-up and stays frozen afterwards; its
    term in G's loss is the MSE of its AU head on G(I|y_t) against y_t, computed here from the
    networks directly, and it moves G's gradient but not the critic's update."""
    cfg = gan_steps.OptimizerConfig(constant_iterations=4, decay_iterations=4, n_critic=1)
    state = _replicate(gan_steps.create_gan_state(jax.random.key(0), G, D, S, K, cfg, with_frozen_critic=True), DEV)
    plain = _replicate(gan_steps.create_gan_state(jax.random.key(0), G, D, S, K, cfg), DEV)
    assert plain.frozen_critic is None and _max_diff(state.frozen_critic, state.d.params) == 0.0
    wr = LossWeights(exp_frozen=80.0)
    # Warm-up: the frozen critic becomes the updated critic.
    warm, _ = _mapped(gan_steps.d_expression_step, wr)(state, _batch(1), jax.random.key(1))
    assert _max_diff(warm.d.params, state.d.params) > 0.0 and _max_diff(warm.frozen_critic, warm.d.params) == 0.0
    frozen = warm.frozen_critic
    # After the warm-up neither step moves it, while the critic moves on.
    after, _ = _mapped(gan_steps.d_step, wr)(warm, _batch(2), jax.random.key(2))
    assert _max_diff(after.frozen_critic, frozen) == 0.0 and _max_diff(after.d.params, frozen) > 0.0
    batch, key = _batch(3), jax.random.key(3)
    new_r, mr = _mapped(gan_steps.d_g_step, wr)(after, batch, key)
    new_0, m0 = _mapped(gan_steps.d_g_step)(after, batch, key)
    assert _max_diff(new_r.frozen_critic, frozen) == 0.0 and "g_exp_frozen" not in m0
    by_hand = _head_mse_on_fakes(after.g.params, frozen, batch, "target_aus")
    assert float(mr["g_exp_frozen"][0]) == pytest.approx(by_hand, rel=1e-4)
    for k in ("g_adv", "g_exp", "g_idt", "g_ids", "d_loss"):
        assert float(mr[k][0]) == pytest.approx(float(m0[k][0]), rel=1e-6)
    assert float(mr["g_loss"][0]) == pytest.approx(float(m0["g_loss"][0]) + 80.0 * float(mr["g_exp_frozen"][0]),
                                                   rel=1e-5)
    assert _max_diff(new_r.d.params, new_0.d.params) == 0.0
    assert _max_diff(new_r.g.params, new_0.g.params) > 0.0
    # A weight without a frozen critic in the state is refused.
    with pytest.raises(ValueError, match="with_frozen_critic=True"):
        _mapped(gan_steps.d_g_step, wr)(plain, batch, key)
    from jaxau.train import generator as gen_train
    s = gen_train.settings({"lambda_exp_frozen": 80.0, "critic_warmup": 10, "critic_warmup_loss": "expression"})
    assert gen_train.loss_weights(s).exp_frozen == 80.0
    assert gen_train.init_state(s, K, 0).frozen_critic is not None
    assert gen_train.init_state(gen_train.settings({}), K, 0).frozen_critic is None
    gen_train.check_frozen_critic(s)
    for bad in ({"critic_warmup": 0}, {"critic_warmup_loss": "full"}):
        with pytest.raises(ValueError, match="lambda_exp_frozen=80.0 .*critic_warmup_loss=expression"):
            gen_train.check_frozen_critic({**s, **bad})


def test_critic_learning_rate_is_separate_when_set():
    cfg = gan_steps.OptimizerConfig(lr=1e-4, d_lr=3e-4, constant_iterations=4, decay_iterations=4)
    g_tx, d_tx = gan_steps.make_optimizers(cfg)
    p = {"w": jnp.ones(3)}
    for tx, lr in ((g_tx, 1e-4), (d_tx, 3e-4)):
        upd, _ = tx.update({"w": jnp.asarray([1.0, -2.0, 3.0])}, tx.init(p), p)
        np.testing.assert_allclose(np.asarray(upd["w"]), -lr * np.asarray([1, -1, 1]), rtol=1e-3)
    g_tx, d_tx = gan_steps.make_optimizers(gan_steps.OptimizerConfig(lr=2e-4))
    upd, _ = d_tx.update({"w": jnp.ones(3)}, d_tx.init(p), p)
    np.testing.assert_allclose(np.asarray(upd["w"]), -2e-4, rtol=1e-3)


def test_translate_moves_each_image_by_its_own_offset_with_repeated_borders():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(-1, 1, (16, 8, 8, 3)), jnp.float32)
    assert gan_steps.translate(images, jax.random.key(0), 0, None) is images
    shift = 2
    out = np.asarray(gan_steps.translate(images, jax.random.key(0), shift, None))
    padded = np.pad(np.asarray(images), ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    found = []
    for i in range(16):  # brute force: which offset of the edge-padded image is it?
        hits = [(dy, dx) for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)
                if np.array_equal(out[i], padded[i, dy:dy + 8, dx:dx + 8])]
        assert hits, i
        found.append(hits[0])
    assert len(set(found)) > 4  # per-sample offsets, not one for the batch
    # Differentiable in the images: the gradient of a weighted sum lands on the source pixels.
    w = jnp.asarray(rng.normal(size=(16, 8, 8, 3)), jnp.float32)
    grad = jax.grad(lambda x: jnp.sum(gan_steps.translate(x, jax.random.key(0), shift, None) * w))(images)
    assert float(jnp.sum(grad)) == pytest.approx(float(jnp.sum(w)), rel=1e-4)
    # Keyed by the global sample index: two devices of 8 give the one-device offsets.
    split = jax.vmap(lambda x: gan_steps.translate(x, jax.random.key(0), shift, "data"),
                     axis_name="data")(images.reshape(2, 8, 8, 8, 3))
    np.testing.assert_array_equal(np.asarray(split).reshape(out.shape), out)


def test_critic_augmentation_changes_what_the_critic_sees_in_every_step(setup):
    state, d_step, dg_step = setup
    batch, key = _batch(8), jax.random.key(3)
    _, m0 = d_step(state, batch, key)
    for fn, metric in ((gan_steps.d_step, "d_exp"), (gan_steps.d_g_step, "g_exp")):
        step = jax.jit(jax.vmap(functools.partial(fn, generator=G, discriminator=D, augment=2),
                                axis_name="data", in_axes=(0, 0, None)))
        new, m = step(state, batch, key)
        assert all(np.isfinite(float(v[0])) for v in m.values())
        ref = (d_step if fn is gan_steps.d_step else dg_step)(state, batch, key)[1]
        assert float(m[metric][0]) != float(ref[metric][0])
    single = jax.tree.map(lambda x: x[0], state)
    one = jax.tree.map(lambda x: x[0], batch)
    warm = functools.partial(gan_steps.d_expression_step, generator=G, discriminator=D, axis_name=None)
    assert float(warm(single, one, key, augment=2)[1]["d_exp"]) != float(warm(single, one, key)[1]["d_exp"])


def test_relative_conditioning_draws_the_change_and_cycles_back_by_its_negative():
    """With ``conditioning='relative'`` G(I | y_t - y_s) is the fake the critic and the paired L1
    see and G(fake | y_s - y_t) the cycle: the step's g_idt / g_ids equal those computed by hand
    (and differ from the absolute generator's on the same parameters)."""
    rel = Generator(conv_dim=4, num_blocks=1, conditioning="relative")
    cfg = gan_steps.OptimizerConfig(constant_iterations=4, decay_iterations=4, n_critic=1)
    state = gan_steps.create_gan_state(jax.random.key(0), rel, D, S, K, cfg)
    batch = jax.tree.map(lambda x: x[0], _batch(5))
    step = jax.jit(functools.partial(gan_steps.d_g_step, generator=rel, discriminator=D, axis_name=None))
    _, metrics = step(state, batch, jax.random.key(1))

    def losses(module, condition_fake, condition_cycle):
        apply = jax.jit(module.apply)
        fake = apply({"params": state.g.params}, batch["image"], *condition_fake).image
        rec = apply({"params": state.g.params}, fake, *condition_cycle).image
        idt = jnp.mean(jnp.abs(rec - batch["image"]))
        mask = batch["target_image_mask"]
        per = jnp.mean(jnp.abs(fake - batch["target_image"]), axis=(1, 2, 3))
        return idt, jnp.sum(per * mask) / jnp.sum(mask)

    y_s, y_t = batch["aus"], batch["target_aus"]
    idt, ids = losses(rel, (y_t, y_s), (y_s, y_t))
    np.testing.assert_allclose(metrics["g_idt"], idt, rtol=1e-5)
    np.testing.assert_allclose(metrics["g_ids"], ids, rtol=1e-5)
    # The same parameters conditioned on the absolute targets give other losses.
    idt_abs, ids_abs = losses(G, (y_t,), (y_s,))
    assert abs(float(idt_abs - idt)) > 1e-6 and abs(float(ids_abs - ids)) > 1e-6
    # d_step's fake is the relative one too: it trains the critic on G(I | y_t - y_s).
    d_state, _ = jax.jit(functools.partial(gan_steps.d_step, generator=rel, discriminator=D,
                                           axis_name=None))(state, batch, jax.random.key(1))
    d_ref, _ = gan_steps._update_d(state, batch, jax.jit(rel.apply)({"params": state.g.params}, batch["image"],
                                                                    y_t, y_s).image,
                                   jax.random.key(1), D, LossWeights(), None, 0)
    assert _max_diff(d_state.d.params, d_ref.params) < 1e-6
