"""The registration mesh: the part of the SynthFACS head asset that the UV position map covers.

Everything registration and 3-D alignment need from the asset, in one place and cached:

* ``vertex_index [Vm]``: asset vertices whose UV (our cylindrical layout, :mod:`jaxau.face.asset`)
  lies inside the map; ``uv [Vm, 2]`` their UVs; ``triangles [Tm, 3]`` the position-map triangles
  with all three corners inside, re-indexed into ``vertex_index``.
* ``landmarks [68]``: iBUG-68 landmarks as indices into the registration mesh (all inside the map).
* ``canonical [Vm, 3]``: the template in *image convention* -- x right, y down, z towards the camera,
  decimetres -- i.e. the head frame with y mirrored. Image-space SynthFACS vertices are
  ``s * R @ canonical + t`` with ``R`` a proper rotation (``R = F Rh F``, ``F = diag(1, -1, 1)``, ``Rh``
  the head rotation of :func:`jaxau.face.render.rotation_matrix`), which is what the pose fit uses.
* ``weights [Vm]``: per-vertex loss weights from the asset's region labels (PRNet's 16/4/3/0).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxau import geometry
from jaxau.face.asset import REGION_FACE, REGION_WEIGHTS, load_asset

FLIP_Y = np.diag([1.0, -1.0, 1.0]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class RegistrationMesh:
    vertex_index: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray
    canonical: np.ndarray
    weights: np.ndarray
    fit_weights: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_index.size)


@functools.lru_cache(maxsize=1)
def registration_mesh() -> RegistrationMesh:
    """The registration mesh of the shipped asset (see the module docstring)."""
    a = load_asset()
    inside = (a.uv >= 0).all(1) & (a.uv <= 1).all(1)
    index = np.flatnonzero(inside)
    remap = np.full(a.num_vertices, -1, np.int64)
    remap[index] = np.arange(index.size)
    tris = a.position_map_triangles
    tris = remap[tris[inside[tris].all(1)]].astype(np.int32)
    lm = remap[a.landmarks]
    if (lm < 0).any():
        raise ValueError("Face asset: some iBUG-68 landmark vertices fall outside the UV position map; "
                         "rebuild the asset with tools/build_face_asset.py.")
    region = a.region[index].astype(np.int64)
    weights = np.asarray(REGION_WEIGHTS, np.float32)[region]
    # The pose fit uses the face proper (not the neck/forehead rim, whose shape varies most with
    # identity and whose predictions are least reliable near the map border).
    fit_weights = (region >= REGION_FACE).astype(np.float32)
    return RegistrationMesh(vertex_index=index, uv=a.uv[index].astype(np.float32), triangles=tris,
                            landmarks=lm.astype(np.int32),
                            canonical=(a.vertices[index] @ FLIP_Y).astype(np.float32),
                            weights=weights, fit_weights=fit_weights)


@functools.lru_cache(maxsize=8)
def uv_raster(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterizes the registration mesh's UV layout at ``size`` x ``size`` texels (numpy, cached).

    Uses the same rule as the SynthFACS renderer's position maps (template depth decides where the
    cylinder projection folds), so maps rendered from these fragments match the dataset's.

    Returns:
      ``(corner_vertex [S, S, 3] int, barycentric [S, S, 3] float32, mask [S, S] bool)``:
      a texel's position is ``sum_k bary[..., k] * vertices[corner_vertex[..., k]]``.
    """
    import jax.numpy as jnp

    m = registration_mesh()
    a = load_asset()
    depth = a.vertices[m.vertex_index, 2]
    uvz = np.stack([m.uv[:, 0] * size, m.uv[:, 1] * size, depth], -1).astype(np.float32)
    import jax

    # Constant data: evaluate eagerly even when first needed inside a jit trace.
    with jax.ensure_compile_time_eval():
        frags = geometry.rasterize(jnp.asarray(uvz), jnp.asarray(m.triangles), size, size)
        frags = jax.tree.map(np.asarray, frags)
    tid = np.asarray(frags.triangle_id)
    mask = np.asarray(frags.mask)
    corners = m.triangles[np.maximum(tid, 0)]
    bary = np.where(mask[..., None], np.asarray(frags.barycentric), 0.0).astype(np.float32)
    return corners, bary, mask


def render_position_maps(vertices: np.ndarray, size: int) -> np.ndarray:
    """UV position maps ``[N, S, S, 3]`` (float32, 0 outside the face) of registration-mesh vertices.

    Args:
      vertices: ``[N, Vm, 3]`` (registration mesh) or ``[N, V, 3]`` (full asset; selected here).
      size: map side S.
    """
    m = registration_mesh()
    vertices = np.asarray(vertices, np.float32)
    if vertices.shape[-2] != m.num_vertices:
        vertices = vertices[..., m.vertex_index, :]
    corners, bary, mask = uv_raster(size)
    gathered = vertices[:, corners]  # [N, S, S, 3 corners, 3 xyz]
    return np.einsum("nhwkc,hwk->nhwc", gathered, bary) * mask[None, ..., None]


@functools.lru_cache(maxsize=8)
def weight_mask(size: int) -> np.ndarray:
    """PRNet-style loss weight per texel ``[S, S]``: the largest region weight among the texel's
    triangle corners, so each landmark gets its one-ring patch at weight 16 (PRNet marks small
    patches around the 68 points), eyes/nose/mouth 4, the rest of the face 3, elsewhere 0."""
    m = registration_mesh()
    corners, _, mask = uv_raster(size)
    w = m.weights[corners].max(-1) * mask
    # Landmarks inside a fold of the layout (inner lips) have their one-ring hidden under other
    # surface; mark the texel at the landmark's UV itself too (when the map covers it).
    rc = np.minimum((m.uv[m.landmarks][:, ::-1] * size).astype(np.int64), size - 1)
    w[rc[:, 0], rc[:, 1]] = np.where(mask[rc[:, 0], rc[:, 1]], REGION_WEIGHTS[-1], w[rc[:, 0], rc[:, 1]])
    return w.astype(np.float32)


@functools.lru_cache(maxsize=8)
def fill_index(size: int) -> np.ndarray:
    """``[S * S]`` flat index of the nearest covered texel of every texel (itself when covered).

    Gathering a position map with it extends the face outward, so bilinear samples at vertices on the
    map's border never mix in the undefined texels outside (zeros in targets, free in predictions).
    """
    from scipy.ndimage import distance_transform_edt

    mask = uv_raster(size)[2]
    _, (rows, cols) = distance_transform_edt(~mask, return_indices=True)
    return (rows * size + cols).reshape(-1).astype(np.int32)
