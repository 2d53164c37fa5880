"""Each GAN loss term on hand-checkable inputs; the gradient penalty against analytic gradients and
finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.train import gan_losses as losses


def test_adversarial_terms_by_hand():
    real = jnp.asarray([[[1.0, 3.0]], [[2.0, 2.0]]])  # critic maps [2, 1, 2]; mean 2
    fake = jnp.asarray([[[0.5, 0.5]], [[-0.5, 1.5]]])  # mean 0.5
    assert float(losses.critic_loss(real, fake)) == pytest.approx(-2.0 + 0.5)
    assert float(losses.generator_adversarial_loss(fake)) == pytest.approx(-0.5)


def test_expression_l1_cycle_by_hand():
    pred = jnp.asarray([[0.0, 1.0], [0.5, 0.5]])
    target = jnp.asarray([[1.0, 1.0], [0.0, 0.5]])
    assert float(losses.expression_loss(pred, target)) == pytest.approx((1 + 0 + 0.25 + 0) / 4)
    valid = jnp.asarray([[False, True], [True, True]])
    assert float(losses.expression_loss(pred, target, valid)) == pytest.approx(0.25 / 3)
    a = jnp.asarray([[[[1.0, -1.0]]]])
    b = jnp.asarray([[[[0.0, 1.0]]]])
    assert float(losses.l1_loss(a, b)) == pytest.approx(1.5)
    assert float(losses.cycle_loss(a, b)) == pytest.approx(1.5)


def test_idiosyncratic_masked_and_global_mean():
    gen = jnp.zeros((3, 1, 1, 2))
    tgt = jnp.asarray([1.0, 2.0, 4.0])[:, None, None, None] * jnp.ones((3, 1, 1, 2))
    assert float(losses.idiosyncratic_loss(gen, tgt)) == pytest.approx(7 / 3)
    mask = jnp.asarray([1.0, 0.0, 1.0])
    assert float(losses.idiosyncratic_loss(gen, tgt, mask)) == pytest.approx(2.5)
    assert float(losses.idiosyncratic_loss(gen, tgt, jnp.zeros(3))) == 0.0
    # Two devices with 2 and 1 valid pairs: passing the mean count (1.5) makes the device mean
    # equal the global masked mean (1 + 4 + 3) / 3.
    dev0 = losses.idiosyncratic_loss(gen, tgt, mask, count=1.5)
    dev1 = losses.idiosyncratic_loss(gen, 3.0 * jnp.ones((3, 1, 1, 2)), jnp.asarray([0., 1., 0.]),
                                     count=1.5)
    assert float((dev0 + dev1) / 2) == pytest.approx(8 / 3)


def test_attention_terms_by_hand():
    a = jnp.asarray([[0.0, 1.0], [0.5, 0.5]])[None, :, :, None]
    assert float(losses.attention_mean_loss(a)) == pytest.approx(0.5)
    # vertical |0.5-0| + |0.5-1| = 1, horizontal |1-0| + 0 = 1.
    assert float(losses.attention_tv_loss(a)) == pytest.approx(2.0)


def test_au_scaling_and_target_sampling():
    values, valid = losses.au_intensity_to_unit(np.array([[0, 5, -1, 3]]))
    np.testing.assert_allclose(values, [[0.0, 1.0, 0.0, 0.6]])
    np.testing.assert_array_equal(valid, [[True, True, False, True]])
    aus = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (6, 4)), jnp.float32)
    target = losses.sample_target_aus(jax.random.key(0), aus)
    # Each target row is some batch row plus noise in [-0.1, 0.1].
    dist = np.max(np.abs(np.asarray(target)[:, None, :] - np.asarray(aus)[None]), axis=-1)
    assert np.all(dist.min(axis=1) <= 0.1 + 1e-6)
    assert not np.allclose(target, aus)
    clipped = losses.sample_target_aus(jax.random.key(1), jnp.ones((3, 2)), clip=True)
    assert float(clipped.max()) <= 1.0 and float(clipped.min()) >= 0.9


# A small critic with a hand-derivable input gradient: D(x)_b = sum_hw v * tanh(sum_c x w + c0).
def _critic_np(x, w, v, c0):
    return np.sum(v * np.tanh(x @ w + c0), axis=(1, 2))


def _gp_np(real, fake, alpha, w, v, c0):
    xh = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
    pre = xh @ w + c0                                    # [N, H, W]
    grad = (v * (1 - np.tanh(pre) ** 2))[..., None] * w  # dD_b/dx_hat, analytic
    norm = np.sqrt(np.sum(grad.reshape(len(grad), -1) ** 2, axis=1))
    return np.mean((norm - 1) ** 2)


def test_gradient_penalty_matches_analytic_and_finite_differences():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(3, 4, 5, 2)), rng.normal(size=(3, 4, 5, 2))
    alpha = rng.uniform(size=3)
    w, v, c0 = rng.normal(size=2), rng.normal(size=(4, 5)) * 0.5, 0.3

    def gp_jax(w_):
        def critic(x):
            return jnp.sum(jnp.asarray(v, jnp.float32) * jnp.tanh(x @ w_ + c0), axis=(1, 2))
        return losses.gradient_penalty(critic, jnp.asarray(real, jnp.float32),
                                       jnp.asarray(fake, jnp.float32),
                                       jnp.asarray(alpha, jnp.float32))

    w32 = jnp.asarray(w, jnp.float32)
    assert float(gp_jax(w32)) == pytest.approx(_gp_np(real, fake, alpha, w, v, c0), rel=1e-5)
    # d GP / d critic parameters (double backward) vs central differences of the numpy reference.
    grad = np.asarray(jax.grad(gp_jax)(w32))
    eps = 1e-5
    fd = [(_gp_np(real, fake, alpha, w + eps * e, v, c0)
           - _gp_np(real, fake, alpha, w - eps * e, v, c0)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-5)


def test_gradient_penalty_linear_critic_by_hand():
    # D(x) = sum(x * 0.5): gradient 0.5 everywhere, norm 0.5 * sqrt(H W C) = 0.5 * 2 = 1 -> 0.
    real = jnp.ones((2, 2, 2, 1))
    critic = lambda x: jnp.sum(0.5 * x, axis=(1, 2, 3))
    assert float(losses.gradient_penalty(critic, real, -real, jnp.asarray([0.3, 0.9]))) == (
        pytest.approx(0.0, abs=1e-6))
    critic2 = lambda x: jnp.sum(1.5 * x, axis=(1, 2, 3))  # norm 3 -> (3 - 1)^2 = 4
    assert float(losses.gradient_penalty(critic2, real, -real, jnp.asarray([0.3, 0.9]))) == (
        pytest.approx(4.0, rel=1e-6))


def test_expression_smoothness_is_a_hutchinson_estimate_of_the_jacobian_norm():
    """A linear AU head ``x -> x_flat @ W``: the probe's gradient is ``W v``, and the mean over every
    sign vector is ``||W||_F^2``; a non-linear head against the Jacobian by finite differences."""
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(2 * 2 * 3, 3)), jnp.float32)
    head = lambda x: x.reshape(x.shape[0], -1) @ w  # noqa: E731
    images = jnp.asarray(rng.normal(size=(2, 2, 2, 3)), jnp.float32)
    probes = jnp.asarray([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
    by_hand = np.mean([np.sum((np.asarray(w) @ np.asarray(v)) ** 2) for v in probes])
    assert float(losses.expression_smoothness(head, images, probes)) == pytest.approx(by_hand, rel=1e-5)
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * 3)).reshape(3, -1).T          # all 8 sign vectors
    every = [float(losses.expression_smoothness(head, images[:1], jnp.asarray(v[None]))) for v in signs]
    assert np.mean(every) == pytest.approx(float(jnp.sum(w ** 2)), rel=1e-5)

    def curved(x):
        return jnp.tanh(x.reshape(x.shape[0], -1) @ w) ** 2

    x0 = np.asarray(images[:1], np.float64)
    jac = np.zeros((3, x0.size))
    for i in range(x0.size):  # central differences of each input pixel
        d = np.zeros(x0.size)
        d[i] = 1e-3
        hi = np.tanh((x0.ravel() + d) @ np.asarray(w, np.float64)) ** 2
        lo = np.tanh((x0.ravel() - d) @ np.asarray(w, np.float64)) ** 2
        jac[:, i] = (hi - lo) / 2e-3
    v = np.array([1.0, 1.0, -1.0])
    got = float(losses.expression_smoothness(curved, images[:1], jnp.asarray(v[None], jnp.float32)))
    assert got == pytest.approx(float(np.sum((v @ jac) ** 2)), rel=1e-3)
    # The penalty is a function of the head's parameters only: the images are constants.
    assert float(jnp.sum(jax.grad(lambda x: losses.expression_smoothness(head, x, probes))(images) ** 2)) == 0.0
