"""GANimation training steps: pure, per-device (pmap-shaped) functions over explicit state.

One iteration updates the critic D; every ``n_critic``-th iteration (``step % n_critic == 0``, as the
replicate's ``batch_idx % train_gen_iter == 0``) it then updates G against the *updated* D:

* :func:`d_step` runs G forward only (no generator backward graph is built: its parameters and
  output are ``stop_gradient``-ed) and updates D on
  ``adv * critic + critic_exp * MSE(D_au(real), y_s) + gp * GP`` (+ ``exp_smooth`` times the AU head's
  squared Jacobian norm on real and generated images, `gan_losses.expression_smoothness`; +
  ``critic_fake_factor * critic_exp * MSE(D_au(G(I|y_t)), y_s)``, the head reading generated images
  as their sources' AUs, `gan_losses.LossWeights`).
* :func:`d_g_step` runs the generator passes once under ``jax.vjp`` (``G(I|y_t)`` and the cycle
  ``G(G(I|y_t)|y_s)``; with relative conditioning G sees ``y_t - y_s`` and ``y_s - y_t``), updates D
  with the detached fake, then takes the G loss
  ``adv * -mean(D(fake)) + exp * MSE(D_au(fake), y_t) + idt * L1(cycle) + ids * L1(fake, I_{y_t})``
  (+ optional attention terms) through the new D and pulls it back through the saved vjp, so the
  generator forward is not recomputed. With ``weights.exp_frozen`` G's loss also has
  ``exp_frozen * MSE(F_au(fake), y_t)``, read by the frozen critic ``F`` (``GANState.frozen_critic``).
* :func:`d_expression_step` (the critic warm-up) trains D's AU head on real frames alone; when the
  state carries a frozen critic, it is set to the updated critic, so after the warm-up it holds the
  warm-up critic, never updated again.

With ``augment=s`` (``generator.d_augment_shift``) every image the critic sees, real and generated, in
both updates and the warm-up, is first moved by its own random offset of up to ``s`` pixels
(:func:`translate`, DiffAugment-style).

Gradients and metrics are averaged with ``jax.lax.pmean(x, axis_name)`` (``'data'``); run the steps
under ``jax.vmap``/``jax.pmap``/``shard_map`` with that axis name, or pass ``axis_name=None`` for a
single unmapped device. Batches are dicts: ``image`` ``[B, H, W, 3]`` in [-1, 1], ``aus`` ``[B, K]``
in [0, 1], ``target_aus`` ``[B, K]``, and, when the idiosyncratic weight is non-zero,
``target_image`` ``[B, H, W, 3]`` (a same-subject frame showing ``target_aus``) with an optional
``target_image_mask`` ``[B]`` for samples that have no such frame.

Mixed precision: ``compute_dtype='bfloat16'`` runs both networks' activations, convolutions and
matmuls in bfloat16; parameters, gradients, Adam state, the networks' outputs (images, masks, critic
and AU scores), the gradient penalty and every loss stay float32. The default (None) keeps the
modules' own dtype (float32).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from jaxau.models.ganimation import init_params
from jaxau.train import gan_losses as losses
from jaxau.train.gan_losses import LossWeights

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam and learning-rate schedule (replicate: lr 1e-4, betas (0.5, 0.999), 20 + 10 epochs).

    Attributes:
      lr: peak learning rate for both networks.
      b1, b2: Adam betas.
      constant_iterations: iterations at ``lr`` (e.g. 20 epochs' worth).
      decay_iterations: iterations of linear decay to 0 afterwards (e.g. 10 epochs' worth).
      n_critic: G is updated on one iteration in ``n_critic``.
      g_delay: iterations before G's first update (critic warm-up); G's schedule spans the rest.
      d_lr: the critic's peak learning rate; 0 means ``lr`` (one rate for both, as the replicate).
    """

    lr: float = 1e-4
    b1: float = 0.5
    b2: float = 0.999
    constant_iterations: int = 100_000
    decay_iterations: int = 50_000
    n_critic: int = 5
    g_delay: int = 0
    d_lr: float = 0.0


def lr_schedule(lr: float, constant_steps: int, decay_steps: int) -> optax.Schedule:
    """``lr`` for ``constant_steps`` updates, then linear decay to 0 over ``decay_steps``."""
    if decay_steps <= 0:
        return optax.constant_schedule(lr)
    return optax.join_schedules([optax.constant_schedule(lr),
                                 optax.linear_schedule(lr, 0.0, decay_steps)], [constant_steps])


def make_optimizers(config: OptimizerConfig) -> tuple[optax.GradientTransformation,
                                                      optax.GradientTransformation]:
    """``(g_tx, d_tx)``; the schedules count each optimizer's own updates, so G's are / n_critic."""
    # G's updates happen after the warm-up: its constant phase shrinks by the warm-up's length.
    g_const = math.ceil(max(config.constant_iterations - config.g_delay, 0) / config.n_critic)
    g_decay = math.ceil(config.decay_iterations / config.n_critic)
    g_tx = optax.adam(lr_schedule(config.lr, g_const, g_decay), config.b1, config.b2)
    d_lr = config.d_lr or config.lr
    d_tx = optax.adam(lr_schedule(d_lr, config.constant_iterations, config.decay_iterations),
                      config.b1, config.b2)
    return g_tx, d_tx


class GANState(flax.struct.PyTreeNode):
    """Explicit GAN training state.

    Attributes:
      step: iteration counter (D updates).
      g: generator TrainState.
      d: discriminator TrainState.
      frozen_critic: parameters of the frozen critic (the critic's architecture, read through its AU
        head), or None without one (`LossWeights.exp_frozen` 0). Only the expression warm-up writes
        it (a copy of the critic).
    """

    step: Array
    g: train_state.TrainState
    d: train_state.TrainState
    frozen_critic: Any = None


def create_gan_state(key: Array, generator: Any, discriminator: Any, image_size: int, num_aus: int,
                     config: OptimizerConfig = OptimizerConfig(), with_frozen_critic: bool = False) -> GANState:
    """Initialises both networks (N(0, 0.02) kernels) and their Adam states.

    Args:
      key: PRNG key.
      generator: a :class:`jaxau.models.ganimation.Generator`.
      discriminator: a :class:`jaxau.models.ganimation.Discriminator`.
      image_size: square image size.
      num_aus: AU vector length.
      config: optimiser settings.
      with_frozen_critic: also hold a frozen critic (`GANState.frozen_critic`), initialised as a
        copy of the critic.

    Returns:
      A :class:`GANState` (unreplicated).
    """
    kg, kd = jax.random.split(key)
    images = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
    aus = jnp.zeros((1, num_aus), jnp.float32)
    g_params = init_params(generator, kg, images, aus, aus)
    d_params = init_params(discriminator, kd, images)
    g_tx, d_tx = make_optimizers(config)
    state = GANState(step=jnp.zeros((), jnp.int32),
                    g=train_state.TrainState.create(apply_fn=generator.apply, params=g_params,
                                                    tx=g_tx),
                    d=train_state.TrainState.create(apply_fn=discriminator.apply, params=d_params,
                                                    tx=d_tx),
                    frozen_critic=jax.tree.map(jnp.copy, d_params) if with_frozen_critic else None)
    # TrainState starts with a Python int step; an array keeps the state uniformly shardable.
    return state.replace(g=state.g.replace(step=jnp.zeros((), jnp.int32)),
                         d=state.d.replace(step=jnp.zeros((), jnp.int32)))


def trains_generator(step: int, n_critic: int) -> bool:
    """Whether iteration ``step`` also updates G (replicate: ``step % n_critic == 0``)."""
    return step % n_critic == 0


def _check_batch(batch: Mapping[str, Array], weights: LossWeights) -> None:
    need = ["image", "aus", "target_aus"] + (["target_image"] if weights.ids else [])
    missing = [k for k in need if k not in batch]
    if missing:
        raise KeyError(f"GAN batch is missing {missing} (has {sorted(batch)}); "
                       + ("the idiosyncratic loss (ids > 0) needs 'target_image' (+ optional "
                          "'target_image_mask'); set LossWeights(ids=0) to train without it."
                          if "target_image" in missing else "see jaxau.train.gan_steps."))
    b, h, w, c = batch["image"].shape
    if c != 3 or batch["aus"].shape[0] != b or batch["target_aus"].shape != batch["aus"].shape:
        raise ValueError(f"GAN batch shapes: image {batch['image'].shape} must be [B, H, W, 3], "
                         f"aus {batch['aus'].shape} and target_aus {batch['target_aus'].shape} "
                         "must both be [B, K].")


def _in_dtype(module: Any, compute_dtype: Any) -> Any:
    """``module`` computing in ``compute_dtype``; None keeps the module as it is."""
    return module if compute_dtype is None else module.clone(dtype=jnp.dtype(compute_dtype))


def _pmean(x: Any, axis_name: str | None) -> Any:
    return x if axis_name is None else jax.lax.pmean(x, axis_name)


def _sample_keys(key: Array, batch_size: int, axis_name: str | None) -> Array:
    """One key per sample of this device's batch, ``key`` folded with the sample's *global* batch index,
    so per-sample draws do not depend on how the global batch is split over devices."""
    offset = 0 if axis_name is None else jax.lax.axis_index(axis_name) * batch_size
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(offset + jnp.arange(batch_size))


def _interpolation_weights(key: Array, batch_size: int, axis_name: str | None) -> Array:
    """GP weights alpha ~ U(0, 1), one per sample, keyed by the sample's *global* batch index.

    A replicated key thus gives every device different weights, and the result does not depend on
    how the global batch is split over devices (4 devices x 2 == 1 device x 8).
    """
    return jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32))(_sample_keys(key, batch_size, axis_name))


def translate(images: Array, key: Array, shift: int, axis_name: str | None) -> Array:
    """Each image moved by its own integer offset in ``[-shift, shift]`` per axis, borders repeated.

    DiffAugment-style (Zhao et al., 2020): applied to every image the critic sees, real and
    generated, so its verdicts and AU readings cannot rest on exact pixel positions; differentiable
    in the images (a crop of a padded copy). Offsets are keyed by the global sample index
    (`_sample_keys`). ``shift`` 0 returns ``images``.
    """
    if not shift:
        return images
    b, h, w, c = images.shape
    offs = jax.vmap(lambda k: jax.random.randint(k, (2,), 0, 2 * shift + 1))(_sample_keys(key, b, axis_name))
    padded = jnp.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    return jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, c)))(padded, offs)


def _probes(key: Array, batch_size: int, num_aus: int, axis_name: str | None) -> Array:
    """Rademacher probes ``[B, K]`` for `losses.expression_smoothness`, keyed by the global sample index
    (`_sample_keys`)."""
    return jax.vmap(lambda k: jax.random.rademacher(k, (num_aus,), jnp.float32))(
        _sample_keys(key, batch_size, axis_name))


def _smoothness(discriminator: Any, d_params: Any, batches: Sequence[Array], key: Array,
                axis_name: str | None) -> Array:
    """`losses.expression_smoothness` over equal-sized ``batches`` (e.g. real, fake) in one pass; each
    batch's probes keyed by its own stream and the global sample index."""
    b = batches[0].shape[0]
    probes = jnp.concatenate([_probes(jax.random.fold_in(key, 1 + i), b, discriminator.num_aus, axis_name)
                              for i in range(len(batches))], axis=0)
    return losses.expression_smoothness(lambda x: discriminator.apply({"params": d_params}, x)[1],
                                        jnp.concatenate(batches, axis=0), probes)


def _update_d(state: GANState, batch: Mapping[str, Array], fake: Array, key: Array,
              discriminator: Any, weights: LossWeights, axis_name: str | None, augment: int = 0):
    real = translate(batch["image"], jax.random.fold_in(key, 10), augment, axis_name)
    fake = translate(jax.lax.stop_gradient(fake), jax.random.fold_in(key, 11), augment, axis_name)
    alpha = _interpolation_weights(key, real.shape[0], axis_name).astype(real.dtype)

    def loss_fn(d_params):
        def apply(x):
            return discriminator.apply({"params": d_params}, x)
        # Real and fake in one pass: one set of (larger) convolutions instead of two.
        critic, aus_pred = apply(jnp.concatenate([real, fake], axis=0))
        b = real.shape[0]
        adv = losses.critic_loss(critic[:b], critic[b:])
        exp = losses.expression_loss(aus_pred[:b], batch["aus"], batch.get("aus_valid"))
        gp = losses.gradient_penalty(lambda x: apply(x)[0], real, fake, alpha)
        total = weights.adv * adv + weights.critic_exp * exp + weights.gp * gp
        metrics = {"d_adv": adv, "d_exp": exp, "d_gp": gp, "wasserstein": -adv}
        if weights.critic_fake_factor:
            # The head reads G(I|y_t) as the source's AUs y_s: edits it can be trained away from
            # (patterns no real face carries) stop paying G's expression loss.
            exp_fake = losses.expression_loss(aus_pred[b:], batch["aus"], batch.get("aus_valid"))
            total = total + weights.critic_fake_factor * weights.critic_exp * exp_fake
            metrics["d_exp_fake"] = exp_fake
        if weights.exp_smooth:
            # On real and generated images: where G looks for the head's steep directions.
            smooth = _smoothness(discriminator, d_params, [real, fake], key, axis_name)
            total = total + weights.exp_smooth * smooth
            metrics["d_exp_smooth"] = smooth
        return total, {"d_loss": total, **metrics}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.d.params)
    grads = _pmean(grads, axis_name)
    return state.d.apply_gradients(grads=grads), _pmean(metrics, axis_name)


def d_step(state: GANState, batch: Mapping[str, Array], key: Array, *, generator: Any,
           discriminator: Any, weights: LossWeights = LossWeights(),
           axis_name: str | None = "data", compute_dtype: Any = None,
           augment: int = 0) -> tuple[GANState, dict[str, Array]]:
    """Critic-only iteration (G forward only, no generator backward).

    Args:
      state: :class:`GANState` (this device's replica).
      batch: this device's batch (module docstring).
      key: PRNG key (may be replicated; it is folded with the device index).
      generator / discriminator: the Linen modules.
      weights: loss weights.
      axis_name: the data-parallel axis, or None when not mapped.
      compute_dtype: None (the modules' own dtype) or e.g. 'bfloat16' (module docstring).
      augment: `translate` every image the critic sees by up to this many pixels (0: none).

    Returns:
      ``(new_state, metrics)`` with metrics averaged over devices.
    """
    _check_batch(batch, weights)
    generator, discriminator = _in_dtype(generator, compute_dtype), _in_dtype(discriminator, compute_dtype)
    g_params = jax.lax.stop_gradient(state.g.params)
    fake = generator.apply({"params": g_params}, batch["image"], batch["target_aus"], batch["aus"]).image
    new_d, metrics = _update_d(state, batch, fake, key, discriminator, weights, axis_name, augment)
    return state.replace(step=state.step + 1, d=new_d), metrics


def d_expression_step(state: GANState, batch: Mapping[str, Array], key: Array, *, generator: Any,
                      discriminator: Any, weights: LossWeights = LossWeights(),
                      axis_name: str | None = "data", compute_dtype: Any = None,
                      augment: int = 0) -> tuple[GANState, dict[str, Array]]:
    """Critic warm-up iteration on the expression term alone (no G forward, no adversarial, no GP).

    The AU head and the trunk under it learn to read AUs from real frames before the adversarial
    game shapes the trunk, so that G's expression loss has a live regressor from its first update.
    With ``weights.exp_smooth`` the AU head's smoothness on the real frames is penalised too. A state
    with a frozen critic (`GANState.frozen_critic`) gets the updated critic there too.
    Arguments and return value as :func:`d_step` (``generator`` is unused).
    """
    del generator
    _check_batch(batch, weights)
    discriminator = _in_dtype(discriminator, compute_dtype)

    real = translate(batch["image"], jax.random.fold_in(key, 10), augment, axis_name)

    def loss_fn(d_params):
        _, aus_pred = discriminator.apply({"params": d_params}, real)
        exp = losses.expression_loss(aus_pred, batch["aus"], batch.get("aus_valid"))
        if not weights.exp_smooth:
            return weights.critic_exp * exp, {"d_exp": exp}
        smooth = _smoothness(discriminator, d_params, [real], key, axis_name)
        return weights.critic_exp * exp + weights.exp_smooth * smooth, {"d_exp": exp, "d_exp_smooth": smooth}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.d.params)
    new_d = state.d.apply_gradients(grads=_pmean(grads, axis_name))
    # The frozen critic follows the critic through the warm-up and keeps its last warm-up state.
    frozen = None if state.frozen_critic is None else new_d.params
    return state.replace(step=state.step + 1, d=new_d, frozen_critic=frozen), _pmean(metrics, axis_name)


def d_g_step(state: GANState, batch: Mapping[str, Array], key: Array, *, generator: Any,
             discriminator: Any, weights: LossWeights = LossWeights(),
             axis_name: str | None = "data", compute_dtype: Any = None,
             augment: int = 0) -> tuple[GANState, dict[str, Array]]:
    """Critic update followed by a generator update against the updated critic.

    Arguments and return value as :func:`d_step`.
    """
    _check_batch(batch, weights)
    generator, discriminator = _in_dtype(generator, compute_dtype), _in_dtype(discriminator, compute_dtype)
    image, aus, target_aus = batch["image"], batch["aus"], batch["target_aus"]

    def g_forward(g_params):
        # The cycle's source AUs are the target's (what G was asked to draw), for relative
        # conditioning (`ganimation.Generator.conditioning`): G(G(I | y_t - y_s) | y_s - y_t).
        out = generator.apply({"params": g_params}, image, target_aus, aus)
        rec = generator.apply({"params": g_params}, out.image, aus, target_aus)
        return out, rec

    (out, rec), g_vjp = jax.vjp(g_forward, state.g.params)
    new_d, d_metrics = _update_d(state, batch, out.image, key, discriminator, weights, axis_name, augment)

    if (weights.mask or weights.tv) and out.attention is None:
        raise ValueError("LossWeights.mask/tv need the attention generator (attention=True).")
    if weights.exp_frozen and state.frozen_critic is None:
        raise ValueError("LossWeights.exp_frozen needs a GANState with a frozen critic "
                         "(create_gan_state(..., with_frozen_critic=True)).")
    ids_count = None
    if weights.ids:
        mask = batch.get("target_image_mask")
        if mask is not None:
            # Global masked mean: each device divides by the mean count over devices.
            ids_count = _pmean(jnp.sum(mask.astype(jnp.float32)), axis_name)

    def g_loss(out, rec):
        seen = translate(out.image, jax.random.fold_in(key, 12), augment, axis_name)
        critic, aus_pred = discriminator.apply({"params": new_d.params}, seen)
        adv = losses.generator_adversarial_loss(critic)
        exp = losses.expression_loss(aus_pred, target_aus)
        idt = losses.cycle_loss(rec.image, image)
        total = weights.adv * adv + weights.exp * exp + weights.idt * idt
        metrics = {"g_adv": adv, "g_exp": exp, "g_idt": idt}
        if weights.exp_frozen:
            # The frozen critic sees G's image as the critic does (same translation).
            _, read = discriminator.apply({"params": state.frozen_critic}, seen)
            exp_frozen = losses.expression_loss(read, target_aus)
            total = total + weights.exp_frozen * exp_frozen
            metrics["g_exp_frozen"] = exp_frozen
        if weights.ids:
            ids = losses.idiosyncratic_loss(out.image, batch["target_image"],
                                            batch.get("target_image_mask"), ids_count)
            total = total + weights.ids * ids
            metrics["g_ids"] = ids
        if out.attention is not None:
            mask_mean = (losses.attention_mean_loss(out.attention)
                         + losses.attention_mean_loss(rec.attention))
            tv = losses.attention_tv_loss(out.attention) + losses.attention_tv_loss(rec.attention)
            total = total + weights.mask * mask_mean + weights.tv * tv
            metrics["attention_mean"] = jnp.mean(out.attention)
        metrics["g_loss"] = total
        return total, metrics

    (_, g_metrics), out_grads = jax.value_and_grad(g_loss, argnums=(0, 1), has_aux=True)(out, rec)
    (g_grads,) = g_vjp(out_grads)
    g_grads = _pmean(g_grads, axis_name)
    new_g = state.g.apply_gradients(grads=g_grads)
    metrics = {**d_metrics, **_pmean(g_metrics, axis_name)}
    return state.replace(step=state.step + 1, g=new_g, d=new_d), metrics
