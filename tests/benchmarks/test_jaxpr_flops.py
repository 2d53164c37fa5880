"""`benchmarks/jaxpr_flops.py`: hand-computed counts, XLA:CPU's own count where both count the same
thing, and VGG16's analytic training-step count."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import jaxpr_flops
from jaxau.train import parallel
from tests.conftest import NUM_TEST_DEVICES


def conv(x, w, padding="SAME", groups=1):
    return jax.lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=groups)


def xla_cpu_flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def test_dot_general_hand_count_and_xla():
    a, b = jnp.ones((3, 4)), jnp.ones((4, 5))
    c = jaxpr_flops.count(jnp.matmul, a, b)
    assert c.dot == 2 * 3 * 5 * 4 and c.conv == 0
    # Batched, two contracted dimensions: out [2, 3, 5], contracted 4 * 6.
    x, y = jnp.ones((2, 3, 4, 6)), jnp.ones((2, 4, 6, 5))
    got = jaxpr_flops.count(lambda x, y: jnp.einsum("bikl,bklj->bij", x, y), x, y).total
    assert got == 2 * (2 * 3 * 5) * (4 * 6) == xla_cpu_flops(lambda x, y: jnp.einsum("bikl,bklj->bij", x, y), x, y)


def test_convolution_hand_count_and_xla():
    x, w = jnp.ones((2, 9, 9, 3)), jnp.ones((3, 3, 3, 4))
    valid = functools.partial(conv, padding="VALID")
    # Output [2, 7, 7, 4], 3 * 3 * 3 taps each.
    assert jaxpr_flops.count(valid, x, w).conv == 2 * (2 * 7 * 7 * 4) * 27
    # No padding, no dilation: XLA:CPU counts the same multiply-adds.
    assert jaxpr_flops.count(valid, x, w).total == xla_cpu_flops(valid, x, w)
    # Grouped: two groups of 2 input channels, kernel [3, 3, 2, 4].
    xg, wg = jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 2, 4))
    assert jaxpr_flops.count(functools.partial(conv, groups=2), xg, wg).conv == 2 * (5 * 5 * 4) * (3 * 3 * 2)


def test_gradients_of_a_same_convolution_cost_three_forwards():
    # Stride 1, SAME: the input gradient and the weight gradient are each one forward's dense count,
    # whatever dimension numbers and groupings JAX's transpose rules choose.
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 5))
    forward = jaxpr_flops.count(conv, x, w).conv
    assert forward == 2 * (2 * 8 * 8 * 5) * 27
    both = jaxpr_flops.count(jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), argnums=(0, 1)), x, w)
    assert both.conv == 3 * forward
    weights_only = jaxpr_flops.count(jax.grad(lambda w: jnp.sum(conv(x, w) ** 2)), w)
    assert weights_only.conv == 2 * forward


def test_control_flow_and_nesting():
    a = jnp.ones((4, 4))
    one = 2 * 4 * 4 * 4

    def scanned(a):
        return jax.lax.scan(lambda c, _: (c @ a, None), a, None, length=7)[0]
    assert jaxpr_flops.count(scanned, a).dot == 7 * one
    # The most expensive branch.
    branches = lambda p, a: jax.lax.cond(p, lambda a: a @ a @ a, lambda a: a, a)
    assert jaxpr_flops.count(branches, True, a).dot == 2 * one
    # A while body counts once, and the count says a loop was seen.
    looped = jaxpr_flops.count(lambda a: jax.lax.fori_loop(0, jnp.int32(3) + 0 * a.sum().astype(jnp.int32),
                                                           lambda i, c: c @ a, a), a)
    assert looped.dot == one and looped.while_loops == 1
    # jit, checkpoint and custom_jvp bodies run once.
    nested = jax.jit(jax.checkpoint(lambda a: jax.nn.relu(a @ a)))
    assert jaxpr_flops.count(nested, a).dot == one
    assert jaxpr_flops.count(lambda a: jax.nn.gelu(a @ a), a).dot == one


def test_shard_map_counts_every_device():
    # The data-parallel step's body sees one device's shard: the global count is the same as the
    # one-device program's.
    def step(w, x):
        return jax.lax.pmean(jnp.sum(x @ w), parallel.AXIS)

    w, x = jnp.ones((6, 3)), jnp.ones((8, 6))
    one = jaxpr_flops.count(parallel.data_parallel(step, parallel.make_mesh(jax.devices()[:1]),
                                                   donate_argnums=()), w, x)
    mesh = parallel.make_mesh()
    assert mesh.devices.size == NUM_TEST_DEVICES > 1
    many = jaxpr_flops.count(parallel.data_parallel(step, mesh, donate_argnums=()), w, x)
    assert one.dot == many.dot == 2 * 8 * 3 * 6


def test_vgg_training_step_matches_the_analytic_count():
    from jaxau.models import vgg
    from jaxau.train import estimator

    size, num_aus, width, batch = 32, 3, 1 / 16, 2
    cfg = {"width": width, "norm": "none", "freeze": "", "pretrained": "", "image_size": size,
           "batch_size": batch}
    from configs.paper import base
    full = dict(base.base_config("paper").estimator)
    full.update(cfg)
    # narrow_block=1: 2x2 blocks of the narrow layers would add their kernels' zero taps.
    model = estimator.model_from_config(full, num_aus).clone(narrow_block=1)
    state, tx = estimator.init_state(full, model, seed=0)
    step = parallel.data_parallel(estimator.make_train_step(model, tx),
                                  parallel.make_mesh(jax.devices()[:1]), donate_argnums=())
    batch_ = {"image": np.zeros((batch, size, size, 3), np.uint8),
              "au_intensity": np.zeros((batch, num_aus), np.int32),
              "target_au": np.full((batch,), -1, np.int32)}
    got = jaxpr_flops.count(step, state, batch_, jax.random.key(0))
    analytic = vgg.train_step_flops(size, num_aus, width) * batch
    # The analytic count's 3x forward includes the first layer's input gradient, which no program
    # computes (the images are not differentiated): one of that layer's forwards less.
    first = vgg.layer_flops(size, num_aus, width)[vgg.LAYER_ORDER[0]] * batch
    assert got.total == pytest.approx(analytic - first, rel=1e-6)
    assert got.while_loops == 0
