"""Keras parity of the VGG16 trunk and of the ImageNet importers (Keras h5, torchvision npz).

A randomly initialised ``keras.applications.VGG16`` (seeded, offline) stands in for the ImageNet
weights: its weights are written in the legacy layout of the official
``vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5`` files (Keras 3's ``save_weights`` writes a
different layout, tested too), imported through our importer, and our features are compared with
Keras's on random images.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxau.models import vgg, vgg_import

keras = pytest.importorskip("keras")


def _write_legacy_h5(model, path):
    """Writes ``model``'s weights in the layout of the official Keras 2 ImageNet files."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([l.name.encode() for l in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.0.8"
        for layer in model.layers:
            g = f.create_group(layer.name)
            weights = layer.get_weights()
            names = [f"{layer.name}_W_1:0", f"{layer.name}_b_1:0"] if weights else []
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, w in zip(names, weights):
                g.create_dataset(n, data=w)


def _torchvision_state_dict(model):
    """The Keras weights renamed and transposed to torchvision's vgg16 state dict (torch semantics:
    conv weight (out, in, kh, kw), linear weight (out, in), classifier.0 inputs in C, H, W order)."""
    sd = {}
    for layer, idx in zip(vgg.CONV_LAYERS, vgg_import.TORCHVISION_CONV_INDICES):
        k, b = model.get_layer(layer).get_weights()
        sd[f"features.{idx}.weight"] = np.transpose(k, (3, 2, 0, 1))
        sd[f"features.{idx}.bias"] = b
    k, b = model.get_layer("fc1").get_weights()  # rows in H, W, C order
    k_chw = k.reshape(7, 7, 512, -1).transpose(2, 0, 1, 3).reshape(25088, -1)
    sd["classifier.0.weight"], sd["classifier.0.bias"] = k_chw.T, b
    k, b = model.get_layer("fc2").get_weights()
    sd["classifier.3.weight"], sd["classifier.3.bias"] = k.T, b
    k, b = model.get_layer("predictions").get_weights()
    sd["classifier.6.weight"], sd["classifier.6.bias"] = k.T, b
    return sd


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vgg")
    keras.utils.set_random_seed(0)
    full = keras.applications.VGG16(weights=None, include_top=True)
    notop = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    for layer in vgg.CONV_LAYERS:
        notop.get_layer(layer).set_weights(full.get_layer(layer).get_weights())
    paths = {"full": str(tmp / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
             "notop": str(tmp / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
             "keras3": str(tmp / "notop.weights.h5"),
             "npz": str(tmp / "vgg16_torchvision.npz")}
    _write_legacy_h5(full, paths["full"])
    _write_legacy_h5(notop, paths["notop"])
    notop.save_weights(paths["keras3"])
    sd = _torchvision_state_dict(full)
    np.savez(paths["npz"], **sd)

    rng = np.random.default_rng(0)
    small = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    big = rng.uniform(size=(2, 224, 224, 3)).astype(np.float32)
    prep = keras.applications.vgg16.preprocess_input
    pool5 = np.asarray(notop(prep(small * 255.0)))
    fc2_model = keras.Model(full.input, full.get_layer("fc2").output)
    fc2 = np.asarray(fc2_model(prep(big * 255.0)))
    fc1_k = full.get_layer("fc1").get_weights()[0]
    return dict(paths=paths, small=small, big=big, pool5=pool5, fc2=fc2, sd=sd, fc1_keras=fc1_k)


def _init(size, width=1.0, num_aus=3):
    model = vgg.VGG16(num_aus=num_aus, width=width)
    params = vgg.init_params(model, size, seed=1)["params"]
    return model, params


@pytest.fixture(scope="module")
def small_model():
    model, params = _init(32)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x, return_features=True))
    return model, params, apply


@pytest.fixture(scope="module")
def big_model(small_model):
    # A full init at 224 spends ~10 s drawing 134M random numbers that the import overwrites: take
    # the shapes from eval_shape and the (size-independent) head from the small model instead.
    model = vgg.VGG16(num_aus=3)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(1), jnp.zeros((1, 224, 224, 3))))
    params = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes["params"])
    params["head"] = small_model[1]["head"]
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x, return_features=True))
    return model, params, apply


def _assert_close(ours, ref, tol=1e-4):
    # Absolute 1e-4 while features are O(1) (they are here: max |block5_pool| ~1, |fc2| ~1.4; seen
    # errors 1e-6..4e-6), relative beyond that, so the check survives other seeds.
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(np.asarray(ours) - ref).max())
    assert err <= tol * scale, (err, scale)


def test_preprocessing_matches_keras():
    x = np.random.default_rng(2).uniform(size=(2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(vgg.preprocess(jnp.asarray(x), "caffe"),
                               keras.applications.vgg16.preprocess_input(x * 255.0), atol=1e-4)
    np.testing.assert_allclose(
        vgg.preprocess(jnp.asarray(x), "torch"),
        keras.applications.imagenet_utils.preprocess_input(x * 255.0, mode="torch"), atol=1e-5)


def test_notop_h5_block5_pool_matches_keras(assets, small_model):
    _, params, apply = small_model
    new, report = vgg_import.import_imagenet(params, assets["paths"]["notop"])
    assert report.source_format == "keras_h5" and report.preprocessing == "caffe"
    assert report.imported == vgg.CONV_LAYERS
    assert dict(report.skipped).keys() == {"fc1", "fc2"}
    _, feats = apply(new, jnp.asarray(assets["small"]))
    _assert_close(feats["block5_pool"], assets["pool5"])
    # The head (and fc layers) keep their initialisation.
    for layer in ("head", "fc1", "fc2"):
        np.testing.assert_array_equal(new[layer]["kernel"], params[layer]["kernel"])


def test_keras3_weights_h5_equals_legacy(assets, small_model):
    _, params, _ = small_model
    legacy, _ = vgg_import.import_imagenet(params, assets["paths"]["notop"])
    k3, report = vgg_import.import_imagenet({"params": params}, assets["paths"]["keras3"])
    assert report.source_format == "keras3_h5"
    for layer in vgg.CONV_LAYERS:
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(k3["params"][layer][name], legacy[layer][name])


def test_torch_flatten_order_of_test_state_dict(assets):
    # Guards the test's own torchvision state dict: torch flattens NCHW, Keras NHWC; both must give
    # the same fc1 pre-activation for the same block5_pool map.
    f = np.random.default_rng(3).normal(size=(1, 7, 7, 512)).astype(np.float32)
    torch_style = f.transpose(0, 3, 1, 2).reshape(1, -1) @ assets["sd"]["classifier.0.weight"].T
    keras_style = f.reshape(1, -1) @ assets["fc1_keras"]
    np.testing.assert_allclose(torch_style, keras_style, rtol=1e-4, atol=1e-4)


def test_full_h5_and_torchvision_npz_fc2_match_keras(assets, big_model):
    _, params, apply = big_model
    new, report = vgg_import.import_imagenet(params, assets["paths"]["full"], include_top=True)
    assert report.imported == vgg.CONV_LAYERS + ("fc1", "fc2") and not report.skipped
    _, feats = apply(new, jnp.asarray(assets["big"]))
    _assert_close(feats["fc2"], assets["fc2"])
    np.testing.assert_array_equal(new["head"]["kernel"], params["head"]["kernel"])

    tv, report = vgg_import.import_imagenet(params, assets["paths"]["npz"])
    assert report.source_format == "torchvision" and report.preprocessing == "torch"
    assert report.imported == vgg.CONV_LAYERS + ("fc1", "fc2")
    for layer in vgg_import.IMPORTABLE_LAYERS:
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(tv[layer][name], new[layer][name], err_msg=layer)
    # Keep the import test independent of the head: same shape, and logits finite.
    logits, _ = apply(tv, jnp.asarray(assets["big"]))
    assert logits.shape == (2, 3, 6) and bool(jnp.isfinite(logits).all())


def test_import_errors(assets, small_model, tmp_path):
    _, params, _ = small_model
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg_import.import_imagenet(params, str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="224x224"):
        vgg_import.import_imagenet(params, assets["paths"]["full"], include_top=True)
    # 'auto' skips the fc layers whose shapes do not fit a 32x32 input.
    _, report = vgg_import.import_imagenet(params, assets["paths"]["full"])
    assert [l for l, _ in report.skipped] == ["fc1", "fc2"]
    half = vgg.VGG16(num_aus=3, width=0.5)
    half_params = jax.eval_shape(lambda: half.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
    half_params = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), half_params)
    with pytest.raises(ValueError, match="width=1.0"):
        vgg_import.import_imagenet(half_params, assets["paths"]["notop"])
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_group("something")
    with pytest.raises(ValueError, match="not a Keras weights file"):
        vgg_import.import_imagenet(params, str(bad))
    try:
        import torch  # noqa: F401
    except ImportError:
        pth = tmp_path / "vgg16.pth"
        pth.write_bytes(b"\x80")
        with pytest.raises(ImportError, match="np.savez"):
            vgg_import.import_imagenet(params, str(pth))
