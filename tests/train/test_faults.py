"""Checkpoint and training faults: broken newest steps, readers beside writers, NaN/Inf training."""

import glob
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.train import checkpoint as checkpoint_lib
from jaxau.train import input as input_lib
from jaxau.train import loop, parallel
from tests.train import tiny


def _state(v):
    return {"w": jnp.full((4,), float(v)), "step": jnp.int32(v)}


def _three_steps(tmp_path):
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    for s in (1, 2, 3):
        ckpt.save(s, _state(s))
    ckpt.close()
    return tmp_path / "checkpoints"


def _target():
    return jax.eval_shape(lambda: _state(0))


def test_newest_without_metadata_falls_back_and_final_step_is_saved_again(tmp_path, caplog):
    root = _three_steps(tmp_path)
    os.remove(root / "3" / "_CHECKPOINT_METADATA")
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    with caplog.at_level(logging.WARNING):
        restored, step = ckpt.restore_latest(_target())
    assert step == 2 and float(restored["w"][0]) == 2.0
    assert "Skipping checkpoint step 3" in caplog.text
    # The retrained step 3 is saved (it used to be refused because a broken '3' directory existed).
    assert ckpt.save(3, _state(33)) is True
    ckpt.close()
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    restored, step = ckpt.restore_latest(_target())
    assert step == 3 and float(restored["w"][0]) == 33.0
    assert glob.glob(str(root / "broken" / "3-*"))  # The damaged copy is kept aside for inspection.
    ckpt.close()


def test_truncated_array_file_falls_back_to_the_previous_step(tmp_path, caplog):
    root = _three_steps(tmp_path)
    data = [p for p in glob.glob(str(root / "3" / "default" / "**" / "*"), recursive=True)
            if os.path.isfile(p) and os.path.getsize(p) > 0 and "/d/" in p]
    assert data, sorted(glob.glob(str(root / "3" / "**"), recursive=True))
    for p in data:
        with open(p, "r+b") as f:
            f.truncate(max(1, os.path.getsize(p) // 3))
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), save_every=1, keep=5, async_save=False)
    with caplog.at_level(logging.WARNING):
        restored, step = ckpt.restore_latest(_target())
    assert step == 2 and float(restored["w"][0]) == 2.0
    assert "Skipping checkpoint step 3" in caplog.text
    ckpt.close()


def test_reader_never_touches_a_writers_temporary_directory(tmp_path):
    root = _three_steps(tmp_path)
    in_progress = root / "4.orbax-checkpoint-tmp-99"
    in_progress.mkdir()
    (in_progress / "part").write_text("being written")
    reader = checkpoint_lib.Checkpointer(str(tmp_path), read_only=True)
    restored, step = reader.restore_latest(_target())
    assert step == 3
    with pytest.raises(RuntimeError, match="read-only"):
        reader.save(5, _state(5))
    reader.close()
    assert (in_progress / "part").read_text() == "being written"
    # A reader pointed at a model directory with no checkpoints creates nothing.
    empty = tmp_path / "empty"
    empty.mkdir()
    checkpoint_lib.Checkpointer(str(empty), read_only=True).close()
    assert not (empty / "checkpoints").exists()


def _diverging_step(bad_from):
    """tiny's step, except that from step ``bad_from`` on the loss and parameters turn NaN."""

    def step(state, batch, rng):
        new, metrics = tiny.train_step(state, batch, rng)
        poison = state.step + 1 >= bad_from
        params = jax.tree.map(lambda p: jnp.where(poison, jnp.nan, p), new.params)
        return new.replace(params=params), {"loss": jnp.where(poison, jnp.nan, metrics["loss"])}

    return step


@pytest.mark.parametrize("bad_from, kept", [(7, [3, 6]), (10, [6, 9])])
def test_nan_stops_with_the_step_and_keeps_good_checkpoints(tmp_path, bad_from, kept):
    mesh = parallel.make_mesh()
    data = tiny.make_data(0)
    sampler = input_lib.StepSampler(np.arange(tiny.NUM_EXAMPLES), 8, seed=3)
    source = input_lib.ArraySource(data)
    batches = lambda start: input_lib.make_dataset(source, sampler, start, 12).as_numpy_iterator()
    state = parallel.replicate(tiny.init_state(0), mesh)
    assert int(state.step) == 0
    with pytest.raises(loop.NonFiniteError, match=rf"step {bad_from} are NaN/Inf.*last good checkpoint: step {kept[-1]}"):
        loop.train(workdir=str(tmp_path), state=state, step_fn=parallel.data_parallel(_diverging_step(bad_from), mesh),
                   batches=batches, mesh=mesh, num_steps=12, global_batch_size=8, rng=jax.random.key(0),
                   checkpoint_every=3, keep_checkpoints=2, log_every=4, async_checkpoints=False)
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), read_only=True)
    assert ckpt.all_steps() == kept
    restored, step = ckpt.restore_latest(jax.eval_shape(lambda: tiny.init_state(0)))
    assert step == kept[-1] and all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored))
    ckpt.close()
