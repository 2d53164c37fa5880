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
    # (narrow_block=1: the blocked narrow layers multiply zero taps too, 1.78x their count.)
    model = vgg.VGG16(num_aus=2, width=1 / 8, narrow_block=1)
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


# --- VGG16-BN (norm='batch') ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_bn():
    model = vgg.VGG16(num_aus=3, width=1 / 16, norm="batch", bn_momentum=0.9)
    variables = vgg.init_params(model, 32, seed=1)
    x = jax.random.uniform(jax.random.key(4), (4, 32, 32, 3))
    return model, variables, x


def _bn_reference(z, mean, var, eps=1e-5):
    return (z - mean) / np.sqrt(var + eps)


def test_bn_variables_and_init(tiny_bn):
    model, variables, _ = tiny_bn
    assert set(variables) == {"params", "batch_stats"}
    names = [n for n in variables["params"]]
    assert [n for n in names if not n.endswith("_bn")] == list(vgg.LAYER_ORDER)
    assert [n for n in names if n.endswith("_bn")] == [f"{c}_bn" for c in vgg.CONV_LAYERS]
    bn = variables["params"]["block2_conv1_bn"]
    np.testing.assert_array_equal(bn["scale"], np.ones(8))
    np.testing.assert_array_equal(bn["bias"], np.zeros(8))
    stats = variables["batch_stats"]["block2_conv1_bn"]
    np.testing.assert_array_equal(stats["mean"], np.zeros(8))
    np.testing.assert_array_equal(stats["var"], np.ones(8))
    # Same shapes and collections as Flax's own init.
    ref = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert jax.tree.map(lambda a: a.shape, ref) == jax.tree.map(lambda a: np.shape(a), variables)


def test_bn_train_mode_against_numpy(tiny_bn):
    model, variables, x = tiny_bn
    # Non-trivial running statistics and affine parameters, so every term of the formula matters.
    rng = np.random.default_rng(0)
    variables = jax.tree.map(np.asarray, variables)
    for name in ("block1_conv1_bn",):
        variables["params"][name]["scale"] = rng.uniform(0.5, 2, 4).astype(np.float32)
        variables["params"][name]["bias"] = rng.normal(0, 1, 4).astype(np.float32)
        variables["batch_stats"][name]["mean"] = rng.normal(0, 1, 4).astype(np.float32)
        variables["batch_stats"][name]["var"] = rng.uniform(0.5, 2, 4).astype(np.float32)

    def run(v, x, train):
        out, state = model.apply(v, x, train=train, mutable=["batch_stats", "intermediates"],
                                 rngs={"dropout": jax.random.key(1)},
                                 capture_intermediates=lambda mdl, _: mdl.name in (
                                     "block1_conv1", "block1_conv1_bn"))
        return out, state

    _, train_state = jax.jit(run, static_argnums=2)(variables, x, True)
    conv = np.asarray(train_state["intermediates"]["block1_conv1"]["__call__"][0], np.float64)
    bn = np.asarray(train_state["intermediates"]["block1_conv1_bn"]["__call__"][0])
    p, s = variables["params"]["block1_conv1_bn"], variables["batch_stats"]["block1_conv1_bn"]
    mean, var = conv.mean((0, 1, 2)), conv.var((0, 1, 2))  # biased batch variance, as BN
    np.testing.assert_allclose(bn, _bn_reference(conv, mean, var) * p["scale"] + p["bias"],
                               rtol=1e-4, atol=1e-4)
    # Running statistics: r <- 0.9 r + 0.1 batch (Flax stores the biased variance).
    new = train_state["batch_stats"]["block1_conv1_bn"]
    np.testing.assert_allclose(new["mean"], 0.9 * s["mean"] + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["var"], 0.9 * s["var"] + 0.1 * var, rtol=1e-4, atol=1e-6)
    # Test mode: the running statistics, not the batch's, and nothing is updated.
    _, test_state = jax.jit(run, static_argnums=2)(variables, x, False)
    conv_t = np.asarray(test_state["intermediates"]["block1_conv1"]["__call__"][0], np.float64)
    bn_t = np.asarray(test_state["intermediates"]["block1_conv1_bn"]["__call__"][0])
    np.testing.assert_allclose(conv_t, conv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn_t, _bn_reference(conv_t, s["mean"], s["var"]) * p["scale"] + p["bias"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(test_state["batch_stats"]["block1_conv1_bn"]["mean"], s["mean"])


def test_bn_test_mode_is_per_image(tiny_bn):
    # With running statistics an image's logits do not depend on the rest of the batch (in training
    # they do: the batch statistics are checked against numpy above).
    model, variables, x = tiny_bn
    apply = jax.jit(model.apply)
    np.testing.assert_allclose(apply(variables, x[:1]), apply(variables, x)[:1], rtol=1e-5, atol=1e-5)


def test_norm_choice_is_checked():
    with pytest.raises(ValueError, match="norm='layer'"):
        jax.eval_shape(vgg.VGG16(num_aus=1, width=1 / 16, norm="layer").init, jax.random.key(0),
                       jnp.zeros((1, 32, 32, 3)))


def test_narrow_blocks_compute_the_same_function(tiny):
    # width 1/16: block1_conv1 (3->4), block1_conv2 (4->4), block2 (4->8, 8->8) run over 2x2 blocks
    # by default; narrow_block=1 is flax's nn.Conv computation.
    model, variables, x = tiny
    assert model.narrow_block == 2
    plain = vgg.VGG16(num_aus=4, width=1 / 16, narrow_block=1)
    np.testing.assert_allclose(jax.jit(model.apply)(variables, x), jax.jit(plain.apply)(variables, x),
                               atol=2e-5, rtol=1e-5)
