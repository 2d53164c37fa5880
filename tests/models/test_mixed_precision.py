"""bfloat16 mixed precision of the three networks and their training steps.

Tolerance for bfloat16 vs float32: bfloat16 keeps 8 significant bits, unit roundoff u = 2^-8 ~ 0.4 %.
Every layer rounds its output once (and its inputs and weights once), and independent rounding errors
of L layers add up like a random walk, ~u * sqrt(L) relative: ~1.6 % for VGG16's 16 layers, less
for the smaller networks here. Measured at these shapes: 0.5-1.6 % relative L2 error. The bound,
5 %, is ~3x that and ~13 u: it passes bfloat16 and fails anything coarser (float16's range
overflowing, an 8-bit type, a layer left out of the computation).

PRNet's values are not compared: at initialisation many of its channels have a spread across the
batch far below bfloat16's resolution of their mean, and the BatchNorm that follows (batch or
running statistics alike) rescales that rounding noise to unit variance: bfloat16 and float32
outputs differ by 26-31 % relative L2 in training mode and 64 % in inference mode with the batch's
statistics (measured at 32-64 px). Only its structure is tested; the benchmark's registration
bfloat16 numbers are speed, not a validated training mode.
"""

import functools

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import ganimation, prnet, vgg

BF16_REL_TOL = 0.05


def rel_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def conv_dtypes(fn, *args) -> set:
    """Operand dtypes of every convolution / dot in ``fn``'s jaxpr (sub-jaxprs included)."""
    found = set()

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
                found.add(str(eqn.invars[0].aval.dtype))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


@pytest.fixture(scope="module")
def images():
    return jax.random.uniform(jax.random.key(1), (4, 32, 32, 3), jnp.float32)


def _three(module, variables, *inputs, **kw):
    """(default, explicit float32, bfloat16) outputs of ``module``, one compiled program."""
    @jax.jit
    def run(variables, *inputs):
        return tuple(m.apply(variables, *inputs, **kw) for m in
                     (module, module.clone(dtype=jnp.float32), module.clone(dtype=jnp.bfloat16)))
    return run(variables, *inputs)


def _check(default, f32, bf16):
    for d, f, b in zip(jax.tree.leaves(default), jax.tree.leaves(f32), jax.tree.leaves(bf16)):
        # The default is float32, bit for bit; bfloat16 returns float32 values close to it.
        np.testing.assert_array_equal(np.asarray(d), np.asarray(f))
        assert b.dtype == jnp.float32
        assert rel_error(b, f) < BF16_REL_TOL


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_vgg16_bfloat16(images, norm):
    model = vgg.VGG16(num_aus=3, width=1 / 16, norm=norm)
    variables = vgg.init_params(model, 32, 0)
    outs = _three(model, variables, images, return_features=True)
    _check(*outs)
    bf16 = model.clone(dtype=jnp.bfloat16)
    assert conv_dtypes(functools.partial(bf16.apply, return_features=True), variables, images) == {"bfloat16"}
    # Parameters created by a bfloat16 module stay float32.
    shapes = jax.eval_shape(bf16.init, jax.random.key(0), images)
    assert {l.dtype for l in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}


def test_ganimation_bfloat16(images):
    x = images * 2 - 1
    aus = jax.random.uniform(jax.random.key(2), (4, 3))
    g = ganimation.Generator(conv_dim=4, num_blocks=1)
    gp = ganimation.init_params(g, jax.random.key(0), x, aus)
    _check(*_three(g, {"params": gp}, x, aus))
    d = ganimation.Discriminator(num_aus=3, image_size=32, conv_dim=4, num_layers=3)
    dp = ganimation.init_params(d, jax.random.key(0), x)
    _check(*_three(d, {"params": dp}, x))
    assert conv_dtypes(g.clone(dtype=jnp.bfloat16).apply, {"params": gp}, x, aus) == {"bfloat16"}
    assert conv_dtypes(d.clone(dtype=jnp.bfloat16).apply, {"params": dp}, x) == {"bfloat16"}


def test_prnet_bfloat16_structure(images):
    # Default float32 bit for bit; bfloat16 convolutions, float32 parameters and outputs. Values are
    # not compared: at initialisation bfloat16 and float32 outputs differ by ~30-60 % relative L2
    # (module docstring), so bfloat16 PRNet is a speed option that is not numerically validated.
    p = prnet.PRNet(size=32, width=2, scale_output=False)
    variables = prnet.init_variables(p, jax.random.key(0))
    default, f32, bf16 = _three(p, variables, images, train=False)
    np.testing.assert_array_equal(np.asarray(default), np.asarray(f32))
    assert bf16.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(bf16)))
    lowp = p.clone(dtype=jnp.bfloat16)
    assert conv_dtypes(functools.partial(lowp.apply, train=False), variables, images) == {"bfloat16"}
    shapes = jax.eval_shape(functools.partial(lowp.init, train=False), jax.random.key(0), images)
    assert {l.dtype for l in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}
