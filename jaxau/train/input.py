"""Deterministic, resumable, per-process input.

The data order is a pure function of ``(seed, step)``: batch ``s`` of a run is the same whether the run
went straight through or was pre-empted and resumed at step ``s``. Every epoch draws a fresh permutation
of a *pool* of example indices (all examples, or a balanced resampling plan that lists some indices
several times); a global batch is a contiguous window of the concatenated permutations, and process
``p`` of ``P`` takes the ``p``-th contiguous slice of it (matching `jaxau.train.parallel.make_mesh`,
whose devices are ordered process by process).

`make_dataset` wraps that in a ``tf.data`` pipeline: a dataset of step numbers mapped, in parallel and
in order, to batches gathered from a random-access source, prefetched ahead of the jitted step.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np


class StepSampler:
    """Maps a training step to the example indices of this process's share of its global batch.

    Args:
      pool: indices into the data source forming one epoch (e.g. ``np.arange(n)``, or a balanced
        plan with repeats).
      global_batch_size: examples per step over all processes.
      seed: data-order seed.
      process_index, process_count: this process's share (default: single process).
      shuffle: False keeps the pool order (evaluation).
    """

    def __init__(self, pool: np.ndarray, global_batch_size: int, seed: int = 0, *,
                 process_index: int = 0, process_count: int = 1, shuffle: bool = True):
        self.pool = np.asarray(pool, dtype=np.int64)
        if self.pool.ndim != 1 or self.pool.size == 0:
            raise ValueError("StepSampler needs a non-empty 1-D pool of example indices.")
        if global_batch_size <= 0 or global_batch_size % process_count:
            raise ValueError(f"global batch {global_batch_size} must be positive and divisible by the "
                             f"process count {process_count}.")
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.process_index = process_index
        self.process_count = process_count
        self.shuffle = shuffle
        self._perm_cache: dict[int, np.ndarray] = {}

    @property
    def steps_per_epoch(self) -> float:
        return self.pool.size / self.global_batch_size

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm_cache:
            if len(self._perm_cache) > 4:
                self._perm_cache.clear()
            if self.shuffle:
                rng = np.random.default_rng([self.seed, epoch])
                self._perm_cache[epoch] = self.pool[rng.permutation(self.pool.size)]
            else:
                self._perm_cache[epoch] = self.pool
        return self._perm_cache[epoch]

    def global_indices(self, step: int) -> np.ndarray:
        """The example indices of the whole global batch of ``step``."""
        start = step * self.global_batch_size
        out = np.empty(self.global_batch_size, np.int64)
        filled = 0
        while filled < self.global_batch_size:
            epoch, offset = divmod(start + filled, self.pool.size)
            take = min(self.global_batch_size - filled, self.pool.size - offset)
            out[filled:filled + take] = self._epoch_order(epoch)[offset:offset + take]
            filled += take
        return out

    def __call__(self, step: int) -> np.ndarray:
        """This process's indices for ``step``."""
        per_process = self.global_batch_size // self.process_count
        lo = self.process_index * per_process
        return self.global_indices(step)[lo:lo + per_process]


class ArraySource:
    """A random-access source over in-memory numpy arrays (all with the same leading size)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        sizes = {k: len(v) for k, v in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"ArraySource arrays differ in length: {sizes}")
        self.arrays = dict(arrays)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[indices] for k, v in self.arrays.items()}


def make_dataset(source: Any, sampler: StepSampler, start_step: int, num_steps: int, *,
                 transform: Callable[[dict, Any], dict] | None = None, prefetch: int = 2):
    """A ``tf.data`` pipeline yielding this process's batches for steps ``[start_step, num_steps)``.

    Args:
      source: random access by an index array -> dict of numpy arrays (`ArraySource`, or a TFDS
        ``data_source`` wrapped to gather).
      sampler: the step -> indices map.
      start_step: first step (the restored step when resuming).
      num_steps: one past the last step.
      transform: optional ``transform(batch, step_tensor)`` in TensorFlow ops (augmentation); it must
        derive its randomness from the step (stateless ops) to stay resumable.
      prefetch: batches prepared ahead.

    Returns:
      A ``tf.data.Dataset`` of dicts of batched tensors; iterate with ``.as_numpy_iterator()``.
    """
    import tensorflow as tf

    example = source[sampler(start_step)]
    keys = sorted(example)
    signature = [tf.TensorSpec(shape=example[k].shape, dtype=tf.as_dtype(example[k].dtype)) for k in keys]

    def load(step):
        batch = source[sampler(int(step))]
        return [np.asarray(batch[k]) for k in keys]

    def tf_load(step):
        values = tf.numpy_function(load, [step], [s.dtype for s in signature], stateful=False)
        out = {k: tf.ensure_shape(v, s.shape) for k, v, s in zip(keys, values, signature)}
        if transform is not None:
            out = transform(out, step)
        return out

    ds = tf.data.Dataset.range(start_step, num_steps)
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(prefetch)


def process_split(split: str, process_index: int | None = None, process_count: int | None = None) -> str:
    """This process's TFDS sub-split of ``split`` (``tfds.even_splits``), for per-host reading."""
    import jax
    import tensorflow_datasets as tfds

    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    if process_count == 1:
        return split
    return tfds.even_splits(split, n=process_count, drop_remainder=False)[process_index]
