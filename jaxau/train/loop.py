"""The generic training loop: resume, step, log, evaluate, checkpoint, survive pre-emption.

Model-specific code supplies a compiled data-parallel step (`jaxau.train.parallel.data_parallel`) and
a function that yields this process's batches from a given step (`jaxau.train.input`); everything
about runs — resuming by default, periodic and final checkpoints, SIGTERM handling, metric files and
the progress line — lives here once.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping

import jax
import numpy as np

from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import metrics as metrics_lib
from jaxau.train import parallel

PyTree = Any
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what schedulers expect from a terminated job.


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
    try:
        iterator: Iterator = iter(batches(start)) if start < num_steps else iter(())
        while step < num_steps:
            local = next(iterator)
            progress.step_started()
            global_batch = parallel.shard_batch(local, mesh)
            state, metrics = step_fn(state, global_batch, jax.random.fold_in(rng, step))
            step += 1
            if step % log_every == 0 or step == num_steps or step == start + 1:
                host_metrics = jax.device_get(metrics)
                progress.update(step, host_metrics)
                writer.write_scalars(step, host_metrics)
            for hook in hooks:
                hook(step, state)
            ckpt.maybe_save(step, state)
            if eval_fn is not None and eval_every and step % eval_every == 0 and step != num_steps:
                eval_writer.write_scalars(step, eval_fn(state, step))
            if step < num_steps and flag.is_set():
                preempted = True
                ckpt.save(step, state)
                logging.warning("[%s] pre-empted: checkpoint at step %d saved in %s", name, step,
                                ckpt.directory)
                break
        if not preempted:
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
