"""Shared layers: convolutions computed the way XLA:CPU runs fast, and instance norm.

A transposed convolution at plain-convolution speed (:func:`conv_transpose`), strided convolutions
with fast gradients (:func:`conv`, space-to-depth), narrow stride-1 convolutions over blocks of
positions (``conv(..., block=2)``, :func:`is_narrow`) and nearest-upsampling convolutions without the
upsampled tensor (:func:`upsample_conv`): each the same function of the same parameters as its plain
``lax`` form, tested against it.

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
                   precision: Any = None, block: int = 1) -> Array:
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
      block: with stride 1 and impl 'phase', > 1 computes the (ordinary) convolution over blocks
        of positions (see :func:`conv`; for narrow layers, :func:`is_narrow`).

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
        if int(block) > 1 and all(lo >= 0 and hi >= 0 for lo, hi in pads):
            return _conv_blocked(x, w, pads, dn, precision, int(block))
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

# Narrow convolutions (see :func:`is_narrow`) are the ones XLA:CPU runs far below its matmul rate.
# Measured at 64 px, batch 32 (2-core AVX-512 EPYC, 2026-12-04), forward + both gradients, plain
# vs 2x2 blocks: 7x7 10->16 83 -> 55 ms, 7x7 16->4 72 -> 37 ms, 3x3 8->8 17 -> 8 ms, 3x3 8->16 4.5
# -> 3.9 ms; forward + weight gradient (a first layer): 3x3 3->8 9.4 -> 4.8 ms, 3->16 8.5 -> 7.2 ms,
# 3->64 36 -> 43 ms; wider ones get slower (3x3 16->16 6.4 -> 7.5 ms, 32->16 54 -> 76 ms).
NARROW_MAX_PRODUCT = 160


def is_narrow(c_in: int, c_out: int) -> bool:
    """Whether a stride-1 convolution is narrow enough to run faster over 2x2 blocks on CPU.

    True when ``c_in * c_out`` is at most ``NARROW_MAX_PRODUCT`` (the measured break-even of
    :func:`conv`'s ``block=2``).
    """
    return c_in * c_out <= NARROW_MAX_PRODUCT


def _block_taps(k: int, b: int) -> np.ndarray:
    """Tap table of a blocked stride-1 convolution along one axis.

    Output ``b*Q + r`` reads padded input ``b*Q + r + t`` (tap ``t``), which lies in input block
    ``Q + D`` at offset ``s`` with ``b*D + s = r + t``. Returns ``[M, b, b]`` (D, s, r) holding the
    tap ``t`` or ``k`` (a zero tap) where no tap connects that input offset to that output offset.
    """
    m = (b + k - 2) // b + 1
    table = np.full((m, b, b), k, np.int32)
    for d, s, r in itertools.product(range(m), range(b), range(b)):
        t = b * d + s - r
        if 0 <= t < k:
            table[d, s, r] = t
    return table


def _conv_blocked(x: Array, w: Array, pads: Sequence[tuple[int, int]], dn: Any, precision: Any,
                  block: int) -> Array:
    """Stride-1 convolution computed over ``block``-sized blocks of its input and output.

    Space-to-depth on the input (``block**d`` positions folded into channels), one stride-1
    convolution with the kernel rearranged so every input offset reaches every output offset it
    feeds, depth-to-space on the output: the same function of the same kernel, with ``block**d``
    times the input and output channels (and ``~((block + k - 1) / (block * k))**d`` times the
    multiply-adds, 1.31x for 7x7 and 1.78x for 3x3 at block 2), which XLA:CPU runs several times
    faster when the channels are few (:func:`is_narrow`).
    """
    nsp = w.ndim - 2
    ksize, (c, o) = w.shape[:nsp], w.shape[nsp:]
    n = x.shape[0]
    outs = tuple(sz + lo + hi - k + 1 for sz, (lo, hi), k in zip(x.shape[1:-1], pads, ksize))
    qs = tuple(-(-out // block) for out in outs)
    taps = [_block_taps(k, block) for k in ksize]
    ms = tuple(t.shape[0] for t in taps)
    lengths = tuple(block * (q + m - 1) for q, m in zip(qs, ms))
    hi_pad = tuple(max(0, L - sz - lo) for L, sz, (lo, _) in zip(lengths, x.shape[1:-1], pads))
    xp = jnp.pad(x, ((0, 0),) + tuple((lo, h) for (lo, _), h in zip(pads, hi_pad)) + ((0, 0),))
    xp = xp[(slice(None),) + tuple(slice(0, L) for L in lengths) + (slice(None),)]
    blocks = tuple(L // block for L in lengths)
    # [N, P1, s1, ..., Pd, sd, C] -> [N, P..., s..., C] -> [N, P..., block**d * C]
    xs = xp.reshape((n,) + tuple(itertools.chain.from_iterable((p, block) for p in blocks)) + (c,))
    xs = jnp.transpose(xs, (0,) + tuple(1 + 2 * i for i in range(nsp))
                       + tuple(2 + 2 * i for i in range(nsp)) + (2 * nsp + 1,))
    xs = xs.reshape((n,) + blocks + (block ** nsp * c,))
    # Kernel gathered as [D..., s..., r..., C, O] (index k along an axis is the appended zero tap).
    wp = jnp.pad(w, tuple((0, 1) for _ in range(nsp)) + ((0, 0), (0, 0)))
    index = []
    for i, t in enumerate(taps):
        shape = [1] * (3 * nsp)
        shape[i], shape[nsp + i], shape[2 * nsp + i] = t.shape
        index.append(t.reshape(shape))
    wb = wp[tuple(index)]
    wb = jnp.transpose(wb, tuple(range(2 * nsp)) + (3 * nsp,) + tuple(range(2 * nsp, 3 * nsp))
                       + (3 * nsp + 1,))
    wb = wb.reshape(ms + (block ** nsp * c, block ** nsp * o))
    y = lax.conv_general_dilated(xs, wb, (1,) * nsp, ((0, 0),) * nsp, dimension_numbers=dn,
                                 precision=precision)
    # [N, Q..., r..., O] -> [N, Q1, r1, ..., Qd, rd, O] -> crop to the output size.
    y = y.reshape((n,) + qs + (block,) * nsp + (o,))
    y = jnp.transpose(y, (0,) + tuple(itertools.chain.from_iterable((1 + i, 1 + nsp + i)
                                                                   for i in range(nsp))) + (2 * nsp + 1,))
    y = y.reshape((n,) + tuple(q * block for q in qs) + (o,))
    return y[(slice(None),) + tuple(slice(0, out) for out in outs) + (slice(None),)]


def conv(x: Array, kernel: Array, strides: Sequence[int], padding: PaddingLike,
         impl: str = "s2d", precision: Any = None, block: int = 1) -> Array:
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
      block: for a stride-1 convolution with non-negative padding, > 1 computes it over
        ``block``-sized blocks of input and output positions (``_conv_blocked``; faster on CPU for
        narrow layers, see :func:`is_narrow`); ignored for strided ones and by ``impl='gemm'``.

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
    if impl == "naive" and (int(block) == 1 or any(s != 1 for s in strides)):
        return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=dn,
                                        precision=precision)
    if impl not in CONV_IMPLEMENTATIONS:
        raise ValueError(f"conv: impl {impl!r} unknown; use one of {CONV_IMPLEMENTATIONS}.")
    if int(block) < 1:
        raise ValueError(f"conv: block {block!r} must be a positive int.")
    limit = float("inf") if impl == "gemm" else None
    if all(s == 1 for s in strides):
        if int(block) > 1 and impl != "gemm" and all(lo >= 0 and hi >= 0 for lo, hi in pads):
            return _conv_blocked(x, kernel, pads, dn, precision, int(block))
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


def _upsample_taps(k: int, lo: int, factor: int) -> tuple[np.ndarray, int]:
    """How a kernel's taps act on the low-resolution input of a nearest-upsampled convolution.

    Output ``f*q + r`` reads the upsampled input at ``f*q + r + t - lo``, i.e. the input sample
    ``q + floor((r + t - lo) / f)``. Returns ``(table, d_min)``: ``table[D - d_min, r, t]`` is 1
    where tap ``t`` of output phase ``r`` reads input offset ``D``.
    """
    d_min = (0 - lo) // factor
    d_max = (factor - 1 + k - 1 - lo) // factor
    table = np.zeros((d_max - d_min + 1, factor, k), np.float32)
    for r, t in itertools.product(range(factor), range(k)):
        table[(r + t - lo) // factor - d_min, r, t] = 1.0
    return table, d_min


def upsample_conv(x: Array, kernel: Array, factor: int, padding: Sequence[tuple[int, int]],
                  impl: str = "s2d", precision: Any = None, block: int = 1) -> Array:
    """Nearest-neighbour upsampling by ``factor`` followed by a stride-1 convolution, without the
    upsampled tensor.

    Each output phase (``factor**d`` of them) is a convolution of the low-resolution input with the
    sums of the kernel taps that read the same input sample, so all phases are one convolution at
    the input's resolution with ``factor**d`` times the output channels, then depth-to-space. Same
    function as ``conv(repeat(x, factor), kernel, 1, padding)``; a 3x3 kernel needs 2x2 taps per
    phase instead of 3x3 on 4x the positions, and XLA:CPU no longer convolves the upsampled tensor
    (measured fwd + both gradients at batch 32: 32 px 32->16 86 -> 24 ms, 16 px 64->32 36 -> 21 ms).

    Args:
      x: ``[N, *spatial, C_in]`` low-resolution input.
      kernel: ``[*k, C_in, C_out]``.
      factor: upsampling factor (every spatial dimension).
      padding: explicit non-negative ``((lo, hi), ...)`` of the convolution on the upsampled input.
      impl, precision, block: as in :func:`conv` (for the convolution at the input's resolution).

    Returns:
      ``[N, *out_spatial, C_out]`` with ``out = factor * n + lo + hi - k + 1`` per dimension.
    """
    nsp = kernel.ndim - 2
    ksize, (c, o) = kernel.shape[:nsp], kernel.shape[nsp:]
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(pads) != nsp or any(lo < 0 or hi < 0 for lo, hi in pads) or int(factor) < 1:
        raise ValueError(f"upsample_conv: padding {padding!r} must be {nsp} non-negative (lo, hi) "
                         f"pairs and factor {factor!r} a positive int.")
    f = int(factor)
    outs = tuple(f * n + lo + hi - k + 1 for n, (lo, hi), k in zip(x.shape[1:-1], pads, ksize))
    qs = tuple(-(-out // f) for out in outs)
    w, low_pads = kernel, []
    for i, (k, (lo, _), n, q) in enumerate(zip(ksize, pads, x.shape[1:-1], qs)):
        table, d_min = _upsample_taps(k, lo, f)
        # Axis i (taps t) becomes (D, r); r goes to the end, next to the output channels.
        w = jnp.moveaxis(jnp.tensordot(jnp.asarray(table, w.dtype), w, axes=((2,), (i,))), (0, 1),
                         (i, w.ndim))
        d_max = d_min + table.shape[0] - 1
        low_pads.append((-d_min, q - 1 + d_max - (n - 1)))
    # w: [D..., C, O, r1, ..., rd] -> [D..., C, r..., O]
    w = jnp.moveaxis(w, nsp + 1, w.ndim - 1).reshape(w.shape[:nsp] + (c, f ** nsp * o))
    # Cropping pads (negative hi) are applied to x first: conv takes non-negative padding.
    crop = tuple(slice(0, n + min(hi, 0)) for n, (_, hi) in zip(x.shape[1:-1], low_pads))
    x = x[(slice(None),) + crop + (slice(None),)]
    y = conv(x, w, (1,) * nsp, tuple((lo, max(hi, 0)) for lo, hi in low_pads), impl=impl,
             precision=precision, block=block)
    n = x.shape[0]
    y = y.reshape((n,) + qs + (f,) * nsp + (o,))
    y = jnp.transpose(y, (0,) + tuple(itertools.chain.from_iterable((1 + i, 1 + nsp + i)
                                                                   for i in range(nsp))) + (2 * nsp + 1,))
    y = y.reshape((n,) + tuple(q * f for q in qs) + (o,))
    return y[(slice(None),) + tuple(slice(0, out) for out in outs) + (slice(None),)]


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
      block: > 1 computes a stride-1 convolution over blocks of positions (see :func:`conv`).
      upsample: > 1 upsamples the input (nearest neighbour) by this factor first, computed by
        :func:`upsample_conv` (stride 1 and explicit padding only).
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
    block: int = 1
    upsample: int = 1
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
        if int(self.upsample) > 1:
            if any(st != 1 for st in strides) or isinstance(self.padding, str):
                raise ValueError(f"Conv: upsample {self.upsample} needs stride 1 and explicit padding, "
                                 f"got strides {strides} and padding {self.padding!r}.")
            y = upsample_conv(inputs, kernel, int(self.upsample), self.padding, impl=self.impl,
                              precision=self.precision, block=self.block)
        else:
            y = conv(inputs, kernel, strides, self.padding, impl=self.impl, precision=self.precision,
                     block=self.block)
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
