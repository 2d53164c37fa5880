"""Data parallelism over a 1-D ``'data'`` mesh built from every device of every process.

Step functions are written *per device*, the way one writes them for ``jax.pmap``: they see the local
shard of the batch, call ``jax.lax.pmean(x, 'data')`` to average gradients and metrics, and return a
replicated state. `data_parallel` runs such a function with ``jax.jit`` over ``jax.shard_map``
(the primitives ``jax.pmap`` itself is built on since JAX 0.8), so the same function also runs under
``jax.pmap`` unchanged (tests check the two agree).

Conventions:
  * state (params, optimizer state, step) is replicated: ``PartitionSpec()``;
  * every batch leaf is split along its leading axis: ``PartitionSpec('data')``;
  * the rng key is replicated; a step that needs per-device randomness folds in
    ``jax.lax.axis_index('data')`` itself.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"

PyTree = Any


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh named ``'data'`` over ``devices`` (default: all devices of all processes).

    ``jax.devices()`` orders devices process by process, so each process's devices form one
    contiguous block of the axis and its slice of a global batch is contiguous too.
    """
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXIS))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Places an identical-on-every-process pytree on all devices of ``mesh``."""
    sharding = replicated(mesh)

    def put(x):
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        # Multi-process: each process contributes its (identical) copy to its own devices.
        return jax.make_array_from_process_local_data(sharding, np.asarray(x), np.shape(x))

    return jax.tree.map(put, tree)


def shard_batch(local_batch: PyTree, mesh: Mesh) -> PyTree:
    """Turns this process's part of a global batch into global arrays split along ``'data'``.

    Args:
      local_batch: numpy arrays whose leading axis is the per-process batch (global batch /
        process count); it must divide evenly over this process's devices.
      mesh: the data mesh.
    """
    sharding = batch_sharded(mesh)
    n_local = len(mesh.local_devices)

    def put(x):
        x = np.asarray(x)
        if x.shape[0] % n_local:
            raise ValueError(f"Per-process batch of {x.shape[0]} does not divide over {n_local} local "
                             "devices: make the global batch a multiple of the device count.")
        global_shape = (x.shape[0] * jax.process_count(),) + x.shape[1:]
        return jax.make_array_from_process_local_data(sharding, x, global_shape)

    return jax.tree.map(put, local_batch)


def data_parallel(step_fn: Callable[..., Any], mesh: Mesh, *, batch_argnums: tuple[int, ...] = (1,),
                  donate_argnums: tuple[int, ...] = (0,)) -> Callable[..., Any]:
    """Compiles a per-device step function for data parallelism over ``mesh``.

    Args:
      step_fn: ``step_fn(state, batch, *rest) -> outputs`` written per device (pmap-shaped): it
        reduces across devices with ``lax.pmean(..., 'data')`` and returns replicated outputs.
      mesh: a mesh with a ``'data'`` axis (`make_mesh`).
      batch_argnums: positions of arguments split along their leading axis; all other arguments
        are replicated.
      donate_argnums: arguments whose buffers may be reused for the outputs (the old state).

    Returns:
      A jitted function with the same signature taking global arrays.
    """

    def wrapped(*args):
        in_specs = tuple(P(AXIS) if i in batch_argnums else P() for i in range(len(args)))
        # check_vma=False gives pmap's semantics, which is what per-device step functions are written
        # for: a gradient w.r.t. replicated params is the *local* gradient, and the step's own
        # lax.pmean averages it. With check_vma=True, JAX instead psums that gradient implicitly
        # (the transpose of the implicit broadcast of an invariant input), so the step's pmean would
        # leave it device-count times too large. tests/train/test_parallel.py pins this down.
        fn = jax.shard_map(step_fn, mesh=mesh, in_specs=in_specs, out_specs=P(), check_vma=False)
        return fn(*args)

    return jax.jit(wrapped, donate_argnums=donate_argnums)


def per_device_rng(rng: jax.Array) -> jax.Array:
    """Inside a per-device step: a key that differs between devices of the ``'data'`` axis."""
    return jax.random.fold_in(rng, jax.lax.axis_index(AXIS))
