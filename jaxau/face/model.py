"""The morphable head: ``vertices = mean + identity + sum_AU blend(AU, intensity)``.

Identity = a mix of the MakeHuman ethnic x gender x age targets (adults only: the child/baby targets
shrink the head and would need rescaled expressions), a sparse draw of local shape modifiers (nose,
mouth, chin, head shape, ...), and smooth random shape noise along the normals. Expressions come from
:mod:`jaxau.face.au_mapping`. Shape code is numpy per subject (sampled once) and JAX per frame
(:func:`expression_vertices` works under ``jit``/``vmap``/``grad``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxau.face import au_mapping
from jaxau.face.asset import PART_SKIN, FaceAsset

ETHNICITIES = ("african", "asian", "caucasian")
# Smooth shape noise: amplitude (dm) along the normal and the number of random plane waves.
NOISE_AMPLITUDE = 0.015
NOISE_WAVES = 6


@dataclasses.dataclass(frozen=True)
class ShapeParams:
    """One identity's shape parameters (reproducible from these numbers and the asset)."""

    ethnicity: np.ndarray      # [3] mixture weights (african, asian, caucasian), sum 1
    gender: float              # 0 female .. 1 male
    age: float                 # 0 young .. 1 old
    local: np.ndarray          # [L] coefficients of the local modifiers
    noise_k: np.ndarray        # [NOISE_WAVES, 3] wave vectors (1/dm)
    noise_phase: np.ndarray    # [NOISE_WAVES]
    noise_amp: np.ndarray      # [NOISE_WAVES] (dm)


def sample_shape(rng: np.random.Generator, asset: FaceAsset, *, local_prob: float = 0.2,
                 local_max: float = 0.6) -> ShapeParams:
    """Draws identity shape parameters."""
    eth = rng.dirichlet([0.6, 0.6, 0.6])
    n_local = len(asset.local_names)
    active = rng.random(n_local) < local_prob
    local = np.where(active, rng.uniform(0.0, local_max, n_local), 0.0)
    # Of an incr/decr (up/down, ...) pair keep at most one, so they do not cancel into noise.
    k = rng.normal(size=(NOISE_WAVES, 3))
    k = k / np.linalg.norm(k, axis=1, keepdims=True) * rng.uniform(1.0, 3.0, (NOISE_WAVES, 1))
    return ShapeParams(ethnicity=eth, gender=float(rng.uniform()), age=float(rng.beta(1.2, 2.5)),
                       local=local.astype(np.float32), noise_k=k.astype(np.float32),
                       noise_phase=rng.uniform(0, 2 * np.pi, NOISE_WAVES).astype(np.float32),
                       noise_amp=(rng.uniform(0.3, 1.0, NOISE_WAVES) * NOISE_AMPLITUDE / np.sqrt(
                           NOISE_WAVES / 2)).astype(np.float32))


def macro_weights(params: ShapeParams, asset: FaceAsset) -> np.ndarray:
    """Weights of the 24 identity targets (only the adult young/old ones are non-zero)."""
    w = np.zeros(len(asset.identity_names), np.float32)
    for e, we in zip(ETHNICITIES, params.ethnicity):
        for g, wg in (("female", 1 - params.gender), ("male", params.gender)):
            for a, wa in (("young", 1 - params.age), ("old", params.age)):
                w[asset.identity_names.index(f"{e}-{g}-{a}")] += we * wg * wa
    return w


def vertex_normals_np(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (numpy; used once per identity)."""
    n = np.zeros_like(v)
    fn = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def identity_offsets(params: ShapeParams, asset: FaceAsset) -> np.ndarray:
    """``[V,3]`` identity offsets from the template (decimetres)."""
    off = np.tensordot(macro_weights(params, asset), asset.identity_targets, 1)
    off = off + np.tensordot(params.local, asset.local_targets, 1)
    v = asset.vertices + off
    skin = asset.vertex_part == PART_SKIN
    n = vertex_normals_np(v, asset.triangles[asset.triangle_part == PART_SKIN])
    h = (params.noise_amp * np.sin(v @ params.noise_k.T + params.noise_phase)).sum(1)
    # No noise on the lids and lips: they must keep meeting the eyeballs and each other.
    calm = 1.0 - np.clip(np.maximum(asset.masks["eyelids"], asset.masks["lips"]) * 1.5, 0, 1)
    off = off + np.where(skin, h * calm, 0.0)[:, None] * n
    return off.astype(np.float32)


class FaceModel:
    """JAX-side head model for a fixed AU vocabulary.

    Args:
      asset: the head asset.
      aus: simulated AU names (default: every AU of :data:`au_mapping.SIMULATED_AUS`).
    """

    def __init__(self, asset: FaceAsset, aus=au_mapping.SIMULATED_AUS):
        self.asset = asset
        self.aus = tuple(aus)
        self.mean = jnp.asarray(asset.vertices)
        # [K, V*3]: AU response -> vertex offsets in one matmul.
        m = au_mapping.mapping_matrix(self.aus, asset.blendshape_names)
        self.au_basis = jnp.asarray(
            np.tensordot(m, asset.blendshapes, 1).reshape(len(self.aus), -1))

    def expression_offsets(self, au_intensity: jax.Array) -> jax.Array:
        """``[..., V, 3]`` offsets for continuous AU intensities ``[..., K]`` in [0, 5]."""
        r = au_mapping.response(au_intensity)
        return (r @ self.au_basis).reshape(r.shape[:-1] + (-1, 3))

    def vertices(self, identity: jax.Array, au_intensity: jax.Array) -> jax.Array:
        """Posed-expression vertices ``mean + identity + expression``, ``[..., V, 3]``."""
        return self.mean + identity + self.expression_offsets(au_intensity)
