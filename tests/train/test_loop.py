"""The training loop end to end in subprocesses: multi-host equivalence, SIGTERM + exact resume.

Every subprocess has a hard timeout, so a hung collective fails the test instead of the CI run.
"""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import loop
from tests.multiprocess import finish, free_port_pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUM_STEPS = 30
TIMEOUT = 240


def _worker(workdir, *extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # The worker sets its own device count.
    return subprocess.Popen([sys.executable, "-m", "tests.train.worker", str(workdir), str(NUM_STEPS), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc):
    return finish(proc, TIMEOUT)


def _load(workdir):
    with np.load(os.path.join(workdir, "final.npz")) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, one device, uninterrupted; started alongside the two-process run."""
    ref_dir = tmp_path_factory.mktemp("reference")
    multi_dir = tmp_path_factory.mktemp("multi")
    port = free_port_pair()
    procs = [_worker(ref_dir)]
    procs += [_worker(multi_dir, "--coordinator", f"127.0.0.1:{port}", "--num_processes", "2",
                      "--process_id", str(i)) for i in range(2)]
    results = [_finish(p) for p in procs]
    for rc, out in results:
        assert rc == 0, out[-3000:]
    return ref_dir, multi_dir


def test_two_processes_match_one_process(reference):
    ref_dir, multi_dir = reference
    ref, multi = _load(ref_dir), _load(multi_dir)
    assert len(ref) == len(multi)
    for a, b in zip(ref, multi):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # Cross-process mean reorders sums.
    assert int(ref[0]) == NUM_STEPS  # TrainState.step


def test_sigterm_leaves_checkpoint_and_resume_is_exact(reference, tmp_path):
    ref_dir, _ = reference
    proc = _worker(tmp_path, "--sleep", "0.1")
    deadline = time.time() + TIMEOUT
    ckpt_dir = tmp_path / "checkpoints"
    # Wait for the first periodic checkpoint, then pre-empt mid-run.
    while not (ckpt_dir / "10").is_dir():
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"worker ended before pre-emption:\n{proc.communicate()[0][-3000:]}")
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    rc, out = _finish(proc)
    assert rc == loop.PREEMPTED_EXIT_CODE, out[-3000:]
    assert "preempted=True" in out
    saved = checkpoint_lib.Checkpointer(str(tmp_path)).latest_step()
    assert saved is not None and 10 <= saved < NUM_STEPS
    # Resume: picks up at the saved step and ends bit-identical to the uninterrupted run.
    rc, out = _finish(_worker(tmp_path))
    assert rc == 0, out[-3000:]
    assert f"start={saved}" in out
    for a, b in zip(_load(ref_dir), _load(tmp_path)):
        np.testing.assert_array_equal(a, b)


def test_half_written_checkpoints_are_never_latest(tmp_path):
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    state = {"w": jax.numpy.arange(3.0), "step": jax.numpy.int32(4)}
    ckpt.save(4, state)
    ckpt.close()
    root = tmp_path / "checkpoints"
    # A save killed mid-write (orbax's temporary name) and a damaged step directory (partial copy).
    (root / "9.orbax-checkpoint-tmp-1234").mkdir()
    (root / "9.orbax-checkpoint-tmp-1234" / "junk").write_text("x")
    (root / "12").mkdir()
    (root / "12" / "default").mkdir()
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    assert ckpt.latest_step() == 4
    restored, step = ckpt.restore_latest(jax.eval_shape(lambda: state))
    assert step == 4
    np.testing.assert_array_equal(restored["w"], np.arange(3.0))
    ckpt.close()
