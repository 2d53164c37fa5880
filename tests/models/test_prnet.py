"""PRNet resfcn256 structure: parameter count, names, BN behaviour, fast == naive convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models.prnet import PRNet


def test_released_architecture_has_13353618_params():
    shapes = jax.eval_shape(PRNet().init, jax.random.key(0), jnp.zeros((1, 256, 256, 3)))
    leaves = jax.tree.leaves(shapes["params"])
    assert len(leaves) == 149  # trainable tensors in the released checkpoint
    assert sum(int(np.prod(x.shape)) for x in leaves) == 13_353_618
    p = shapes["params"]
    assert p["Conv"]["weights"].shape == (4, 4, 3, 16)
    assert p["Conv2d_transpose_1"]["weights"].shape == (4, 4, 256, 512)  # TF (k, k, out, in)
    assert set(p["resBlock"]) == {"shortcut", "Conv", "Conv_1", "Conv_2", "BatchNorm"}
    assert "shortcut" not in p["resBlock_1"]  # stride-1 blocks keep the identity shortcut
    assert "BatchNorm" not in p["resBlock"]["Conv_2"]
    assert shapes["batch_stats"]["Conv2d_transpose_16"]["BatchNorm"]["var"].shape == (3,)


def _numpy_init(shapes, rng):
    """He-normal kernels, BN identity: avoids compiling model.init (threefry compiles for ~30 s)."""
    def leaf(path, s):
        name = path[-1].key
        if name == "weights":
            return jnp.asarray(rng.normal(0, np.sqrt(2.0 / np.prod(s.shape[:-1])), s.shape),
                               jnp.float32)
        return jnp.ones(s.shape) if name in ("scale", "var") else jnp.zeros(s.shape)
    return jax.tree_util.tree_map_with_path(leaf, shapes)


@pytest.fixture(scope="module")
def small():
    model = PRNet(size=32, width=2)
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)), jnp.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return model, _numpy_init(shapes, np.random.default_rng(1)), x, jax.jit(model.apply)


def test_output_range_and_train_mode_updates_stats(small):
    model, variables, x, apply = small
    y = apply(variables, x)
    assert y.shape == (2, 32, 32, 3)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.1 * 32
    y_train, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(
        variables, x)
    before = variables["batch_stats"]["Conv"]["BatchNorm"]["mean"]
    after = updates["batch_stats"]["Conv"]["BatchNorm"]["mean"]
    # momentum 0.999: new = 0.999 * old + 0.001 * batch mean (old = 0 here).
    assert np.all(np.isfinite(y_train))
    assert float(jnp.max(jnp.abs(after - before))) > 0
    assert float(jnp.max(jnp.abs(after))) < 0.01


def test_phase_and_naive_transposed_convs_agree(small):
    _, variables, x, _ = small
    # lax.conv_transpose and lax strided convolutions throughout, no 2x2 blocks for the narrow
    # layers (at width 2: the input layer, the 2- and 3-channel decoder layers): the same function.
    # The random network's sigmoid output sits near 1/2 with a spread of ~1e-4, so it is compared
    # unscaled and against that spread (a wrong convolution moves it by the spread's order).
    fast = PRNet(size=32, width=2, scale_output=False)
    naive = PRNet(size=32, width=2, scale_output=False, impl="naive", conv_impl="naive",
                  narrow_block=1)
    y, y_naive = (jax.jit(m.apply)(variables, x) for m in (fast, naive))
    spread = float(jnp.std(y_naive))
    assert spread > 1e-5
    assert float(jnp.max(jnp.abs(y - y_naive))) < 0.01 * spread


def test_init_variables_draws_the_same_bits_as_eager_init():
    """The level-0 compiled init (`init_variables`) against flax's eager ``init``, every leaf bit for bit."""
    from jaxau.models.prnet import init_variables

    model = PRNet(size=32, width=1, scale_output=False)
    eager = model.init(jax.random.key(5), jnp.zeros((1, 32, 32, 3)), train=False)
    fast = init_variables(model, jax.random.key(5))
    assert jax.tree.structure(eager) == jax.tree.structure(fast)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(fast)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The key is used: another key draws other kernels.
    other = init_variables(model, jax.random.key(6))
    assert not np.array_equal(np.asarray(fast["params"]["Conv"]["weights"]),
                              np.asarray(other["params"]["Conv"]["weights"]))


def test_init_variables_composes_with_transformations():
    """Under ``jit`` / ``eval_shape`` the key is a tracer: `init_variables` traces ``model.init``
    instead of calling its compiled executable (which rejects tracers)."""
    from jaxau.models.prnet import init_variables

    model = PRNet(size=32, width=1, scale_output=False)
    shapes = jax.eval_shape(lambda k: init_variables(model, k), jax.random.key(5))
    eager = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3)), train=False),
                           jax.random.key(5))
    assert jax.tree.structure(shapes) == jax.tree.structure(eager)
    assert [(a.shape, a.dtype) for a in jax.tree.leaves(shapes)] == [
        (b.shape, b.dtype) for b in jax.tree.leaves(eager)]


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"images must be \[N, 32, 32, 3\]"):
        PRNet(size=32, width=2).init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
