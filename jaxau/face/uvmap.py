"""Position-map helpers for our UV layout: the region weight mask and sampling vertices back.

The layout (``FaceAsset.uv``) is described in :mod:`jaxau.face.asset`. A position map of size S
stores, at pixel (i, j), the image-space (x, y, z) of the surface point with
``uv = ((j + 0.5) / S, (i + 0.5) / S)``; empty pixels are 0.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import geometry
from jaxau.face.asset import (REGION_ENM, REGION_LANDMARK, REGION_REST, REGION_WEIGHTS, FaceAsset,
                              load_asset)


@functools.lru_cache(maxsize=8)
def _region_map(size: int) -> np.ndarray:
    a = load_asset()
    return region_map(a, size)


def region_map(asset: FaceAsset, size: int) -> np.ndarray:
    """``[S,S]`` uint8 region labels (``REGION_*``) of the UV position map.

    Face / eyes-nose-mouth labels come from rasterizing the per-vertex labels in UV space (a pixel
    takes the label with the largest interpolated weight); each landmark marks the 3x3 pixels around
    its UV position, as PRNet's weight mask does for its 68 points.
    """
    t = jnp.asarray(asset.position_map_triangles)
    uvz = jnp.stack([asset.uv[:, 0] * size, asset.uv[:, 1] * size, asset.vertices[:, 2]], -1)
    frags = geometry.rasterize(uvz, t, size, size)
    region = np.minimum(asset.region, REGION_ENM)  # landmarks are painted separately below
    onehot = np.eye(3, dtype=np.float32)[region]
    w = np.asarray(geometry.interpolate(jnp.asarray(onehot), t, frags))
    labels = np.where(np.asarray(frags.mask), w.argmax(-1), REGION_REST).astype(np.uint8)
    for lm in asset.landmarks:
        j, i = (asset.uv[lm] * size).astype(int)
        labels[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2] = REGION_LANDMARK
    return labels


def weight_mask(size: int = 256) -> np.ndarray:
    """``[S,S]`` float32 loss weights (0 rest / 3 face / 4 eyes-nose-mouth / 16 landmarks)."""
    return np.asarray(REGION_WEIGHTS, np.float32)[_region_map(size)]


def sample_vertices(position_map: jax.Array, uv: jax.Array) -> jax.Array:
    """Bilinear samples ``[..., V, 3]`` of a position map ``[..., S, S, 3]`` at ``uv [V, 2]``."""
    size = position_map.shape[-2]
    x = uv[:, 0] * size - 0.5
    y = uv[:, 1] * size - 0.5
    x0 = jnp.clip(jnp.floor(x), 0, size - 2).astype(jnp.int32)
    y0 = jnp.clip(jnp.floor(y), 0, size - 2).astype(jnp.int32)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    p = position_map
    return (p[..., y0, x0, :] * (1 - fx) * (1 - fy) + p[..., y0, x0 + 1, :] * fx * (1 - fy)
            + p[..., y0 + 1, x0, :] * (1 - fx) * fy + p[..., y0 + 1, x0 + 1, :] * fx * fy)
