"""PRNet ground-truth UV position maps from 300W-LP fits and the Basel Face Model (as face3d made them).

Steps (``/work/shared/reference/datasets.md`` §8, face3d ``examples/8_generate_posmap_300WLP.py``):

1. ``v = shapeMU + expMU + shapePC @ Shape_Para + expPC @ Exp_Para`` as ``[nver, 3]``.
2. ``v = s * v @ R.T + t`` with ``R = Rx(pitch) Ry(yaw) Rz(roll)`` in 3DDFA's sign convention,
   then image coordinates ``y = h - 1 - y`` (orthographic; larger z nearer).
3. A square crop around the 68 key points (centre of their integer box, side ``1.5 *`` the mean of its
   width and height) mapped to ``[0, res-1]^2`` by a similarity; x, y go through it, z is scaled by
   it and shifted so that min z = 0.
4. The positions are rendered in UV space: BFM_UV coordinates scaled to ``[0, res-1]`` with v
   flipped, triangles = ``tri`` + ``tri_mouth``, barycentric interpolation of the vertex positions.

Differences from face3d, on purpose: no random crop jitter or rotation (augmentation belongs in the
input pipeline, and a dataset build must be deterministic); rasterization uses jaxau's rasterizer,
which samples pixel (i, j) at (j + 0.5, i + 0.5), so UV coordinates are shifted by +0.5 to sample at
face3d's integer points; pixels on a triangle edge follow the top-left rule instead of face3d's
inclusive test, and face3d's 2-pixel border artefact (every pixel of a triangle's bounding box drawn
near the map border) is not reproduced.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxau import geometry
from jaxau.data.builders import _common


@dataclasses.dataclass(frozen=True)
class Bfm:
    """The parts of face3d's ``BFM.mat`` that position maps need (0-based indices)."""

    mean: np.ndarray  # [3n] shapeMU + expMU
    shape_pc: np.ndarray  # [3n, S]
    exp_pc: np.ndarray  # [3n, E]
    triangles: np.ndarray  # [T, 3] int32: tri followed by tri_mouth
    kpt_ind: np.ndarray  # [68] int32

    @property
    def num_vertices(self) -> int:
        return self.mean.shape[0] // 3


def _fields(mat: dict) -> dict:
    if "model" in mat:  # face3d's layout: one MATLAB struct named 'model'.
        model = mat["model"]
        if model.shape:  # loadmat wraps a struct in a [1, 1] array.
            model = model.reshape(-1)[0]
        return {name: model[name] for name in model.dtype.names}
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _triangles(a: np.ndarray, name: str, n: int, path: Path) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or 3 not in a.shape:
        raise _common.LabelFormatError(f"w300lp: {path}: '{name}' has shape {a.shape}, expected [T, 3] "
                                       "or [3, T] 1-based vertex indices.")
    a = a.T if a.shape[0] == 3 and a.shape[1] != 3 else a
    a = a.astype(np.int64) - 1  # MATLAB indices start at 1.
    if a.size and (a.min() < 0 or a.max() >= n):
        raise _common.LabelFormatError(f"w300lp: {path}: '{name}' indices span "
                                       f"{a.min() + 1}..{a.max() + 1}"
                                       f", expected 1..{n} (1-based, {n} vertices).")
    return a.astype(np.int32)


def load_bfm(path: Path) -> Bfm:
    """Reads face3d's ``BFM.mat`` (``model`` struct or top-level fields).

    Raises:
      MissingDataError: if the file does not exist.
      LabelFormatError: naming missing fields or inconsistent shapes.
    """
    import scipy.io

    if not Path(path).is_file():
        raise _common.MissingDataError("w300lp", [("Basel Face Model BFM.mat", path)],
                                       "Build it with face3d's examples/Data/BFM/generate.m.")
    f = _fields(scipy.io.loadmat(str(path)))
    need = ("shapeMU", "shapePC", "expPC", "tri", "kpt_ind")
    missing = [k for k in need if k not in f]
    if missing:
        raise _common.LabelFormatError(f"w300lp: {path}: missing fields {missing}; expected face3d's "
                                       f"BFM.mat with {list(need)} (+ expMU, tri_mouth).")
    mean = np.asarray(f["shapeMU"], np.float64).reshape(-1)
    if "expMU" in f:
        mean = mean + np.asarray(f["expMU"], np.float64).reshape(-1)
    shape_pc = np.asarray(f["shapePC"], np.float64)
    exp_pc = np.asarray(f["expPC"], np.float64)
    if mean.size % 3 or shape_pc.shape[0] != mean.size or exp_pc.shape[0] != mean.size:
        raise _common.LabelFormatError(
            f"w300lp: {path}: shapeMU {mean.shape}, shapePC {shape_pc.shape}, expPC {exp_pc.shape}: "
            "expected [3n], [3n, S], [3n, E].")
    n = mean.size // 3
    tris = [_triangles(f["tri"], "tri", n, path)]
    if "tri_mouth" in f:
        tris.append(_triangles(f["tri_mouth"], "tri_mouth", n, path))
    kpt = np.asarray(f["kpt_ind"]).reshape(-1).astype(np.int64) - 1
    if kpt.size != 68 or kpt.min() < 0 or kpt.max() >= n:
        raise _common.LabelFormatError(f"w300lp: {path}: kpt_ind must hold 68 1-based vertex indices.")
    return Bfm(mean=mean, shape_pc=shape_pc, exp_pc=exp_pc, triangles=np.concatenate(tris),
               kpt_ind=kpt.astype(np.int32))


def load_uv(path: Path, num_vertices: int) -> np.ndarray:
    """Reads ``BFM_UV.mat`` (field ``UV``, ``[n, 2]`` in [0, 1])."""
    import scipy.io

    if not Path(path).is_file():
        raise _common.MissingDataError("w300lp", [("BFM UV coordinates BFM_UV.mat", path)],
                                       "It comes with face3d (Data/BFM/Out) or 3DMMasSTN (util/).")
    mat = scipy.io.loadmat(str(path))
    if "UV" not in mat:
        raise _common.LabelFormatError(f"w300lp: {path}: no field 'UV' (found "
                                       f"{[k for k in mat if not k.startswith('__')]}).")
    uv = np.asarray(mat["UV"], np.float64)
    if uv.shape != (num_vertices, 2):
        raise _common.LabelFormatError(f"w300lp: {path}: UV has shape {uv.shape}, expected "
                                       f"({num_vertices}, 2) to match BFM.mat.")
    return uv


def rotation_3ddfa(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """3DDFA's rotation ``Rx(pitch) @ Ry(yaw) @ Rz(roll)`` (radians; its sign convention)."""
    cx, sx, cy, sy, cz, sz = (np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll),
                              np.sin(roll))
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def image_vertices(bfm: Bfm, shape_para: np.ndarray, exp_para: np.ndarray, pose_para: np.ndarray,
                   image_height: int) -> np.ndarray:
    """The fitted mesh in image coordinates ``[n, 3]`` (x right, y down, larger z nearer)."""
    v = bfm.mean + bfm.shape_pc @ np.ravel(shape_para) + bfm.exp_pc @ np.ravel(exp_para)
    v = v.reshape(-1, 3)  # x0 y0 z0 x1 ... (MATLAB's [3, n] column-major layout)
    p = np.ravel(pose_para)
    if p.size != 7:
        raise ValueError(f"Pose_Para must hold 7 numbers (pitch yaw roll tx ty tz scale), got {p.size}.")
    v = p[6] * v @ rotation_3ddfa(*p[:3]).T + p[3:6]
    v[:, 1] = image_height - 1 - v[:, 1]
    return v


def crop_matrix(keypoints_xy: np.ndarray, resolution: int) -> np.ndarray:
    """3x3 similarity taking the key points' square crop to ``[0, res-1]^2`` (face3d, no jitter)."""
    kpt = keypoints_xy.astype(np.int32)  # face3d truncates the key points to ints first.
    left, right = kpt[:, 0].min(), kpt[:, 0].max()
    top, bottom = kpt[:, 1].min(), kpt[:, 1].max()
    cx, cy = right - (right - left) / 2.0, bottom - (bottom - top) / 2.0
    size = int((right - left + bottom - top) / 2 * 1.5)
    if size <= 0:
        raise ValueError("Key points span no area: cannot crop.")
    scale = (resolution - 1) / size
    return np.array([[scale, 0, -scale * (cx - size / 2)],
                     [0, scale, -scale * (cy - size / 2)],
                     [0, 0, 1]])


def positions_in_crop(vertices: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """x, y through the crop similarity; z scaled by it and shifted to min 0."""
    out = np.empty_like(vertices)
    out[:, :2] = vertices[:, :2] @ matrix[:2, :2].T + matrix[:2, 2]
    out[:, 2] = vertices[:, 2] * matrix[0, 0]
    out[:, 2] -= out[:, 2].min()
    return out


def uv_raster_coords(uv: np.ndarray, resolution: int) -> np.ndarray:
    """UV -> rasterizer vertices ``[n, 3]``: face3d's pixel coords + 0.5 (our pixel centres), z=0."""
    x = uv[:, 0] * (resolution - 1)
    y = resolution - 1 - uv[:, 1] * (resolution - 1)
    return np.stack([x + 0.5, y + 0.5, np.zeros_like(x)], axis=-1).astype(np.float32)


class PositionMapRenderer:
    """Renders position maps for a fixed UV layout: rasterizes the UV triangles once.

    The UV coordinates and triangles are the same for every 300W-LP sample; only the positions
    interpolated over them change. So the (expensive) rasterization runs once per build and each
    map is a gather plus a barycentric weighted sum.
    """

    def __init__(self, uv_vertices: np.ndarray, triangles: np.ndarray, resolution: int):
        self.resolution = int(resolution)
        self.triangles = jnp.asarray(triangles, jnp.int32)
        self.fragments = jax.jit(geometry.rasterize, static_argnums=(2, 3))(
            jnp.asarray(uv_vertices, jnp.float32), self.triangles, self.resolution, self.resolution)
        self._interpolate = jax.jit(geometry.interpolate)

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """``[res, res, 3]`` float32 position map (0 where no triangle covers the UV pixel)."""
        out = self._interpolate(jnp.asarray(positions, jnp.float32), self.triangles, self.fragments)
        return np.asarray(out, np.float32)


def render_position_map(uv_vertices: np.ndarray, triangles: np.ndarray, positions: np.ndarray,
                        resolution: int) -> np.ndarray:
    """One-off :class:`PositionMapRenderer` call (rasterizes the UV layout every time)."""
    return PositionMapRenderer(uv_vertices, triangles, resolution)(positions)
