"""Fréchet distance against the scipy ``sqrtm`` formula, closed forms, and the feature extractors."""

import numpy as np
import pytest
import scipy.linalg

from jaxau.evaluation import frechet


def scipy_reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_cov(rng, f, rank=None):
    a = rng.normal(size=(f, rank or f))
    return a @ a.T / f


@pytest.mark.parametrize("f", [1, 3, 16])
def test_matches_scipy_sqrtm_reference(f):
    rng = np.random.default_rng(f)
    mu1, mu2 = rng.normal(size=f), rng.normal(size=f)
    s1, s2 = random_cov(rng, f), random_cov(rng, f)
    np.testing.assert_allclose(frechet.frechet_distance(mu1, s1, mu2, s2), scipy_reference(mu1, s1, mu2, s2),
                               rtol=1e-7, atol=1e-9)


def test_closed_forms_and_rank_deficient_covariances():
    rng = np.random.default_rng(0)
    s = random_cov(rng, 5)
    mu = rng.normal(size=5)
    assert abs(frechet.frechet_distance(mu, s, mu, s)) < 1e-9
    # Same covariance: only the mean term remains. Diagonal: sum (sqrt(a) - sqrt(b))^2 + |dmu|^2.
    assert frechet.frechet_distance(mu, s, mu + 2.0, s) == pytest.approx(5 * 4.0, rel=1e-9)
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.0])
    assert frechet.frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(
        np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-9)
    # Fewer samples than dimensions (singular covariances, as with small synthetic sets).
    x, y = rng.normal(size=(6, 20)), rng.normal(size=(8, 20)) + 0.5
    ref = scipy_reference(*frechet.gaussian_stats(x), *frechet.gaussian_stats(y))
    assert frechet.frechet_between(x, y) == pytest.approx(ref, rel=1e-6)


def test_gaussian_stats_and_shape_errors():
    x = np.random.default_rng(1).normal(size=(50, 4))
    mu, s = frechet.gaussian_stats(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(s, np.cov(x.T))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet.gaussian_stats(x[:1])
    with pytest.raises(ValueError, match="two Gaussians"):
        frechet.frechet_distance(mu, s, mu[:3], s)


def test_keras_features_from_a_user_supplied_model_file(tmp_path):
    import keras

    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    out = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, out)
    path = str(tmp_path / "features.keras")
    model.save(path)
    images = np.random.default_rng(0).integers(0, 256, (5, 12, 12, 3), dtype=np.uint8)
    feats = frechet.keras_features(path, images, batch_size=2)
    expected = model.predict(images.astype(np.float32) / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="feature network"):
        frechet.keras_features(str(tmp_path / "missing.keras"), images)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_estimator_fc2_features_match_the_vgg_penultimate_layer(tmp_path, norm):
    import os

    import jax

    from jaxau import io_utils
    from jaxau.train import checkpoint as checkpoint_lib
    from jaxau.train import estimator
    from jaxau.train.state import TrainState

    cfg = {"width": 0.0625, "image_size": 32, "learning_rate": 1e-3, "num_steps": 1, "readout": "argmax",
           "norm": norm}
    model = estimator.model_from_config(cfg, 2)
    state, _ = estimator.init_state(cfg, model, 0)
    io_utils.write_json(os.path.join(tmp_path, estimator.MODEL_FILE), {"config": cfg, "au_names": ["AU01", "AU12"]})
    ckpt = checkpoint_lib.Checkpointer(str(tmp_path), async_save=False)
    ckpt.save(1, state)
    ckpt.close()
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    feats = frechet.estimator_features(str(tmp_path), images, batch_size=4)
    # VGG16-BN: the running statistics are part of the model (test mode uses them).
    _, ref = model.apply({"params": state.params, **state.model_state}, images.astype(np.float32) / 255.0,
                         return_features=True)
    assert isinstance(state, TrainState) and feats.shape == ref["fc2"].shape
    np.testing.assert_allclose(feats, np.asarray(jax.device_get(ref["fc2"])), rtol=1e-4, atol=1e-5)
