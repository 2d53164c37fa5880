"""VGG16 AU-intensity estimator (paper Sec. 3.3, 4.2.2; architectures.md §4).

The trunk is VGG16 (13 3x3 convolutions in 5 blocks, 3 dense layers) with parameter names as in
``keras.applications.VGG16`` (``block1_conv1`` ... ``block5_conv3``, ``fc1``, ``fc2``), so ImageNet
weights import by name and fine-tuning "from the third convolutional layer" is a regex over
'/'-joined parameter paths. Keras's 1000-way ``predictions`` layer is replaced by ``head``: one
6-way softmax (levels 0, A..E) per AU, computed as a single dense layer with ``num_aus * 6`` outputs
reshaped to ``[B, num_aus, 6]`` (mathematically identical to ``num_aus`` separate heads on the shared
trunk, and one matmul instead of ``num_aus``).

Input convention: float images in [0, 1], RGB, NHWC. The ImageNet preprocessing is part of the model
because the weights decide it: ``'caffe'`` (Keras VGG16 weights: x*255, RGB->BGR, minus the BGR
ImageNet mean, no scaling) or ``'torch'`` (torchvision weights: (x - mean) / std per RGB channel).

Flatten order: ``fc1`` always consumes the ``block5_pool`` map flattened in NHWC (H, W, C) order, as
Keras does. torchvision flattens NCHW; :mod:`jaxau.models.vgg_import` permutes the rows of torchvision's
``classifier.0`` weight into HWC order on import, so the model has one code path.

Dropout 0.5 (paper) follows the ReLU of ``fc1`` and of ``fc2`` (torchvision's placement; Keras's VGG16
has no dropout). The penultimate features (``fc2`` after ReLU, before dropout: torchvision's "fc7")
are returned on request for the Fréchet distance.

``norm='batch'`` gives VGG16-BN (BatchNorm between each convolution and its ReLU, as torchvision's
``vgg16_bn``) for training from scratch, where no ImageNet weights exist: plain VGG16 at CPU sizes
stays a near-constant predictor for hundreds of steps (BUILD_NOTES.md). The default ``'none'`` keeps
the parameter tree, Keras parity and the weight importer exactly as above.
"""

from __future__ import annotations

import re
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxau.models import layers, pooling
from jaxau.au import NUM_LEVELS

# (block, number of convolutions, channels at width 1) of VGG16 configuration "D".
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
FC_WIDTH = 4096

# Keras 'caffe' mode: BGR channel means on the 0..255 scale (keras.applications.imagenet_utils).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# torchvision ImageNet statistics on the 0..1 scale, RGB.
TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
TORCH_RGB_STD = (0.229, 0.224, 0.225)
PREPROCESSING_MODES = ("caffe", "torch", "none")
NORMS = ("none", "batch")

CONV_LAYERS = tuple(f"block{b}_conv{i}" for b, n, _ in VGG16_BLOCKS for i in range(1, n + 1))
DENSE_LAYERS = ("fc1", "fc2", "head")
LAYER_ORDER = CONV_LAYERS + DENSE_LAYERS


def preprocess(images: jnp.ndarray, mode: str) -> jnp.ndarray:
    """ImageNet input preprocessing of [0, 1] RGB images for the given weights' convention.

    Args:
      images: float array [..., 3], RGB in [0, 1].
      mode: 'caffe' (Keras VGG16: BGR, 0..255, mean-subtracted), 'torch' (RGB mean/std) or 'none'.

    Returns:
      The preprocessed array, same shape.
    """
    if mode == "caffe":
        bgr = images[..., ::-1] * 255.0
        return bgr - jnp.asarray(CAFFE_BGR_MEAN, images.dtype)
    if mode == "torch":
        return (images - jnp.asarray(TORCH_RGB_MEAN, images.dtype)) / jnp.asarray(
            TORCH_RGB_STD, images.dtype)
    if mode == "none":
        return images
    raise ValueError(f"Unknown preprocessing {mode!r}: use one of {PREPROCESSING_MODES} "
                     "('caffe' for Keras VGG16 weights, 'torch' for torchvision weights).")


def scaled_width(channels: int, width: float) -> int:
    """Channels of a layer at width multiplier ``width`` (at least 1)."""
    return max(1, int(round(channels * width)))


class VGG16(nn.Module):
    """VGG16 with one 6-way softmax head per AU.

    Attributes:
      num_aus: number of AU heads K.
      width: width multiplier for every conv and dense layer (1.0 = exact VGG16).
      dropout_rate: dropout after the ReLUs of fc1 and fc2 (paper: 0.5).
      preprocessing: 'caffe', 'torch' or 'none' (see :func:`preprocess`).
      num_levels: classes per AU head (6: absent, A..E).
      dtype: computation dtype of activations, convolutions and matmuls, e.g. bfloat16 for mixed
        precision on accelerators. Parameters stay float32 (cast per layer), and the logits and the
        returned features are float32 whatever the computation dtype.
      norm: 'none' (VGG16 as published; Keras parity and ImageNet import) or 'batch' (VGG16-BN:
        BatchNorm between every convolution and its ReLU, for training from scratch). The BN layers
        are named ``<conv>_bn`` and keep running statistics in the ``batch_stats`` collection.
      bn_momentum: running-statistics momentum of the BN layers. 0.9 rather than Flax's 0.99: short
        CPU runs (a few hundred steps) would otherwise evaluate with statistics still near their init.
      narrow_block: narrow convolutions (`layers.is_narrow`: ``block1_conv1`` at widths up to 1/4,
        ``block1_conv2`` and ``block2_conv1`` at 1/8; none at width 1) are computed over
        ``narrow_block`` x ``narrow_block`` blocks of positions (``layers.conv``'s ``block``: the same
        function, up to 2x faster on XLA:CPU); 1 computes them as ``flax.linen.Conv`` does.
    """

    num_aus: int
    width: float = 1.0
    dropout_rate: float = 0.5
    preprocessing: str = "caffe"
    num_levels: int = NUM_LEVELS
    dtype: jnp.dtype = jnp.float32
    norm: str = "none"
    bn_momentum: float = 0.9
    narrow_block: int = 2

    @nn.compact
    def __call__(self, images: jnp.ndarray, *, train: bool = False,
                 return_features: bool = False):
        """Runs the estimator.

        Args:
          images: float [B, H, W, 3] RGB in [0, 1]; H, W >= 32 (five 2x2 poolings).
          train: enables dropout (needs a 'dropout' rng) and, with ``norm='batch'``, normalises with
            the batch's statistics and updates the running ones (apply with
            ``mutable=['batch_stats']``); at test time the running statistics are used.
          return_features: also return intermediate features.

        Returns:
          logits [B, num_aus, num_levels]; with ``return_features``, ``(logits, features)`` where
          ``features`` has 'block5_pool' [B, H/32, W/32, C] and 'fc2' [B, F] (after ReLU, before
          dropout; the penultimate "fc7" features).
        """
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"VGG16 expects images [B, H, W, 3] RGB in [0, 1]; got shape {images.shape}.")
        if images.shape[1] < 32 or images.shape[2] < 32:
            raise ValueError(f"VGG16 needs H, W >= 32 (five 2x2 poolings); got {images.shape[1:3]}.")
        if self.norm not in NORMS:
            raise ValueError(f"VGG16 norm={self.norm!r} unknown: use one of {NORMS} ('batch' = VGG16-BN).")
        x = preprocess(images.astype(jnp.float32), self.preprocessing).astype(self.dtype)
        for block, num_convs, channels in VGG16_BLOCKS:
            for i in range(1, num_convs + 1):
                features = scaled_width(channels, self.width)
                narrow = layers.is_narrow(x.shape[-1], features)
                # flax.linen.Conv's parameters and computation ('naive': lax.conv_general_dilated).
                x = layers.Conv(features, (3, 3), padding="SAME", impl="naive",
                                block=int(self.narrow_block) if narrow else 1, dtype=self.dtype,
                                name=f"block{block}_conv{i}")(x)
                if self.norm == "batch":
                    x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                     epsilon=1e-5, dtype=self.dtype, name=f"block{block}_conv{i}_bn")(x)
                x = nn.relu(x)
            # = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID"), without its slow CPU gradient.
            x = pooling.max_pool_2x2(x)
        block5_pool = x
        # NHWC flatten, as Keras's Flatten; torchvision weights are permuted to this order on import.
        x = x.reshape((x.shape[0], -1))
        fc_width = scaled_width(FC_WIDTH, self.width)
        x = nn.relu(nn.Dense(fc_width, dtype=self.dtype, name="fc1")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = nn.relu(nn.Dense(fc_width, dtype=self.dtype, name="fc2")(x))
        fc2 = x
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = nn.Dense(self.num_aus * self.num_levels, dtype=self.dtype, name="head")(x)
        logits = x.reshape((x.shape[0], self.num_aus, self.num_levels)).astype(jnp.float32)
        if return_features:
            return logits, {"block5_pool": block5_pool.astype(jnp.float32), "fc2": fc2.astype(jnp.float32)}
        return logits


def init_params(model: VGG16, image_size: int | Sequence[int] = 224, seed: int = 0) -> dict:
    """Initial ``{'params': ...}`` (plus ``'batch_stats'`` for VGG16-BN) drawn with numpy instead of
    ``model.init``.

    Same distributions as Flax's defaults (kernels LeCun-normal truncated at 2 standard deviations,
    biases zero), but no XLA random kernels to compile: on the 2-core CPU ``jax.jit(model.init)``
    spends ~1 s compiling each layer's truncated-normal draw (~16 s for VGG16 at any width); this
    takes ~0.1 s at small widths (drawing the 134M numbers of width 1 at 224 takes ~5-10 s, like
    ``model.init``). The numbers differ from ``model.init``'s for the same seed.
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, h, w, 3), jnp.float32))
    rng = np.random.default_rng(seed)
    # Unit-variance normal truncated to [-2, 2] has std 0.87962566; divide so the result has the
    # requested std (jax.nn.initializers.variance_scaling does the same).
    trunc_std = 0.87962566103423978

    def draw(path, s):
        # BatchNorm (norm='batch'): scale 1, bias 0; running mean 0, variance 1 (Flax's defaults).
        if path[-1].key in ("bias", "mean"):
            return jnp.zeros(s.shape, s.dtype)
        if path[-1].key in ("scale", "var"):
            return jnp.ones(s.shape, s.dtype)
        fan_in = int(np.prod(s.shape[:-1]))
        x = rng.standard_normal(s.shape, dtype=np.float32)
        bad = np.abs(x) > 2
        while bad.any():
            x[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32)
            bad = np.abs(x) > 2
        return jnp.asarray(x * (np.sqrt(1.0 / fan_in) / trunc_std), s.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def layer_flops(image_size: int | Sequence[int], num_aus: int, width: float = 1.0,
                num_levels: int = NUM_LEVELS) -> dict[str, int]:
    """Analytic forward FLOPs per image of each conv/dense layer, in :data:`LAYER_ORDER`.

    2 FLOPs per multiply-add; convolutions counted densely over the SAME-padded input (the usual
    convention; XLA's cost analysis counts only in-bounds taps, a few % less at 224, ~10% at 64).
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    flops: dict[str, int] = {}
    c_in = 3
    for block, num_convs, channels in VGG16_BLOCKS:
        c_out = scaled_width(channels, width)
        for i in range(1, num_convs + 1):
            flops[f"block{block}_conv{i}"] = 2 * h * w * 9 * c_in * c_out
            c_in = c_out
        h, w = h // 2, w // 2
    fc = scaled_width(FC_WIDTH, width)
    flops["fc1"] = 2 * (h * w * c_in) * fc
    flops["fc2"] = 2 * fc * fc
    flops["head"] = 2 * fc * num_aus * num_levels
    return flops


def forward_flops(image_size: int | Sequence[int], num_aus: int, width: float = 1.0,
                  num_levels: int = NUM_LEVELS) -> int:
    """Analytic forward FLOPs per image (sum of :func:`layer_flops`).

    ReLU, pooling, bias adds and preprocessing are left out (<0.1% of the total). At 224x224, width 1
    this gives 30.93 GFLOP for the trunk (the usual "15.5 GMACs" of VGG16).
    """
    return sum(layer_flops(image_size, num_aus, width, num_levels).values())


def train_step_flops(image_size: int | Sequence[int], num_aus: int, width: float = 1.0,
                     fine_tune_from: str | None = None, num_levels: int = NUM_LEVELS) -> int:
    """Analytic FLOPs per image of a training step (forward + backward), the benchmark's count.

    Without freezing: 3x the forward (the input gradient and the weight gradient each cost one
    forward; the convention of performance.md). With ``fine_tune_from``, the frozen layers sit at
    the start of the network and need no backward pass at all, and the first trainable layer needs
    no input gradient: forward + 2x the trainable layers' forward - the first trainable layer's.
    """
    per_layer = layer_flops(image_size, num_aus, width, num_levels)
    forward = sum(per_layer.values())
    num_frozen = len(freeze_patterns(fine_tune_from))
    if not num_frozen:
        return 3 * forward
    trainable = LAYER_ORDER[num_frozen:]
    return forward + sum(2 * per_layer[l] for l in trainable) - per_layer[trainable[0]]


# --- Fine-tuning presets -------------------------------------------------------------------------

# "Fine-tuned ... from the third convolutional layer" (paper Sec. 4.2.2) has two readings
# (architectures.md §4): the *third conv block* (block3_conv1 onwards trainable; block1_*, block2_*
# frozen) -- our default, the common reading in fine-tuning practice -- and the literal *third conv
# layer* (block2_conv1 onwards trainable; block1_conv1, block1_conv2 frozen).
FINE_TUNE_FROM_DEFAULT = "block3"
FINE_TUNE_FROM_LITERAL = "block2_conv1"


def freeze_patterns(fine_tune_from: str | None) -> list[str]:
    """Regex patterns (for :func:`jaxau.train.optimizers.make_optimizer`) freezing the layers before
    ``fine_tune_from``.

    Args:
      fine_tune_from: first trainable layer: a layer name ('block2_conv1', 'fc1', 'head'), a block
        name ('block3' = 'block3_conv1'), 'all' / None (nothing frozen), or the preset names
        'third_block' (= 'block3', the default reading) and 'third_conv' (= 'block2_conv1', literal).

    Returns:
      Patterns fully matching the '/'-joined paths of every parameter of the frozen layers.
    """
    if fine_tune_from in (None, "all", "none", ""):
        return []
    name = {"third_block": FINE_TUNE_FROM_DEFAULT, "third_conv": FINE_TUNE_FROM_LITERAL}.get(
        fine_tune_from, fine_tune_from)
    if re.fullmatch(r"block[1-5]", name):
        name = f"{name}_conv1"
    if name not in LAYER_ORDER:
        raise ValueError(f"Unknown fine_tune_from {fine_tune_from!r}: use a block ('block3'), a layer "
                         f"of {list(LAYER_ORDER)}, 'third_block', 'third_conv' or 'all'.")
    frozen = LAYER_ORDER[:LAYER_ORDER.index(name)]
    # Conv/dense layers only: the BN layers of VGG16-BN (``<conv>_bn``, from-scratch training, no
    # ImageNet weights to keep) stay trainable.
    return [f"{re.escape(layer)}/.*" for layer in frozen]
