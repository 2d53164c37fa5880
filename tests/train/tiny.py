"""A tiny model, data and per-device step used as fixtures by the training-core tests (not a feature)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxau.train.state import TrainState

IN_DIM, OUT_DIM, NUM_EXAMPLES = 8, 3, 64


class MLP(nn.Module):
    """Dense -> synchronised BatchNorm -> ReLU -> Dense.

    BatchNorm reduces its statistics over the ``'data'`` axis, so the model computes the same function
    however the global batch is split over devices (what the equivalence tests rely on).
    """

    @nn.compact
    def __call__(self, x, train: bool = True):
        # No bias before BatchNorm: its gradient is exactly zero in theory, and Adam would amplify the
        # rounding noise left in practice into differences between device layouts.
        x = nn.Dense(16, use_bias=False)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, axis_name="data" if train else None)(x)
        return nn.Dense(OUT_DIM)(nn.relu(x))


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(NUM_EXAMPLES, IN_DIM)).astype(np.float32)
    w = rng.normal(size=(IN_DIM, OUT_DIM)).astype(np.float32)
    return {"x": x, "y": (x @ w).astype(np.float32)}


TX = optax.adam(1e-2)


def init_state(seed: int = 0) -> TrainState:
    variables = MLP().init({"params": jax.random.key(seed)}, jnp.zeros((2, IN_DIM)), train=False)
    return TrainState.create(variables["params"], TX, {"batch_stats": variables["batch_stats"]})


def train_step(state: TrainState, batch, rng):
    """Per-device step: local loss on the local shard, gradients and metrics averaged over 'data'.

    ``rng`` is unused by this model; it is accepted to match the loop's step signature.
    """
    del rng

    def loss_fn(params):
        out, new_state = MLP().apply({"params": params, **state.model_state}, batch["x"], train=True,
                                     mutable=["batch_stats"])
        return jnp.mean((out - batch["y"]) ** 2), new_state

    (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = jax.lax.pmean(grads, "data")
    loss = jax.lax.pmean(loss, "data")
    return state.apply_gradients(grads, TX, model_state=new_state), {"loss": loss}
