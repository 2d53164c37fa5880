"""Fréchet distance between two image sets in a feature space (image-quality check of the generator).

``d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2})`` between Gaussians fitted to the
features of two sets. The feature network decides what the number means, so results are named for the
features used:

* ``estimator_fc2``: the penultimate (``fc2``) features of one of our trained VGG16 AU estimators
  (`estimator_features`). Not comparable to published FIDs and never reported as FID.
* a Keras model the user supplies (`keras_features`, e.g. an InceptionV3 saved with
  ``include_top=False, pooling='avg'``); only with the standard Inception weights and 299 x 299
  inputs is the number comparable to FID, and it is then still labelled by the model file's name.

``tr((S_a S_b)^{1/2})`` is computed from symmetric eigendecompositions: with ``R = S_a^{1/2}``,
``S_a S_b = R (R S_b R) R^{-1}`` is similar to the PSD matrix ``R S_b R``, so the trace is the sum of
the square roots of its eigenvalues. This needs no general (non-symmetric) matrix square root and
stays real; the tests compare it with the usual ``scipy.linalg.sqrtm`` formula.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jaxau import batching
from jaxau.train import estimator


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, ``N - 1``) covariance of ``[N, F]`` features, in float64."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"gaussian_stats needs features [N >= 2, F], got {x.shape}.")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray) -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b) (squared-distance form, as FID).

    Args:
      mu_a, mu_b: ``[F]`` means.
      sigma_a, sigma_b: ``[F, F]`` symmetric PSD covariances.

    Returns:
      The distance (>= 0 up to rounding).
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    f = mu_a.shape[0]
    if mu_b.shape != (f,) or sigma_a.shape != (f, f) or sigma_b.shape != (f, f):
        raise ValueError(f"frechet_distance: shapes {mu_a.shape}, {sigma_a.shape}, {mu_b.shape}, "
                         f"{sigma_b.shape} do not describe two Gaussians of one dimension.")
    root_a = _psd_sqrt(sigma_a)
    m = root_a @ sigma_b @ root_a
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_covmean)


def frechet_between(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between two feature sets ``[Na, F]`` and ``[Nb, F]``."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def estimator_features(model_dir: str, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """``fc2`` (penultimate) features ``[N, F]`` of the trained VGG16 estimator in ``model_dir``.

    Args:
      model_dir: an estimator run directory (``estimator.json`` + checkpoints).
      images: uint8 ``[N, S, S, 3]`` at the estimator's image size.
      batch_size: images per jitted call (the last batch is padded).
    """
    import jax

    predictor = estimator.Predictor(model_dir)
    if images.shape[1:3] != (predictor.image_size, predictor.image_size):
        raise ValueError(f"images are {images.shape[1:3]}, the estimator in {model_dir} takes "
                         f"{predictor.image_size}: resize them first.")
    model = predictor.model

    @jax.jit
    def fc2(variables, batch):  # variables: params + VGG16-BN's running statistics, if any.
        _, feats = model.apply(variables, batch.astype(np.float32) / 255.0, train=False,
                               return_features=True)
        return feats["fc2"]

    variables = predictor.variables
    return _batched(lambda b: fc2(variables, b), images, batch_size)


def keras_features(model_path: str, images: np.ndarray, batch_size: int = 32,
                   preprocessing: str = "inception") -> np.ndarray:
    """Features ``[N, F]`` from a user-supplied Keras model file (its output, flattened).

    Args:
      model_path: a ``.keras`` / ``.h5`` model whose output is the feature vector (e.g. InceptionV3
        with ``include_top=False, pooling='avg'``).
      images: uint8 ``[N, H, W, 3]``; resized bilinearly to the model's input size when it has one.
      batch_size: images per call.
      preprocessing: 'inception' (x / 127.5 - 1, Inception's convention) or 'unit' (x / 255).
    """
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"feature network {model_path} not found: pass the path of a Keras model "
                                "file (e.g. InceptionV3(include_top=False, pooling='avg') saved as .keras).")
    if preprocessing not in ("inception", "unit"):
        raise ValueError(f"preprocessing={preprocessing!r}: use 'inception' or 'unit'.")
    import keras
    import tensorflow as tf

    model = keras.models.load_model(model_path, compile=False)
    size = model.input_shape[1:3]

    def run(batch):
        x = tf.convert_to_tensor(batch, tf.float32)
        if None not in size and tuple(x.shape[1:3]) != tuple(size):
            x = tf.image.resize(x, size, method="bilinear")
        x = x / 127.5 - 1.0 if preprocessing == "inception" else x / 255.0
        out = model(x, training=False)
        return np.asarray(out).reshape(len(batch), -1)

    return _batched(run, images, batch_size)


def _batched(fn: Any, images: np.ndarray, batch_size: int) -> np.ndarray:
    out = batching.map_padded(lambda chunk: np.asarray(fn(chunk), np.float64), images, batch_size)
    if not out:
        raise ValueError("no images to compute features of.")
    return np.concatenate(out)
