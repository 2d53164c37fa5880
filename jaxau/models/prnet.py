"""PRNet ``resfcn256``: image -> UV position map (x, y, z per UV texel), in Flax Linen.

Architecture as in yfeng95/PRNet ``predictor.py`` (reference/architectures.md §1): a 4x4 conv, ten
residual blocks down to (size/32)^2 x 32*width, 17 transposed 4x4 convolutions back up to size^2 x 3;
every conv / transposed conv has no bias and is followed by batch norm (TF-contrib defaults: decay
0.999, epsilon 1e-3) and ReLU, except the residual blocks' last 1x1 conv and shortcut, and the final
layer whose BN is followed by a sigmoid. The output is scaled by ``max_pos = 1.1 * size`` (the
network's training target is position / max_pos).

Parameter names mirror the TF scopes so the released checkpoint maps 1:1
(:mod:`jaxau.models.prnet_import`): ``Conv/weights``, ``resBlock_3/Conv_1/weights``,
``resBlock_3/BatchNorm/{scale,bias}`` (+ ``batch_stats`` ``mean``/``var``),
``Conv2d_transpose_5/weights`` with TF's ``(kh, kw, out, in)`` transposed-conv layout.
All convolutions use TF 'SAME' padding (extra padding at the end); the transposed ones are
:func:`jaxau.models.layers.conv_transpose` with ``transpose_kernel=True``, i.e. TF's
``conv2d_transpose`` (checked against TF in tests/models/test_prnet_import.py).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxau.models.layers import conv, conv_transpose, is_narrow

Array = jax.Array

# TF-contrib batch_norm defaults used by PRNet (decay 0.999, epsilon 0.001).
BN_MOMENTUM = 0.999
BN_EPSILON = 1e-3

# Encoder residual blocks (width multiplier, stride) and decoder transposed convs.
ENCODER = ((2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1))
DECODER = ((32, 1), (16, 2), (16, 1), (16, 1), (8, 2), (8, 1), (8, 1), (4, 2), (4, 1), (4, 1),
           (2, 2), (2, 1), (1, 2), (1, 1))  # then three 3-channel stride-1 layers.

# tf.contrib.layers' default weights initializer is xavier (glorot) uniform.
_KERNEL_INIT = nn.initializers.glorot_uniform()


def _scoped_name(base: str, index: int) -> str:
    """TF's automatic scope names: 'Conv', 'Conv_1', 'Conv_2', ..."""
    return base if index == 0 else f"{base}_{index}"


class ConvBN(nn.Module):
    """TF-contrib ``conv2d`` / ``conv2d_transpose`` without bias, optionally followed by BN + ReLU.

    Attributes:
      features: output channels.
      kernel: square kernel size.
      stride: stride.
      transpose: transposed convolution (TF layout ``(k, k, out, in)``).
      norm: apply batch norm (scope ``BatchNorm``).
      activation: 'relu', 'sigmoid' or None (applied after the norm).
      impl: transposed-conv implementation ('phase' or 'naive').
      conv_impl: strided-conv implementation ('s2d' or 'naive').
      narrow_block: a stride-1 convolution that `layers.is_narrow` marks is computed over blocks of
        this many positions per axis (the same function; faster on XLA:CPU); 1 computes it directly.
    """

    features: int
    kernel: int
    stride: int = 1
    transpose: bool = False
    norm: bool = True
    activation: str | None = "relu"
    impl: str = "phase"
    conv_impl: str = "s2d"
    narrow_block: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        """Applies conv -> (BN) -> (activation) to NHWC ``x``."""
        c_in = x.shape[-1]
        k = (self.kernel, self.kernel)
        block = (int(self.narrow_block) if self.stride == 1 and self.kernel > 1
                 and is_narrow(c_in, self.features) else 1)
        if self.transpose:
            w = self.param("weights", _KERNEL_INIT, k + (self.features, c_in))
            y = conv_transpose(x, w.astype(self.dtype), (self.stride,) * 2, "SAME",
                               transpose_kernel=True, impl=self.impl, block=block)
        else:
            w = self.param("weights", _KERNEL_INIT, k + (c_in, self.features))
            # Strided convs via space-to-depth: same function, fast gradients on XLA:CPU.
            y = conv(x, w.astype(self.dtype), (self.stride,) * 2, "SAME", impl=self.conv_impl,
                     block=block)
        if self.norm:
            y = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                             epsilon=BN_EPSILON, dtype=self.dtype, name="BatchNorm")(y)
        if self.activation == "relu":
            y = nn.relu(y)
        elif self.activation == "sigmoid":
            y = nn.sigmoid(y)
        elif self.activation is not None:
            raise ValueError(f"ConvBN: unknown activation {self.activation!r}.")
        return y


class ResBlock(nn.Module):
    """PRNet ``resBlock``: 1x1 -> kxk (stride) -> 1x1, plus (projected) shortcut, then BN + ReLU."""

    features: int
    stride: int
    kernel: int = 4
    conv_impl: str = "s2d"
    narrow_block: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        """Applies the block to NHWC ``x``."""
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.features:
            shortcut = ConvBN(self.features, 1, self.stride, norm=False, activation=None,
                              conv_impl=self.conv_impl, dtype=self.dtype, name="shortcut")(x, train)
        half = self.features // 2
        y = ConvBN(half, 1, 1, dtype=self.dtype, name="Conv")(x, train)
        y = ConvBN(half, self.kernel, self.stride, conv_impl=self.conv_impl,
                   narrow_block=self.narrow_block, dtype=self.dtype, name="Conv_1")(y, train)
        y = ConvBN(self.features, 1, 1, norm=False, activation=None, dtype=self.dtype,
                   name="Conv_2")(y, train)
        y = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                         dtype=self.dtype, name="BatchNorm")(y + shortcut)
        return nn.relu(y)


class PRNet(nn.Module):
    """PRNet ``resfcn256`` generalised to ``size`` (divisible by 32) and base ``width``.

    Attributes:
      size: input / output resolution (256 for the released weights).
      width: base width (16 for the released weights); channels go up to 32 * width.
      scale_output: multiply the sigmoid output by ``max_pos`` (crop-pixel units); False returns the
        normalised map (the training target is position / max_pos).
      impl: transposed-conv implementation, 'phase' (fast) or 'naive'.
      conv_impl: strided-conv implementation, 's2d' (fast gradients) or 'naive'.
      narrow_block: the narrow stride-1 convolutions (`layers.is_narrow`; at CPU widths the input
        layer and the last decoder layers) are computed over blocks of this many positions per axis
        (`layers.conv`'s ``block``: the same function, faster on XLA:CPU); 1 computes them directly.
      dtype: computation dtype of the convolutions and activations (float32, or e.g. bfloat16 for
        mixed precision: parameters and BatchNorm statistics stay float32, BatchNorm reduces in
        float32, and the output map is float32 either way).
    """

    size: int = 256
    width: int = 16
    scale_output: bool = True
    impl: str = "phase"
    conv_impl: str = "s2d"
    narrow_block: int = 2
    dtype: Any = jnp.float32

    @property
    def max_pos(self) -> float:
        """Output scale: 1.1 x size (281.6 at 256, PRNet's ``MaxPos``)."""
        return 1.1 * self.size

    @nn.compact
    def __call__(self, images: Array, train: bool = False) -> Array:
        """Predicts UV position maps.

        Args:
          images: ``[N, size, size, 3]`` RGB in [0, 1].
          train: use batch statistics and update the running ones (``mutable=['batch_stats']``).

        Returns:
          ``[N, size, size, 3]`` position maps (x, y, z), in crop pixels if ``scale_output``.
        """
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"PRNet(size={self.size}): images must be [N, {self.size}, "
                             f"{self.size}, 3] RGB in [0, 1], got {images.shape}.")
        if self.size % 32:
            raise ValueError(f"PRNet: size {self.size} must be divisible by 32 (five stride-2 "
                             "stages).")
        w = self.width
        nb = int(self.narrow_block)
        x = ConvBN(w, 4, 1, narrow_block=nb, dtype=self.dtype, name="Conv")(images.astype(self.dtype),
                                                                              train)
        for i, (mult, stride) in enumerate(ENCODER):
            x = ResBlock(mult * w, stride, conv_impl=self.conv_impl, narrow_block=nb, dtype=self.dtype,
                         name=_scoped_name("resBlock", i))(x, train)
        layers = list(DECODER) + [(None, 1)] * 3
        for i, (mult, stride) in enumerate(layers):
            last = i == len(layers) - 1
            x = ConvBN(3 if mult is None else mult * w, 4, stride, transpose=True,
                       activation="sigmoid" if last else "relu", impl=self.impl, narrow_block=nb,
                       dtype=self.dtype, name=_scoped_name("Conv2d_transpose", i))(x, train)
        x = x.astype(jnp.float32)
        return x * self.max_pos if self.scale_output else x


def init_variables(model: PRNet, key: Array) -> dict:
    """``model.init`` for one ``[1, size, size, 3]`` image, compiled without XLA's backend optimisation.

    Eager ``init`` compiles one threefry sampler per parameter and ``jit(init)`` optimises them all:
    both take 30-55 s on a 2-core CPU for any width, which is most of a tiny registration run. The
    sampling is integer arithmetic followed by an affine map, so level 0 draws the same bits (checked
    against eager ``init`` in ``tests/models/test_prnet.py``) in ~6 s; the call runs once.

    Under a transformation (``jit``, ``eval_shape``, ...) ``key`` is a tracer, which an already
    compiled executable cannot take: there the call is plain ``model.init``, traced into the caller's
    program (the same values; the caller's compilation decides the cost).
    """
    images = jnp.zeros((1, model.size, model.size, 3), jnp.float32)
    if isinstance(key, jax.core.Tracer):
        return model.init(key, images, train=False)
    lowered = jax.jit(lambda k, x: model.init(k, x, train=False)).lower(key, images)
    return lowered.compile(compiler_options={"xla_backend_optimization_level": 0})(key, images)
