"""The generator step descends the right objective: its AU loss is measured against the target AUs.

The critic is a frozen, hand-written module whose "AU head" is the image's per-channel mean, so the
expression loss has an independent closed form, ``mean((channel_mean(G(I | y_t)) - y_t)^2)``, and
G's progress on it can be read without any trained network.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training import train_state

from jaxau.models.ganimation import Generator
from jaxau.train import gan_steps
from jaxau.train.gan_losses import LossWeights

S, B = 16, 4
# The first output is ~ half the source image (attention ~0.5, colour ~0): channel means ~0.25 lie
# between y_s and y_t, so descending toward y_s moves away from y_t.
SOURCE_AUS = np.array([0.0, 0.1, 0.0], np.float32)
TARGET_AUS = np.array([0.7, 0.6, 0.8], np.float32)


class ChannelMeanCritic(nn.Module):
    """Critic map = a 4x subsampled grey image; AU head = the mean of each colour channel."""

    @nn.compact
    def __call__(self, images):
        scale = 1.0 + self.param("bias", nn.initializers.zeros, ())
        critic = jnp.mean(images, axis=-1)[:, ::4, ::4] * scale
        return critic, jnp.mean(images, axis=(1, 2)) * scale


@functools.partial(jax.jit, static_argnums=0)
def _generate(generator, params, images, cond):
    return generator.apply({"params": params}, images, cond).image


def _exp_to(generator, params, images, cond, aus):
    """Closed-form expression loss of ``G(images | cond)`` against ``aus`` (numpy, float64)."""
    fake = np.asarray(_generate(generator, params, images, cond), np.float64)
    return float(np.mean((fake.mean(axis=(1, 2)) - aus) ** 2))


@pytest.fixture(scope="module")
def frozen_d_run():
    """Four G updates on one batch against the frozen channel-mean critic (expression term only)."""
    gen, critic = Generator(conv_dim=4, num_blocks=0), ChannelMeanCritic()
    cfg = gan_steps.OptimizerConfig(lr=3e-3, constant_iterations=100, decay_iterations=0, n_critic=1)
    state = gan_steps.create_gan_state(jax.random.key(0), gen, critic, S, 3, cfg)
    frozen = train_state.TrainState.create(apply_fn=critic.apply, params=state.d.params,
                                           tx=optax.set_to_zero())
    state = state.replace(d=frozen)
    rng = np.random.default_rng(0)
    batch = {"image": jnp.asarray(rng.uniform(0, 1, (B, S, S, 3)), jnp.float32),
             "aus": jnp.asarray(np.tile(SOURCE_AUS, (B, 1))),
             "target_aus": jnp.asarray(np.tile(TARGET_AUS, (B, 1)))}
    weights = LossWeights(adv=0.0, gp=0.0, exp=1.0, idt=0.0, ids=0.0)
    step = jax.jit(functools.partial(gan_steps.d_g_step, generator=gen, discriminator=critic,
                                     weights=weights, axis_name=None))
    params = [state.g.params]
    metrics = []
    for i in range(4):
        state, m = step(state, batch, jax.random.key(i))
        params.append(state.g.params)
        metrics.append({k: float(v) for k, v in m.items()})
    return gen, batch, params, metrics, state


def test_g_exp_metric_is_the_loss_against_the_target_aus(frozen_d_run):
    """The reported ``g_exp`` equals the closed-form MSE of the critic's AU head on ``G(I | y_t)``
    against ``y_t`` (not against the source AUs ``y_s``) at the parameters the step started from."""
    gen, batch, params, metrics, _ = frozen_d_run
    to_source = _exp_to(gen, params[0], batch["image"], batch["target_aus"], SOURCE_AUS)
    for p, m in zip(params[:3], metrics[:3]):
        to_target = _exp_to(gen, p, batch["image"], batch["target_aus"], TARGET_AUS)
        assert m["g_exp"] == pytest.approx(to_target, rel=1e-4, abs=1e-6)
    assert abs(metrics[0]["g_exp"] - to_source) > 0.1  # the two readings are far apart


def test_generator_steps_descend_the_expression_loss_toward_the_target(frozen_d_run):
    """With the critic frozen and only the expression term on, four G updates at least halve the
    closed-form loss of ``G(I | y_t)`` against ``y_t``, monotonically, and move the channel means
    toward ``y_t`` (gradient ascent, or descent toward ``y_s``, does neither)."""
    gen, batch, params, _, state = frozen_d_run
    assert int(state.g.step) == 4
    losses = [_exp_to(gen, p, batch["image"], batch["target_aus"], TARGET_AUS) for p in params]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0], losses
    means = [np.asarray(_generate(gen, p, batch["image"], batch["target_aus"])).mean((1, 2))
             for p in (params[0], params[-1])]
    assert np.all(np.abs(means[1] - TARGET_AUS) < np.abs(means[0] - TARGET_AUS))
