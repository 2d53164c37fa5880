"""GANimation generator / discriminator structure, compositing, variants and initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import ganimation
from jaxau.models.ganimation import Discriminator, Generator

N, S, K = 2, 16, 3


@pytest.fixture(scope="module")
def gen_setup():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(-1, 1, (N, S, S, 3)), jnp.float32)
    aus = jnp.asarray(rng.uniform(0, 1, (N, K)), jnp.float32)
    model = Generator(conv_dim=4, num_blocks=2)
    params = ganimation.init_params(model, jax.random.key(0), images, aus)
    return model, params, images, aus


def test_generator_structure_matches_replicate(gen_setup):
    model, params, images, aus = gen_setup
    reference = jax.eval_shape(model.init, jax.random.key(0), images, aus)["params"]
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    assert params["Conv_0"]["kernel"].shape == (7, 7, 3 + K, 4)
    assert params["Conv_1"]["kernel"].shape == (4, 4, 4, 8)
    assert params["Conv_2"]["kernel"].shape == (4, 4, 8, 16)
    assert params["ConvTranspose_0"]["kernel"].shape == (4, 4, 8, 16)  # (k, k, out, in)
    assert "bias" in params["ResidualBlock_1"]["Conv_1"]  # convs before IN keep their bias
    assert set(params["color"]) == {"kernel"} and params["color"]["kernel"].shape == (7, 7, 4, 3)
    assert set(params["attention"]) == {"kernel"}


def test_init_is_normal_002_and_zero_bias():
    model = Generator()  # full GANimation widths: enough samples for the statistics
    params = ganimation.init_params(model, jax.random.key(1), jnp.zeros((1, 128, 128, 3)),
                                    jnp.zeros((1, 17)))
    kernels = np.concatenate([np.ravel(x) for p, x in jax.tree_util.tree_flatten_with_path(params)[0]
                              if p[-1].key == "kernel"])
    biases = [x for p, x in jax.tree_util.tree_flatten_with_path(params)[0] if p[-1].key == "bias"]
    assert kernels.size > 7_000_000
    assert abs(kernels.mean()) < 1e-4 and abs(kernels.std() - 0.02) < 1e-4
    assert all(float(jnp.max(jnp.abs(b))) == 0.0 for b in biases)


def test_compositing_and_heads(gen_setup):
    model, params, images, aus = gen_setup
    out = jax.jit(model.apply)({"params": params}, images, aus)  # compiled once, reused below
    assert out.image.shape == (N, S, S, 3) and out.attention.shape == (N, S, S, 1)
    assert float(jnp.min(out.attention)) > 0 and float(jnp.max(out.attention)) < 1
    np.testing.assert_allclose(out.image, out.attention * images + (1 - out.attention) * out.color,
                               atol=1e-6)
    # Zero attention kernel: A = sigmoid(0) = 1/2 exactly, so fake = (src + C) / 2 in both formulas.
    half = jax.tree.map(lambda x: x, params)
    half["attention"] = {"kernel": jnp.zeros_like(params["attention"]["kernel"])}
    applies = {"mask_source": jax.jit(model.apply),
               "mask_color": jax.jit(Generator(conv_dim=4, num_blocks=2,
                                               composite="mask_color").apply)}
    for composite in ganimation.COMPOSITES:
        o = applies[composite]({"params": half}, images, aus)
        np.testing.assert_allclose(o.attention, 0.5)
        np.testing.assert_allclose(o.image, 0.5 * images + 0.5 * o.color, atol=1e-6)
    # paper-v1 formula: A * C + (1 - A) * src.
    o = applies["mask_color"]({"params": params}, images, aus)
    np.testing.assert_allclose(o.image, o.attention * o.color + (1 - o.attention) * images,
                               atol=1e-6)


def test_generator_conditions_on_aus_and_naive_impl_agrees(gen_setup):
    model, params, images, aus = gen_setup
    apply = jax.jit(model.apply)
    a = apply({"params": params}, images, aus)
    b = apply({"params": params}, images, 1.0 - aus)
    assert float(jnp.max(jnp.abs(a.color - b.color))) > 1e-4
    # Plain lax convolutions and transposed convolutions everywhere (no 2x2 blocks for the narrow
    # input layer and heads): the same function.
    naive = Generator(conv_dim=4, num_blocks=2, conv_transpose_impl="naive", conv_impl="naive",
                      narrow_block=1)
    np.testing.assert_allclose(jax.jit(naive.apply)({"params": params}, images, aus).image,
                               a.image, atol=1e-5)


def test_stargan_variant_outputs_colour_directly(gen_setup):
    _, _, images, aus = gen_setup
    model = Generator(conv_dim=4, num_blocks=1, attention=False)
    params = ganimation.init_params(model, jax.random.key(2), images, aus)
    assert "attention" not in params
    out = jax.jit(model.apply)({"params": params}, images, aus)
    assert out.attention is None
    np.testing.assert_array_equal(out.image, out.color)
    assert float(jnp.max(jnp.abs(out.image))) <= 1.0


def test_discriminator_heads_128_and_224():
    d128 = Discriminator(num_aus=7, image_size=128)
    shapes = jax.eval_shape(d128.init, jax.random.key(0), jnp.zeros((1, 128, 128, 3)))["params"]
    assert shapes["Conv_0"]["bias"].shape == (64,)
    assert shapes["Conv_5"]["kernel"].shape == (4, 4, 1024, 2048)
    assert set(shapes["critic"]) == {"kernel"} and shapes["critic"]["kernel"].shape == (3, 3, 2048, 1)
    assert shapes["aus"]["kernel"].shape == (2, 2, 2048, 7)
    critic, aus = jax.eval_shape(d128.apply, {"params": shapes}, jnp.zeros((2, 128, 128, 3)))
    assert critic.shape == (2, 2, 2) and aus.shape == (2, 7)
    d224 = Discriminator(num_aus=7, image_size=224)
    assert d224.au_kernel == 3  # int(224 / 64), as in the paper's replicate
    shapes = jax.eval_shape(d224.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))["params"]
    critic, aus = jax.eval_shape(d224.apply, {"params": shapes}, jnp.zeros((2, 224, 224, 3)))
    assert critic.shape == (2, 3, 3) and aus.shape == (2, 7)


def test_discriminator_small_forward_is_finite():
    d = Discriminator(num_aus=K, image_size=S, conv_dim=4, num_layers=2)
    x = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (N, S, S, 3)), jnp.float32)
    params = ganimation.init_params(d, jax.random.key(3), x)
    critic, aus = jax.jit(d.apply)({"params": params}, x)
    assert critic.shape == (N, 4, 4) and aus.shape == (N, K)
    assert np.all(np.isfinite(critic)) and np.all(np.isfinite(aus))
    naive = Discriminator(num_aus=K, image_size=S, conv_dim=4, num_layers=2, conv_impl="naive")
    critic_ref, aus_ref = jax.jit(naive.apply)({"params": params}, x)
    np.testing.assert_allclose(critic, critic_ref, atol=1e-5)
    np.testing.assert_allclose(aus, aus_ref, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"images must be \[N, 128, 128, 3\]"):
        jax.eval_shape(Discriminator(num_aus=3).init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    with pytest.raises(ValueError, match="composite"):
        jax.eval_shape(Generator(composite="average").init, jax.random.key(0),
                       jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"aus must be \[N, num_aus\]"):
        jax.eval_shape(Generator().init, jax.random.key(0), jnp.zeros((2, 16, 16, 3)),
                       jnp.zeros((3, 2)))


def test_relative_conditioning_sees_target_minus_source(gen_setup):
    _, params, images, aus = gen_setup
    source = jnp.asarray(np.random.default_rng(3).uniform(0, 1, (N, K)), jnp.float32)
    np.testing.assert_array_equal(ganimation.condition(aus, source, "absolute"), aus)
    np.testing.assert_allclose(ganimation.condition(aus, source, "relative"), aus - source)
    absolute = jax.jit(Generator(conv_dim=4, num_blocks=2).apply)
    relative = jax.jit(Generator(conv_dim=4, num_blocks=2, conditioning="relative").apply)
    # The same parameters: the relative generator is the absolute one fed y_t - y_s.
    want = absolute({"params": params}, images, aus - source).image
    np.testing.assert_allclose(relative({"params": params}, images, aus, source).image, want, atol=1e-6)
    # Only the change matters: shifting target and source alike draws the same image, and asking
    # for no change is asking for the zero vector whatever the face shows.
    np.testing.assert_allclose(relative({"params": params}, images, aus + 0.25, source + 0.25).image, want,
                               atol=1e-5)
    zero = absolute({"params": params}, images, jnp.zeros_like(aus)).image
    np.testing.assert_allclose(relative({"params": params}, images, source, source).image, zero, atol=1e-6)
    # The absolute generator ignores the source AUs.
    np.testing.assert_array_equal(absolute({"params": params}, images, aus, source).image,
                                  absolute({"params": params}, images, aus).image)
    with pytest.raises(ValueError, match="needs source_aus"):
        Generator(conv_dim=4, num_blocks=2, conditioning="relative").apply({"params": params}, images, aus)
    with pytest.raises(ValueError, match="conditioning 'delta'"):
        Generator(conv_dim=4, num_blocks=2, conditioning="delta").apply({"params": params}, images, aus, source)
