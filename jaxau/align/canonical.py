"""The registration mesh: the part of the SynthFACS head asset that the UV position map covers,
with the eye and mouth openings closed.

Everything registration and 3-D alignment need from the asset, in one place and cached:

* ``vertex_index [Vs]``: asset vertices whose UV (our cylindrical layout, :mod:`jaxau.face.asset`)
  lies inside the map; they are the first ``Vs`` registration vertices.
* ``membrane [Vd, V]``: the remaining ``Vd`` vertices, fixed linear combinations of asset vertices
  that close the openings like PRNet's face region (whose 3DMM surface has no holes): the two eye
  openings are spanned by a surface on the eyeball sphere (the lid-margin loop interpolated
  harmonically, then pushed out to the loop's radius around the eyeball centre, a mean of eyeball
  vertices: the visible eyeball front), the mouth opening by the harmonic membrane of the inner-lip
  loop. They sit on a UV grid inside each loop's UV polygon, so the map holds them too.
* ``uv [Vm, 2]`` all UVs (Vm = Vs + Vd); ``triangles [Tm, 3]`` the position-map triangles with all
  three corners inside plus the membranes' (Delaunay in UV), indexed into the registration vertices.
* ``landmarks [68]``: iBUG-68 landmarks as indices into the registration mesh (all inside the map).
* ``canonical [Vm, 3]``: the template in *image convention* -- x right, y down, z towards the camera,
  decimetres -- i.e. the head frame with y mirrored. Image-space SynthFACS vertices are
  ``s * R @ canonical + t`` with ``R`` a proper rotation (``R = F Rh F``, ``F = diag(1, -1, 1)``, ``Rh``
  the head rotation of :func:`jaxau.face.render.rotation_matrix`), which is what the pose fit uses.
* ``weights [Vm]``: per-vertex loss weights from the asset's region labels (PRNet's 16/4/3/0; the
  membranes count as eyes / mouth, 4); ``fit_weights`` the pose fit's (face skin only).

:meth:`RegistrationMesh.from_asset` maps any asset-vertex array (a SynthFACS frame's exact mesh) to
registration vertices.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxau import geometry
from jaxau.face.asset import (PART_EYE_L, PART_EYE_R, PART_SKIN, REGION_ENM, REGION_FACE, REGION_WEIGHTS,
                              FaceAsset, load_asset)

FLIP_Y = np.diag([1.0, -1.0, 1.0]).astype(np.float32)
# Face scale of every aligned output (2-D and 3-D): the mean side of the template's 68-landmark box
# as a fraction of the output side N (config ``align.face_scale``).
FACE_SCALE = 0.8


# UV grid step of the membrane vertices (about one texel of a 96 x 96 map: a 64 px output face
# samples the frame about once per pixel inside the openings).
MEMBRANE_STEP = 1.0 / 96


@dataclasses.dataclass(frozen=True)
class RegistrationMesh:
    vertex_index: np.ndarray
    membrane: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray
    canonical: np.ndarray
    weights: np.ndarray
    fit_weights: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_index.size + self.membrane.shape[0])

    @property
    def num_surface(self) -> int:
        """Number of asset (skin) vertices; the membrane vertices follow them."""
        return int(self.vertex_index.size)

    def from_asset(self, vertices) -> np.ndarray:
        """``[..., Vm, 3]`` registration vertices of asset vertices ``[..., V, 3]`` (numpy)."""
        vertices = np.asarray(vertices, np.float32)
        derived = np.einsum("dv,...vc->...dc", self.membrane, vertices)
        return np.concatenate([vertices[..., self.vertex_index, :], derived], -2)


def _signed_area(tri: np.ndarray) -> np.ndarray:
    """Twice the signed area of 2-D triangles ``[T, 3, 2]``."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def _point_in_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule for ``points [N, 2]`` against a closed polygon ``[K, 2]``."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[None, :, 0], poly[None, :, 1]
    x1, y1 = np.roll(poly, -1, 0)[None, :, 0], np.roll(poly, -1, 0)[None, :, 1]
    crosses = (y0 > y) != (y1 > y)
    xc = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0)
    return (crosses & (x < xc)).sum(1) % 2 == 1


def _opening_loops(a: FaceAsset) -> list[tuple[str, np.ndarray]]:
    """``[(name, loop vertex ids)]`` of the two eye openings and the mouth: skin vertices shared
    by the open skin and the socket / mouth lining (the lid margins, the inner lips)."""
    skin = a.triangle_part == PART_SKIN
    cav = a.triangles[skin & a.triangle_cavity]
    open_v = np.unique(a.triangles[skin & ~a.triangle_cavity])
    c = a.vertices[cav].mean(1)
    # The mouth lining lies below the nose, the eye sockets above it (head frame, decimetres).
    groups = {"mouth": cav[c[:, 1] < -0.3], "eye_l": cav[(c[:, 1] >= -0.3) & (c[:, 0] > 0)],
              "eye_r": cav[(c[:, 1] >= -0.3) & (c[:, 0] < 0)]}
    return [(k, np.intersect1d(np.unique(t), open_v)) for k, t in groups.items()]


def _membrane(a: FaceAsset, name: str, loop: np.ndarray, start: int, local: np.ndarray):
    """One opening's derived vertices: ``(weights [Vd, V], uv [Vd, 2], triangles [T, 3], their UV
    corners [T, 3, 2])``.

    ``local`` maps asset vertex ids to registration ids, ``start`` is the first new vertex's id.
    """
    from scipy.spatial import Delaunay

    luv = a.uv[loop].astype(np.float64)
    centre = luv.mean(0)
    order = np.argsort(np.arctan2(luv[:, 1] - centre[1], luv[:, 0] - centre[0]))
    loop, luv = loop[order], luv[order]
    lo, hi = luv.min(0), luv.max(0)
    g = np.stack(np.meshgrid(np.arange(lo[0], hi[0], MEMBRANE_STEP) + MEMBRANE_STEP / 2,
                             np.arange(lo[1], hi[1], MEMBRANE_STEP) + MEMBRANE_STEP / 2), -1).reshape(-1, 2)
    g = g[_point_in_polygon(g, luv)]
    # Keep grid points clear of the loop (a sliver next to a loop vertex helps nobody).
    if len(g):
        d = np.linalg.norm(g[:, None] - luv[None], axis=-1).min(1)
        g = g[d > 0.35 * MEMBRANE_STEP]
    nb, ni = len(loop), len(g)
    pts = np.concatenate([luv, g])
    tri = Delaunay(pts).simplices
    tri = tri[_point_in_polygon(pts[tri].mean(1), luv)]
    # Harmonic weights: graph Laplacian of the triangulation, loop vertices fixed.
    n = nb + ni
    lap = np.zeros((n, n))
    for i, j in ((0, 1), (1, 2), (2, 0)):
        lap[tri[:, i], tri[:, j]] = -1.0
        lap[tri[:, j], tri[:, i]] = -1.0
    lap[np.arange(n), np.arange(n)] = 0.0
    lap[np.arange(n), np.arange(n)] = -lap.sum(1)
    w_int = np.linalg.solve(lap[nb:, nb:], -lap[nb:, :nb]) if ni else np.zeros((0, nb))  # [ni, nb]
    weights = np.zeros((ni, a.num_vertices))
    weights[:, loop] = w_int
    if name.startswith("eye"):
        # Onto the eyeball: q -> c + rho (q - c) / |q - c| with c the eyeball centre and rho the loop
        # radius interpolated, linearised at rest as (1 + k) q - k c (exact for the rest mesh; the
        # eyeball is rigid, so gaze rotations about c keep it on the sphere).
        part = PART_EYE_L if name == "eye_l" else PART_EYE_R
        eye = np.flatnonzero(a.vertex_part == part)
        c = a.vertices[eye].mean(0).astype(np.float64)
        q = w_int @ a.vertices[loop]
        rho = w_int @ np.linalg.norm(a.vertices[loop] - c, axis=1)
        k = rho / np.linalg.norm(q - c, axis=1) - 1.0
        weights *= (1.0 + k)[:, None]
        weights[:, eye] -= (k / len(eye))[:, None]
    ids = np.concatenate([local[loop], start + np.arange(ni)])
    return weights.astype(np.float32), g.astype(np.float32), ids[tri], pts[tri]


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
    surface_uv = a.uv[index].astype(np.float32)
    # Orientation of the surface's triangles in UV (u right, v down, as x, y in a frontal image).
    t_uv = surface_uv[tris]
    area = _signed_area(t_uv)
    sign = np.sign(np.median(area))
    weights_all, uv_all, tris_all = [], [surface_uv], [tris]
    start = index.size
    for name, loop in _opening_loops(a):
        if (remap[loop] < 0).any():
            raise ValueError(f"Face asset: the {name} opening's loop leaves the UV map; rebuild the asset.")
        w, g, t, t_pts = _membrane(a, name, loop, start, remap)
        # Wound like the surface's triangles in UV (both windings are drawn; consistent normals).
        area = _signed_area(t_pts)
        t = np.where((np.sign(area) == sign)[:, None], t, t[:, ::-1])
        weights_all.append(w)
        uv_all.append(g)
        tris_all.append(t.astype(np.int32))
        start += len(g)
    membrane = np.concatenate(weights_all).astype(np.float32)
    region = np.concatenate([a.region[index].astype(np.int64), np.full(len(membrane), REGION_ENM)])
    weights = np.asarray(REGION_WEIGHTS, np.float32)[region]
    # The pose fit uses the face skin (not the neck/forehead rim, whose shape varies most with
    # identity and whose predictions are least reliable near the map border, nor the membranes,
    # which move with the jaw and the lids).
    fit_weights = np.where(np.arange(len(region)) < index.size, region >= REGION_FACE, False).astype(np.float32)
    mesh = RegistrationMesh(vertex_index=index, membrane=membrane, uv=np.concatenate(uv_all).astype(np.float32),
                            triangles=np.concatenate(tris_all).astype(np.int32), landmarks=lm.astype(np.int32),
                            canonical=np.zeros((0, 3), np.float32), weights=weights, fit_weights=fit_weights)
    canon = (mesh.from_asset(a.vertices) @ FLIP_Y).astype(np.float32)
    return dataclasses.replace(mesh, canonical=canon)


@functools.lru_cache(maxsize=1)
def mirror_maps() -> tuple[np.ndarray, np.ndarray]:
    """``(vertex [Vm], triangle [Tm])`` int32: the mirror image of each registration vertex and
    triangle across the face's plane of symmetry (canonical x = 0).

    A vertex's mirror is the vertex nearest its reflected position (the asset is symmetric: an exact
    pair for all but the membranes' grid points, whose mirrors lie within 0.015 dm); a triangle's
    mirror is the triangle on its corners' mirrors, or itself where the triangulation has no such
    triangle (96 of 4,278: 93 in the membranes' Delaunay triangulations, 3 at the map's rim).
    """
    from scipy.spatial import cKDTree

    m = registration_mesh()
    reflected = m.canonical * np.asarray([-1.0, 1.0, 1.0], np.float32)
    _, vertex = cKDTree(m.canonical).query(reflected)
    index = {tuple(sorted(t)): i for i, t in enumerate(m.triangles.tolist())}
    triangle = np.asarray([index.get(tuple(sorted(vertex[t])), i) for i, t in enumerate(m.triangles)])
    return vertex.astype(np.int32), triangle.astype(np.int32)


def face_placement(size: int, face_scale: float = FACE_SCALE) -> tuple[float, np.ndarray]:
    """``(scale, translation [2])`` putting canonical ``xy`` (decimetres) into an N x N output.

    The template's frontal 68-landmark box gets mean side ``face_scale * N`` and its centre lands on
    the output centre. Both alignments use it: the 2-D Procrustes template
    (:func:`jaxau.align.procrustes2d.template`) and the 3-D frontalised mesh
    (:func:`jaxau.align.frontalize.output_placement`), so their faces have the same size and place.
    """
    if not 0.0 < float(face_scale) <= 1.5:
        raise ValueError(f"align.face_scale={face_scale} must be in (0, 1.5]: it is the landmark box's "
                         "mean side as a fraction of the output side (0.8 = the demo's).")
    m = registration_mesh()
    lm = m.canonical[m.landmarks].astype(np.float64)
    lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
    scale = float(face_scale) * size / ((hi - lo).sum() / 2)
    return scale, (size / 2.0 - scale * (lo + hi) / 2).astype(np.float32)


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
    depth = m.canonical[:, 2]
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
        vertices = m.from_asset(vertices)
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
