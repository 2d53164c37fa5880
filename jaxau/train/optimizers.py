"""Optimizers with parameter freezing by regex over '/'-joined parameter paths.

``make_optimizer(config, params)`` builds Adam (paper: lr 5e-5) with an optional learning-rate
schedule and gradient clipping, and freezes every parameter whose path (e.g. ``block1_conv1/kernel``)
fully matches one of ``config.freeze`` (``re.fullmatch``, as big_vision's parameter-group masks). Frozen
parameters go through ``optax.set_to_zero()`` inside ``optax.multi_transform``: their updates are
exactly zero (so ``optax.apply_updates`` leaves them bit-identical) and no Adam moments are allocated
for them.

The trainable branch is wrapped in :func:`after_all_gradients`, a scheduling-only change (values are
bit-identical) that lets XLA update donated parameters in place instead of copying all of them first
(on CPU, VGG16's 134M parameters: ~0.5 GB copied per step; see that function).

Config fields (a ``ml_collections.ConfigDict`` or any mapping; all optional):
  learning_rate (5e-5), b1 (0.9), b2 (0.999), eps (1e-8 -- optax's default; Keras uses 1e-7),
  weight_decay (0.0; > 0 switches to AdamW), grad_clip_norm (None), schedule ('constant', 'cosine',
  'warmup_cosine', 'linear'), warmup_steps (0), total_steps (needed by the non-constant schedules),
  end_learning_rate_factor (0.0), freeze (list of regex patterns, default []).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

TRAIN, FREEZE = "train", "freeze"
DEFAULTS = dict(learning_rate=5e-5, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0,
                grad_clip_norm=None, schedule="constant", warmup_steps=0, total_steps=None,
                end_learning_rate_factor=0.0, freeze=())


def _get(config: Any, name: str):
    if config is None:
        return DEFAULTS[name]
    if isinstance(config, Mapping):
        return config.get(name, DEFAULTS[name])
    return getattr(config, name, DEFAULTS[name])


def param_paths(params: Any) -> list[str]:
    """'/'-joined paths of every leaf of ``params`` (dict keys, sequence indices)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return [_path_str(p) for p, _ in leaves]


def _path_str(path) -> str:
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(str(k.idx))
        elif isinstance(k, jax.tree_util.GetAttrKey):
            parts.append(k.name)
        else:
            parts.append(str(k))
    return "/".join(parts)


def freeze_labels(params: Any, patterns: Sequence[str]) -> Any:
    """Tree like ``params`` of 'freeze' / 'train' labels.

    Raises:
      ValueError: a pattern is not a valid regex, or matches no parameter (a typo would otherwise
        silently train everything); the message lists the available paths.
    """
    compiled = []
    for pat in patterns:
        try:
            compiled.append(re.compile(pat))
        except re.error as e:
            raise ValueError(f"freeze pattern {pat!r} is not a valid regular expression: {e}.") from e
    used = [False] * len(compiled)

    def label(path, _):
        name = _path_str(path)
        hit = False
        for i, c in enumerate(compiled):
            if c.fullmatch(name):
                used[i] = hit = True
        return FREEZE if hit else TRAIN

    labels = jax.tree_util.tree_map_with_path(label, params)
    unused = [p for p, u in zip(patterns, used) if not u]
    if unused:
        paths = param_paths(params)
        raise ValueError(f"freeze patterns {unused} match no parameter (patterns must fully match "
                         f"'/'-joined paths); paths are e.g. {paths[:6]}{' ...' if len(paths) > 6 else ''}.")
    return labels


def param_counts(params: Any, patterns: Sequence[str] = ()) -> dict[str, int]:
    """Counts parameters (scalars) and tensors that train / are frozen under ``patterns``.

    Returns:
      {'trainable', 'frozen', 'total', 'trainable_tensors', 'frozen_tensors'}.
    """
    labels = jax.tree_util.tree_leaves(freeze_labels(params, patterns))
    sizes = [int(np.prod(np.shape(x))) for x in jax.tree_util.tree_leaves(params)]
    frozen = sum(s for s, l in zip(sizes, labels) if l == FREEZE)
    return {"trainable": sum(sizes) - frozen, "frozen": frozen, "total": sum(sizes),
            "trainable_tensors": sum(l == TRAIN for l in labels),
            "frozen_tensors": sum(l == FREEZE for l in labels)}


def make_schedule(config: Any) -> optax.Schedule | float:
    """The learning-rate schedule named by ``config.schedule`` (a float for 'constant')."""
    lr = float(_get(config, "learning_rate"))
    kind = _get(config, "schedule")
    warmup = int(_get(config, "warmup_steps") or 0)
    total = _get(config, "total_steps")
    end = lr * float(_get(config, "end_learning_rate_factor"))
    if kind == "constant":
        if warmup:
            return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup),
                                         optax.constant_schedule(lr)], [warmup])
        return lr
    if kind not in ("cosine", "warmup_cosine", "linear"):
        raise ValueError(f"optimizer.schedule={kind!r} unknown: use 'constant', 'cosine', "
                         "'warmup_cosine' or 'linear'.")
    if not total or int(total) <= warmup:
        raise ValueError(f"optimizer.schedule={kind!r} needs optimizer.total_steps > warmup_steps "
                         f"(got total_steps={total}, warmup_steps={warmup}).")
    total = int(total)
    if kind == "linear":
        decay = optax.linear_schedule(lr, end, total - warmup)
    else:
        decay = optax.cosine_decay_schedule(lr, total - warmup, alpha=end / lr if lr else 0.0)
    if not warmup:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def _depend_on_all(grads: Any) -> Any:
    """``grads`` unchanged in value, but every leaf made data-dependent on one element of every leaf."""
    leaves = [g for g in jax.tree_util.tree_leaves(grads)
              if jnp.issubdtype(jnp.result_type(g), jnp.floating) and np.size(g)]
    if len(leaves) < 2:
        return grads
    # One element of every leaf, gathered by a sort: XLA:CPU does not fuse a sort into its consumers,
    # so the probe is computed once. Summed elementwise instead, the probe was duplicated into every
    # leaf's fusion (each fusion then read all leaves), which multiplied the compile time of an Adam
    # update by ~9 (PRNet's 149 tensors: 18 s instead of 2 s).
    probe = jnp.sort(jnp.stack([jnp.ravel(g)[0].astype(jnp.float32) for g in leaves]))[0]
    # |probe| < -1 is false for every probe, NaN and inf included, so the select always returns g
    # bit for bit; XLA cannot prove that (no range analysis through abs), so the dependency stays.
    never = jnp.abs(probe) < -1.0

    def tie(g):
        if not (jnp.issubdtype(jnp.result_type(g), jnp.floating) and np.size(g)):
            return g
        return jnp.where(never, jnp.asarray(jnp.nan, g.dtype), g)

    return jax.tree_util.tree_map(tie, grads)


def after_all_gradients(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``inner`` with every update ordered after the computation of every gradient.

    Why: a jitted step that donates its parameters writes the new parameters into the old buffers.
    The backward pass still reads a layer's old weights (its input gradient ``dy @ W.T``), and
    nothing orders that read before the layer's update, which depends only on the layer's own
    weight gradient. XLA's copy insertion then copies *every* parameter before the step (measured:
    all 23 VGG16 parameter tensors, 0.5 GB per step). Making each update depend on all gradients
    (the input gradient of the last layer feeds the first layer's weight gradient) proves the order,
    and the copies disappear. Gradient clipping by global norm creates the same dependency as a side
    effect. Values are unchanged bit for bit, and the optimizer state keeps ``inner``'s structure
    (checkpoints stay compatible).

    Args:
      inner: the transformation to wrap (e.g. Adam).

    Returns:
      A transformation with ``inner``'s ``init`` and state.
    """

    def update(updates, state, params=None, **extra_args):
        updates = _depend_on_all(updates)
        if isinstance(inner, optax.GradientTransformationExtraArgs):
            return inner.update(updates, state, params, **extra_args)
        return inner.update(updates, state, params)

    return optax.GradientTransformationExtraArgs(inner.init, update)


def make_optimizer(config: Any, params: Any) -> optax.GradientTransformation:
    """Adam(W) with schedule, optional clipping and regex freezing (fields in the module docstring).

    Args:
      config: optimizer config (ConfigDict, dict or None for the defaults).
      params: the parameter tree (only its structure and paths are used).

    Returns:
      An optax transformation; frozen parameters receive exactly zero updates.
    """
    schedule = make_schedule(config)
    wd = float(_get(config, "weight_decay"))
    kwargs = dict(b1=float(_get(config, "b1")), b2=float(_get(config, "b2")),
                  eps=float(_get(config, "eps")))
    adam = (optax.adamw(schedule, weight_decay=wd, **kwargs) if wd > 0
            else optax.adam(schedule, **kwargs))
    clip = _get(config, "grad_clip_norm")
    # Clipping sits inside the trainable branch so the norm is over trainable gradients only.
    train_tx = optax.chain(optax.clip_by_global_norm(float(clip)), adam) if clip else adam
    train_tx = after_all_gradients(train_tx)
    patterns = list(_get(config, "freeze") or ())
    if not patterns:
        return train_tx
    labels = freeze_labels(params, patterns)
    return optax.multi_transform({TRAIN: train_tx, FREEZE: optax.set_to_zero()}, labels)


def learning_rate_fn(config: Any) -> Callable[[int], float]:
    """Step -> learning rate for logging (a constant schedule returns a constant function)."""
    sched = make_schedule(config)
    return sched if callable(sched) else (lambda step: sched)
