"""Shares of an offline stage's work in a multi-host run, and the waits that join them.

The trainers split every global batch between the processes of a ``jax.distributed`` job
(`jaxau.train.parallel`). The offline stages (registering every frame, synthesis, pose
augmentation) split their list of chunks instead: process ``i`` of ``n`` takes chunks ``i``,
``i + n``, ``i + 2n``, ... and writes each one atomically into the stage directory, which every
process sees (a shared file system, as the stage cache already requires). A stage's output exists
once every chunk does: `Share.wait_for` polls for them; the leader (process 0) then assembles the
output and writes the stage's files, and the pipeline runner's other processes wait for the
leader's ``DONE.json`` (`jaxau.stages.runner`). A single-process run is the share ``0 of 1``: it
takes every chunk and never waits.

A process whose stage fails leaves a marker in the stage directory (`Share.fail`), so whoever
waits on its chunks stops with its message instead of waiting out the timeout. Markers carry the
run's token, which process 0 draws and broadcasts once at start-up (`from_jax`), so a marker left
by an earlier run is never read as this run's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import secrets
import time
from typing import Callable, Iterator, Sequence

from jaxau import io_utils

# A peer that died without a marker (killed, its host lost) is normally noticed first by
# jax.distributed's heartbeat, which stops the whole job; this bounds the wait where it is not.
WAIT_TIMEOUT_S = 6 * 3600.0
POLL_S = 0.5


class PeerFailed(RuntimeError):
    """Another process of the run failed the stage this process waits on."""


@dataclasses.dataclass(frozen=True)
class Share:
    """This process's share of a multi-host run.

    Attributes:
      index: this process (0 is the leader).
      count: processes in the run.
      token: the run's token (the same in every process; names failure markers).
      timeout_s: longest wait for the other processes' chunks.
      poll_s: seconds between looks.
    """

    index: int = 0
    count: int = 1
    token: str = "local"
    timeout_s: float = WAIT_TIMEOUT_S
    poll_s: float = POLL_S

    def __post_init__(self):
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"share {self.index} of {self.count}: need 0 <= index < count.")

    @property
    def leader(self) -> bool:
        """Whether this process assembles and writes the stage's files (process 0)."""
        return self.index == 0

    def mine(self, n: int) -> list[int]:
        """This process's items among ``range(n)``: every ``count``-th, starting at ``index``."""
        return list(range(self.index, n, self.count))

    def wait_for(self, paths: Sequence[str], directory: str, what: str,
                 ready: Callable[[str], bool] = os.path.exists) -> None:
        """Returns once ``ready(path)`` holds for every path (at once when there is one process).

        Args:
          paths: the files every share together writes.
          directory: the stage directory holding failure markers.
          what: names the wait in errors (e.g. ``'register_3d train chunks'``).
          ready: when a file counts as written (default: it exists; files are written atomically).

        Raises:
          PeerFailed: another process left a failure marker for this run in ``directory``.
          TimeoutError: ``timeout_s`` passed with files still missing.
          FileNotFoundError: files missing in a single-process run (nobody else will write them).
        """
        deadline = time.monotonic() + self.timeout_s
        pending = list(paths)
        while True:
            pending = [p for p in pending if not ready(p)]
            if not pending:
                return
            failed = self.failures(directory)
            if failed:
                index, message = failed[0]
                raise PeerFailed(f"{what}: process {index} failed: {message}")
            if self.count == 1:
                raise FileNotFoundError(f"{what}: {len(pending)} files missing (first: {pending[0]}).")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what}: {len(pending)} files still missing after {self.timeout_s:.0f} s (first: "
                    f"{pending[0]}); every process of the run must be running the same command "
                    f"(this is process {self.index} of {self.count}).")
            time.sleep(self.poll_s)

    def _marker(self, directory: str, index: int) -> str:
        return os.path.join(directory, f"FAILED.{self.token}.p{index}")

    def fail(self, directory: str, message: str) -> None:
        """Marks this process's failure of the stage in ``directory`` for the others to see."""
        if self.count > 1:
            io_utils.write_text(self._marker(directory, self.index), message + "\n")

    def failures(self, directory: str) -> list[tuple[int, str]]:
        """``(process, message)`` of the other processes that marked ``directory`` failed in this run."""
        out = []
        for path in sorted(glob.glob(self._marker(directory, 0)[:-1] + "*")):
            index = int(path.rsplit(".p", 1)[1])
            if index != self.index:
                with open(path, encoding="utf-8") as f:
                    out.append((index, f.read().strip()))
        return out


_ACTIVE = Share()


def active() -> Share:
    """The share the offline stages of this process work on (``0 of 1`` unless `activate`d)."""
    return _ACTIVE


@contextlib.contextmanager
def activate(share: Share) -> Iterator[Share]:
    """Makes ``share`` the `active` one inside the block."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, share
    try:
        yield share
    finally:
        _ACTIVE = previous


def from_jax() -> Share:
    """This process's share of the ``jax.distributed`` job (``0 of 1`` for a single process).

    With several processes this is a collective: every process must call it at the same point (the
    launcher does, right after start-up).
    """
    import jax

    if jax.process_count() == 1:
        return Share()
    import numpy as np
    from jax.experimental import multihost_utils

    # int32 words: JAX without x64 would truncate wider integers.
    words = np.frombuffer(secrets.token_bytes(16), np.int32) if jax.process_index() == 0 else np.zeros(4, np.int32)
    token = np.asarray(multihost_utils.broadcast_one_to_all(words)).astype(np.uint32)
    return Share(jax.process_index(), jax.process_count(), "".join(f"{w:08x}" for w in token))
