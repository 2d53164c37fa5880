"""Explicit train state: a pytree of arrays only (no functions), so it checkpoints and shards cleanly."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """Parameters, optimizer state and mutable model collections (e.g. ``batch_stats``).

    The optimizer (``optax.GradientTransformation``) and the model's ``apply`` are *not* fields:
    step functions close over them, which keeps the state a plain pytree for orbax.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any = flax.struct.field(default_factory=dict)

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation, model_state=None) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                   model_state={} if model_state is None else model_state)

    def apply_gradients(self, grads, tx: optax.GradientTransformation, **changes) -> "TrainState":
        updates, opt_state = tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **changes)
