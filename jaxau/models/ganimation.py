"""GANimation generator and discriminator (Flax Linen), as in the replicate the paper used.

Follows donydchen/ganimation_replicate ``SplitGenerator`` / ``SplitDiscriminator``
(reference/architectures.md §2.2), in NHWC:

* Generator: input = image (3 ch, in [-1, 1]) concatenated with the AU vector tiled over H x W;
  conv 7x7 -> ``conv_dim``, IN, ReLU; two conv 4x4 stride 2 (pad 1) doubling the width, IN, ReLU;
  ``num_blocks`` residual blocks (conv3 -> IN -> ReLU -> conv3 -> IN, + skip, zero padding); two
  transposed conv 4x4 stride 2 (PyTorch padding 1: output = 2 x input) halving the width, IN, ReLU;
  heads: colour conv 7x7 -> 3 + tanh, attention conv 7x7 -> 1 + sigmoid (no bias on the heads).
  Instance norm has no affine parameters; the convs it follows have biases (replicate choice).
* Discriminator: ``num_layers`` conv 4x4 stride 2 (pad 1, bias) + LeakyReLU(0.01), widths doubling
  from ``conv_dim``, no normalisation; critic head conv 3x3 (pad 1) -> 1 map, AU head conv with
  kernel ``image_size // 2**num_layers`` (VALID) -> ``num_aus`` (no bias on the heads).

Convolutions are :class:`jaxau.models.layers.Conv` (``flax.linen.Conv`` parameters; strided ones
computed by space-to-depth, whose gradients are ~100x faster than XLA:CPU's dilated convolutions).

Init: every conv kernel N(0, 0.02), biases 0. The transposed convolutions are
:class:`jaxau.models.layers.ConvTranspose` (phase decomposition) with ``transpose_kernel=True``, so the
kernel is PyTorch's ``ConvTranspose2d`` weight moved to ``(kh, kw, out, in)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jaxau.models.layers import Conv, ConvTranspose, conv, instance_norm, is_narrow, torch_padding

Array = jax.Array

INIT = nn.initializers.normal(0.02)
COMPOSITES = ("mask_source", "mask_color")


class GeneratorOutput(NamedTuple):
    """Generator outputs.

    Attributes:
      image: the generated image in [-1, 1], ``[N, H, W, 3]``.
      color: the colour (tanh) head, ``[N, H, W, 3]``.
      attention: the attention mask in [0, 1], ``[N, H, W, 1]``; None for the StarGAN variant.
    """

    image: Array
    color: Array
    attention: Array | None


def _conv(features: int, kernel: int, stride: int = 1, pad: int = 0, bias: bool = True,
          name: str | None = None, dtype: Any = None, impl: str = "s2d", block: int = 1,
          upsample: int = 1) -> Conv:
    # PyTorch-style symmetric explicit padding (identical to 'SAME' only for some sizes). Strided
    # convs go through space-to-depth so their gradients (and the GP double backward) stay fast.
    return Conv(features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                use_bias=bias, kernel_init=INIT, bias_init=nn.initializers.zeros, dtype=dtype,
                impl=impl, block=block, upsample=upsample, name=name)


class _Kernel(nn.Module):
    """A bare convolution kernel parameter (``<name>/kernel``, as a bias-free `Conv` holds it)."""

    shape: tuple[int, ...]

    @nn.compact
    def __call__(self) -> Array:
        return self.param("kernel", INIT, self.shape, jnp.float32)


def tile_aus(images: Array, aus: Array) -> Array:
    """Concatenates the AU vector, tiled over H x W, to the image channels (generator input)."""
    if aus.ndim != 2 or aus.shape[0] != images.shape[0]:
        raise ValueError(f"aus must be [N, num_aus] with N = {images.shape[0]} (images "
                         f"{images.shape}), got {aus.shape}.")
    maps = jnp.broadcast_to(aus[:, None, None, :].astype(images.dtype),
                            images.shape[:3] + (aus.shape[-1],))
    return jnp.concatenate([images, maps], axis=-1)


CONDITIONINGS = ("absolute", "relative")


def condition(aus: Array, source_aus: Array | None, conditioning: str = "absolute") -> Array:
    """The AU vector a generator is conditioned on (`Generator.conditioning`).

    Args:
      aus: ``[N, K]`` target intensities in [0, 1].
      source_aus: ``[N, K]`` the sources' own intensities in [0, 1] (None: unknown).
      conditioning: 'absolute' (returns ``aus``) or 'relative' (returns ``aus - source_aus``).
    """
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"Generator: conditioning {conditioning!r}: use one of {CONDITIONINGS}.")
    if conditioning == "absolute":
        return aus
    if source_aus is None or source_aus.shape != aus.shape:
        raise ValueError("Generator: conditioning='relative' conditions on target minus source AUs, so it "
                         f"needs source_aus of the targets' shape {aus.shape}, got "
                         f"{None if source_aus is None else source_aus.shape}.")
    return aus - source_aus


class FiLM(nn.Module):
    """``x * (1 + gamma(aus)) + beta(aus)`` per channel, gamma and beta linear in the AU vector.

    Applied after an instance norm, it puts the AU condition back where the norm removed it: a
    spatially constant input channel (the tiled AU maps) reaches an instance-normalised layer only
    as a per-channel constant, which the norm subtracts (up to zero-padding effects at the border).
    Initialised to the identity (zero kernel and bias).
    """

    features: int

    @nn.compact
    def __call__(self, x: Array, aus: Array) -> Array:
        """Modulates ``x`` ``[N, H, W, C]`` by ``aus`` ``[N, K]``."""
        gb = nn.Dense(2 * self.features, kernel_init=nn.initializers.zeros, bias_init=nn.initializers.zeros,
                      name="dense")(aus.astype(jnp.float32)).astype(x.dtype)
        gamma, beta = gb[:, None, None, :self.features], gb[:, None, None, self.features:]
        return x * (1.0 + gamma) + beta


class ResidualBlock(nn.Module):
    """conv3 -> IN -> ReLU -> conv3 -> IN, plus the input (each IN followed by `FiLM` when ``film``)."""

    features: int
    conv_impl: str = "s2d"
    dtype: Any = None
    film: bool = False

    @nn.compact
    def __call__(self, x: Array, aus: Array | None = None) -> Array:
        """Applies the block (``aus`` is required with ``film``)."""
        c = dict(pad=1, dtype=self.dtype, impl=self.conv_impl)

        def norm(y):
            y = instance_norm(y)
            return FiLM(self.features)(y, aus) if self.film else y

        y = nn.relu(norm(_conv(self.features, 3, **c)(x)))
        y = norm(_conv(self.features, 3, **c)(y))
        return x + y


class Generator(nn.Module):
    """GANimation generator (or, with ``attention=False``, the StarGAN-style one of Table S4).

    Attributes:
      conv_dim: width of the first layer (64 in GANimation).
      num_blocks: residual blocks at the bottleneck (6).
      attention: GANimation attention + colour heads; False outputs the colour head directly.
      composite: 'mask_source' (default, both released codes): fake = A * src + (1 - A) * C;
        'mask_color' (GANimation paper v1 Eq. 1): fake = A * C + (1 - A) * src.
      au_conditioning: 'input' (GANimation: AU maps tiled onto the input image only) or 'film'
        (also a `FiLM` of the AU vector after every instance norm of the residual blocks and the
        upsampling layers).
      conditioning: the AU vector G sees. 'absolute' (GANimation): the target intensities
        ``y_t``, so G has to judge from the image how much of the target the source already shows.
        'relative' (the relative action units of Ling et al., ECCV 2020): the change ``y_t - y_s``
        in [-1, 1], the source's own intensities ``y_s`` given as labels, so an image asked for no
        change gets a zero vector whatever it shows.
      upsample: 'transpose' (GANimation: 4x4 stride-2 transposed convolutions) or 'resize'
        (nearest-neighbour x2 then a 3x3 convolution: no checkerboard artefacts; computed as
        `layers.upsample_conv`, without the upsampled tensor).
      attention_offset: a constant added to the attention logit (GANimation: 0, so the initial mask
        is ~0.5 and the first outputs are half colour head). Positive values start the generator
        near the identity (with 'mask_source', A = sigmoid(3) = 0.95 keeps 95% of the source), so a
        short schedule spends its updates on the edit rather than on re-drawing the face.
      conv_transpose_impl: 'phase' (fast) or 'naive' transposed convolutions.
      conv_impl: 's2d' (default), 'gemm' or 'naive' convolutions (see layers.conv).
      narrow_block: the narrow stride-1 convolutions (`layers.is_narrow`: at CPU widths the 7x7
        input layer and the heads) are computed over ``narrow_block`` x ``narrow_block`` blocks of
        positions (``layers.conv``'s ``block``: the same function, ~1.5-2x faster on XLA:CPU); 1
        computes them directly. The two heads always run as one convolution of their
        concatenated kernels (parameters ``color/kernel`` and ``attention/kernel`` as before).
      dtype: computation dtype of the convolutions and activations: None (float32, from the
        float32 inputs and parameters) or e.g. bfloat16 for mixed precision. Parameters stay
        float32; instance norms reduce in float32; the outputs are float32 either way.
    """

    conv_dim: int = 64
    num_blocks: int = 6
    attention: bool = True
    composite: str = "mask_source"
    au_conditioning: str = "input"
    conditioning: str = "absolute"
    upsample: str = "transpose"
    attention_offset: float = 0.0
    conv_transpose_impl: str = "phase"
    conv_impl: str = "s2d"
    narrow_block: int = 2
    dtype: Any = None

    @nn.compact
    def __call__(self, images: Array, aus: Array, source_aus: Array | None = None) -> GeneratorOutput:
        """Generates ``images`` with expression ``aus``.

        Args:
          images: ``[N, H, W, 3]`` in [-1, 1]; H and W divisible by 4.
          aus: ``[N, num_aus]`` target AU intensities in [0, 1].
          source_aus: ``[N, num_aus]`` the images' own AU intensities in [0, 1]; read only with
            ``conditioning='relative'``, where they are required.

        Returns:
          :class:`GeneratorOutput`.
        """
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] % 4 or images.shape[2] % 4:
            raise ValueError(f"Generator: images must be [N, H, W, 3] with H, W divisible by 4, "
                             f"got {images.shape}.")
        if self.composite not in COMPOSITES:
            raise ValueError(f"Generator: composite {self.composite!r} unknown; use one of "
                             f"{COMPOSITES}.")
        if self.au_conditioning not in ("input", "film"):
            raise ValueError(f"Generator: au_conditioning {self.au_conditioning!r}: use 'input' or 'film'.")
        if self.upsample not in ("transpose", "resize"):
            raise ValueError(f"Generator: upsample {self.upsample!r}: use 'transpose' or 'resize'.")
        aus = condition(aus, source_aus, self.conditioning)
        film = self.au_conditioning == "film"
        x = tile_aus(images, aus)
        d = self.conv_dim
        ci = self.conv_impl
        x = nn.relu(instance_norm(_conv(d, 7, pad=3, dtype=self.dtype, impl=ci,
                                        block=self._block(x.shape[-1], d))(x)))
        for _ in range(2):
            d *= 2
            x = nn.relu(instance_norm(_conv(d, 4, 2, pad=1, dtype=self.dtype, impl=ci)(x)))
        for _ in range(self.num_blocks):
            x = ResidualBlock(d, conv_impl=ci, dtype=self.dtype, film=film)(x, aus)
        for _ in range(2):
            d //= 2
            if self.upsample == "transpose":
                # PyTorch ConvTranspose2d(k4, s2, p1): output exactly 2x the input.
                x = ConvTranspose(d, (4, 4), (2, 2), padding=torch_padding((4, 4), 1),
                                  transpose_kernel=True, impl=self.conv_transpose_impl,
                                  kernel_init=INIT, dtype=self.dtype)(x)
            else:
                # Nearest x2 then conv 3x3, computed at the input's resolution (layers.upsample_conv).
                x = _conv(d, 3, pad=1, dtype=self.dtype, impl=ci, upsample=2)(x)
            x = instance_norm(x)
            x = nn.relu(FiLM(d)(x, aus) if film else x)
        # Colour (3) and attention (1) heads: one convolution of the concatenated kernels.
        kernels = [_Kernel((7, 7, d, 3), name="color")()]
        if self.attention:
            kernels.append(_Kernel((7, 7, d, 1), name="attention")())
        x, kernel = nn.dtypes.promote_dtype(x, jnp.concatenate(kernels, axis=-1), dtype=self.dtype)
        heads = conv(x, kernel, (1, 1), ((3, 3), (3, 3)), impl=ci,
                     block=self._block(d, kernel.shape[-1]))
        color = jnp.tanh(heads[..., :3])
        if not self.attention:
            return GeneratorOutput(color.astype(jnp.float32), color.astype(jnp.float32), None)
        mask = nn.sigmoid(heads[..., 3:] + self.attention_offset)
        color, mask = color.astype(jnp.float32), mask.astype(jnp.float32)
        src = images.astype(jnp.float32)
        if self.composite == "mask_source":
            fake = mask * src + (1.0 - mask) * color
        else:
            fake = mask * color + (1.0 - mask) * src
        return GeneratorOutput(fake, color, mask)

    def _block(self, c_in: int, c_out: int) -> int:
        if int(self.narrow_block) < 1:
            raise ValueError(f"Generator: narrow_block {self.narrow_block!r} must be a positive int.")
        return int(self.narrow_block) if is_narrow(c_in, c_out) else 1


class Discriminator(nn.Module):
    """GANimation PatchGAN critic with an AU-regression head (the "internal classifier" of Table S4).

    Attributes:
      num_aus: AU outputs.
      image_size: input size; the AU head's kernel is ``image_size // 2**num_layers`` (2 at 128,
        ``int(224 / 64) = 3`` at 224 as in the paper).
      conv_dim: first width (64).
      num_layers: stride-2 convs (6).
      conv_impl: 'gemm' (default: every conv as im2col + matmul; the WGAN-GP double backward
        through XLA:CPU convolutions ran ~10x slower), 's2d' or 'naive' (see layers.conv).
      dtype: computation dtype: None (float32) or e.g. bfloat16 for mixed precision (parameters
        stay float32; the critic and AU outputs are float32 either way).
    """

    num_aus: int
    image_size: int = 128
    conv_dim: int = 64
    num_layers: int = 6
    conv_impl: str = "gemm"
    dtype: Any = None

    @property
    def au_kernel(self) -> int:
        """Kernel of the AU head."""
        return self.image_size // 2 ** self.num_layers

    @nn.compact
    def __call__(self, images: Array) -> tuple[Array, Array]:
        """Scores images.

        Args:
          images: ``[N, image_size, image_size, 3]`` in [-1, 1].

        Returns:
          ``(critic, aus)``: critic map ``[N, h, w]`` (h = w = image_size / 2**num_layers rounded
          down as PyTorch does) and AU predictions ``[N, num_aus]``.
        """
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"Discriminator(image_size={self.image_size}): images must be [N, "
                             f"{self.image_size}, {self.image_size}, 3], got {images.shape}.")
        if self.au_kernel < 1:
            raise ValueError(f"Discriminator: image_size {self.image_size} is smaller than "
                             f"2**num_layers = {2 ** self.num_layers}; lower num_layers.")
        x = images
        d = self.conv_dim
        for _ in range(self.num_layers):
            x = nn.leaky_relu(_conv(d, 4, 2, pad=1, dtype=self.dtype, impl=self.conv_impl)(x),
                              0.01)
            d *= 2
        critic = _conv(1, 3, 1, pad=1, bias=False, dtype=self.dtype, impl=self.conv_impl,
                       name="critic")(x)
        aus = _conv(self.num_aus, self.au_kernel, bias=False, dtype=self.dtype,
                    impl=self.conv_impl, name="aus")(x)
        if aus.shape[1:3] != (1, 1):
            raise ValueError(f"Discriminator: the AU head sees a {x.shape[1:3]} map but its kernel "
                             f"is {self.au_kernel}; image_size must match the input.")
        return critic[..., 0].astype(jnp.float32), aus[:, 0, 0, :].astype(jnp.float32)


def init_params(module: nn.Module, key: Array, *inputs: Array) -> dict:
    """Parameters of a :class:`Generator` / :class:`Discriminator` drawn like ``module.init``.

    Every kernel is N(0, 0.02) and every bias 0 (the replicate's ``init_weights``; `FiLM` layers all
    0, the identity), so all kernels
    are drawn with a single ``jax.random.normal`` and split: eager ``module.init`` would compile one
    sampler per parameter shape (~10 s on CPU even for tiny models) and ``jit(module.init)``
    compiles the whole forward pass as well.

    Args:
      module: the Linen module.
      key: PRNG key.
      *inputs: example inputs (only their shapes are used).

    Returns:
      The ``params`` collection.
    """
    shapes = jax.eval_shape(module.init, key, *inputs)["params"]
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    # FiLM layers start as the identity (zero kernels): the AU modulation is learnt from there.
    names = [("zero" if any(str(getattr(p, "key", "")).startswith("FiLM") for p in path) else path[-1].key)
             for path, _ in flat]
    if set(names) - {"kernel", "bias", "zero"}:
        raise ValueError(f"init_params: unexpected parameter names {sorted(set(names))}.")
    sizes = [int(np.prod(s.shape)) if n == "kernel" else 0 for n, (_, s) in zip(names, flat)]
    draws = np.asarray(jax.random.normal(key, (max(sum(sizes), 1),), jnp.float32)) * 0.02
    leaves, offset = [], 0
    for name, (_, s), size in zip(names, flat, sizes):
        if name == "kernel":
            leaves.append(jnp.asarray(draws[offset:offset + size].reshape(s.shape), s.dtype))
            offset += size
        else:
            leaves.append(jnp.zeros(s.shape, s.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)
