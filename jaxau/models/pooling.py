"""2x2 max pooling whose gradient avoids XLA's CPU ``select_and_scatter`` expansion.

``flax.linen.max_pool`` is ``lax.reduce_window(max)``; its gradient is a ``select_and_scatter``. XLA's
CPU backend has no native kernel for that: it expands it into a variadic ``reduce_window`` that
carries one int32 index array per input dimension (four full-size ``iota`` arrays per pooling layer)
followed by a scatter. In a VGG16 train step (224x224, batch 2) those ops cost more thread time than
all five pooling layers' worth of data justifies (see BUILD_NOTES). For the non-overlapping
2x2 / stride 2 window VGG uses, the same function and the same gradient are a handful of
elementwise ops on a ``[B, H/2, 2, W/2, 2, C]`` view, which XLA fuses into one loop per direction.

The gradient follows ``select_and_scatter``'s tie rule exactly: within a window the *first* maximum
in row-major order (top-left, top-right, bottom-left, bottom-right) receives the whole incoming
gradient. (``jax.grad`` of a plain ``jnp.max`` would instead split it evenly between tied maxima,
which differs after ReLUs, where all-zero windows are common.) NaNs: a window holding a NaN pools
to NaN, as ``lax.reduce_window(max)`` does; its gradient is then dropped (XLA's select_and_scatter
sends it to the largest non-NaN entry instead), which matters only for an already diverged step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _window_view(x: jnp.ndarray) -> jnp.ndarray:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c)


def _crop_even(x: jnp.ndarray) -> jnp.ndarray:
    # VALID padding drops the last row / column of an odd-sized map, as lax.reduce_window does.
    return x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2, :]


@jax.custom_vjp
def _pool(x: jnp.ndarray) -> jnp.ndarray:
    return jnp.max(_window_view(x), axis=(2, 4))


def _pool_fwd(x):
    y = _pool(x)
    return y, (x, y)


def _pool_bwd(res, dy):
    x, y = res
    hit = _window_view(x) == y[:, :, None, :, None, :]
    tl, tr = hit[:, :, 0, :, 0], hit[:, :, 0, :, 1]
    bl, br = hit[:, :, 1, :, 0], hit[:, :, 1, :, 1]
    # First maximum in row-major window order wins (select_and_scatter's `ge` selection).
    tr = tr & ~tl
    bl = bl & ~(tl | tr)
    br = br & ~(tl | tr | bl)
    first = jnp.stack([jnp.stack([tl, tr], axis=3), jnp.stack([bl, br], axis=3)], axis=2)
    dx = jnp.where(first, dy[:, :, None, :, None, :], jnp.zeros((), dy.dtype))
    return (dx.reshape(x.shape),)


_pool.defvjp(_pool_fwd, _pool_bwd)


def max_pool_2x2(x: jnp.ndarray) -> jnp.ndarray:
    """2x2 max pooling with stride 2 and VALID padding over NHWC maps.

    Same values as ``nn.max_pool(x, (2, 2), strides=(2, 2), padding='VALID')`` and the same
    gradient as ``jax.grad`` of it (ties included), but CPU-friendly (module docstring). Works under
    ``jit``, ``vmap`` and ``grad``, for any float dtype.

    Args:
      x: float array [B, H, W, C] with H, W >= 2; an odd trailing row / column is dropped.

    Returns:
      Array [B, H // 2, W // 2, C].

    Raises:
      ValueError: if ``x`` is not 4-D or a spatial side is below 2.
    """
    if x.ndim != 4:
        raise ValueError(f"max_pool_2x2 expects NHWC [B, H, W, C]; got shape {x.shape}.")
    if x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"max_pool_2x2 needs H, W >= 2; got {x.shape[1:3]}.")
    return _pool(_crop_even(x))
