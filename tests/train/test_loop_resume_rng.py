"""Resume is exact for a model that consumes its per-step RNG (dropout), in process on 4 devices."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxau.train import input as input_lib
from jaxau.train import loop, parallel
from jaxau.train.state import TrainState

IN, OUT, N, BATCH, STEPS = 6, 2, 32, 8, 8
TX = optax.adam(1e-2)


class DropoutMLP(nn.Module):
    """Dense -> ReLU -> dropout(0.5) -> Dense: every training step depends on its dropout key."""

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = nn.relu(nn.Dense(16)(x))
        x = nn.Dropout(0.5, deterministic=not train)(x)
        return nn.Dense(OUT)(x)


def _step(state, batch, rng):
    rng = parallel.per_device_rng(rng)

    def loss_fn(params):
        out = DropoutMLP().apply({"params": params}, batch["x"], rngs={"dropout": rng})
        return jnp.mean((out - batch["y"]) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    grads = jax.lax.pmean(grads, parallel.AXIS)
    return state.apply_gradients(grads, TX), {"loss": jax.lax.pmean(loss, parallel.AXIS)}


@pytest.fixture(scope="module")
def runner():
    mesh = parallel.make_mesh()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, IN)).astype(np.float32)
    source = input_lib.ArraySource({"x": x, "y": np.tanh(x[:, :OUT] * 2).astype(np.float32)})
    sampler = input_lib.StepSampler(np.arange(N), BATCH, seed=1)
    params = jax.device_get(DropoutMLP().init(jax.random.key(0), jnp.zeros((1, IN)), train=False)["params"])
    step_fn = parallel.data_parallel(_step, mesh)

    def batches(start):
        return (source[sampler(s)] for s in range(start, STEPS))

    def run(workdir, num_steps, seed=0):
        # Fresh buffers each run: the compiled step donates the state it is given.
        state = parallel.replicate(TrainState.create(jax.tree.map(jnp.array, params), TX), mesh)
        return loop.train(workdir=str(workdir), state=state, step_fn=step_fn, batches=batches, mesh=mesh,
                          num_steps=num_steps, global_batch_size=BATCH, rng=jax.random.key(seed),
                          checkpoint_every=100, log_every=100, async_checkpoints=False)

    return run


def _leaves(result):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(result.state.params))]


def test_resumed_dropout_run_equals_the_uninterrupted_one(runner, tmp_path):
    """Stopping after 3 of 8 steps and resuming ends bit-identical to an uninterrupted run: step s
    draws its dropout masks from ``fold_in(rng, s)`` whether or not the run was resumed. The model
    really consumes the key (another base key gives other parameters)."""
    straight = runner(tmp_path / "straight", STEPS)
    first = runner(tmp_path / "resumed", 3)
    assert first.step == 3
    resumed = runner(tmp_path / "resumed", STEPS)
    assert resumed.start_step == 3 and resumed.step == STEPS
    for a, b in zip(_leaves(straight), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)
    other = runner(tmp_path / "other_key", STEPS, seed=1)
    assert max(np.abs(a - b).max() for a, b in zip(_leaves(straight), _leaves(other))) > 1e-4
