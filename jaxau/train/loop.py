"""The generic training loop: resume, step, log, evaluate, checkpoint, survive pre-emption.

Model-specific code supplies a compiled data-parallel step (`jaxau.train.parallel.data_parallel`) and
a function that yields this process's batches from a given step (`jaxau.train.input`); everything
about runs — resuming by default, periodic and final checkpoints, SIGTERM handling, metric files and
the progress line — lives here once.

Non-finite training is an error, never a checkpoint: every step's scalar metrics are checked on the
device (no host sync), the first step with a NaN/Inf metric is remembered, and before each log line,
evaluation and checkpoint the loop reads that flag and checks the parameters. A non-finite run stops
with `NonFiniteError` naming the step and the last good checkpoint; nothing is saved after it, so
the keep-N rotation never discards good checkpoints in favour of NaN ones.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import metrics as metrics_lib
from jaxau.train import parallel

PyTree = Any
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what schedulers expect from a terminated job.


class NonFiniteError(FloatingPointError):
    """Training produced a NaN/Inf metric or parameter; no checkpoint was written from that state."""


@jax.jit
def _first_nonfinite(first: jax.Array, step: jax.Array, metrics: Mapping) -> jax.Array:
    """``first`` unless it is unset (-1) and some floating metric of ``step`` is not finite."""
    bad = jnp.zeros((), bool)
    for v in jax.tree.leaves(metrics):
        if jnp.issubdtype(jnp.result_type(v), jnp.floating):
            bad = bad | ~jnp.all(jnp.isfinite(v))
    return jnp.where((first < 0) & bad, step, first)


@jax.jit
def _all_finite(tree) -> jax.Array:
    ok = jnp.ones((), bool)
    for v in jax.tree.leaves(tree):
        if jnp.issubdtype(jnp.result_type(v), jnp.inexact):
            ok = ok & jnp.all(jnp.isfinite(v))
    return ok


def _check_finite(name: str, first_bad: jax.Array, state: PyTree, step: int, ckpt) -> None:
    """Raises `NonFiniteError` when a metric so far or the current state is NaN/Inf."""
    first = int(jax.device_get(first_bad))
    if first < 0 and bool(jax.device_get(_all_finite(state))):
        return
    good = ckpt.latest_step()
    where = (f"the metrics of step {first}" if first >= 0 else f"the parameters at step {step}")
    raise NonFiniteError(
        f"[{name}] training diverged: {where} are NaN/Inf; nothing was saved after it (last good "
        f"checkpoint: {'step ' + str(good) if good is not None else 'none'} in {ckpt.directory}). "
        "Lower the learning rate or check the input data.")


@dataclasses.dataclass
class LoopResult:
    state: PyTree
    step: int            # Steps completed (== the last checkpoint's step).
    preempted: bool      # True when SIGTERM stopped the run early (a checkpoint was saved).
    start_step: int      # Where this invocation started (0, or the restored step).


class PreemptionFlag:
    """Set by SIGTERM (TPU/VM pre-emption, scheduler kill); the loop saves and stops at the next step.

    With several processes, the flag is OR-ed across them every step so that all processes save the
    same step and leave the collective program together.
    """

    def __init__(self):
        self._local = threading.Event()
        self._previous = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handler)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _handler(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint and stopping after this step.")
        self._local.set()

    def set(self) -> None:
        self._local.set()

    def is_set(self) -> bool:
        local = self._local.is_set()
        if jax.process_count() == 1:
            return local
        from jax.experimental import multihost_utils

        return bool(np.max(multihost_utils.process_allgather(np.int32(local))))


def train(*, workdir: str, state: PyTree, step_fn: Callable[[PyTree, PyTree, jax.Array], tuple[PyTree, Mapping]],
          batches: Callable[[int], Iterable[Mapping[str, np.ndarray]]], mesh, num_steps: int,
          global_batch_size: int, rng: jax.Array, checkpoint_every: int = 1000, keep_checkpoints: int = 3,
          log_every: int = 10, eval_fn: Callable[[PyTree, int], Mapping[str, float]] | None = None,
          eval_every: int = 0, name: str = "train", hooks: Iterable[Callable[[int, PyTree], None]] = (),
          async_checkpoints: bool = True) -> LoopResult:
    """Runs (or resumes) a training run in ``workdir``.

    Args:
      workdir: run directory (checkpoints, TensorBoard, JSONL).
      state: the freshly initialised, replicated state; replaced by the latest checkpoint if any.
      step_fn: compiled ``step_fn(state, global_batch, rng) -> (state, metrics)``; metrics replicated.
      batches: ``batches(start_step)`` yields this process's numpy batches for steps start_step, ...
      mesh: the data mesh (`parallel.make_mesh`).
      num_steps: total steps of the run.
      global_batch_size: examples per step over all processes (for images/s).
      rng: base key; step ``s`` uses ``fold_in(rng, s)`` so a resumed run draws the same randomness.
      checkpoint_every: checkpoint period; a final checkpoint is always written.
      keep_checkpoints: checkpoints kept.
      log_every: progress/metrics period.
      eval_fn: ``eval_fn(state, step) -> scalars`` run every ``eval_every`` steps and at the end.
      eval_every: 0 disables periodic evaluation (the final one still runs).
      name: prefix for logs and metric files.
      hooks: ``hook(step, state)`` called after every step (image grids, custom logs).
      async_checkpoints: write checkpoints in the background.

    Returns:
      A `LoopResult`.
    """
    ckpt = checkpoint_lib.Checkpointer(workdir, save_every=checkpoint_every, keep=keep_checkpoints,
                                       async_save=async_checkpoints)
    state, restored = ckpt.restore_latest(state)
    start = restored or 0
    writer = metrics_lib.MetricWriter(workdir, name)
    eval_writer = metrics_lib.MetricWriter(workdir, f"{name}_eval") if eval_fn is not None else None
    progress = metrics_lib.Progress(num_steps, global_batch_size, start_step=start, every=log_every,
                                    name=name)
    if restored is not None:
        logging.info("[%s] resumed at step %d of %d", name, start, num_steps)
    flag = PreemptionFlag()
    flag.install()
    step = start
    preempted = False
    first_bad = jnp.asarray(-1, jnp.int32)
    try:
        iterator: Iterator = iter(batches(start)) if start < num_steps else iter(())
        while step < num_steps:
            local = next(iterator)
            progress.step_started()
            global_batch = parallel.shard_batch(local, mesh)
            state, metrics = step_fn(state, global_batch, jax.random.fold_in(rng, step))
            first_bad = _first_nonfinite(first_bad, jnp.int32(step + 1), metrics)
            step += 1
            if step % log_every == 0 or step == num_steps or step == start + 1:
                host_metrics = jax.device_get(metrics)
                progress.update(step, host_metrics)
                writer.write_scalars(step, host_metrics)
                if int(jax.device_get(first_bad)) >= 0:
                    _check_finite(name, first_bad, state, step, ckpt)
            for hook in hooks:
                hook(step, state)
            if step % ckpt.save_every == 0:
                _check_finite(name, first_bad, state, step, ckpt)
                ckpt.save(step, state)
            if eval_fn is not None and eval_every and step % eval_every == 0 and step != num_steps:
                eval_writer.write_scalars(step, eval_fn(state, step))
            if step < num_steps and flag.is_set():
                preempted = True
                _check_finite(name, first_bad, state, step, ckpt)
                ckpt.save(step, state)
                logging.warning("[%s] pre-empted: checkpoint at step %d saved in %s", name, step,
                                ckpt.directory)
                break
        if not preempted:
            _check_finite(name, first_bad, state, step, ckpt)
            ckpt.save(step, state)
            if eval_fn is not None and step > start:
                eval_writer.write_scalars(step, eval_fn(state, step))
    finally:
        flag.uninstall()
        ckpt.close()
        writer.close()
        if eval_writer is not None:
            eval_writer.close()
    return LoopResult(state=state, step=step, preempted=preempted, start_step=start)
