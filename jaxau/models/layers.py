"""Shared layers: a transposed convolution that runs at plain-convolution speed, and instance norm.

Why a custom transposed convolution: on XLA:CPU the weight gradient of ``lax.conv_transpose`` (what
``flax.linen.ConvTranspose`` lowers to: a convolution of the zero-dilated input) runs at ~1 GFLOP/s,
20-50x slower than a plain convolution's (reference/performance.md). A transposed convolution with
stride ``s`` is, output phase by output phase, an ordinary stride-1 convolution of the *undilated*
input with the sub-kernel of taps that land on that phase (sub-pixel / phase decomposition). Computing
the ``prod(s)`` phase convolutions and interleaving them (depth-to-space) gives exactly the same
function of the same parameters, and both its forward pass and its gradients are plain convolutions.
A stride-1 transposed convolution is simply a convolution with the (flipped, in/out-swapped) kernel.

Padding semantics (shared by :func:`conv_transpose` and :class:`ConvTranspose`) are exactly those of
``jax.lax.conv_transpose`` / ``flax.linen.ConvTranspose``:

* ``'SAME'``: output size = input size x stride. With ``transpose_kernel=True`` and a ``(kh, kw, out,
  in)`` kernel this is TensorFlow's ``tf.nn.conv2d_transpose(..., padding='SAME')`` whenever TF's
  output shape is input x stride (the gradient of TF's ``conv2d`` SAME, which pads the extra row at
  the end; e.g. k4 s1 pads the forward conv 1 before / 2 after). Verified against TF in
  ``tests/models/test_prnet_import.py``.
* ``'VALID'``: output size = (input - 1) x stride + kernel (full transposed convolution).
* explicit ``((lo, hi), ...)``: the padding of the stride-dilated input, as in ``lax.conv_transpose``.
  PyTorch ``ConvTranspose2d(k, stride, padding=p, output_padding=op)`` is
  ``((k-1-p, k-1-p+op),) * 2`` with ``transpose_kernel=True`` and the kernel
  ``torch_weight.permute(2, 3, 1, 0)`` (``(kh, kw, out, in)``); see :func:`torch_padding`. For the
  GANimation layer (k4 s2 p1) that is ``((2, 2), (2, 2))``, identical to ``'SAME'``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

Array = jax.Array
PaddingLike = str | Sequence[tuple[int, int]]

IMPLEMENTATIONS = ("phase", "naive")


def torch_padding(kernel_size: Sequence[int], padding: Sequence[int] | int,
                  output_padding: Sequence[int] | int = 0) -> tuple[tuple[int, int], ...]:
    """Explicit padding reproducing PyTorch ``ConvTranspose{1,2,3}d(kernel_size, padding, output_padding)``.

    Use with ``transpose_kernel=True`` and the kernel ``torch_weight`` moved to ``(*spatial, out, in)``.

    Args:
      kernel_size: kernel size per spatial dimension.
      padding: PyTorch ``padding`` (int or one per spatial dimension).
      output_padding: PyTorch ``output_padding``.

    Returns:
      ``((lo, hi), ...)`` for :func:`conv_transpose` / :class:`ConvTranspose`.
    """
    n = len(kernel_size)
    pads = (padding,) * n if isinstance(padding, int) else tuple(padding)
    outs = (output_padding,) * n if isinstance(output_padding, int) else tuple(output_padding)
    if len(pads) != n or len(outs) != n:
        raise ValueError(f"torch_padding: padding {padding!r} / output_padding {output_padding!r} "
                         f"must have one entry per spatial dimension ({n}).")
    return tuple((k - 1 - p, k - 1 - p + o) for k, p, o in zip(kernel_size, pads, outs))


def _canonical_padding(padding: PaddingLike, kernel_size: Sequence[int],
                       strides: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Resolves 'SAME' / 'VALID' / explicit pairs to the dilated-input padding of lax.conv_transpose."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("SAME", "VALID"):
            raise ValueError(f"conv_transpose: padding {padding!r} is not supported; use 'SAME', "
                             "'VALID' or explicit ((lo, hi), ...) pairs (see torch_padding).")
        pads = []
        for k, s in zip(kernel_size, strides):
            # Same arithmetic as lax's _conv_transpose_padding (kept here so both impls agree).
            if mode == "SAME":
                total = k + s - 2
                lo = k - 1 if s > k - 1 else int(np.ceil(total / 2))
            else:
                total = k + s - 2 + max(k - s, 0)
                lo = k - 1
            pads.append((lo, total - lo))
        return tuple(pads)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(pads) != len(kernel_size):
        raise ValueError(f"conv_transpose: explicit padding {padding!r} needs one (lo, hi) pair per "
                         f"spatial dimension ({len(kernel_size)}).")
    return pads


def _dimension_numbers(ndim: int) -> lax.ConvDimensionNumbers:
    # Channels-last input/output, (*spatial, in, out) kernel: flax's layout.
    spatial = tuple(range(1, ndim - 1))
    return lax.ConvDimensionNumbers(lhs_spec=(0, ndim - 1) + spatial,
                                    rhs_spec=(ndim - 1, ndim - 2) + tuple(range(ndim - 2)),
                                    out_spec=(0, ndim - 1) + spatial)


def conv_transpose(x: Array, kernel: Array, strides: Sequence[int], padding: PaddingLike = "SAME",
                   transpose_kernel: bool = False, impl: str = "phase",
                   precision: Any = None) -> Array:
    """Transposed convolution with ``lax.conv_transpose`` semantics, computed as plain convolutions.

    Args:
      x: ``[N, *spatial, C_in]`` input.
      kernel: ``[*k, C_in, C_out]`` if ``transpose_kernel`` is False, else ``[*k, C_out, C_in]`` (the
        kernel of the forward convolution whose input-gradient this is: TF ``conv2d_transpose`` and
        PyTorch ``ConvTranspose`` weights).
      strides: stride per spatial dimension.
      padding: 'SAME', 'VALID' or explicit pairs, as documented in the module docstring.
      transpose_kernel: as in ``lax.conv_transpose``.
      impl: 'phase' (sub-pixel phase convolutions; fast forward and gradients) or 'naive'
        (``lax.conv_transpose``; kept for comparisons and benchmarks).
      precision: passed to the convolutions.

    Returns:
      ``[N, *out_spatial, C_out]``, equal to ``lax.conv_transpose`` with the same arguments.
    """
    nsp = kernel.ndim - 2
    if x.ndim != nsp + 2:
        raise ValueError(f"conv_transpose: input of shape {x.shape} must be [N, *spatial, C] with "
                         f"{nsp} spatial dimensions to match kernel {kernel.shape}.")
    strides = tuple(int(s) for s in strides)
    ksize = tuple(kernel.shape[:nsp])
    if len(strides) != nsp or any(s < 1 for s in strides):
        raise ValueError(f"conv_transpose: strides {strides} must be {nsp} positive ints.")
    in_axis = nsp + 1 if transpose_kernel else nsp
    if kernel.shape[in_axis] != x.shape[-1]:
        raise ValueError(f"conv_transpose: kernel {kernel.shape} expects {kernel.shape[in_axis]} "
                         f"input channels (transpose_kernel={transpose_kernel}) but the input has "
                         f"{x.shape[-1]}.")
    pads = _canonical_padding(padding, ksize, strides)
    if impl == "naive":
        return lax.conv_transpose(x, kernel, strides, pads, transpose_kernel=transpose_kernel,
                                  dimension_numbers=None, precision=precision)
    if impl != "phase":
        raise ValueError(f"conv_transpose: impl {impl!r} unknown; use one of {IMPLEMENTATIONS}.")

    # Effective correlation kernel w[t, in, out] of the dilated-input formulation:
    #   y[o] = sum_t xd[o + t - lo] * w[t],  xd[j] = x[j / s] if s divides j else 0.
    w = kernel
    if transpose_kernel:
        w = jnp.flip(w, axis=tuple(range(nsp)))
        w = jnp.swapaxes(w, nsp, nsp + 1)
    dn = _dimension_numbers(nsp + 2)
    in_sizes = x.shape[1:-1]
    out_sizes = tuple((n - 1) * s + 1 + lo + hi - k + 1
                      for n, s, (lo, hi), k in zip(in_sizes, strides, pads, ksize))
    if any(o <= 0 for o in out_sizes):
        raise ValueError(f"conv_transpose: padding {pads} leaves an empty output for input "
                         f"{x.shape} and kernel {ksize}.")

    if all(s == 1 for s in strides):
        # No dilation: an ordinary convolution. Negative padding (cropping) is legal in lax.
        return lax.conv_general_dilated(x, w, (1,) * nsp, pads, dimension_numbers=dn,
                                        precision=precision)

    # Phase r (per dimension) holds outputs o = s*q + r, q = 0..Q-1 with Q = ceil(out / s). Its taps
    # are t = t0 + s*m with t0 = (lo - r) mod s, reading x[q + d + m] with d = (r + t0 - lo) / s.
    per_dim = []
    for n, s, (lo, _), k, out in zip(in_sizes, strides, pads, ksize, out_sizes):
        q = -(-out // s)
        phases = []
        for r in range(s):
            t0 = (lo - r) % s
            taps = len(range(t0, k, s))
            d = (r + t0 - lo) // s
            phases.append((t0, taps, d))
        per_dim.append((q, phases))

    # One padding of x that serves every phase: each phase then reads a static window (VALID conv).
    pad_lo = []
    pad_hi = []
    for n, (q, phases) in zip(in_sizes, per_dim):
        lo_need = max([-d for (_, taps, d) in phases if taps] + [0])
        hi_need = max([q - 1 + d + taps - 1 - (n - 1) for (_, taps, d) in phases if taps] + [0])
        pad_lo.append(lo_need)
        pad_hi.append(hi_need)
    xp = jnp.pad(x, ((0, 0),) + tuple(zip(pad_lo, pad_hi)) + ((0, 0),))

    c_out = w.shape[-1]
    outs = []
    for combo in itertools.product(*[range(s) for s in strides]):
        taps_per_dim = [per_dim[i][1][r] for i, r in enumerate(combo)]
        if any(taps == 0 for (_, taps, _) in taps_per_dim):
            # No kernel tap lands on this phase (stride > kernel): it is identically zero.
            outs.append(jnp.zeros((x.shape[0],) + tuple(pd[0] for pd in per_dim) + (c_out,),
                                  jnp.result_type(x, w)))
            continue
        sub = w[tuple(slice(t0, None, s) for (t0, _, _), s in zip(taps_per_dim, strides))]
        starts = [d + pl for (_, _, d), pl in zip(taps_per_dim, pad_lo)]
        window = xp[(slice(None),) + tuple(slice(st, st + q + taps - 1) for st, (q, _), (_, taps, _)
                                           in zip(starts, per_dim, taps_per_dim)) + (slice(None),)]
        outs.append(_conv_stride1(window, sub, ((0, 0),) * nsp, dn, precision))
    # Depth-to-space: [s1, ..., sd, N, Q1, ..., Qd, C] -> [N, Q1, s1, ..., Qd, sd, C].
    qs = tuple(pd[0] for pd in per_dim)
    y = jnp.stack(outs).reshape(strides + (x.shape[0],) + qs + (c_out,))
    perm = (nsp,) + tuple(itertools.chain.from_iterable((nsp + 1 + i, i) for i in range(nsp))) + (
        2 * nsp + 1,)
    y = jnp.transpose(y, perm).reshape((x.shape[0],) + tuple(q * s for q, s in zip(qs, strides))
                                       + (c_out,))
    return y[(slice(None),) + tuple(slice(0, o) for o in out_sizes) + (slice(None),)]


class ConvTranspose(nn.Module):
    """Drop-in for ``flax.linen.ConvTranspose`` (same parameter names and shapes) computed fast.

    Attributes:
      features: output channels.
      kernel_size: spatial kernel size.
      strides: stride per spatial dimension (default 1).
      padding: 'SAME', 'VALID' or explicit pairs (module docstring).
      use_bias: add a per-channel bias.
      transpose_kernel: kernel layout ``(*k, out, in)`` and gradient-of-conv semantics (TF / PyTorch).
      impl: 'phase' (default, fast) or 'naive' (``lax.conv_transpose``).
      kernel_init / bias_init: initialisers.
      dtype / param_dtype: computation and parameter dtypes.
      precision: convolution precision.
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] | None = None
    padding: PaddingLike = "SAME"
    use_bias: bool = True
    transpose_kernel: bool = False
    impl: str = "phase"
    kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., Array] = nn.initializers.zeros_init()
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        """Applies the transposed convolution to ``[N, *spatial, C]`` (or unbatched) inputs."""
        ksize = tuple(self.kernel_size)
        nsp = len(ksize)
        unbatched = inputs.ndim == nsp + 1
        if unbatched:
            inputs = inputs[None]
        strides = tuple(self.strides) if self.strides is not None else (1,) * nsp
        c_in = inputs.shape[-1]
        shape = ksize + ((self.features, c_in) if self.transpose_kernel else (c_in, self.features))
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = conv_transpose(inputs, kernel, strides, self.padding, self.transpose_kernel,
                           impl=self.impl, precision=self.precision)
        if bias is not None:
            y = y + bias
        return y[0] if unbatched else y


# Convolutions with at most this many output positions per image run as im2col + one matmul: at
# tiny spatial sizes with wide channels (GANimation's critic: 4x4x1024 -> 2x2x2048) XLA:CPU's
# convolutions and especially their input gradients run at 0.2-7 GFLOP/s, a GEMM at ~100+.
GEMM_MAX_POSITIONS = 64


def _conv_stride1(x: Array, w: Array, pads: Sequence[tuple[int, int]], dn: Any,
                  precision: Any, max_positions: float | None = None) -> Array:
    """Stride-1 convolution; im2col + matmul when the output has <= max_positions per image."""
    nsp = w.ndim - 2
    ksize = w.shape[:nsp]
    limit = GEMM_MAX_POSITIONS if max_positions is None else max_positions
    outs = tuple(n + lo + hi - k + 1 for n, (lo, hi), k in zip(x.shape[1:-1], pads, ksize))
    if int(np.prod(outs)) > limit or any(lo < 0 or hi < 0 for lo, hi in pads):
        return lax.conv_general_dilated(x, w, (1,) * nsp, tuple(pads), dimension_numbers=dn,
                                        precision=precision)
    xp = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))
    # Patch channels ordered (tap_1, ..., tap_d, C) to match w.reshape(-1, C_out).
    patches = jnp.concatenate(
        [xp[(slice(None),) + tuple(slice(t, t + o) for t, o in zip(taps, outs)) + (slice(None),)]
         for taps in itertools.product(*[range(k) for k in ksize])], axis=-1)
    y = jnp.dot(patches.reshape(-1, patches.shape[-1]), w.reshape(-1, w.shape[-1]),
                precision=precision)
    return y.reshape((x.shape[0],) + outs + (w.shape[-1],))


CONV_IMPLEMENTATIONS = ("s2d", "gemm", "naive")


def conv(x: Array, kernel: Array, strides: Sequence[int], padding: PaddingLike,
         impl: str = "s2d", precision: Any = None) -> Array:
    """Strided convolution (``lax.conv_general_dilated`` semantics) whose gradients stay fast.

    On XLA:CPU the gradients of a stride-2 convolution are themselves dilated convolutions (the
    input gradient is a transposed convolution) and run at ~1-3 GFLOP/s. A stride-``s`` convolution
    equals a stride-1 convolution of the space-to-depth input (blocks of ``s`` per spatial axis
    folded into channels) with the kernel zero-padded to a multiple of ``s`` and rearranged the
    same way, so forward, input and weight gradients (and the WGAN-GP double backward) are all
    stride-1 convolutions. 1x1 kernels just subsample. Convolutions with at most
    ``GEMM_MAX_POSITIONS`` output positions per image (any stride) run as im2col + one matmul.

    Args:
      x: ``[N, *spatial, C_in]``.
      kernel: ``[*k, C_in, C_out]`` (flax / TF layout).
      strides: stride per spatial dimension.
      padding: 'SAME', 'VALID' (TF/lax definitions) or explicit non-negative ``((lo, hi), ...)``.
      impl: 's2d' (default: space-to-depth, im2col + matmul for tiny outputs), 'gemm' (always
        im2col + matmul: also fast for second-order gradients such as the WGAN-GP double
        backward, where XLA:CPU's convolution transposes run at ~3 GFLOP/s; costs k^2/s^2 x the
        input's memory), or 'naive' (``lax.conv_general_dilated`` directly).
      precision: convolution precision.

    Returns:
      ``[N, *out_spatial, C_out]``, equal to ``lax.conv_general_dilated`` with the same arguments.
    """
    nsp = kernel.ndim - 2
    strides = tuple(int(s) for s in strides)
    dn = _dimension_numbers(nsp + 2)
    if x.ndim != nsp + 2 or kernel.shape[-2] != x.shape[-1]:
        raise ValueError(f"conv: input {x.shape} and kernel {kernel.shape} do not match "
                         f"([N, *spatial, C] and [*k, C, C_out]).")
    if isinstance(padding, str):
        pads = tuple(lax.padtype_to_pads(x.shape[1:-1], kernel.shape[:nsp], strides, padding))
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if impl == "naive":
        return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=dn,
                                        precision=precision)
    if impl not in CONV_IMPLEMENTATIONS:
        raise ValueError(f"conv: impl {impl!r} unknown; use one of {CONV_IMPLEMENTATIONS}.")
    limit = float("inf") if impl == "gemm" else None
    if all(s == 1 for s in strides):
        return _conv_stride1(x, kernel, pads, dn, precision, limit)
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"conv: negative padding {pads} is not supported by impl='s2d'.")
    ksize = kernel.shape[:nsp]
    outs = tuple((n + lo + hi - k) // s + 1
                 for n, (lo, hi), k, s in zip(x.shape[1:-1], pads, ksize, strides))
    if all(k == 1 for k in ksize):
        # 1x1: the strided conv only reads every s-th (padded) sample.
        xp = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
        xs = xp[(slice(None),) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in
                                       zip(outs, strides)) + (slice(None),)]
        return _conv_stride1(xs, kernel, ((0, 0),) * nsp, dn, precision, limit)
    taps = tuple(-(-k // s) for k, s in zip(ksize, strides))  # kernel taps per block
    # Padded input length s * (out + taps - 1): enough for every tap, no more.
    lengths = tuple(s * (o + m - 1) for o, m, s in zip(outs, taps, strides))
    hi_pad = tuple(max(0, L - n - lo) for L, n, (lo, _) in zip(lengths, x.shape[1:-1], pads))
    xp = jnp.pad(x, ((0, 0),) + tuple((lo, h) for (lo, _), h in zip(pads, hi_pad)) + ((0, 0),))
    xp = xp[(slice(None),) + tuple(slice(0, L) for L in lengths) + (slice(None),)]
    n, c = x.shape[0], x.shape[-1]
    blocks = tuple(L // s for L, s in zip(lengths, strides))
    # [N, Q1, s1, ..., Qd, sd, C] -> [N, Q1, ..., Qd, s1, ..., sd, C] -> [N, Q..., s...C]
    inter = tuple(itertools.chain.from_iterable(zip(blocks, strides)))
    xs = xp.reshape((n,) + inter + (c,))
    perm = (0,) + tuple(1 + 2 * i for i in range(nsp)) + tuple(2 + 2 * i for i in range(nsp)) + (
        2 * nsp + 1,)
    xs = jnp.transpose(xs, perm).reshape((n,) + blocks + (int(np.prod(strides)) * c,))
    # Kernel [k..., C, O] -> zero-pad to [m*s ...] -> [m1, s1, ..., C, O] -> [m..., s..., C, O].
    kp = jnp.pad(kernel, tuple((0, m * s - k) for m, s, k in zip(taps, strides, ksize))
                 + ((0, 0), (0, 0)))
    kinter = tuple(itertools.chain.from_iterable(zip(taps, strides)))
    kp = kp.reshape(kinter + kernel.shape[-2:])
    kperm = tuple(2 * i for i in range(nsp)) + tuple(2 * i + 1 for i in range(nsp)) + (
        2 * nsp, 2 * nsp + 1)
    kp = jnp.transpose(kp, kperm).reshape(taps + (int(np.prod(strides)) * c, kernel.shape[-1]))
    return _conv_stride1(xs, kp, ((0, 0),) * nsp, dn, precision, limit)


class Conv(nn.Module):
    """Drop-in for ``flax.linen.Conv`` (same parameter names/shapes) with fast strided gradients.

    Attributes:
      features: output channels.
      kernel_size: spatial kernel size.
      strides: stride per spatial dimension (default 1).
      padding: 'SAME', 'VALID' or explicit pairs (lax semantics).
      use_bias: add a per-channel bias.
      impl: 's2d' (space-to-depth for strides > 1), 'gemm' (always im2col + matmul) or 'naive';
        see :func:`conv`.
      kernel_init / bias_init: initialisers.
      dtype / param_dtype: computation and parameter dtypes.
      precision: convolution precision.
    """

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] | None = None
    padding: PaddingLike = "SAME"
    use_bias: bool = True
    impl: str = "s2d"
    kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., Array] = nn.initializers.zeros_init()
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        """Applies the convolution to ``[N, *spatial, C]`` inputs."""
        ksize = tuple(self.kernel_size)
        strides = tuple(self.strides) if self.strides is not None else (1,) * len(ksize)
        kernel = self.param("kernel", self.kernel_init, ksize + (inputs.shape[-1], self.features),
                            self.param_dtype)
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = conv(inputs, kernel, strides, self.padding, impl=self.impl, precision=self.precision)
        return y if bias is None else y + bias


def instance_norm(x: Array, epsilon: float = 1e-5) -> Array:
    """Instance normalisation without affine parameters (PyTorch ``InstanceNorm2d(affine=False)``).

    Normalises each sample and channel over the spatial axes with the biased variance, as PyTorch
    does in training and (``track_running_stats=False``) in evaluation.

    Args:
      x: ``[N, *spatial, C]``.
      epsilon: added to the variance.

    Returns:
      Array of the same shape and dtype.
    """
    axes = tuple(range(1, x.ndim - 1))
    xf = x.astype(jnp.float32)
    mean = jnp.mean(xf, axis=axes, keepdims=True)
    centred = xf - mean
    # Two-pass variance: exact for the large-mean activations that appear early in training.
    var = jnp.mean(jnp.square(centred), axis=axes, keepdims=True)
    return (centred * lax.rsqrt(var + epsilon)).astype(x.dtype)
