"""300W-LP: face images with 3DDFA fits, and PRNet-style UV position maps rendered from them.

Layout (``/work/shared/reference/datasets.md`` §7)::

  300W_LP/AFW/AFW_134212_1_0.jpg  + AFW_134212_1_0.mat   (also AFW_Flip, HELEN(_Flip), IBUG(_Flip),
                                                          LFPW(_Flip); 300W_LP/ may be manual_dir)
  BFM/BFM.mat, BFM/BFM_UV.mat                             (user-supplied, see below)

Each ``.mat`` holds ``Pose_Para`` (pitch, yaw, roll in radians, tx, ty, tz, scale), ``Shape_Para``,
``Exp_Para`` and ``pt2d`` (68 landmarks). Every example is the PRNet training pair: the image
cropped square around the fitted key points and resized to ``resolution`` (256), and the
``uv_position_map`` [res, res, 3] (x, y in crop pixels, z >= 0) rendered in UV space with jaxau's
rasterizer (:mod:`jaxau.data.builders.prnet_posmap`; deterministic, no crop jitter). Divide by
281.6 (= 256 * 1.1) for the network target. ``landmarks_2d`` is ``pt2d`` mapped into the crop.

``subject`` is the source face (``AFW_134212_1``, shared by its pose-augmented and flipped copies),
``frame`` the augmentation index (the last number of the file name). Pose yaw/pitch are the fit's,
in degrees (3DDFA's sign convention). No AU labels (``au_intensity`` has length 0). One split,
``train``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxau.data.builders import _base, _common, prnet_posmap

FOLDERS = ("AFW", "AFW_Flip", "HELEN", "HELEN_Flip", "IBUG", "IBUG_Flip", "LFPW", "LFPW_Flip")
_STEM = re.compile(r"(.+)_(\d+)")


@dataclasses.dataclass
class W300lpConfig(_base.AuBuilderConfig):
    """Attributes:
      folders: the 300W-LP folders to read.
      resolution: side of the cropped image and of the position map (PRNet: 256).
      bfm_path, bfm_uv_path: face3d's BFM.mat / BFM_UV.mat (absolute, or relative to manual_dir);
        None = ``manual_dir/BFM/BFM.mat`` and ``manual_dir/BFM/BFM_UV.mat``.
    """

    folders: tuple[str, ...] = FOLDERS
    resolution: int = 256
    bfm_path: str | None = None
    bfm_uv_path: str | None = None


class W300lp(_base.AuDatasetBuilder):
    """300W-LP with PRNet UV position maps (manual download + user-supplied BFM files)."""

    name = "w300lp"
    DATASET_TITLE = ("300W-LP: 61,225 faces (122,450 with flips) across large poses with 3DDFA fits; "
                     "square crops and PRNet UV position maps.")
    HOMEPAGE = "http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/main.htm"
    AU_NAMES = ()
    BUILDER_CONFIGS = [W300lpConfig(name="default")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Unpack 300W_LP.zip into `manual_dir/` (giving manual_dir/300W_LP/AFW/AFW_134212_1_0.jpg + .mat,
    ... for AFW, HELEN, IBUG, LFPW and their _Flip folders) and put face3d's Basel Face Model files in
    manual_dir/BFM/: BFM.mat (shapeMU, shapePC, expMU, expPC, tri, tri_mouth, kpt_ind; built from
    the BFM 2009 licence download with face3d's examples/Data/BFM/generate.m) and BFM_UV.mat.
    """

    def _extra_features(self):
        res = self.builder_config.resolution
        return {
            "uv_position_map": tfds.features.Tensor(shape=(res, res, 3), dtype=np.float32,
                                                    encoding=tfds.features.Encoding.ZLIB),
            "landmarks_2d": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
            "pose_params": tfds.features.Tensor(shape=(7,), dtype=np.float32),
        }

    def _extra_metadata(self):
        return {"position_map_scale": 281.6, "resolution": self.builder_config.resolution}

    def _sources(self, manual_dir: Path):
        cfg = self.builder_config
        hint = "Layout expected:\n" + self.MANUAL_DOWNLOAD_INSTRUCTIONS
        root = manual_dir / "300W_LP" if (manual_dir / "300W_LP").is_dir() else manual_dir
        missing = [(f"300W-LP folder {f}", root / f) for f in cfg.folders if not (root / f).is_dir()]
        bfm_path = manual_dir / (cfg.bfm_path or "BFM/BFM.mat")
        uv_path = manual_dir / (cfg.bfm_uv_path or "BFM/BFM_UV.mat")
        missing += [(what, p) for what, p in (("Basel Face Model BFM.mat", bfm_path),
                                              ("BFM UV coordinates BFM_UV.mat", uv_path))
                    if not p.is_file()]
        if missing:
            raise _common.MissingDataError(self.name, missing, hint)
        bfm = prnet_posmap.load_bfm(bfm_path)
        uv = prnet_posmap.uv_raster_coords(prnet_posmap.load_uv(uv_path, bfm.num_vertices),
                                           cfg.resolution)
        renderer = prnet_posmap.PositionMapRenderer(uv, bfm.triangles, cfg.resolution)

        groups: dict[tuple[str, str], dict[int, Path]] = {}
        for folder in cfg.folders:
            for p in _common.match_entries(root / folder, r".*\.(?:jpe?g|png|mat)"):
                m = _STEM.fullmatch(p.stem)
                subject, frame = (m.group(1), int(m.group(2))) if m else (p.stem, 0)
                groups.setdefault((folder, subject), {}).setdefault(frame, p.with_suffix(""))
        sources = []
        for (folder, subject), stems in sorted(groups.items()):
            cache: dict[int, np.ndarray] = {}
            sources.append(_base.SequenceSource(
                subject=subject, sequence=f"{folder}/{subject}", key=f"{folder}/{subject}",
                load_labels=lambda stems=stems, cache=cache: self._labels(stems, cache, bfm, renderer),
                frames=lambda stems=stems, cache=cache: self._frames(stems, cache)))
        return self._group_by_split(sources)

    @staticmethod
    def _image_file(stem: Path) -> Path | None:
        for ext in (".jpg", ".jpeg", ".png", ".JPG", ".PNG"):
            if stem.with_suffix(ext).is_file():
                return stem.with_suffix(ext)
        return None

    def _frames(self, stems: dict[int, Path], cache: dict[int, np.ndarray]):
        for frame, stem in sorted(stems.items()):
            if self._image_file(stem) is not None:
                yield frame, (lambda frame=frame: cache.pop(frame, None))

    def _labels(self, stems, cache, bfm, renderer) -> _common.LabelTable:
        import cv2
        import scipy.io

        res = self.builder_config.resolution
        table = _common.LabelTable({"au_intensity": ()})
        for frame, stem in sorted(stems.items()):
            mat_path = stem.with_suffix(".mat")
            if not mat_path.is_file():
                continue  # An image without its fit: counted as a frame without labels.
            mat = scipy.io.loadmat(str(mat_path))
            absent = [k for k in ("Pose_Para", "Shape_Para", "Exp_Para", "pt2d") if k not in mat]
            if absent:
                raise _common.LabelFormatError(f"{self.name}: {mat_path}: missing fields {absent}.")
            table.set_codes("au_intensity", [frame], np.zeros((1, 0), np.int32))
            image_path = self._image_file(stem)
            if image_path is None:
                continue  # A fit without its image: counted as a label without a frame.
            image = _base.image_loader(image_path)()
            if image is None:
                continue  # Corrupt image: the frame loader returns None and it is counted.
            pose = np.asarray(mat["Pose_Para"], np.float64).ravel()
            verts = prnet_posmap.image_vertices(bfm, mat["Shape_Para"], mat["Exp_Para"], pose,
                                                image.shape[0])
            matrix = prnet_posmap.crop_matrix(verts[bfm.kpt_ind, :2], res)
            positions = prnet_posmap.positions_in_crop(verts, matrix)
            posmap = renderer(positions)
            pt2d = np.asarray(mat["pt2d"], np.float64)
            pt2d = pt2d.T if pt2d.shape == (2, 68) else pt2d.reshape(68, 2)
            cache[frame] = cv2.warpAffine(image, matrix[:2], (res, res), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            table.set_extra(frame, "uv_position_map", posmap)
            table.set_extra(frame, "landmarks_2d",
                            (pt2d @ matrix[:2, :2].T + matrix[:2, 2]).astype(np.float32))
            table.set_extra(frame, "pose_params", pose.astype(np.float32))
            table.set_extra(frame, "pose", {"id": 0, "yaw": np.float32(math.degrees(pose[1])),
                                            "pitch": np.float32(math.degrees(pose[0]))})
        return table
