"""Data-parallel equivalence: pmap, jit+shard_map and one device compute the same training step."""

import jax
import numpy as np
import pytest

from jaxau.train import parallel
from tests.conftest import NUM_TEST_DEVICES
from tests.train import tiny

# Float32 sums are reordered by the cross-device mean, so agreement is to rounding, not bitwise.
ATOL = 1e-6


@pytest.fixture(scope="module")
def setup():
    assert jax.device_count() == NUM_TEST_DEVICES
    data = tiny.make_data(0)
    batch = {k: v[:16] for k, v in data.items()}
    return tiny.init_state(0), batch


def _run_steps(step, state, batch, n=3):
    for i in range(n):
        state, metrics = step(state, batch, jax.random.key(i))
    return jax.device_get(state), jax.device_get(metrics)


def test_shard_map_pmap_and_single_device_agree(setup):
    state0, batch = setup
    # One device holding the whole global batch.
    mesh1 = parallel.make_mesh(jax.devices()[:1])
    s1, m1 = _run_steps(parallel.data_parallel(tiny.train_step, mesh1, donate_argnums=()),
                        parallel.replicate(state0, mesh1), parallel.shard_batch(batch, mesh1))
    # jit + shard_map over 4 devices.
    mesh4 = parallel.make_mesh()
    s4, m4 = _run_steps(parallel.data_parallel(tiny.train_step, mesh4, donate_argnums=()),
                        parallel.replicate(state0, mesh4), parallel.shard_batch(batch, mesh4))
    # Legacy jax.pmap on the same per-device function.
    pstep = jax.pmap(tiny.train_step, axis_name="data", in_axes=(None, 0, None), out_axes=None)
    split = jax.tree.map(lambda x: x.reshape((NUM_TEST_DEVICES, -1) + x.shape[1:]), batch)
    sp, mp = _run_steps(pstep, state0, split)

    for other, label in ((s4, "shard_map"), (sp, "pmap")):
        for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(other)):
            np.testing.assert_allclose(a, b, atol=ATOL, rtol=1e-5, err_msg=label)
    np.testing.assert_allclose(m1["loss"], m4["loss"], rtol=1e-5)
    np.testing.assert_allclose(m1["loss"], mp["loss"], rtol=1e-5)
    # The training actually changed something (the comparison is not between two no-ops).
    assert not np.allclose(jax.tree.leaves(s1.params)[0], jax.tree.leaves(state0.params)[0])


def test_shard_batch_rejects_indivisible_batch(setup):
    _, batch = setup
    with pytest.raises(ValueError, match="multiple of the device count"):
        parallel.shard_batch({k: v[:6] for k, v in batch.items()}, parallel.make_mesh())
