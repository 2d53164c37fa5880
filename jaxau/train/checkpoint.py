"""Orbax checkpoints in ``<workdir>/checkpoints``: periodic, bounded, resumable, crash-safe.

Orbax writes each step into a temporary directory and renames it into place when complete, so a
process killed mid-save leaves only a ``*.orbax-checkpoint-tmp-*`` directory, which is never listed as
a step. We add a second guard for directories that were damaged after the fact (a partial copy, a
disk filling up): a step directory is only *restorable* if it carries orbax's metadata file, and
`Checkpointer.restore_latest` walks back to the newest restorable step.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp

from jaxau import io_utils
from jaxau.validate import ConfigError

PyTree = Any

# Written by orbax when a step is finalised (with the item's own _METADATA).
_COMMIT_FILE = "_CHECKPOINT_METADATA"


class Checkpointer:
    """Saves a train-state pytree every ``save_every`` steps, keeps the newest ``keep``.

    Args:
      workdir: the run's directory; checkpoints go to ``<workdir>/checkpoints``.
      save_every: save period in steps (``maybe_save``); ``save(force=True)`` saves any step.
      keep: number of checkpoints kept.
      async_save: overlap writing with training (the write finishes before the next save, on
        ``wait``/``close``).
      read_only: open for restoring only (a reader beside a possibly running trainer): nothing is
        created, cleaned up, saved or moved aside.
    """

    def __init__(self, workdir: str, *, save_every: int = 1000, keep: int = 3, async_save: bool = True,
                 read_only: bool = False):
        if save_every <= 0 or keep <= 0:
            raise ValueError(f"save_every={save_every} and keep={keep} must be positive.")
        self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
        self.save_every = save_every
        self.read_only = read_only
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, save_interval_steps=1, create=not read_only,
            cleanup_tmp_directories=not read_only, read_only=read_only,
            enable_async_checkpointing=async_save and not read_only)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    # ----------------------------------------------------------------------------------- steps
    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def _restorable(self, step: int) -> bool:
        step_dir = os.path.join(self.directory, str(step))
        return (os.path.isfile(os.path.join(step_dir, _COMMIT_FILE))
                and os.path.isfile(os.path.join(step_dir, "default", "_METADATA")))

    def finished_steps(self) -> list[int]:
        """The steps whose directories are complete, oldest first (`kept_steps`)."""
        return [s for s in self.all_steps() if self._restorable(s)]

    def latest_step(self) -> int | None:
        """The newest step whose directory is complete (None when there is none)."""
        for step in reversed(self.all_steps()):
            if self._restorable(step):
                return step
            logging.warning("Checkpoint step %d in %s is incomplete (no %s); ignoring it.",
                            step, self.directory, _COMMIT_FILE)
        return None

    def _set_aside(self, step: int, why: str) -> None:
        """Moves a broken step directory to ``checkpoints/broken/`` so it is never a step again."""
        if self.read_only:
            return
        src = os.path.join(self.directory, str(step))
        dst = os.path.join(self.directory, "broken", f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src):
            shutil.move(src, dst)
            logging.warning("Checkpoint step %d in %s is broken (%s): moved to %s.", step, self.directory,
                            why, dst)
        self._manager.reload()

    # ---------------------------------------------------------------------------------- saving
    def maybe_save(self, step: int, state: PyTree) -> bool:
        """Saves when ``step`` is a multiple of ``save_every``."""
        if step % self.save_every == 0:
            return self.save(step, state)
        return False

    def save(self, step: int, state: PyTree) -> bool:
        """Saves ``state`` as ``step`` now (unless that step already exists intact).

        A broken directory under the same step number (a damaged copy) is moved aside and replaced.
        """
        if self.read_only:
            raise RuntimeError(f"Checkpointer for {self.directory} is read-only; it cannot save step {step}.")
        if step in self._manager.all_steps():
            if self._restorable(step):
                return False
            self._set_aside(step, f"no {_COMMIT_FILE}")
        return bool(self._manager.save(step, args=ocp.args.StandardSave(state), force=True))

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    # -------------------------------------------------------------------------------- restoring
    def restore(self, step: int, target: PyTree) -> PyTree:
        """Restores ``step`` into the structure, dtypes and shardings of ``target``.

        ``target`` may be a concrete state or its abstract shape (``jax.eval_shape`` output, with or
        without shardings); optax states keep their NamedTuple types because the structure comes
        from ``target``, not from the file.
        """
        abstract = jax.tree.map(_as_abstract, target)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def restore_latest(self, target: PyTree) -> tuple[PyTree, int | None]:
        """Restores the newest checkpoint that restores, or returns ``(target, None)`` when none.

        Steps that are incomplete or fail to restore (e.g. a truncated array file) are skipped with a
        warning naming the step and the reason; a writer moves them aside (see the module docstring).
        """
        skipped = []
        for step in reversed(self.all_steps()):
            if not self._restorable(step):
                skipped.append((step, f"no {_COMMIT_FILE}"))
                continue
            try:
                restored = self.restore(step, target)
            except Exception as e:  # orbax/TensorStore raise many types for a damaged file.
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                skipped.append((step, reason))
                continue
            for bad, why in skipped:
                logging.warning("Skipping checkpoint step %d in %s (%s); resuming from step %d.",
                                bad, self.directory, why, step)
                self._set_aside(bad, why)
            logging.info("Resuming from %s step %d", self.directory, step)
            return restored, step
        for bad, why in skipped:
            logging.warning("Skipping checkpoint step %d in %s (%s); no intact step is left.", bad,
                            self.directory, why)
            self._set_aside(bad, why)
        return target, None


def _as_abstract(x):
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    sharding = getattr(x, "sharding", None)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)


def write_run_record(model_dir: str, meta_file: str, record: dict, *, state_keys: tuple[str, ...],
                     what: str, defaults: dict | None = None) -> None:
    """Writes a run directory's metadata file, refusing to relabel checkpoints of another model.

    A rerun in the same directory resumes from its checkpoints; when the new config would build a
    differently shaped state (other width, image size, AU set, ...), the old record is left as it is
    and the run stops before training with one line naming the field.

    Args:
      model_dir: the run directory.
      meta_file: the metadata file name (e.g. ``estimator.json``).
      record: ``{"config": {...}, "au_names": [...], ...}`` to write.
      state_keys: config fields that shape the checkpointed state.
      what: what the run trains, for the message.
      defaults: values of state keys that an older record does not name (fields added since).

    Raises:
      ConfigError: the directory holds checkpoints of a run with other ``state_keys`` or AU names.
    """
    path = os.path.join(model_dir, meta_file)
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    has_steps = os.path.isdir(ckpt_dir) and any(n.isdigit() for n in os.listdir(ckpt_dir))
    if os.path.exists(path) and has_steps:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        before = {**{k: v for k, v in (defaults or {}).items() if k in state_keys}, **old.get("config", {})}
        now = dict(record.get("config", {}))
        for key in state_keys:
            if before.get(key) != now.get(key):
                raise ConfigError(f"{model_dir} holds checkpoints of {what} with {key}={before.get(key)!r} "
                                  f"({meta_file}); this run has {key}={now.get(key)!r}: use another --workdir, "
                                  f"or delete {os.path.join(model_dir, 'checkpoints')} to start over.")
        if list(old.get("au_names", [])) != list(record.get("au_names", [])):
            raise ConfigError(f"{model_dir} holds checkpoints of {what} for AUs {old.get('au_names')} "
                              f"({meta_file}); this run has {record.get('au_names')}: use another --workdir, "
                              f"or delete {os.path.join(model_dir, 'checkpoints')} to start over.")
    io_utils.write_json(path, record)


def kept_steps(model_dir: str) -> list[int]:
    """The finished checkpoint steps kept in a run directory, oldest first (read-only)."""
    ckpt = Checkpointer(model_dir, read_only=True)
    try:
        return ckpt.finished_steps()
    finally:
        ckpt.close()


def load_run(model_dir: str, meta_file: str, make_target: Callable[[dict], PyTree], *, what: str,
             written_by: str, step: int | None = None) -> tuple[dict, PyTree, int]:
    """The latest finished checkpoint of a trained run directory: ``(metadata, state, step)``.

    Args:
      model_dir: the run directory (``<meta_file>`` + ``checkpoints/``).
      meta_file: the JSON file the trainer wrote next to its checkpoints (its config, AU names, ...).
      make_target: metadata -> the (abstract or concrete) train state to restore into.
      what: what the run trained, for error messages (e.g. ``"the generator"``).
      written_by: what writes such directories, for error messages (launcher or stage).
      step: restore this kept step instead of the latest (e.g. to score a run's learning curve).

    Raises:
      FileNotFoundError: no ``meta_file``, no finished checkpoint, or no finished ``step``, naming
        the fix (for ``step``: the steps that are kept).
    """
    path = os.path.join(model_dir, meta_file)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: the directory of {what} must be a run of {written_by}.")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    target = make_target(meta)
    # Read-only: a reader never creates, cleans up or moves anything in a directory a trainer may be
    # writing right now; a broken newest step is skipped (with a warning) for the newest intact one.
    ckpt = Checkpointer(model_dir, read_only=True)
    try:
        if step is not None:
            if step not in (kept := ckpt.finished_steps()):
                raise FileNotFoundError(f"{ckpt.directory} has no finished checkpoint of {what} at step {step}: "
                                        f"the kept steps are {kept}.")
            return meta, ckpt.restore(step, target), step
        state, step = ckpt.restore_latest(target)
        if step is None:
            raise FileNotFoundError(f"No finished checkpoint in {ckpt.directory}: train {what} first.")
    finally:
        ckpt.close()
    return meta, state, step
