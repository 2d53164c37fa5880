import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import vgg


@pytest.fixture(scope="module")
def tiny():
    model = vgg.VGG16(num_aus=4, width=1 / 16)
    x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))
    variables = vgg.init_params(model, 32, seed=1)
    return model, variables, x


def test_shapes_names_and_features(tiny):
    model, variables, x = tiny
    params = variables["params"]
    assert list(params) == list(vgg.LAYER_ORDER)
    assert params["block1_conv1"]["kernel"].shape == (3, 3, 3, 4)
    assert params["block5_conv3"]["kernel"].shape == (3, 3, 32, 32)
    assert params["fc1"]["kernel"].shape == (32, 256)  # 1x1x32 after five poolings
    assert params["head"]["kernel"].shape == (256, 4 * 6)
    logits, feats = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
    assert logits.shape == (2, 4, 6) and logits.dtype == jnp.float32
    assert feats["block5_pool"].shape == (2, 1, 1, 32) and feats["fc2"].shape == (2, 256)
    # The head is a dense layer on fc2 reshaped per AU (dropout is off at test time).
    head = params["head"]
    np.testing.assert_allclose(logits, (feats["fc2"] @ head["kernel"] + head["bias"]).reshape(2, 4, 6),
                               rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training(tiny):
    model, variables, x = tiny
    apply = jax.jit(lambda v, x, k: model.apply(v, x, train=True, rngs={"dropout": k}))
    a, b = apply(variables, x, jax.random.key(2)), apply(variables, x, jax.random.key(3))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(model.apply(variables, x), model.apply(variables, x))


def test_preprocess_hand_values():
    px = jnp.array([[[1.0, 0.5, 0.0]]])  # RGB
    np.testing.assert_allclose(vgg.preprocess(px, "caffe"),
                               [[[0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68]]], rtol=1e-6)
    np.testing.assert_allclose(vgg.preprocess(px, "torch"),
                               [[[(1 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0 - 0.406) / 0.225]]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="preprocessing"):
        vgg.preprocess(px, "tf")


def test_flop_count():
    # Published VGG16 cost: 15.47 GMACs at 224 with the 1000-way classifier.
    with_classifier = vgg.forward_flops(224, 0) + 2 * 4096 * 1000
    assert with_classifier == pytest.approx(2 * 15.47e9, rel=1e-3)
    # XLA's cost analysis counts only the in-bounds taps of SAME-padded convolutions; match it to
    # that count (plus elementwise ops, < 2%) and check our dense count is the larger.
    model = vgg.VGG16(num_aus=2, width=1 / 8)
    x = jnp.zeros((1, 64, 64, 3))
    v = jax.eval_shape(model.init, jax.random.key(0), x)
    xla = jax.jit(model.apply).lower(v, x).compile().cost_analysis()
    xla = (xla[0] if isinstance(xla, (list, tuple)) else xla)["flops"]
    h, c, in_bounds = 64, 3, 0
    for _, n, ch in vgg.VGG16_BLOCKS:
        co = vgg.scaled_width(ch, 1 / 8)
        for _ in range(n):
            in_bounds += 2 * (3 * h - 2) ** 2 * c * co
            c = co
        h //= 2
    in_bounds += 2 * (4 * c) * 512 + 2 * 512 * 512 + 2 * 512 * 12
    assert xla == pytest.approx(in_bounds, rel=0.02)
    assert vgg.forward_flops(64, 2, 1 / 8) > xla
    per_layer = vgg.layer_flops(224, 7)
    assert per_layer["block1_conv1"] == 2 * 224 * 224 * 9 * 3 * 64
    assert per_layer["fc1"] == 2 * 25088 * 4096 and per_layer["head"] == 2 * 4096 * 42
    fwd = vgg.forward_flops(224, 7)
    assert vgg.train_step_flops(224, 7) == 3 * fwd
    # Only the head trains: forward + the head's weight gradient (no input gradient needed).
    assert vgg.train_step_flops(224, 7, fine_tune_from="head") == fwd + per_layer["head"]


def test_init_params_matches_flax_defaults():
    model = vgg.VGG16(num_aus=2, width=1 / 4)
    ours = vgg.init_params(model, 32, seed=0)["params"]
    ref = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
    assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), ours) == jax.tree_util.tree_map(
        lambda a: (a.shape, a.dtype), ref)
    k = np.asarray(ours["block5_conv1"]["kernel"])  # fan_in 9 * 128, 147k draws
    scale = np.sqrt(1 / (9 * 128))
    assert np.std(k) == pytest.approx(scale, rel=0.01)
    assert np.abs(k).max() <= 2 * scale / 0.87962566103423978 + 1e-7
    assert not np.any(ours["fc1"]["bias"])


def test_bad_input():
    model = vgg.VGG16(num_aus=1, width=1 / 16)
    with pytest.raises(ValueError, match=r"H, W >= 32"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
