"""GANimation training losses with the paper's idiosyncratic term (Niinuma et al., Sec. 3.2).

Reductions follow the replicate the paper used (donydchen/ganimation_replicate), which matches the
paper's equations up to constant factors that the lambdas absorb:

* adversarial (WGAN): critic ``-mean(D(real)) + mean(D(fake))``, generator ``-mean(D(fake))``, means
  over batch and critic map (Eq. 1);
* gradient penalty: ``x_hat = a * real + (1 - a) * fake``, ``a ~ U(0, 1)`` per sample,
  ``mean_b (||grad_x_hat sum(D(x_hat)_b)||_2 - 1)^2`` with the norm over H, W, C (Eq. 1), lambda 10;
* conditional expression: MSE between D's AU head and the AUs, mean over batch and AUs (Eq. 2),
  lambda 160;
* identity (cycle): L1 mean ``|G(G(I|y_t)|y_s) - I|`` (Eq. 3), lambda 10;
* idiosyncratic: L1 mean ``|G(I|y_t) - I_{y_t}|`` over same-subject pairs (Eq. 4), lambda 1;
* attention (official GANimation, off in the paper): mask mean, and the unnormalised total variation.

AU intensities 0..5 (A..E = 1..5) map to [0, 1] by dividing by 5 (paper Sec. 3.2).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

MAX_INTENSITY = 5.0


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Loss weights (the paper's baseline; replicate defaults).

    Attributes:
      adv: lambda_adv (adversarial).
      gp: lambda_gp (gradient penalty).
      exp: lambda_exp (conditional expression / AU regression).
      idt: lambda_idt (cycle identity L1).
      ids: lambda_ids (idiosyncratic L1; 0 disables it and the need for target images).
      mask: attention-mask mean (official GANimation 0.1; paper removed: 0).
      tv: attention-mask total variation (official 1e-5; paper removed: 0).
      exp_smooth: the critic's AU-head smoothness, `expression_smoothness` on real and generated
        images in every critic update (not in GANimation: 0).
      critic_exp_factor: the critic's AU-regression weight is ``critic_exp_factor * exp`` (GANimation
        uses one lambda_exp for both networks: 1). Only its ratio to the adversarial and gradient-penalty
        terms matters to Adam, so it acts in the adversarial phase, not in an expression-only warm-up.
      critic_fake_factor: the critic's AU head is also trained to read each generated image
        ``G(I|y_t)`` as its *source's* AUs ``y_s``, weighted ``critic_fake_factor * critic_exp``
        (not in GANimation: 0), against G's expression loss, which asks the same head to read
        ``y_t``: an edit the head can learn to ignore without losing accuracy on real frames (a
        pattern no real face carries) then stops paying G's loss.
      exp_frozen: weight of G's second expression loss, ``MSE(F_au(G(I|y_t)), y_t)`` read by a
        frozen critic ``F``: the critic as it stood at the end of an expression-only warm-up, trained on
        real frames alone and never updated afterwards, so G cannot co-adapt with it (not in
        GANimation: 0).
    """

    adv: float = 1.0
    gp: float = 10.0
    exp: float = 160.0
    idt: float = 10.0
    ids: float = 1.0
    mask: float = 0.0
    tv: float = 0.0
    exp_smooth: float = 0.0
    critic_exp_factor: float = 1.0
    critic_fake_factor: float = 0.0
    exp_frozen: float = 0.0

    @property
    def critic_exp(self) -> float:
        """The weight of the critic's AU-regression term."""
        return self.critic_exp_factor * self.exp


def au_intensity_to_unit(intensity: Array | np.ndarray) -> tuple[Array, Array]:
    """Maps integer AU labels (0..5, -1 unknown) to [0, 1] targets and a validity mask.

    Args:
      intensity: integer labels ``[..., K]``.

    Returns:
      ``(values, valid)``: ``intensity / 5`` (0 where unknown) and ``intensity >= 0``.
    """
    intensity = jnp.asarray(intensity)
    valid = intensity >= 0
    return jnp.where(valid, intensity.astype(jnp.float32) / MAX_INTENSITY, 0.0), valid


def sample_target_aus(key: Array, aus: Array, noise: float = 0.1, clip: bool = False) -> Array:
    """Target AUs as in the replicate: another sample's AUs plus U(-noise, noise).

    Args:
      key: PRNG key.
      aus: ``[N, K]`` AUs in [0, 1] of the batch (the "other frames").
      noise: half-width of the uniform noise (0.1).
      clip: clip to [0, 1] (the replicate does not).

    Returns:
      ``[N, K]`` targets: a random permutation of the batch's AU rows plus noise.
    """
    k_perm, k_noise = jax.random.split(key)
    target = aus[jax.random.permutation(k_perm, aus.shape[0])]
    target = target + jax.random.uniform(k_noise, aus.shape, aus.dtype, -noise, noise)
    return jnp.clip(target, 0.0, 1.0) if clip else target


def critic_loss(critic_real: Array, critic_fake: Array) -> Array:
    """WGAN critic loss ``-mean(D(real)) + mean(D(fake))``."""
    return -jnp.mean(critic_real) + jnp.mean(critic_fake)


def generator_adversarial_loss(critic_fake: Array) -> Array:
    """WGAN generator loss ``-mean(D(fake))``."""
    return -jnp.mean(critic_fake)


def interpolate(real: Array, fake: Array, alpha: Array) -> Array:
    """``alpha * real + (1 - alpha) * fake`` with ``alpha`` ``[N]`` broadcast per sample."""
    return alpha.reshape((-1,) + (1,) * (real.ndim - 1)) * real + (
        1.0 - alpha.reshape((-1,) + (1,) * (real.ndim - 1))) * fake


def expression_smoothness(aus_fn: Callable[[Array], Array], images: Array, probes: Array) -> Array:
    """Hutchinson estimate of the AU head's squared Jacobian norm, ``mean_b ||d (v_b . D_au(x_b)) / d x_b||^2``.

    With probes ``v_b`` of zero mean and identity covariance (Rademacher signs), the expectation over
    ``v`` is ``||J_b||_F^2``, the squared Frobenius norm of the head's Jacobian at ``x_b``: how far a
    small change of the image can move its AU reading. Penalising it makes the head read an image
    change of a given size as a reading change of at most a bounded size, so a generator cannot buy
    its expression loss with faint edits along the head's steepest directions.

    Args:
      aus_fn: images ``[N, H, W, C]`` -> AU readings ``[N, K]``; samples must not interact.
      images: ``[N, H, W, C]`` where the Jacobian is taken (treated as constants).
      probes: ``[N, K]`` probe vectors.

    Returns:
      Scalar penalty, differentiable with respect to the parameters ``aus_fn`` closes over.
    """
    x = jax.lax.stop_gradient(images)
    grads = jax.grad(lambda z: jnp.sum(aus_fn(z) * probes))(x)
    return jnp.mean(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1))


def gradient_penalty(critic_fn: Callable[[Array], Array], real: Array, fake: Array,
                     alpha: Array) -> Array:
    """WGAN-GP penalty ``mean_b (||d sum(D(x_hat_b)) / d x_hat_b||_2 - 1)^2`` (unweighted).

    Differentiable with respect to the critic's parameters (closed over by ``critic_fn``): the
    double backward is what the critic update needs.

    Args:
      critic_fn: images ``[N, H, W, C]`` -> critic outputs ``[N, ...]``; samples must not interact
        (true for the GANimation critic: no batch norm), so the gradient of the batch sum is the
        per-sample gradient.
      real: ``[N, H, W, C]`` real images.
      fake: ``[N, H, W, C]`` generated images (treated as constants).
      alpha: ``[N]`` interpolation weights, U(0, 1).

    Returns:
      Scalar penalty.
    """
    x_hat = interpolate(real, jax.lax.stop_gradient(fake), alpha)
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
    sq = jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)
    # The tiny epsilon keeps the second derivative finite if a gradient is exactly zero; it moves
    # the norm by < 1e-6 for any realistic gradient.
    norm = jnp.sqrt(sq + 1e-12)
    return jnp.mean(jnp.square(norm - 1.0))


def expression_loss(predicted_aus: Array, aus: Array, valid: Array | None = None) -> Array:
    """Conditional expression loss: MSE between D's AU head and AU targets in [0, 1].

    Args:
      predicted_aus: ``[N, K]``.
      aus: ``[N, K]`` targets.
      valid: optional ``[N, K]`` mask of known labels (mean over the valid entries).

    Returns:
      Scalar.
    """
    sq = jnp.square(predicted_aus - aus)
    if valid is None:
        return jnp.mean(sq)
    valid = valid.astype(sq.dtype)
    return jnp.sum(sq * valid) / jnp.maximum(jnp.sum(valid), 1.0)


def l1_loss(a: Array, b: Array) -> Array:
    """Mean absolute difference (PyTorch ``L1Loss``)."""
    return jnp.mean(jnp.abs(a - b))


def cycle_loss(reconstruction: Array, source: Array) -> Array:
    """Identity (cycle) loss ``mean |G(G(I|y_t)|y_s) - I|`` (Eq. 3)."""
    return l1_loss(reconstruction, source)


def idiosyncratic_loss(generated: Array, target_image: Array, mask: Array | None = None,
                       count: Array | None = None) -> Array:
    """Idiosyncratic loss ``mean |G(I_{y_s}|y_t) - I_{y_t}|`` over same-subject pairs (Eq. 4).

    Args:
      generated: ``[N, H, W, C]`` = G(source | target AUs).
      target_image: ``[N, H, W, C]`` a frame of the same subject showing the target AUs.
      mask: optional ``[N]`` (bool or 0/1): pairs for which such a frame exists.
      count: the number of valid pairs to divide by (default ``sum(mask)``); data-parallel callers
        pass the mean count over devices so that the device mean equals the global masked mean.

    Returns:
      Scalar; 0 when no pair is valid.
    """
    per_sample = jnp.mean(jnp.abs(generated - target_image).reshape(generated.shape[0], -1), axis=1)
    if mask is None:
        return jnp.mean(per_sample)
    mask = mask.astype(per_sample.dtype)
    count = jnp.sum(mask) if count is None else jnp.asarray(count, per_sample.dtype)
    safe = jnp.where(count > 0, count, 1.0)
    return jnp.where(count > 0, jnp.sum(per_sample * mask) / safe, 0.0)


def attention_mean_loss(attention: Array) -> Array:
    """Official GANimation mask regulariser: the mean attention value."""
    return jnp.mean(attention)


def attention_tv_loss(attention: Array) -> Array:
    """Official GANimation smoothness term: unnormalised sum of absolute neighbour differences."""
    return (jnp.sum(jnp.abs(attention[:, 1:, :, :] - attention[:, :-1, :, :]))
            + jnp.sum(jnp.abs(attention[:, :, 1:, :] - attention[:, :, :-1, :])))
